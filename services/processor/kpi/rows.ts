import type { TransactionEvent } from '../../shared/avro/types.generated.ts';
import { clickhouseTime } from '../../shared/clickhouse/rows.ts';
import type { KpiLevel } from './window-state.ts';
import type { LateEvent, LateReason, WindowEmission } from './windows.ts';

/**
 * Rows of `kpi_1m` and `late_events` (infra/clickhouse/migrations/0002_kpis.sql) for
 * `Store.insert` (JSONEachRow). Both are pure functions of the engine's output, so a replay
 * writes byte-identical rows (emitted_time aside) and ReplacingMergeTree keeps one of each.
 */

/** One row of `kpi_1m`: the KpiUpdate fields plus the sums SQL needs to roll windows up exactly. */
export interface KpiRow {
  entity_level: KpiLevel;
  entity_id: string;
  window_start: string;
  window_end: string;
  window_size_ms: number;
  /** Kafka partition of `transactions` the window was computed from (part of the key). */
  source_partition: number;
  version: number;
  is_final: boolean;
  tx_count: number;
  approved_count: number;
  declined_count: number;
  timeout_count: number;
  reversal_count: number;
  refund_count: number;
  approval_rate: number | null;
  declines_by_code: Record<string, number>;
  /** Approved amount per currency (CurrencyAmount.sum_minor). */
  amount_sum_minor: Record<string, number>;
  /** Approved transactions per currency (CurrencyAmount.count). */
  amount_count: Record<string, number>;
  tps: number;
  unique_cards: number;
  payment_method_mix: Record<string, number>;
  entry_mode_mix: Record<string, number>;
  latency_count: number;
  latency_sum_ms: number;
  latency_max_ms: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  latency_p99_ms: number | null;
  /** The KpiUpdate's latency_sketch bytes, base64 (a JSON row cannot carry raw bytes). */
  latency_sketch_base64: string | null;
  basket_count: number;
  basket_gross_minor: number;
  basket_discount_minor: number;
  avg_basket_minor: number | null;
  discount_share: number | null;
  emitted_time: string;
}

export function kpiRow(e: WindowEmission, emittedTime: number): KpiRow {
  const s = e.state;
  const sketch = s.latencySketchBytes();
  const amounts = s.currencyAmounts;
  const windowSizeMs = e.windowEnd - e.windowStart;
  const u = s.toKpiUpdate({
    entityLevel: e.level,
    entityId: e.entityId,
    windowStart: e.windowStart,
    windowSizeMs,
    version: e.version,
    isFinal: e.isFinal,
    emittedTime,
  });
  return {
    entity_level: e.level,
    entity_id: e.entityId,
    window_start: clickhouseTime(e.windowStart, 'window_start'),
    window_end: clickhouseTime(e.windowEnd, 'window_end'),
    window_size_ms: windowSizeMs,
    source_partition: e.partition,
    version: e.version,
    is_final: e.isFinal,
    tx_count: u.tx_count,
    approved_count: u.approved_count,
    declined_count: u.declined_count,
    timeout_count: u.timeout_count,
    reversal_count: u.reversal_count,
    refund_count: u.refund_count,
    approval_rate: u.approval_rate,
    declines_by_code: u.declines_by_code,
    amount_sum_minor: Object.fromEntries(amounts.map((a) => [a.currency, a.sum_minor])),
    amount_count: Object.fromEntries(amounts.map((a) => [a.currency, a.count])),
    tps: u.tps,
    unique_cards: u.unique_cards,
    payment_method_mix: u.payment_method_mix,
    entry_mode_mix: u.entry_mode_mix,
    latency_count: s.latencyCount,
    latency_sum_ms: s.latencySumMs,
    latency_max_ms: s.latencyMaxMs,
    latency_p50_ms: u.latency_p50_ms,
    latency_p95_ms: u.latency_p95_ms,
    latency_p99_ms: u.latency_p99_ms,
    latency_sketch_base64: sketch === null ? null : Buffer.from(sketch).toString('base64'),
    basket_count: s.basketCount,
    basket_gross_minor: s.basketGrossMinor,
    basket_discount_minor: s.basketDiscountMinor,
    avg_basket_minor: u.avg_basket_minor,
    discount_share: u.discount_share,
    emitted_time: clickhouseTime(emittedTime, 'emitted_time'),
  };
}

/** One row of `late_events`. detected_at is left to the server (DEFAULT now64(3)). */
export interface LateEventRow {
  event_id: string;
  terminal_serial: string;
  merchant_id: string;
  acquirer_id: string;
  region: string;
  gateway_id: string;
  transaction_type: string;
  status: string;
  amount_minor: number;
  currency: string;
  request_time: string;
  response_time: string | null;
  gateway_received_time: string;
  reason: LateReason;
  window_start: string;
  watermark: string | null;
  source_partition: number;
  source_offset: number;
  /** The event as JSON without its card fields (token, key id, BIN, last 4). */
  event_json: string;
}

/** Card-derived fields kept out of `late_events` (the raw table has them for those allowed to look). */
const CARD_FIELDS = ['card_token', 'card_token_key_id', 'card_bin', 'card_last4'] as const;

export function eventJsonWithoutCard(ev: TransactionEvent): string {
  const copy: Partial<TransactionEvent> = { ...ev };
  for (const f of CARD_FIELDS) delete copy[f];
  return JSON.stringify(copy);
}

/**
 * clickhouseTime, but a value outside DateTime64's range (a terminal clock in year 2400) is
 * clamped rather than refused: a late-event row exists to report such events, not to fail on them.
 * The exact value stays in event_json.
 */
function clampedTime(ms: number, path: string): string {
  const min = Date.UTC(1900, 0, 1);
  const max = Date.UTC(2299, 11, 31, 23, 59, 59, 999);
  return clickhouseTime(Math.min(max, Math.max(min, Math.trunc(ms))), path);
}

export function lateEventRow(l: LateEvent): LateEventRow {
  const ev = l.event;
  return {
    event_id: ev.event_id,
    terminal_serial: ev.terminal_serial,
    merchant_id: ev.merchant_id,
    acquirer_id: ev.acquirer_id,
    region: ev.region,
    gateway_id: ev.gateway_id,
    transaction_type: ev.transaction_type,
    status: ev.status,
    amount_minor: ev.amount_minor,
    currency: ev.currency,
    request_time: clampedTime(ev.request_time, 'request_time'),
    response_time: ev.response_time === null ? null : clampedTime(ev.response_time, 'response_time'),
    gateway_received_time: clampedTime(ev.gateway_received_time, 'gateway_received_time'),
    reason: l.reason,
    window_start: clampedTime(l.windowStart, 'window_start'),
    watermark: l.watermark === null ? null : clampedTime(l.watermark, 'watermark'),
    source_partition: l.partition,
    source_offset: l.offset,
    event_json: eventJsonWithoutCard(ev),
  };
}
