import { WallState, type Minute, type Status, type Terminal } from './state.ts';

/*
 * The NOC wall: connects to /ws with the token from the page's fragment (#token=…, never sent to a
 * server or logged), subscribes to the whole fleet, and redraws at most once per animation frame.
 * Reconnects by itself (resuming where it was); says so when the data goes stale.
 */

const STATUSES: Status[] = ['ONLINE', 'DEGRADED', 'OFFLINE', 'UNKNOWN'];
const state = new WallState();
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const token = new URLSearchParams(location.hash.slice(1)).get('token');
let ws: WebSocket | undefined;
let retryMs = 1_000;
let drawn = false;
let link: 'connecting' | 'live' | 'stale' | 'refused' = 'connecting';

function connect(): void {
  if (token === null) {
    setLink('refused', 'add #token=<LIVE token> to the address');
    return;
  }
  setLink('connecting');
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws = socket;
  socket.onopen = () => socket.send(JSON.stringify({ type: 'hello', v: 1, token }));
  socket.onmessage = (e: MessageEvent<string>) => {
    const frame = JSON.parse(e.data) as Record<string, unknown>;
    const epochBefore = state.epoch;
    if (frame['type'] === 'welcome') {
      retryMs = 1_000;
      const resume =
        epochBefore === frame['epoch'] && state.seq > 0 ? { epoch: epochBefore, seq: state.seq } : undefined;
      socket.send(JSON.stringify({ type: 'subscribe', id: 'wall', ...(resume ? { resume } : {}) }));
    }
    if (state.apply(frame, Date.now())) schedule();
  };
  socket.onclose = (e: CloseEvent) => {
    if (ws !== socket) return;
    if (e.code === 4401 || e.code === 4403) {
      setLink('refused', e.code === 4401 ? 'token refused' : 'origin refused');
      return;
    }
    setLink('connecting');
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15_000);
  };
}

function setLink(to: typeof link, why = ''): void {
  link = to;
  const badge = $('link');
  badge.textContent =
    { connecting: 'RECONNECTING', live: 'LIVE', stale: 'STALE', refused: 'REFUSED' }[to] +
    (why ? ` — ${why}` : '');
  badge.className = `badge ${to}`;
  document.body.classList.toggle('stale', to !== 'live');
}

function schedule(): void {
  if (drawn) return;
  drawn = true;
  requestAnimationFrame(() => {
    drawn = false;
    draw();
  });
}

const fmt = {
  int: (n: number) => n.toLocaleString('en-US'),
  pct: (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`),
  ms: (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${Math.round(x)} ms`),
  tps: (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(x < 10 ? 2 : 0)),
  ago: (t: number) => {
    const s = Math.max(0, Math.round((Date.now() - t) / 1000));
    return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  },
};

function tile(id: string, value: string): void {
  $(id).textContent = value;
}

function draw(): void {
  if (link !== 'refused') setLink(state.stale(Date.now()) ? 'stale' : 'live');
  const s = state.summary;
  tile('t-total', s ? fmt.int(s.terminals) : '–');
  for (const st of STATUSES) tile(`t-${st.toLowerCase()}`, s ? fmt.int(s.statuses[st]) : '–');
  tile('t-tps', fmt.tps(s?.kpis?.tps));
  tile('t-approval', fmt.pct(s?.kpis?.approval_rate));
  tile('t-p95', fmt.ms(s?.kpis?.latency_p95_ms));
  drawGrid();
  spark('spark-tps', state.series, (m) => m.tps);
  spark('spark-approval', state.series, (m) => m.approval_rate);
  drawProblems();
  drawAlerts();
}

function drawGrid(): void {
  const grid = $('grid');
  const regions = state.byRegion();
  const html: string[] = [];
  for (const [region, terminals] of regions) {
    const down = terminals.filter((t) => t.status === 'OFFLINE').length;
    html.push(
      `<section class="region"><h3>${esc(region)} <span>${terminals.length}${down ? ` · <b class="OFFLINE">${down} offline</b>` : ''}</span></h3><div class="cells">`,
    );
    for (const t of terminals)
      html.push(
        `<i class="cell ${t.status}" data-serial="${esc(t.terminal_serial)}" title="${esc(cellTitle(t))}"></i>`,
      );
    html.push('</div></section>');
  }
  // Cells as large as the fleet allows: a dozen terminals fill the panel, a hundred thousand fit.
  const n = state.terminals.size;
  grid.style.setProperty(
    '--cell',
    n <= 60 ? '3rem' : n <= 600 ? '1.6rem' : n <= 6_000 ? '0.9rem' : '0.45rem',
  );
  grid.innerHTML = html.join('');
  grid.dataset['terminals'] = String(state.terminals.size);
}

function cellTitle(t: Terminal): string {
  return `${t.terminal_serial} ${t.status}${t.reasons.length ? ` (${t.reasons.join(', ')})` : ''} · ${t.merchant_name ?? t.merchant_id ?? ''}`;
}

function spark(id: string, series: readonly Minute[], value: (m: Minute) => number | null): void {
  const svg = $(id);
  const points = series
    .map((m) => [m.minute, value(m)] as const)
    .filter((p): p is readonly [number, number] => p[1] !== null);
  const note = svg.parentElement?.querySelector('.note');
  if (note) note.textContent = points.length < 2 ? '— collecting, one point a minute' : '';
  if (points.length < 2) {
    svg.innerHTML = '';
    return;
  }
  const [x0, x1] = [points[0]![0], points.at(-1)![0]];
  const ys = points.map((p) => p[1]);
  const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  const span = hi - lo || 1;
  const d = points
    .map(
      ([x, y], i) =>
        `${i ? 'L' : 'M'}${(((x - x0) / (x1 - x0 || 1)) * 100).toFixed(2)},${(36 - ((y - lo) / span) * 32).toFixed(2)}`,
    )
    .join(' ');
  svg.innerHTML = `<path d="${d}" />`;
  svg.dataset['points'] = String(points.length);
}

const orNone = (items: string[]) => (items.length === 0 ? '<li class="none">none</li>' : items.join(''));

function drawProblems(): void {
  $('problem-terminals').innerHTML = orNone(
    state
      .problemTerminals()
      .map(
        (t) =>
          `<li><b class="${t.status}">${esc(t.terminal_serial)}</b> ${esc(t.merchant_name ?? t.merchant_id ?? '')} <span>${t.status.toLowerCase()} ${fmt.ago(t.since)}${t.reasons.length ? ` · ${esc(t.reasons.join(', '))}` : ''}</span></li>`,
      ),
  );
  $('problem-merchants').innerHTML = orNone(
    state
      .problemMerchants()
      .map(
        (m) =>
          `<li><b>${esc(m.name ?? m.merchant)}</b> <span>${m.down} of ${m.of} terminals down</span></li>`,
      ),
  );
}

function drawAlerts(): void {
  $('ticker').innerHTML = state.alerts
    .map(
      (a) =>
        `<li class="${a.state} ${esc(a.severity)}" data-rule="${esc(a.rule)}"><time>${new Date(a.fired_time).toISOString().slice(11, 19)}</time> <b>${esc(a.rule)}</b> ${esc(a.entity_level.toLowerCase())} ${esc(a.entity_id.slice(0, 16))} — ${esc(a.summary)}${a.state === 'RESOLVED' ? ' <em>resolved</em>' : ''}</li>`,
    )
    .join('');
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

setInterval(() => {
  $('clock').textContent = new Date().toISOString().slice(11, 19) + ' UTC';
  if (link !== 'refused')
    setLink(state.stale(Date.now()) ? (ws?.readyState === WebSocket.OPEN ? 'stale' : 'connecting') : 'live');
}, 1_000);
connect();
