import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import type { KpiLevel } from '../../../../services/processor/kpi/window-state.ts';

/** Polls `read` until `ok` holds; fails naming `what` and the last value. */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Per entity and minute: the figures both sides must agree on. */
export interface Totals {
  entity_id: string;
  window_start: number;
  tx_count: number;
  approved: number;
  declined: number;
  timeouts: number;
  refunds: number;
  declines_05: number;
  /** Approved amount per currency, "CUR:sum" sorted. */
  amounts: string[];
}

const ENTITY_SQL: Record<KpiLevel, string> = {
  TERMINAL: 'terminal_serial',
  MERCHANT: 'merchant_id',
  REGION: 'region',
  ACQUIRER: 'acquirer_id',
  FLEET: "'*'",
};

interface Row {
  entity_id: string;
  window_start: string;
  tx_count: string;
  approved: string;
  declined: string;
  timeouts: string;
  refunds: string;
  declines_05: string;
  amounts: Record<string, string>;
}

function totals(rows: Row[]): Totals[] {
  return rows.map((r) => ({
    entity_id: r.entity_id,
    window_start: Number(r.window_start),
    tx_count: Number(r.tx_count),
    approved: Number(r.approved),
    declined: Number(r.declined),
    timeouts: Number(r.timeouts),
    refunds: Number(r.refunds),
    declines_05: Number(r.declines_05),
    amounts: Object.entries(r.amounts)
      .filter(([, v]) => Number(v) !== 0)
      .map(([c, v]) => `${c}:${v}`)
      .sort(),
  }));
}

/** The stored KPI windows of `level`, partitions' partials summed, as analysts read them (FINAL). */
export async function kpiTotals(store: Store, db: string, level: KpiLevel): Promise<Totals[]> {
  return totals(
    await store.query<Row>(
      `SELECT entity_id, toUnixTimestamp64Milli(window_start) AS window_start,
              sum(tx_count) AS tx_count, sum(approved_count) AS approved, sum(declined_count) AS declined,
              sum(timeout_count) AS timeouts, sum(refund_count) AS refunds,
              sum(declines_by_code['05']) AS declines_05, sumMap(amount_sum_minor) AS amounts
       FROM ${db}.kpi_1m FINAL
       WHERE entity_level = {level:String}
       GROUP BY entity_id, window_start ORDER BY entity_id, window_start`,
      { level },
    ),
  );
}

/** The same figures computed from the raw transactions. */
export async function rawTotals(store: Store, db: string, level: KpiLevel): Promise<Totals[]> {
  return totals(
    await store.query<Row>(
      `SELECT ${ENTITY_SQL[level]} AS entity_id,
              toUnixTimestamp64Milli(toDateTime64(toStartOfMinute(request_time), 3, 'UTC')) AS window_start,
              count() AS tx_count, countIf(status = 'APPROVED') AS approved,
              countIf(status = 'DECLINED') AS declined, countIf(status = 'TIMEOUT') AS timeouts,
              countIf(transaction_type = 'REFUND') AS refunds,
              countIf(status = 'DECLINED' AND response_code = '05') AS declines_05,
              sumMapIf(map(currency, toInt64(amount_minor)), status = 'APPROVED') AS amounts
       FROM ${db}.transactions FINAL
       GROUP BY entity_id, window_start ORDER BY entity_id, window_start`,
    ),
  );
}
