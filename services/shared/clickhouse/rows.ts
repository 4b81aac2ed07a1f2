import type { LineItem, TerminalHeartbeat, TransactionEvent } from '../avro/types.generated.ts';
import { ValidationError } from '../errors.ts';

/**
 * Rows of the raw tables (infra/clickhouse/migrations/0001_raw_events.sql) built from the Avro
 * records, for `Store.insert` (JSONEachRow). Column names are the Avro field names; what differs
 * is the timestamps (DateTime64 text) and the basket (flattened into basket_* columns).
 * MATERIALIZED and DEFAULT columns (host_latency_ms, basket_gross_minor, ingested_at) are left to
 * the server.
 */

type Timestamps<T, K extends keyof T> = { [P in K]: null extends T[P] ? string | null : string };

type TxTime = 'request_time' | 'response_time' | 'gateway_received_time';

export type TransactionRow = Omit<TransactionEvent, TxTime | 'basket'> &
  Timestamps<TransactionEvent, TxTime> & {
    basket_item_count: number | null;
    basket_items: LineItem[];
    basket_discount_minor: number | null;
    basket_coupon_codes: string[];
  };

type HbTime = 'event_time' | 'gateway_received_time';

export type HeartbeatRow = Omit<TerminalHeartbeat, HbTime> & Timestamps<TerminalHeartbeat, HbTime>;

// DateTime64's range; beyond it ClickHouse would clamp the value silently.
const MIN_MS = Date.UTC(1900, 0, 1);
const MAX_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

/**
 * Milliseconds since the epoch as `YYYY-MM-DD hh:mm:ss.sss` (UTC): the one DateTime64(3, 'UTC')
 * input every `date_time_input_format` reads the same way, unlike a bare number.
 */
export function clickhouseTime(ms: number, path = 'timestamp'): string {
  if (!Number.isInteger(ms) || ms < MIN_MS || ms > MAX_MS) {
    throw new ValidationError(`${path}=${ms} is outside the DateTime64 range (1900..2299)`, path);
  }
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}

export function transactionRow(ev: TransactionEvent): TransactionRow {
  const { request_time, response_time, gateway_received_time, basket, ...rest } = ev;
  return {
    ...rest,
    request_time: clickhouseTime(request_time, 'request_time'),
    response_time: response_time === null ? null : clickhouseTime(response_time, 'response_time'),
    gateway_received_time: clickhouseTime(gateway_received_time, 'gateway_received_time'),
    basket_item_count: basket?.item_count ?? null,
    basket_items: basket?.items ?? [],
    basket_discount_minor: basket?.discount_minor ?? null,
    basket_coupon_codes: basket?.coupon_codes ?? [],
  };
}

export function heartbeatRow(hb: TerminalHeartbeat): HeartbeatRow {
  const { event_time, gateway_received_time, ...rest } = hb;
  return {
    ...rest,
    event_time: clickhouseTime(event_time, 'event_time'),
    gateway_received_time: clickhouseTime(gateway_received_time, 'gateway_received_time'),
  };
}
