import { createHash } from 'node:crypto';
import { barChart, escapeHtml, horizontalBars, lineChart, type ChartPoint } from './report-charts.ts';
import type { Report, TerminalRank, Trend } from './report-query.ts';
import { KPI_NAMES, type KpiName } from './report-query.ts';

/**
 * The report as one self-contained HTML page: inline stylesheet, server-drawn SVG charts, no
 * script and no external resource. Every text from the data goes through escapeHtml. The print
 * stylesheet lays it out on A4 and keeps tables, rows and charts from splitting across pages.
 */

const CSS = `
:root { --ink: #1d2430; --muted: #5b6575; --line: #d5dae2; --accent: #2458c6; --bad: #b3261e; --good: #1b7f3b; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0 auto; max-width: 960px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 8px; border-bottom: 2px solid var(--accent); padding-bottom: 2px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
p.meta, p.note { color: var(--muted); margin: 0 0 8px; }
section { margin: 20px 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f2f4f8; font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.up { color: var(--good); } td.down { color: var(--bad); }
ul.warnings { background: #fff6e0; border: 1px solid #e8c96a; padding: 8px 8px 8px 28px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .bar { fill: var(--accent); }
svg .line { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .dot { fill: var(--accent); }
svg .tick { fill: var(--muted); font-size: 11px; }
footer { color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  section, figure, tr, svg.chart { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  th { background: none; }
}
`;

/** The stylesheet's hash, for a Content-Security-Policy that allows exactly it and nothing else. */
export const REPORT_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const LABELS: Record<KpiName, string> = {
  transactions: 'Transactions',
  approved: 'Approved',
  declined: 'Declined',
  timeouts: 'Timeouts',
  approval_rate: 'Approval rate',
  decline_rate: 'Decline rate',
  timeout_rate: 'Timeout rate',
  avg_tps: 'Average TPS',
  active_terminals: 'Active terminals',
  latency_p50_ms: 'Host latency p50',
  latency_p95_ms: 'Host latency p95',
  latency_p99_ms: 'Host latency p99',
};

const RATES = new Set<KpiName>(['approval_rate', 'decline_rate', 'timeout_rate']);
/** Where a rise is bad news, so the change is coloured accordingly. */
const LOWER_IS_BETTER = new Set<KpiName>([
  'declined',
  'timeouts',
  'decline_rate',
  'timeout_rate',
  'latency_p50_ms',
  'latency_p95_ms',
  'latency_p99_ms',
]);

const integer = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 0 });
/** TPS is often well below 1 for one merchant: significant digits, not decimals. */
const decimal = new Intl.NumberFormat('en-GB', { maximumSignificantDigits: 3 });
const pct = (r: number) => `${(r * 100).toFixed(1)} %`;
const signed = (s: string, v: number) => (v > 0 ? `+${s}` : s);

function kpiValue(k: KpiName, v: number): string {
  if (RATES.has(k)) return pct(v);
  if (k.startsWith('latency_')) return `${integer.format(v)} ms`;
  if (k === 'avg_tps') return decimal.format(v);
  return integer.format(v);
}

function kpiChange(k: KpiName, t: Trend): string {
  if (t.change === null) return '—';
  // Rates change in percentage points; a relative change of a rate reads as a rate of a rate.
  if (RATES.has(k)) return `${signed((t.change * 100).toFixed(1), t.change)} pp`;
  const abs = signed(k === 'avg_tps' ? decimal.format(t.change) : integer.format(t.change), t.change);
  return t.relative_change === null ? abs : `${abs} (${signed(pct(t.relative_change), t.relative_change)})`;
}

function direction(k: KpiName, t: Trend): string {
  if (t.change === null || t.change === 0) return 'num';
  return t.change > 0 !== LOWER_IS_BETTER.has(k) ? 'num up' : 'num down';
}

/** Minor units in the currency's own decimals; an unknown code is shown as is, in minor units. */
export function formatAmount(minor: number, currency: string): string {
  try {
    const f = new Intl.NumberFormat('en-GB', { style: 'currency', currency });
    return f.format(minor / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    return `${integer.format(minor)} ${currency} (minor units)`;
  }
}

const td = (s: string, cls = '') => `<td${cls === '' ? '' : ` class="${cls}"`}>${escapeHtml(s)}</td>`;
const th = (s: string, cls = '') => `<th${cls === '' ? '' : ` class="${cls}"`}>${escapeHtml(s)}</th>`;
const table = (head: string[], rows: string[][], numeric: (i: number) => boolean) =>
  `<table><thead><tr>${head.map((h, i) => th(h, numeric(i) ? 'num' : '')).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.join('')}</tr>`)
    .join('')}</tbody></table>`;

function terminalsTable(list: readonly TerminalRank[]): string {
  if (list.length === 0) return '<p class="note">None.</p>';
  return table(
    ['#', 'Terminal', 'Transactions', 'Approval rate', 'Declined', 'Timeouts', 'Timeout rate'],
    list.map((t, i) => [
      td(String(i + 1), 'num'),
      td(t.terminal),
      td(integer.format(t.transactions), 'num'),
      td(pct(t.approval_rate), 'num'),
      td(integer.format(t.declined), 'num'),
      td(integer.format(t.timeouts), 'num'),
      td(pct(t.timeout_rate), 'num'),
    ]),
    (i) => i !== 1,
  );
}

const ENTITY_NAMES = {
  MERCHANT: 'Merchant',
  REGION: 'Region',
  ACQUIRER: 'Acquirer',
  FLEET: 'Fleet',
} as const;
const day = (iso: string) => iso.slice(0, 10);

export function reportHtml(r: Report): string {
  const who =
    r.entity.level === 'FLEET' ? 'the whole fleet' : `${ENTITY_NAMES[r.entity.level]} ${r.entity.id}`;
  const lastDay = day(new Date(Date.parse(r.period.to) - 86_400_000).toISOString());
  const span = r.period.kind === 'day' ? day(r.period.from) : `${day(r.period.from)} to ${lastDay}`;
  const title = `KPI report: ${who}, ${r.period.kind} ${r.period.label}`;
  const bucketLabel = (iso: string) => (r.series.granularity === '1h' ? iso.slice(11, 16) : iso.slice(5, 10));
  const per = r.series.granularity === '1h' ? 'hour' : 'day';
  const seriesOf = (f: (p: Report['series']['points'][number]) => number | null): ChartPoint[] =>
    r.series.points.map((p) => ({ label: bucketLabel(p.start), value: f(p) }));

  const kpiRows = KPI_NAMES.map((k) => {
    const t = r.kpis[k];
    return [
      td(LABELS[k]),
      td(t.value === null ? '—' : kpiValue(k, t.value), 'num'),
      td(t.previous === null ? '—' : kpiValue(k, t.previous), 'num'),
      td(kpiChange(k, t), direction(k, t)),
    ];
  });
  const amountRows = r.amounts.map((a) => [
    td(a.currency),
    td(formatAmount(a.value ?? 0, a.currency), 'num'),
    td(a.previous === null ? '—' : formatAmount(a.previous, a.currency), 'num'),
    td(
      a.change === null
        ? '—'
        : `${signed(formatAmount(a.change, a.currency), a.change)}${a.relative_change === null ? '' : ` (${signed(pct(a.relative_change), a.relative_change)})`}`,
      'num',
    ),
  ]);

  const parts: string[] = [];
  parts.push(
    `<header><h1>${escapeHtml(title)}</h1><p class="meta">${escapeHtml(
      `${span} (UTC), compared with ${r.previous_period.label}. Generated ${r.generated_at}.`,
    )}</p></header>`,
  );
  if (r.warnings.length > 0)
    parts.push(
      `<ul class="warnings">${r.warnings.map((w) => `<li>${escapeHtml(w.message)}</li>`).join('')}</ul>`,
    );
  parts.push(
    `<section><h2>Key figures</h2>${table(
      ['KPI', r.period.label, r.previous_period.label, 'Change'],
      kpiRows,
      (i) => i > 0,
    )}</section>`,
  );
  if (amountRows.length > 0)
    parts.push(
      `<section><h2>Approved amounts</h2>${table(
        ['Currency', r.period.label, r.previous_period.label, 'Change'],
        amountRows,
        (i) => i > 0,
      )}</section>`,
    );
  parts.push(
    `<section><h2>Transactions per ${per}</h2>${barChart(
      seriesOf((p) => p.transactions),
      { title: `Transactions per ${per}`, format: (v) => integer.format(v) },
    )}</section>`,
    `<section><h2>Approval rate per ${per}</h2>${lineChart(
      seriesOf((p) => p.approval_rate),
      { title: `Approval rate per ${per}`, format: pct, max: 1 },
    )}</section>`,
    `<section><h2>Host latency p95 per ${per}</h2>${lineChart(
      seriesOf((p) => p.latency_p95_ms),
      { title: `Host latency p95 per ${per}`, format: (v) => `${integer.format(v)} ms` },
    )}</section>`,
  );
  parts.push(
    `<section><h2>Decline reasons</h2>${
      r.decline_reasons.length === 0
        ? '<p class="note">No declines.</p>'
        : horizontalBars(
            r.decline_reasons.map((d) => ({ label: d.code, value: d.share })),
            { title: 'Share of declines by response code', format: pct },
          ) +
          table(
            ['Response code', 'Declines', 'Share', r.previous_period.label],
            r.decline_reasons.map((d) => [
              td(d.code),
              td(integer.format(d.count), 'num'),
              td(pct(d.share), 'num'),
              td(d.previous === null ? '—' : integer.format(d.previous), 'num'),
            ]),
            (i) => i > 0,
          )
    }</section>`,
  );
  parts.push(
    `<section><h2>Worst terminals</h2><h3>By approval rate</h3><p class="note">${escapeHtml(
      `Lowest approval rate first, among terminals with at least ${r.worst_terminals.min_transactions} transactions; ties: more transactions first.`,
    )}</p>${terminalsTable(r.worst_terminals.by_approval_rate)}<h3>By timeouts</h3><p class="note">Most timeouts first; ties: higher timeout rate first.</p>${terminalsTable(
      r.worst_terminals.by_timeouts,
    )}</section>`,
  );
  parts.push(
    `<section><h2>Alerts</h2><p class="note">${escapeHtml(
      `${r.alerts.total} alert(s) fired in ${r.period.label}${r.alerts.total > r.alerts.items.length ? `; the newest ${r.alerts.items.length} are listed` : ''}.`,
    )}</p>${
      r.alerts.by_rule.length === 0
        ? ''
        : table(
            ['Rule', 'Severity', 'Alerts'],
            r.alerts.by_rule.map((a) => [td(a.rule), td(a.severity), td(integer.format(a.count), 'num')]),
            (i) => i === 2,
          )
    }${
      r.alerts.items.length === 0
        ? ''
        : `<h3>Alerts, newest first</h3>${table(
            ['Fired (UTC)', 'Rule', 'Severity', 'State', 'Entity', 'Summary'],
            r.alerts.items.map((a) => [
              td(a.fired_time.slice(0, 16).replace('T', ' ')),
              td(a.rule),
              td(a.severity),
              td(a.state),
              td(`${a.entity_level} ${a.entity_id}`),
              td(a.summary),
            ]),
            () => false,
          )}`
    }</section>`,
  );
  parts.push(
    `<footer>Counts and amounts are exact sums of the processor's 1-minute windows; latency percentiles are within 1 % (DDSketch). Active terminals had at least one transaction. Times are UTC. KPI definitions: docs/KPIS.md.</footer>`,
  );
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(
    title,
  )}</title><style>${CSS}</style></head><body>${parts.join('')}</body></html>`;
}
