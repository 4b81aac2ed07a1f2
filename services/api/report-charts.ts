/**
 * Small SVG charts drawn on the server for the HTML report: no script, no external resource, and
 * only presentation attributes (no style attributes), so the page works under a CSP that allows
 * nothing but its own stylesheet, and prints as vectors.
 */

export function escapeHtml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export interface ChartPoint {
  label: string;
  value: number | null;
}

interface ChartOptions {
  title: string;
  format: (v: number) => string;
  /** Fixed top of the y axis (e.g. 1 for rates); default: a round number above the largest value. */
  max?: number;
}

const W = 720;
const H = 200;
const M = { left: 64, right: 12, top: 12, bottom: 28 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

/** 1, 2 or 5 times a power of ten, at least `v` (so gridlines fall on readable values). */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

const fix = (n: number) => Number(n.toFixed(1));

function frame(o: ChartOptions, points: readonly ChartPoint[], max: number, body: string): string {
  const grid: string[] = [];
  // Steps of 1, 2 or 5 times a power of ten: 0–50 in tens, 0–200 in fifties, 0–1 in fifths.
  const lead = Math.round(max / 10 ** Math.floor(Math.log10(max)));
  const steps = lead === 2 ? 4 : 5;
  for (let i = 0; i <= steps; i++) {
    const v = (max * i) / steps;
    const y = fix(M.top + PLOT_H - (PLOT_H * i) / steps);
    grid.push(
      `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}"/>`,
      `<text class="tick" x="${M.left - 6}" y="${fix(y + 4)}" text-anchor="end">${escapeHtml(o.format(v))}</text>`,
    );
  }
  // At most ~12 x labels, evenly spaced, so 31 days do not overlap.
  const every = Math.max(1, Math.ceil(points.length / 12));
  const step = PLOT_W / Math.max(1, points.length);
  const xs = points
    .map((p, i) =>
      i % every === 0
        ? `<text class="tick" x="${fix(M.left + step * (i + 0.5))}" y="${H - 8}" text-anchor="middle">${escapeHtml(p.label)}</text>`
        : '',
    )
    .join('');
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${escapeHtml(o.title)}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(o.title)}</title>${grid.join('')}${body}${xs}<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H}"/></svg>`;
}

const yOf = (v: number, max: number) => fix(M.top + PLOT_H - (PLOT_H * v) / max);

/** Vertical bars of counts, one per point (null counts as no bar). */
export function barChart(points: readonly ChartPoint[], o: ChartOptions): string {
  // At least 5, so the gridlines of a near-empty chart stay whole numbers.
  const max = o.max ?? niceCeiling(Math.max(5, ...points.map((p) => p.value ?? 0)));
  const step = PLOT_W / Math.max(1, points.length);
  const bars = points
    .map((p, i) => {
      if (p.value === null || p.value <= 0) return '';
      const y = yOf(p.value, max);
      return `<rect class="bar" x="${fix(M.left + step * i + step * 0.15)}" y="${y}" width="${fix(step * 0.7)}" height="${fix(M.top + PLOT_H - y)}"><title>${escapeHtml(`${p.label}: ${o.format(p.value)}`)}</title></rect>`;
    })
    .join('');
  return frame(o, points, max, bars);
}

/** A line through the points; a null value breaks it (no data there), a lone point is a dot. */
export function lineChart(points: readonly ChartPoint[], o: ChartOptions): string {
  const max = o.max ?? niceCeiling(Math.max(0, ...points.map((p) => p.value ?? 0)));
  const step = PLOT_W / Math.max(1, points.length);
  const runs: string[][] = [[]];
  const dots: string[] = [];
  points.forEach((p, i) => {
    if (p.value === null) {
      runs.push([]);
      return;
    }
    const x = fix(M.left + step * (i + 0.5));
    const y = yOf(Math.min(p.value, max), max);
    runs.at(-1)?.push(`${x},${y}`);
    dots.push(
      `<circle class="dot" cx="${x}" cy="${y}" r="2.5"><title>${escapeHtml(`${p.label}: ${o.format(p.value)}`)}</title></circle>`,
    );
  });
  const lines = runs
    .filter((r) => r.length > 1)
    .map((r) => `<polyline class="line" points="${r.join(' ')}"/>`)
    .join('');
  return frame(o, points, max, lines + dots.join(''));
}

/** Horizontal bars with their labels, for shares (decline reasons). */
export function horizontalBars(points: readonly ChartPoint[], o: ChartOptions): string {
  const rowH = 22;
  const h = Math.max(1, points.length) * rowH + 8;
  const max = o.max ?? Math.max(1e-9, ...points.map((p) => p.value ?? 0));
  const labelW = 120;
  const plotW = W - labelW - 80;
  const rows = points
    .map((p, i) => {
      const y = 4 + i * rowH;
      const w = fix((plotW * Math.max(0, p.value ?? 0)) / max);
      return `<text class="tick" x="${labelW - 8}" y="${y + 15}" text-anchor="end">${escapeHtml(p.label)}</text><rect class="bar" x="${labelW}" y="${y + 3}" width="${w}" height="${rowH - 8}"/><text class="tick" x="${fix(labelW + w + 6)}" y="${y + 15}">${escapeHtml(p.value === null ? '—' : o.format(p.value))}</text>`;
    })
    .join('');
  return `<svg class="chart" viewBox="0 0 ${W} ${h}" width="100%" role="img" aria-label="${escapeHtml(o.title)}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(o.title)}</title>${rows}</svg>`;
}
