import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../services/shared/avro/types.generated.ts';
import {
  findMigrationsDir,
  loadMigrations,
  renderMigration,
  runMigrations,
  type RenderContext,
} from '../../../../services/shared/clickhouse/migrations.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { LatencySketch } from '../../../../services/shared/kpi/latency-sketch.ts';
import { kpiRow, lateEventRow } from '../../../../services/processor/kpi/rows.ts';
import { KpiWindowEngine, type WindowEmission } from '../../../../services/processor/kpi/windows.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { openTestStore, type TestStore } from '../../support/store.ts';

const MINUTE = 60_000;

/** The ```sql blocks of docs/KPIS.md, in order. */
function docQueries(): string[] {
  const doc = readFileSync(join(findMigrationsDir(), '..', '..', '..', 'docs', 'KPIS.md'), 'utf8');
  return [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
}
const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);

/** The i-th fixture transaction, requested at `t` (its latency kept), received 300 ms later. */
const at = (i: number, t: number, receivedAt = t + 300): TransactionEvent => transactionAt(i, t, receivedAt);

/** Events over minutes 0..6 of 09:00, in two partitions, like the processor would see them. */
function events(): { partition: number; events: TransactionEvent[] }[] {
  const all = Array.from({ length: 700 }, (_, i) => at(5000 + i, T0 + Math.floor((i * 7 * MINUTE) / 700)));
  // Terminal serial decides the partition, as the gateway's key does.
  const partitionOf = (ev: TransactionEvent): number => Number(ev.terminal_serial.slice(-1)) % 2;
  return [0, 1].map((partition) => ({ partition, events: all.filter((e) => partitionOf(e) === partition) }));
}

describe('the KPI migration on the real engine', () => {
  let test: TestStore;
  let store: Store;
  let db: string;

  beforeAll(async () => {
    test = await openTestStore();
    store = test.store;
    db = `pp_kpi_${Math.random().toString(36).slice(2, 10)}`;
    await runMigrations(store, { database: db, rawTtlDays: 90 });
  });

  afterAll(async () => {
    await store?.command(`DROP DATABASE IF EXISTS ${db}`);
    await test?.close();
  });

  it('creates kpi_1m as a ReplacingMergeTree on version keyed by level, entity, window and partition', async () => {
    const tables = await store.query<{
      name: string;
      engine: string;
      sorting_key: string;
      create_table_query: string;
    }>(
      `SELECT name, engine, sorting_key, create_table_query FROM system.tables WHERE database = {db:String} ORDER BY name`,
      { db },
    );
    const byName = new Map(tables.map((t) => [t.name, t]));
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining(['kpi_1m', 'late_events', 'kpi_5m', 'kpi_15m', 'kpi_1h']),
    );
    expect(byName.get('kpi_1m')).toMatchObject({
      engine: 'ReplacingMergeTree',
      sorting_key: 'entity_level, entity_id, window_start, source_partition',
    });
    expect(byName.get('kpi_1m')!.create_table_query).toContain('ReplacingMergeTree(version)');
    expect(byName.get('kpi_1m')!.create_table_query).toContain(
      'TTL toDate(window_start) + toIntervalDay(90)',
    );
    expect(byName.get('late_events')!.engine).toBe('ReplacingMergeTree');
    for (const v of ['kpi_5m', 'kpi_15m', 'kpi_1h']) expect(byName.get(v)!.engine).toBe('View');
  });

  it('stores the rows of every emission, keeps the final one per window, and rolls them up in kpi_5m', async () => {
    const emitted: WindowEmission[] = [];
    for (const { partition, events: evs } of events()) {
      const engine = new KpiWindowEngine({ partition, allowedLatenessMs: 0 });
      // Batches of 25: windows are emitted several times with rising versions before they close.
      for (let i = 0; i < evs.length; i += 25) {
        emitted.push(
          ...engine.process(evs.slice(i, i + 25).map((event, j) => ({ offset: i + j, event }))).updates,
        );
      }
      emitted.push(...engine.advanceWatermark(T0 + 60 * MINUTE).updates);
    }
    expect(emitted.some((e) => !e.isFinal)).toBe(true);
    // Insert every emission (twice for some, as a replay would) in two parts.
    const rows = emitted.map((e) => kpiRow(e, T0 + 10 * MINUTE));
    await store.insert(`${db}.kpi_1m`, rows);
    await store.insert(`${db}.kpi_1m`, rows.slice(0, 200));

    // One row per key, the final one.
    const [counts] = await store.query<{ n: string; finals: string }>(
      `SELECT count() AS n, countIf(is_final) AS finals FROM ${db}.kpi_1m FINAL`,
    );
    const finals = emitted.filter((e) => e.isFinal);
    expect(Number(counts!.n)).toBe(finals.length);
    expect(Number(counts!.finals)).toBe(finals.length);

    // A terminal's final minute reads back as written, sketch bytes included.
    const one = finals.find((e) => e.level === 'TERMINAL' && e.state.latencyCount > 3)!;
    const [back] = await store.query<Record<string, unknown>>(
      `SELECT *, hex(base64Decode(latency_sketch_base64)) AS sketch_hex, toUnixTimestamp64Milli(window_start) AS start_ms
         FROM ${db}.kpi_1m FINAL
        WHERE entity_level = 'TERMINAL' AND entity_id = {id:String} AND window_start = fromUnixTimestamp64Milli({start:Int64}, 'UTC')`,
      { id: one.entityId, start: one.windowStart },
    );
    const expected = kpiRow(one, T0 + 10 * MINUTE);
    expect(Number(back!.start_ms)).toBe(one.windowStart);
    expect(Number(back!.version)).toBe(one.version);
    expect(Number(back!.tx_count)).toBe(expected.tx_count);
    expect(back!.declines_by_code).toEqual(
      Object.fromEntries(Object.entries(expected.declines_by_code).map(([k, v]) => [k, String(v)])),
    );
    expect(back!.approval_rate).toBeCloseTo(expected.approval_rate!, 12);
    const bytes = Buffer.from(back!.sketch_hex as string, 'hex');
    expect(bytes.toString('base64')).toBe(expected.latency_sketch_base64);
    expect(LatencySketch.fromBytes(bytes).quantile(0.95)).toBe(expected.latency_p95_ms);

    // kpi_5m for the fleet, 09:00-09:05, against the raw events.
    const raw = events()
      .flatMap((p) => p.events)
      .filter((e) => e.request_time < T0 + 5 * MINUTE);
    const [fleet] = await store.query<Record<string, unknown>>(
      `SELECT * FROM ${db}.kpi_5m
        WHERE entity_level = 'FLEET' AND entity_id = '*' AND window_start = fromUnixTimestamp64Milli({t:Int64}, 'UTC')`,
      { t: T0 },
    );
    const approved = raw.filter((e) => e.status === 'APPROVED');
    const sumBy = (
      list: TransactionEvent[],
      key: (e: TransactionEvent) => string,
      value = (_: TransactionEvent) => 1,
    ) => {
      const m: Record<string, string> = {};
      for (const e of list) m[key(e)] = String(Number(m[key(e)] ?? 0) + value(e));
      return m;
    };
    expect(fleet).toMatchObject({
      window_size_ms: 300_000,
      minutes_with_data: '5',
      partials: '10',
      is_final: true,
      tx_count: String(raw.length),
      approved_count: String(approved.length),
      declined_count: String(raw.filter((e) => e.status === 'DECLINED').length),
      timeout_count: String(raw.filter((e) => e.status === 'TIMEOUT').length),
      refund_count: String(raw.filter((e) => e.transaction_type === 'REFUND').length),
      declines_by_code: sumBy(
        raw.filter((e) => e.status === 'DECLINED'),
        (e) => e.response_code ?? 'none',
      ),
      amount_sum_minor: sumBy(
        approved,
        (e) => e.currency,
        (e) => e.amount_minor,
      ),
      amount_count: sumBy(approved, (e) => e.currency),
      payment_method_mix: sumBy(raw, (e) => e.payment_method),
      entry_mode_mix: sumBy(raw, (e) => e.entry_mode),
    });
    expect(fleet!.approval_rate).toBeCloseTo(approved.length / raw.length, 12);
    const avg = fleet!.amount_avg_minor as Record<string, number>;
    expect(Object.keys(avg).sort()).toEqual([...new Set(approved.map((e) => e.currency))].sort());
    for (const [currency, value] of Object.entries(avg)) {
      const mine = approved.filter((e) => e.currency === currency);
      expect(value).toBeCloseTo(mine.reduce((s, e) => s + e.amount_minor, 0) / mine.length, 6);
    }
    expect(fleet!.tps).toBeCloseTo(raw.length / 300, 12);
    const latencies = raw
      .filter((e) => e.response_time !== null)
      .map((e) => e.response_time! - e.request_time);
    expect(fleet!.latency_count).toBe(String(latencies.length));
    expect(fleet!.latency_avg_ms).toBeCloseTo(latencies.reduce((a, b) => a + b, 0) / latencies.length, 9);
    expect(fleet!.latency_max_ms).toBe(String(Math.max(...latencies)));
    const baskets = raw.filter((e) => e.basket !== null);
    const gross = baskets.reduce(
      (s, e) => s + e.basket!.items.reduce((g, i) => g + i.quantity * i.unit_price_minor, 0),
      0,
    );
    const discount = baskets.reduce((s, e) => s + e.basket!.discount_minor, 0);
    expect(fleet!.avg_basket_minor).toBeCloseTo(gross / baskets.length, 9);
    expect(fleet!.discount_share).toBeCloseTo(discount / gross, 12);
    // Per-minute distinct cards are exact; across minutes and partitions only a lower bound.
    const distinct = new Set(raw.map((e) => e.card_token)).size;
    expect(Number(fleet!.unique_cards_lower_bound)).toBeLessThanOrEqual(distinct);
    expect(Number(fleet!.unique_cards_lower_bound)).toBeGreaterThan(0);

    // kpi_15m and kpi_1h hold every event of the 7 minutes in one bucket each.
    for (const view of ['kpi_15m', 'kpi_1h']) {
      const [r] = await store.query<{ tx_count: string }>(
        `SELECT tx_count FROM ${db}.${view} WHERE entity_level = 'FLEET' AND entity_id = '*'`,
      );
      expect(r!.tx_count).toBe('700');
    }

    // The examples of docs/KPIS.md, as written.
    const [perMinute, regional, skewed] = docQueries();
    const run = <T>(sql: string) => store.query<T>(sql.replaceAll('pospulse.', `${db}.`));
    const minutes = await run<{ tx: string; approval_rate: number }>(perMinute!);
    const m4 = events()
      .flatMap((p) => p.events)
      .filter((e) => e.merchant_id === 'M4');
    expect(minutes).toHaveLength(7);
    expect(minutes.reduce((s, r) => s + Number(r.tx), 0)).toBe(m4.length);
    const north = await run<{ tx_count: string }>(regional!);
    expect(north.length).toBeGreaterThan(0);
    expect(await run(skewed!)).toEqual([]); // no clock_ahead rows in this database yet
  });

  it('stores late events once per record, without card data', async () => {
    const engine = new KpiWindowEngine({ partition: 3, allowedLatenessMs: 0, maxFutureSkewMs: 1000 });
    const onTime = at(1, T0 + 5 * MINUTE, T0 + 5 * MINUTE);
    const stale = at(2, T0, T0 + 5 * MINUTE + 10);
    const ahead = at(3, T0 + 9 * MINUTE, T0 + 5 * MINUTE);
    const { late } = engine.process([
      { offset: 10, event: onTime },
      { offset: 11, event: stale },
      { offset: 12, event: ahead },
    ]);
    expect(late.map((l) => l.reason)).toEqual(['beyond_allowed_lateness', 'clock_ahead']);
    const rows = late.map(lateEventRow);
    await store.insert(`${db}.late_events`, rows);
    await store.insert(`${db}.late_events`, rows); // a replay writes them again
    const back = await store.query<Record<string, unknown>>(
      `SELECT event_id, reason, source_partition, source_offset, toUnixTimestamp64Milli(watermark) AS wm, event_json
         FROM ${db}.late_events FINAL ORDER BY source_offset`,
    );
    expect(back).toHaveLength(2);
    expect(back[0]).toMatchObject({
      event_id: stale.event_id,
      reason: 'beyond_allowed_lateness',
      source_partition: 3,
      source_offset: '11',
      wm: String(T0 + 5 * MINUTE),
    });
    expect(back[1]).toMatchObject({ event_id: ahead.event_id, reason: 'clock_ahead', source_offset: '12' });
    const skewed = await store.query<Record<string, unknown>>(
      docQueries()[2]!.replaceAll('pospulse.', `${db}.`),
    );
    expect(skewed).toEqual([
      { terminal_serial: ahead.terminal_serial, n: '1', worst_skew_ms: String(4 * MINUTE) },
    ]);
    const json = JSON.parse(back[0]!.event_json as string) as Record<string, unknown>;
    expect(json.event_id).toBe(stale.event_id);
    for (const f of ['card_token', 'card_token_key_id', 'card_bin', 'card_last4'])
      expect(json).not.toHaveProperty(f);
  });

  it('renders cluster statements the engine parses, with Replicated engines and Distributed tables', async () => {
    const ctx: RenderContext = { database: 'pospulse', cluster: 'pospulse_cluster', rawTtlDays: 90 };
    const migration = loadMigrations(findMigrationsDir()).find((m) => m.id === '0002_kpis')!;
    const formatted: string[] = [];
    for (const q of renderMigration(migration, ctx)) {
      const [r] = await store.query<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q });
      formatted.push(r!.f);
    }
    for (const f of formatted) expect(f).toMatch(/ ON CLUSTER pospulse_cluster\b/);
    expect(
      formatted.find((f) => f.startsWith('CREATE TABLE IF NOT EXISTS pospulse.kpi_1m_local ')),
    ).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/kpi_1m_local', '{replica}', version)",
    );
    expect(formatted.find((f) => f.startsWith('CREATE TABLE IF NOT EXISTS pospulse.kpi_1m '))).toContain(
      "ENGINE = Distributed('pospulse_cluster', 'pospulse', 'kpi_1m_local', cityHash64(entity_level, entity_id))",
    );
    expect(formatted.find((f) => f.startsWith('CREATE TABLE IF NOT EXISTS pospulse.late_events '))).toContain(
      "ENGINE = Distributed('pospulse_cluster', 'pospulse', 'late_events_local', cityHash64(terminal_serial))",
    );
    // The views read the Distributed table, so they see every shard.
    expect(
      formatted
        .filter((f) => f.startsWith('CREATE VIEW'))
        .every((f) => /FROM pospulse\.kpi_1m\s+FINAL\b/.test(f)),
    ).toBe(true);
  });
});
