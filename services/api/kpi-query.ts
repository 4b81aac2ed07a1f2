import type { Store } from '../shared/clickhouse/store.ts';
import {
  evaluateFormula,
  LATENCY_QUANTILES,
  metricsOf,
  quantileOf,
  type BaseMetric,
  type Formula,
} from '../shared/kpi/formula.ts';
import { LatencySketch } from '../shared/kpi/latency-sketch.ts';

export const GRANULARITIES = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 } as const;
export type Granularity = keyof typeof GRANULARITIES;

/** The metrics `/v1/kpis` serves (docs/API.md); all are exact sums except the latency percentiles (1 %). */
export const METRICS = [
  'count',
  'approved',
  'declined',
  'timeouts',
  'refunds',
  'reversals',
  'approval_rate',
  'decline_rate',
  'timeout_rate',
  'tps',
  'amount',
  'avg_amount',
  'declines_by_code',
  'latency_avg_ms',
  'latency_max_ms',
  'latency_p50_ms',
  'latency_p95_ms',
  'latency_p99_ms',
] as const;
export type Metric = (typeof METRICS)[number];

export type EntityLevel = 'TERMINAL' | 'MERCHANT' | 'REGION' | 'ACQUIRER' | 'FLEET';

export interface KpiQuery {
  level: EntityLevel;
  entityId: string;
  from: number;
  to: number;
  /** Bucket size; `whole` makes [from, to) one bucket. */
  granularity: Granularity | 'whole';
  metrics: readonly Metric[];
  /** User-defined KPIs (kpi_definitions) asked for, computed from the same sums per bucket. */
  formulas?: readonly { name: string; parsed: Formula }[];
}

export type MetricValue = number | null | Record<string, number>;

export interface Bucket {
  start: number;
  end: number;
  /** False while a window in it may still change (not final, or ending after now). */
  complete: boolean;
  /** By built-in metric or definition name. */
  values: Record<string, MetricValue>;
}

interface Row {
  bucket: string | number;
  tx: string | number;
  approved: string | number;
  declined: string | number;
  timeouts: string | number;
  refunds: string | number;
  reversals: string | number;
  declines_by_code: Record<string, string | number>;
  amount_sum: Record<string, string | number>;
  amount_count: Record<string, string | number>;
  latency_count: string | number;
  latency_sum: string | number;
  latency_max: string | number | null;
  all_final: number | boolean;
  sketches?: (string | null)[];
}

/**
 * KPIs of one entity per time bucket, from `kpi_1m` (the newest version of every partition's
 * partial, FINAL): counts and sums are added in SQL; latency percentiles merge the minutes'
 * DDSketches here (ClickHouse cannot read them), within the sketches' 1 % relative accuracy.
 * Buckets without traffic are left out.
 */
export async function queryKpis(
  store: Pick<Store, 'query'>,
  table: string,
  q: KpiQuery,
  now: number,
): Promise<Bucket[]> {
  const g = q.granularity === 'whole' ? q.to - q.from : GRANULARITIES[q.granularity];
  const bucketOf =
    q.granularity === 'whole'
      ? '{from:Int64}'
      : 'toUnixTimestamp64Milli(toDateTime64(toStartOfInterval(window_start, INTERVAL {g:UInt32} SECOND), 3))';
  const formulas = q.formulas ?? [];
  const wantsSketch =
    q.metrics.some((m) => quantileOf(m) !== undefined) ||
    formulas.some((f) => [...metricsOf(f.parsed)].some((m) => quantileOf(m) !== undefined));
  const rows = await store.query<Row>(
    `SELECT ${bucketOf} AS bucket,
            sum(tx_count) AS tx, sum(approved_count) AS approved, sum(declined_count) AS declined,
            sum(timeout_count) AS timeouts, sum(refund_count) AS refunds, sum(reversal_count) AS reversals,
            sumMap(declines_by_code) AS declines_by_code, sumMap(amount_sum_minor) AS amount_sum,
            sumMap(amount_count) AS amount_count, sum(latency_count) AS latency_count,
            sum(latency_sum_ms) AS latency_sum, max(latency_max_ms) AS latency_max, min(is_final) AS all_final
            ${wantsSketch ? ', groupArray(latency_sketch_base64) AS sketches' : ''}
     FROM ${table} FINAL
     WHERE entity_level = {level:String} AND entity_id = {id:String} AND window_size_ms = 60000
       AND window_start >= fromUnixTimestamp64Milli({from:Int64}) AND window_start < fromUnixTimestamp64Milli({to:Int64})
     GROUP BY bucket ORDER BY bucket`,
    { g: Math.round(g / 1000), level: q.level, id: q.entityId, from: q.from, to: q.to },
  );
  return rows.map((r) => {
    const start = Number(r.bucket);
    const end = start + g;
    const tx = Number(r.tx);
    const nums = (m: Record<string, string | number>) =>
      Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]));
    const amountSum = nums(r.amount_sum);
    const amountCount = nums(r.amount_count);
    const latencyCount = Number(r.latency_count);
    let sketch: LatencySketch | null | undefined;
    const merged = () => {
      if (sketch !== undefined) return sketch;
      sketch = null;
      for (const b64 of r.sketches ?? []) {
        if (b64 === null || b64 === '') continue;
        const s = LatencySketch.fromBytes(Buffer.from(b64, 'base64'));
        sketch = sketch === null ? s : sketch.merge(s);
      }
      return sketch;
    };
    const share = (n: string | number) => (tx === 0 ? null : Number(n) / tx);
    const value = (m: Metric): MetricValue => {
      switch (m) {
        case 'count':
          return tx;
        case 'approved':
          return Number(r.approved);
        case 'declined':
          return Number(r.declined);
        case 'timeouts':
          return Number(r.timeouts);
        case 'refunds':
          return Number(r.refunds);
        case 'reversals':
          return Number(r.reversals);
        case 'approval_rate':
          return share(r.approved);
        case 'decline_rate':
          return share(r.declined);
        case 'timeout_rate':
          return share(r.timeouts);
        case 'tps':
          // Over the part of the bucket that has passed, so an open hour is not diluted.
          return tx / ((Math.min(end, Math.max(now, start + 60_000)) - start) / 1000);
        case 'amount':
          return amountSum;
        case 'avg_amount':
          return Object.fromEntries(
            Object.entries(amountSum).map(([c, s]) => [
              c,
              (amountCount[c] ?? 0) === 0 ? 0 : s / (amountCount[c] as number),
            ]),
          );
        case 'declines_by_code':
          return nums(r.declines_by_code);
        case 'latency_avg_ms':
          return latencyCount === 0 ? null : Number(r.latency_sum) / latencyCount;
        case 'latency_max_ms':
          return r.latency_max === null ? null : Number(r.latency_max);
        case 'latency_p50_ms':
        case 'latency_p95_ms':
        case 'latency_p99_ms':
          return merged()?.quantile(LATENCY_QUANTILES[m]) ?? null;
      }
    };
    const base = (m: BaseMetric): number | null =>
      // Every base metric but `responses` is a built-in metric of the same meaning.
      m === 'responses' ? latencyCount : (value(m) as number | null);
    const values: Record<string, MetricValue> = {};
    for (const m of q.metrics) values[m] = value(m);
    for (const f of formulas) values[f.name] = evaluateFormula(f.parsed, base);
    return { start, end, complete: Boolean(Number(r.all_final)) && end <= now, values };
  });
}
