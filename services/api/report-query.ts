import type { Store } from '../shared/clickhouse/store.ts';
import { GRANULARITIES, queryKpis, type Bucket, type EntityLevel, type Metric } from './kpi-query.ts';
import { previousPeriod, seriesGranularity, type Period } from './report-period.ts';

export type ReportLevel = Exclude<EntityLevel, 'TERMINAL'>;

export interface ReportRequest {
  level: ReportLevel;
  /** `*` for the fleet. */
  entityId: string;
  period: Period;
  /** Terminals in each worst-terminals list. */
  top: number;
  /** Transactions a terminal needs in the period to be ranked by approval rate. */
  minTransactions: number;
}

export interface ReportTables {
  kpi1m: string;
  terminalStatusLatest: string;
  alerts: string;
}

/** A value of the period, the previous period's, and the change between them. */
export interface Trend {
  value: number | null;
  previous: number | null;
  /** value − previous; null when either is. */
  change: number | null;
  /** change / previous; null when either is null or previous is 0. */
  relative_change: number | null;
}

/**
 * The report's KPIs, in display order, and the /v1/kpis metric each is read from with its value in
 * a period without traffic (0 for counts, null for rates and latencies). active_terminals is counted
 * from the terminals' own windows.
 */
const KPI_SOURCES = {
  transactions: ['count', 0],
  approved: ['approved', 0],
  declined: ['declined', 0],
  timeouts: ['timeouts', 0],
  approval_rate: ['approval_rate', null],
  decline_rate: ['decline_rate', null],
  timeout_rate: ['timeout_rate', null],
  avg_tps: ['tps', 0],
  active_terminals: null,
  latency_p50_ms: ['latency_p50_ms', null],
  latency_p95_ms: ['latency_p95_ms', null],
  latency_p99_ms: ['latency_p99_ms', null],
} as const satisfies Record<string, readonly [Metric, 0 | null] | null>;
export type KpiName = keyof typeof KPI_SOURCES;
export const KPI_NAMES = Object.keys(KPI_SOURCES) as KpiName[];

export interface TerminalRank {
  terminal: string;
  transactions: number;
  approved: number;
  declined: number;
  timeouts: number;
  approval_rate: number;
  timeout_rate: number;
}

export interface SeriesPoint {
  start: string;
  end: string;
  transactions: number;
  declined: number;
  timeouts: number;
  approval_rate: number | null;
  latency_p95_ms: number | null;
}

export interface ReportAlert {
  alert_id: string;
  rule: string;
  severity: string;
  state: string;
  entity_level: string;
  entity_id: string;
  summary: string;
  value: number | null;
  threshold: number | null;
  fired_time: string;
  resolved_time: string | null;
}

export interface Problem {
  code: string;
  message: string;
}

export interface PeriodOut {
  kind: Period['kind'];
  label: string;
  from: string;
  to: string;
}

export interface Report {
  entity: { level: ReportLevel; id: string };
  period: PeriodOut & { complete: boolean };
  previous_period: PeriodOut;
  generated_at: string;
  kpis: Record<KpiName, Trend>;
  /** Approved amounts per currency, minor units. */
  amounts: ({ currency: string } & Trend)[];
  series: { granularity: '1h' | '1d'; points: SeriesPoint[] };
  worst_terminals: {
    min_transactions: number;
    /** Lowest approval rate first, among terminals with at least min_transactions. */
    by_approval_rate: TerminalRank[];
    /** Most timeouts first. */
    by_timeouts: TerminalRank[];
  };
  /** Declines by response code, most frequent first; share is of the period's declines. */
  decline_reasons: { code: string; count: number; share: number; previous: number | null }[];
  alerts: {
    total: number;
    by_rule: { rule: string; severity: string; count: number }[];
    /** Newest first, at most ALERTS_LISTED. */
    items: ReportAlert[];
  };
  warnings: Problem[];
}

export const ALERTS_LISTED = 100;

/** Column of terminal_status_latest that names a terminal's entity at each level. */
const MEMBER_COLUMN: Record<Exclude<ReportLevel, 'FLEET'>, string> = {
  MERCHANT: 'merchant_id',
  REGION: 'region',
  ACQUIRER: 'acquirer_id',
};

const WHOLE_METRICS: readonly Metric[] = [
  ...Object.values(KPI_SOURCES).flatMap((source) => (source === null ? [] : [source[0]])),
  'amount',
  'declines_by_code',
];

export function trend(value: number | null, previous: number | null): Trend {
  const change = value === null || previous === null ? null : value - previous;
  return {
    value,
    previous,
    change,
    relative_change: change === null || previous === 0 ? null : change / (previous as number),
  };
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const map = (v: unknown): Record<string, number> => (v ?? {}) as Record<string, number>;

/**
 * Whether the entity exists at all: it has had KPI windows, or a terminal of the fleet names it.
 * The fleet always exists.
 */
export async function entityKnown(
  store: Pick<Store, 'query'>,
  tables: ReportTables,
  level: ReportLevel,
  entityId: string,
): Promise<boolean> {
  if (level === 'FLEET') return true;
  const [windows, members] = await Promise.all([
    store.query(
      `SELECT 1 AS one FROM ${tables.kpi1m} WHERE entity_level = {level:String} AND entity_id = {id:String} LIMIT 1`,
      { level, id: entityId },
    ),
    store.query(
      `SELECT 1 AS one FROM ${tables.terminalStatusLatest} WHERE ${MEMBER_COLUMN[level]} = {id:String} LIMIT 1`,
      { id: entityId },
    ),
  ]);
  return windows.length + members.length > 0;
}

/**
 * The report of one entity over one period (docs/API.md, "Reports"). Whole-period and per-bucket
 * KPIs come from queryKpis (kpi_1m FINAL, sketches merged for percentiles); the terminal lists and
 * the active-terminal count read the TERMINAL windows of the entity's terminals, which are the
 * terminals terminal_status_latest assigns to it now (a terminal that moved is counted where it is).
 */
export async function buildReport(
  store: Pick<Store, 'query'>,
  tables: ReportTables,
  req: ReportRequest,
  now: number,
): Promise<Report> {
  const cur = req.period;
  const prev = previousPeriod(cur);
  const granularity = seriesGranularity(cur.kind);
  const whole = (p: Period) =>
    queryKpis(
      store,
      tables.kpi1m,
      {
        level: req.level,
        entityId: req.entityId,
        from: p.from,
        to: p.to,
        granularity: 'whole',
        metrics: WHOLE_METRICS,
      },
      now,
    ).then((b) => b[0]);
  const members =
    req.level === 'FLEET'
      ? ''
      : `AND entity_id IN (SELECT terminal_serial FROM ${tables.terminalStatusLatest} FINAL
                          WHERE ${MEMBER_COLUMN[req.level]} = {id:String})`;
  const terminalWindows = `FROM ${tables.kpi1m} FINAL
     WHERE entity_level = 'TERMINAL' AND window_size_ms = 60000 ${members}
       AND window_start >= fromUnixTimestamp64Milli({from:Int64}) AND window_start < fromUnixTimestamp64Milli({to:Int64})`;
  const ranked = (having: string, order: string) =>
    store.query<Record<string, string | number>>(
      `SELECT entity_id AS terminal, sum(tx_count) AS n_tx, sum(approved_count) AS n_ok,
              sum(declined_count) AS n_dec, sum(timeout_count) AS n_lost
       ${terminalWindows}
       GROUP BY terminal HAVING ${having} ORDER BY ${order}, terminal LIMIT {top:UInt32}`,
      { id: req.entityId, from: cur.from, to: cur.to, top: req.top, min: req.minTransactions },
    );
  const alertScope =
    req.level === 'FLEET'
      ? ''
      : `AND ((entity_level = {level:String} AND entity_id = {id:String})
              OR (entity_level = 'TERMINAL' AND entity_id IN (SELECT terminal_serial FROM ${tables.terminalStatusLatest} FINAL
                                                             WHERE ${MEMBER_COLUMN[req.level]} = {id:String})))`;
  const alertWhere = `FROM ${tables.alerts} FINAL
     WHERE fired_time >= fromUnixTimestamp64Milli({from:Int64}) AND fired_time < fromUnixTimestamp64Milli({to:Int64}) ${alertScope}`;
  const alertParams = { level: req.level, id: req.entityId, from: cur.from, to: cur.to };

  const [curKpis, prevKpis, series, active, byRate, byTimeouts, alertCounts, alertRows] = await Promise.all([
    whole(cur),
    whole(prev),
    queryKpis(
      store,
      tables.kpi1m,
      {
        level: req.level,
        entityId: req.entityId,
        from: cur.from,
        to: cur.to,
        granularity,
        metrics: ['count', 'declined', 'timeouts', 'approval_rate', 'latency_p95_ms'],
      },
      now,
    ),
    // Both periods in one pass: they are adjacent, so [prev.from, cur.to) covers them.
    store.query<{ current: string | number; previous: string | number }>(
      `SELECT uniqExactIf(entity_id, window_start >= fromUnixTimestamp64Milli({split:Int64})) AS current,
              uniqExactIf(entity_id, window_start < fromUnixTimestamp64Milli({split:Int64})) AS previous
       FROM ${tables.kpi1m} FINAL
       WHERE entity_level = 'TERMINAL' AND window_size_ms = 60000 AND tx_count > 0 ${members}
         AND window_start >= fromUnixTimestamp64Milli({from:Int64}) AND window_start < fromUnixTimestamp64Milli({to:Int64})`,
      { id: req.entityId, from: prev.from, to: cur.to, split: cur.from },
    ),
    ranked('n_tx >= {min:UInt64}', 'n_ok / n_tx ASC, n_tx DESC'),
    ranked('n_lost > 0', 'n_lost DESC, n_lost / n_tx DESC'),
    store.query<{ rule: string; severity: string; n: string | number }>(
      `SELECT rule, severity, count() AS n ${alertWhere} GROUP BY rule, severity ORDER BY n DESC, rule, severity`,
      alertParams,
    ),
    store.query<Record<string, unknown>>(
      `SELECT toString(alert_id) AS id, rule, severity, state, entity_level, entity_id, summary, value, threshold,
              toUnixTimestamp64Milli(fired_time) AS fired_ms, toUnixTimestamp64Milli(resolved_time) AS resolved_ms
       ${alertWhere} ORDER BY fired_time DESC, id DESC LIMIT ${ALERTS_LISTED}`,
      alertParams,
    ),
  ]);

  const curTx = Number(curKpis?.values.count ?? 0);
  const prevHas = Number(prevKpis?.values.count ?? 0) > 0;
  const cv = (m: Metric) => curKpis?.values[m];
  const pv = (m: Metric) => (prevHas ? prevKpis?.values[m] : undefined);
  const act = active[0];
  const kpis = Object.fromEntries(
    Object.entries(KPI_SOURCES).map(([name, source]) => {
      if (source === null)
        return [name, trend(Number(act?.current ?? 0), prevHas ? Number(act?.previous ?? 0) : null)];
      const [m, zero] = source;
      return [name, trend(num(cv(m)) ?? (curTx === 0 ? zero : null), prevHas ? num(pv(m)) : null)];
    }),
  ) as Record<KpiName, Trend>;

  const curAmounts = map(cv('amount'));
  const prevAmounts = map(pv('amount'));
  const currencies = [...new Set([...Object.keys(curAmounts), ...Object.keys(prevAmounts)])].sort();
  const amounts = currencies.map((currency) => ({
    currency,
    ...trend(curAmounts[currency] ?? 0, prevHas ? (prevAmounts[currency] ?? 0) : null),
  }));

  const declines = map(cv('declines_by_code'));
  const prevDeclines = map(pv('declines_by_code'));
  const declined = Object.values(declines).reduce((a, b) => a + b, 0);
  const decline_reasons = Object.entries(declines)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([code, count]) => ({
      code,
      count,
      share: count / declined,
      previous: prevHas ? (prevDeclines[code] ?? 0) : null,
    }));

  const warnings: Problem[] = [];
  const complete = cur.to <= now && (curKpis === undefined || curKpis.complete);
  if (!complete)
    warnings.push({
      code: 'period_open',
      message: `${cur.label} is not over (or some of its windows are not final): its values are partial and will grow`,
    });
  if (curTx === 0) warnings.push({ code: 'no_data', message: `no transactions in ${cur.label}` });
  if (!prevHas)
    warnings.push({
      code: 'no_previous_data',
      message: `no transactions in ${prev.label}: the trend is left empty`,
    });

  const iso = (t: number) => new Date(t).toISOString();
  const out = (p: Period): PeriodOut => ({ kind: p.kind, label: p.label, from: iso(p.from), to: iso(p.to) });
  return {
    entity: { level: req.level, id: req.entityId },
    period: { ...out(cur), complete },
    previous_period: out(prev),
    generated_at: iso(now),
    kpis,
    amounts,
    series: { granularity, points: seriesPoints(series, cur, GRANULARITIES[granularity]) },
    worst_terminals: {
      min_transactions: req.minTransactions,
      by_approval_rate: byRate.map(rank),
      by_timeouts: byTimeouts.map(rank),
    },
    decline_reasons,
    alerts: {
      total: alertCounts.reduce((a, r) => a + Number(r.n), 0),
      by_rule: alertCounts.map((r) => ({ rule: r.rule, severity: r.severity, count: Number(r.n) })),
      items: alertRows.map((r) => ({
        alert_id: String(r['id']),
        rule: String(r['rule']),
        severity: String(r['severity']),
        state: String(r['state']),
        entity_level: String(r['entity_level']),
        entity_id: String(r['entity_id']),
        summary: String(r['summary']),
        value: r['value'] === null ? null : Number(r['value']),
        threshold: r['threshold'] === null ? null : Number(r['threshold']),
        fired_time: iso(Number(r['fired_ms'])),
        resolved_time: r['resolved_ms'] === null ? null : iso(Number(r['resolved_ms'])),
      })),
    },
    warnings,
  };
}

function rank(r: Record<string, string | number>): TerminalRank {
  const n = Number(r['n_tx']);
  return {
    terminal: String(r['terminal']),
    transactions: n,
    approved: Number(r['n_ok']),
    declined: Number(r['n_dec']),
    timeouts: Number(r['n_lost']),
    approval_rate: Number(r['n_ok']) / n,
    timeout_rate: Number(r['n_lost']) / n,
  };
}

/** Every bucket of the period, those without traffic as zeros, so a chart shows the gaps. */
function seriesPoints(buckets: readonly Bucket[], p: Period, step: number): SeriesPoint[] {
  const byStart = new Map(buckets.map((b) => [b.start, b.values]));
  const points: SeriesPoint[] = [];
  for (let t = p.from; t < p.to; t += step) {
    const v = byStart.get(t);
    points.push({
      start: new Date(t).toISOString(),
      end: new Date(t + step).toISOString(),
      transactions: Number(v?.count ?? 0),
      declined: Number(v?.declined ?? 0),
      timeouts: Number(v?.timeouts ?? 0),
      approval_rate: num(v?.approval_rate),
      latency_p95_ms: num(v?.latency_p95_ms),
    });
  }
  return points;
}
