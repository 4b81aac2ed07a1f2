import type { Alert, AlertState, EntityLevel, KpiUpdate, Severity } from './avro/types.generated.ts';

/*
 * What a subscription asks for, shared by the api's webhooks and the live WebSocket: alerts or KPI
 * updates, narrowed by a filter. Every list is "any of"; lists left out match everything; the
 * conditions of one filter must all hold. Parsing refuses anything it does not know, naming the
 * field, so a typo never silently widens a subscription.
 */

export const SUBSCRIPTION_TOPICS = ['alerts', 'kpis'] as const;
export type SubscriptionTopic = (typeof SUBSCRIPTION_TOPICS)[number];

export const ALERT_SEVERITIES = ['INFO', 'WARNING', 'CRITICAL'] as const satisfies readonly Severity[];
export const ALERT_STATES = ['FIRING', 'RESOLVED'] as const satisfies readonly AlertState[];
export const ALERT_LEVELS = [
  'TERMINAL',
  'MERCHANT',
  'REGION',
  'ACQUIRER',
  'FLEET',
  'CARD',
] as const satisfies readonly EntityLevel[];
/** KPIs are never computed per card. */
export const KPI_LEVELS = [
  'TERMINAL',
  'MERCHANT',
  'REGION',
  'ACQUIRER',
  'FLEET',
] as const satisfies readonly EntityLevel[];
export type KpiLevel = (typeof KPI_LEVELS)[number];

/** The KpiUpdate fields a subscription may pick; the sketch (bytes) is not JSON and never sent. */
export const KPI_METRICS = [
  'tx_count',
  'approved_count',
  'declined_count',
  'timeout_count',
  'reversal_count',
  'refund_count',
  'approval_rate',
  'declines_by_code',
  'amounts',
  'tps',
  'unique_cards',
  'payment_method_mix',
  'entry_mode_mix',
  'latency_p50_ms',
  'latency_p95_ms',
  'latency_p99_ms',
  'avg_basket_minor',
  'discount_share',
] as const satisfies readonly (keyof KpiUpdate)[];
export type KpiMetric = (typeof KPI_METRICS)[number];

/** Identify an update whatever metrics were picked. */
const KPI_IDENTITY = [
  'entity_level',
  'entity_id',
  'window_start',
  'window_end',
  'window_size_ms',
  'version',
  'is_final',
  'emitted_time',
] as const satisfies readonly (keyof KpiUpdate)[];

export interface AlertFilter {
  rules?: string[];
  severities?: (typeof ALERT_SEVERITIES)[number][];
  levels?: (typeof ALERT_LEVELS)[number][];
  entities?: string[];
  states?: (typeof ALERT_STATES)[number][];
  /** Each label must be present with exactly this value. */
  labels?: Record<string, string>;
}

export interface KpiFilter {
  level: KpiLevel;
  entities?: string[];
  /** Metrics the delivered update carries; all when absent. */
  metrics?: KpiMetric[];
  /** Only windows that closed (`is_final`); default true, as open windows are re-emitted often. */
  final_only: boolean;
}

export type SubscriptionFilter =
  { topic: 'alerts'; filter: AlertFilter } | { topic: 'kpis'; filter: KpiFilter };

/** A filter that does not parse; `field` is the path of what is wrong (e.g. `filter.levels[2]`). */
export class FilterError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`\`${field}\` ${message}`);
    this.name = 'FilterError';
  }
}

const MAX_LIST = 1_000;
const MAX_ITEM = 128;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(v: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(v))
    if (!allowed.includes(key))
      throw new FilterError(`${path}.${key.slice(0, 40)}`, `is not a filter field: ${allowed.join(', ')}`);
}

function strings(v: unknown, path: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LIST)
    throw new FilterError(path, `must be an array of 1–${MAX_LIST} strings`);
  v.forEach((item, i) => {
    if (typeof item !== 'string' || item.length === 0 || item.length > MAX_ITEM)
      throw new FilterError(`${path}[${i}]`, `must be a string of 1–${MAX_ITEM} characters`);
  });
  return [...new Set(v as string[])];
}

function symbols<T extends string>(v: unknown, allowed: readonly T[], path: string): T[] | undefined {
  const list = strings(v, path);
  list?.forEach((item, i) => {
    if (!(allowed as readonly string[]).includes(item))
      throw new FilterError(`${path}[${i}]`, `must be one of ${allowed.join(', ')}`);
  });
  return list as T[] | undefined;
}

function labels(v: unknown, path: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new FilterError(path, 'must be an object of label names to values');
  const entries = Object.entries(v);
  if (entries.length > 64) throw new FilterError(path, 'must hold at most 64 labels');
  const out: Record<string, string> = {};
  for (const [k, value] of entries) {
    if (k.length === 0 || k.length > MAX_ITEM)
      throw new FilterError(path, `label names must be 1–${MAX_ITEM} characters`);
    if (typeof value !== 'string' || value.length > 1024)
      throw new FilterError(`${path}.${k}`, 'must be a string of at most 1024 characters');
    out[k] = value;
  }
  return out;
}

function assign<T extends object, K extends keyof T>(out: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) out[key] = value;
}

function alertFilter(v: Record<string, unknown>, path: string): AlertFilter {
  onlyKeys(v, ['rules', 'severities', 'levels', 'entities', 'states', 'labels'], path);
  const out: AlertFilter = {};
  assign(out, 'rules', strings(v['rules'], `${path}.rules`));
  assign(out, 'severities', symbols(v['severities'], ALERT_SEVERITIES, `${path}.severities`));
  assign(out, 'levels', symbols(v['levels'], ALERT_LEVELS, `${path}.levels`));
  assign(out, 'entities', strings(v['entities'], `${path}.entities`));
  assign(out, 'states', symbols(v['states'], ALERT_STATES, `${path}.states`));
  assign(out, 'labels', labels(v['labels'], `${path}.labels`));
  return out;
}

function kpiFilter(v: Record<string, unknown>, path: string): KpiFilter {
  onlyKeys(v, ['level', 'entities', 'metrics', 'final_only'], path);
  const level = v['level'];
  if (typeof level !== 'string' || !(KPI_LEVELS as readonly string[]).includes(level))
    throw new FilterError(`${path}.level`, `is required, one of ${KPI_LEVELS.join(', ')}`);
  const finalOnly = v['final_only'];
  if (finalOnly !== undefined && typeof finalOnly !== 'boolean')
    throw new FilterError(`${path}.final_only`, 'must be true or false');
  const out: KpiFilter = { level: level as KpiLevel, final_only: finalOnly ?? true };
  assign(out, 'entities', strings(v['entities'], `${path}.entities`));
  assign(out, 'metrics', symbols(v['metrics'], KPI_METRICS, `${path}.metrics`));
  return out;
}

/** Parses a topic and its filter (as JSON gave them); throws FilterError naming the bad field. */
export function parseSubscriptionFilter(
  topic: unknown,
  filter: unknown,
  path = 'filter',
): SubscriptionFilter {
  if (typeof topic !== 'string' || !(SUBSCRIPTION_TOPICS as readonly string[]).includes(topic))
    throw new FilterError('topic', `must be one of ${SUBSCRIPTION_TOPICS.join(', ')}`);
  if (topic === 'alerts') {
    if (filter === undefined) return { topic, filter: {} };
    if (!isObject(filter)) throw new FilterError(path, 'must be an object');
    return { topic, filter: alertFilter(filter, path) };
  }
  if (!isObject(filter)) throw new FilterError(path, 'must be an object with at least `level`');
  return { topic: 'kpis', filter: kpiFilter(filter, path) };
}

export function matchesAlert(f: AlertFilter, a: Alert): boolean {
  if (f.rules && !f.rules.includes(a.rule)) return false;
  if (f.severities && !(f.severities as readonly string[]).includes(a.severity)) return false;
  if (f.levels && !(f.levels as readonly string[]).includes(a.entity_level)) return false;
  if (f.entities && !f.entities.includes(a.entity_id)) return false;
  if (f.states && !(f.states as readonly string[]).includes(a.state)) return false;
  if (f.labels) for (const [k, v] of Object.entries(f.labels)) if (a.labels[k] !== v) return false;
  return true;
}

export function matchesKpi(f: KpiFilter, u: KpiUpdate): boolean {
  if (u.entity_level !== f.level) return false;
  if (f.final_only && !u.is_final) return false;
  return f.entities === undefined || f.entities.includes(u.entity_id);
}

/** Whether `record` (an Alert for `alerts`, a KpiUpdate for `kpis`) is one the subscription wants. */
export function matches(
  s: SubscriptionFilter,
  record: { topic: 'alerts'; value: Alert } | { topic: 'kpis'; value: KpiUpdate },
): boolean {
  if (s.topic !== record.topic) return false;
  return s.topic === 'alerts'
    ? matchesAlert(s.filter, record.value as Alert)
    : matchesKpi(s.filter, record.value as KpiUpdate);
}

/** The update as a subscriber receives it: its identity and the metrics it asked for (all by default). */
export function projectKpi(f: KpiFilter, u: KpiUpdate): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KPI_IDENTITY) out[k] = u[k];
  for (const k of f.metrics ?? KPI_METRICS) out[k] = u[k];
  return out;
}
