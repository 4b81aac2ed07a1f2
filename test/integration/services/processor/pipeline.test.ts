import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { runMigrations } from '../../../../services/shared/clickhouse/migrations.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames, type TopicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import type { Processor } from '../../../../services/processor/processor.ts';
import type { ProcessorOptions } from '../../../../services/processor/processor.ts';
import { SOURCE_PARTITION_HEADER } from '../../../../services/shared/kafka/source-partition.ts';
import { LatencySketch, SKETCH_RELATIVE_ACCURACY } from '../../../../services/shared/kpi/latency-sketch.ts';
import { FLEET_ID } from '../../../../services/processor/kpi/window-state.ts';
import { sampleHeartbeat, transactionAt } from '../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, readTopic, uniqueName } from '../../support/kafka.ts';
import { testProcessor } from '../../support/processor.ts';
import { openTestStore, type TestStore } from '../../support/store.ts';
import { eventually, kpiTotals, rawTotals } from './pipeline-queries.ts';

const MINUTE = 60_000;

describeKafka('processor pipeline on the real broker and engine', () => {
  const logger = createLogger({ service: 'processor-test', level: 'warn' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  const processors: Processor[] = [];

  async function setup(name: string): Promise<{ topics: TopicNames; db: string }> {
    const prefix = `${uniqueName(name)}.`;
    const db = `${name.replace(/-/g, '_')}_${Math.random().toString(36).slice(2, 10)}`;
    await runMigrations(store, { database: db, rawTtlDays: 90 });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 3, replicationFactor: 1 });
    await admin.disconnect();
    return { topics: topicNames(prefix), db };
  }

  function processor(
    topics: TopicNames,
    db: string,
    groupId: string,
    overrides: Partial<ProcessorOptions> = {},
  ): Processor {
    const p = testProcessor({ kafka, codec, store, producer, topics, db, logger }, groupId, {
      idleGraceMs: 1_000,
      ...overrides,
    });
    processors.push(p);
    return p;
  }

  async function send(topics: TopicNames, events: readonly TransactionEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 500) {
      await producer.send(
        topics.transactions,
        'TransactionEvent',
        events.slice(i, i + 500).map((v) => ({ key: v.terminal_serial, value: v })),
      );
    }
  }

  async function count(sql: string): Promise<number> {
    const [row] = await store.query<{ n: string }>(sql);
    return Number(row?.n ?? 0);
  }

  beforeAll(async () => {
    test = await openTestStore();
    store = test.store;
    producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
  }, 60_000);

  afterAll(async () => {
    for (const p of processors) await p.stop().catch(() => undefined);
    await producer?.disconnect();
    await test?.close();
  });

  it('writes KPIs equal to a GROUP BY over the stored transactions, at every level, and publishes them', async () => {
    const { topics, db } = await setup('kpi-eq');
    // 2400 attempts over six minutes ending three minutes ago: all but the newest minutes final.
    const start = Math.floor((Date.now() - 9 * MINUTE) / MINUTE) * MINUTE;
    const events = Array.from({ length: 2400 }, (_, i) => transactionAt(i, start + i * 150));
    await send(topics, events);
    await producer.send(
      topics.heartbeats,
      'TerminalHeartbeat',
      Array.from({ length: 20 }, (_, i) => {
        const hb = sampleHeartbeat(i);
        const t = Date.now() - 5_000;
        return { key: hb.terminal_serial, value: { ...hb, event_time: t, gateway_received_time: t } };
      }),
    );

    const p = processor(topics, db, uniqueName('g'));
    await p.start();
    await eventually(
      () => count(`SELECT count() AS n FROM ${db}.transactions FINAL`),
      (n) => n === events.length,
      'all transactions stored',
    );
    await eventually(
      () => kpiTotals(store, db, 'FLEET'),
      (rows) => rows.reduce((s, r) => s + r.tx_count, 0) === events.length,
      'fleet KPIs covering every transaction',
    );

    for (const level of ['TERMINAL', 'MERCHANT', 'REGION', 'ACQUIRER', 'FLEET'] as const) {
      expect(await kpiTotals(store, db, level), level).toEqual(await rawTotals(store, db, level));
    }
    // Percentiles: within the sketch's relative accuracy of the exact quantile, per terminal
    // minute (one partition each) and for the fleet (partitions' sketches merged).
    const exact = await store.query<{ terminal_serial: string; w: string; latencies: number[] }>(
      `SELECT terminal_serial, toUnixTimestamp(toStartOfMinute(request_time)) * 1000 AS w,
              arraySort(groupArray(greatest(0, toInt64(dateDiff('millisecond', request_time, response_time))))) AS latencies
       FROM ${db}.transactions FINAL WHERE response_time IS NOT NULL
       GROUP BY terminal_serial, w`,
    );
    const rankValue = (sorted: readonly number[], q: number): number =>
      sorted[Math.floor(q * (sorted.length - 1))] as number;
    const stored = await store.query<{
      entity_id: string;
      w: string;
      p50: number;
      p95: number;
      p99: number;
      sketch: string;
    }>(
      `SELECT entity_id, toUnixTimestamp64Milli(window_start) AS w, latency_p50_ms AS p50,
              latency_p95_ms AS p95, latency_p99_ms AS p99, latency_sketch_base64 AS sketch
       FROM ${db}.kpi_1m FINAL WHERE entity_level IN ('TERMINAL', 'FLEET') AND latency_count > 0`,
    );
    const byTerminalMinute = new Map(stored.map((r) => [`${r.entity_id}:${r.w}`, r]));
    expect(exact.length).toBeGreaterThan(50);
    for (const e of exact) {
      const k = byTerminalMinute.get(`${e.terminal_serial}:${e.w}`);
      expect(k, `${e.terminal_serial} ${e.w}`).toBeDefined();
      for (const [q, v] of [
        [0.5, k!.p50],
        [0.95, k!.p95],
        [0.99, k!.p99],
      ] as const) {
        const want = rankValue(e.latencies, q);
        expect(Math.abs(v - want), `${e.terminal_serial} ${e.w} p${q * 100}`).toBeLessThanOrEqual(
          SKETCH_RELATIVE_ACCURACY * want + 1e-9,
        );
      }
    }
    const fleetSketches = new Map<string, LatencySketch>();
    for (const r of stored) {
      if (r.entity_id !== FLEET_ID) continue;
      const sketch = LatencySketch.fromBytes(Buffer.from(r.sketch, 'base64'));
      const merged = fleetSketches.get(r.w);
      if (merged) merged.merge(sketch);
      else fleetSketches.set(r.w, sketch);
    }
    const fleetExact = new Map<string, number[]>();
    for (const e of exact) fleetExact.set(e.w, [...(fleetExact.get(e.w) ?? []), ...e.latencies]);
    expect(fleetSketches.size).toBe(fleetExact.size);
    for (const [w, latencies] of fleetExact) {
      const sorted = latencies.sort((a, b) => a - b);
      const want = rankValue(sorted, 0.95);
      expect(Math.abs(fleetSketches.get(w)!.quantile(0.95)! - want)).toBeLessThanOrEqual(
        SKETCH_RELATIVE_ACCURACY * want + 1e-9,
      );
    }

    // Windows older than the watermark are final; the newest stay open.
    const finality = await store.query<{ is_final: boolean; n: string }>(
      `SELECT is_final, count() AS n FROM ${db}.kpi_1m FINAL WHERE entity_level = 'FLEET' GROUP BY is_final`,
    );
    expect(finality.find((r) => r.is_final)).toBeDefined();

    // The same windows went to Kafka: the highest version per window and partition holds the
    // stored counts.
    const records = await readTopic(kafka, topics.kpiUpdates);
    const latest = new Map<string, { version: number; tx: number }>();
    for (const r of records) {
      const u = await codec.decode(r.value!, 'KpiUpdate');
      if (u.entity_level !== 'FLEET' || u.window_size_ms !== MINUTE) continue;
      const key = `${u.window_start}:${String(r.headers[SOURCE_PARTITION_HEADER])}`;
      const known = latest.get(key);
      if (!known || known.version < u.version) latest.set(key, { version: u.version, tx: u.tx_count });
    }
    expect([...latest.values()].reduce((s, v) => s + v.tx, 0)).toBe(events.length);

    // Every terminal has a status, on the table and on the compacted topic.
    expect(await count(`SELECT count() AS n FROM ${db}.terminal_status_latest FINAL`)).toBe(20);
    const statuses = await readTopic(kafka, topics.terminalStatus);
    expect(new Set(statuses.map((r) => r.key?.toString())).size).toBe(20);
  }, 120_000);

  it('two instances in one group write the same windows as one instance alone', async () => {
    const one = await setup('kpi-one');
    const two = { topics: one.topics, db: (await setup('kpi-two')).db };
    const start = Math.floor((Date.now() - 8 * MINUTE) / MINUTE) * MINUTE;
    const events = Array.from({ length: 3000 }, (_, i) => transactionAt(i, start + i * 100));
    await send(one.topics, events);

    const alone = processor(one.topics, one.db, uniqueName('alone'));
    const groupId = uniqueName('pair');
    const a = processor(two.topics, two.db, groupId);
    const b = processor(two.topics, two.db, groupId);
    await Promise.all([alone.start(), a.start(), b.start()]);
    for (const db of [one.db, two.db]) {
      await eventually(
        () => kpiTotals(store, db, 'FLEET'),
        (rows) => rows.reduce((s, r) => s + r.tx_count, 0) === events.length,
        `fleet KPIs of ${db} covering every transaction`,
      );
    }
    // Both members got work, and partition p of both topics went to the same member.
    expect(a.partitions.length).toBeGreaterThan(0);
    expect(b.partitions.length).toBeGreaterThan(0);
    expect([...a.partitions, ...b.partitions].sort()).toEqual([0, 1, 2]);

    const windows = (db: string) =>
      store.query(
        `SELECT entity_level, entity_id, window_start, source_partition, tx_count, approved_count,
                amount_sum_minor, declines_by_code, latency_p95_ms, unique_cards
         FROM ${db}.kpi_1m FINAL ORDER BY entity_level, entity_id, window_start, source_partition`,
      );
    const expected = await windows(one.db);
    expect(expected.length).toBeGreaterThan(100);
    expect(await windows(two.db)).toEqual(expected);
  }, 120_000);

  it('folds events late within the allowed lateness into their window; later and clock-ahead ones go to late_events', async () => {
    const { topics, db } = await setup('late');
    const now = Date.now();
    const minute = Math.floor((now - 5 * MINUTE) / MINUTE) * MINUTE;
    const p = processor(topics, db, uniqueName('g'), { allowedLatenessMs: 10 * MINUTE });
    await p.start();

    await send(
      topics,
      Array.from({ length: 10 }, (_, i) => transactionAt(i, minute + i * 1_000, now - 2_000)),
    );
    const fleetWindow = () =>
      store.query<{ tx_count: string; version: string; is_final: boolean }>(
        `SELECT sum(tx_count) AS tx_count, max(version) AS version, min(is_final) AS is_final
         FROM ${db}.kpi_1m FINAL WHERE entity_level = 'FLEET' AND window_start = fromUnixTimestamp64Milli(${minute})`,
      );
    await eventually(fleetWindow, (r) => Number(r[0]?.tx_count) === 10, 'the first 10 folded');

    // Newer events move the watermark to about now − 10 min; the window of `minute` is still open.
    await send(topics, [transactionAt(100, now - 60_000, now - 1_000)]);
    // Late within the lateness: its window is written again with a higher version.
    await send(topics, [transactionAt(101, minute + 30_000, now - 500)]);
    // Beyond: a window that closed long ago.
    const old = now - 40 * MINUTE;
    await send(topics, [transactionAt(102, old, now - 400)]);
    // Clock ahead: stamped 10 minutes after the gateway received it.
    await send(topics, [transactionAt(103, now + 10 * MINUTE, now - 300)]);

    const rows = await eventually(fleetWindow, (r) => Number(r[0]?.tx_count) === 11, 'the late event folded');
    expect(rows[0]?.is_final).toBe(false);
    // One partition's partial of the window has 2 × its count as version; the late event raised it.
    expect(Number(rows[0]?.version)).toBeGreaterThanOrEqual(2);

    const late = await eventually(
      () =>
        store.query<{ event_id: string; reason: string }>(
          `SELECT event_id, reason FROM ${db}.late_events FINAL ORDER BY reason`,
        ),
      (r) => r.length === 2,
      'two late events',
    );
    expect(late).toEqual([
      { event_id: transactionAt(102, old).event_id, reason: 'beyond_allowed_lateness' },
      { event_id: transactionAt(103, now).event_id, reason: 'clock_ahead' },
    ]);
    // Routed away, still stored raw: nothing accepted is lost.
    // (The four sends go to different partitions: the last one's raw rows may still be in flight.)
    await eventually(
      () => count(`SELECT count() AS n FROM ${db}.transactions FINAL`),
      (n) => n === 14,
      'all 14 stored raw',
    );
    // Neither changed a window: the fleet total is the 12 folded events.
    const fleet = await kpiTotals(store, db, 'FLEET');
    expect(fleet.reduce((s, r) => s + r.tx_count, 0)).toBe(12);
  }, 120_000);

  it('turns a silent terminal OFFLINE, degrades one on low battery, and publishes both changes', async () => {
    const { topics, db } = await setup('status');
    const p = processor(topics, db, uniqueName('g'), { offlineAfterMs: 3_000 });
    await p.start();
    const now = Date.now();
    const beat = (i: number, battery: number) => {
      const hb = sampleHeartbeat(i);
      return {
        key: hb.terminal_serial,
        value: {
          ...hb,
          event_time: now,
          gateway_received_time: now,
          battery_pct: battery,
          online: true,
          paper_state: 'OK' as const,
          offline_queue_length: 0,
        },
      };
    };
    await producer.send(topics.heartbeats, 'TerminalHeartbeat', [beat(0, 80), beat(1, 5)]);
    const serials = [beat(0, 80).key, beat(1, 5).key];

    const statusOf = () =>
      store.query<{ terminal_serial: string; status: string; reasons: string[] }>(
        `SELECT terminal_serial, status, reasons FROM ${db}.terminal_status_latest FINAL ORDER BY terminal_serial`,
      );
    const first = await eventually(statusOf, (r) => r.length === 2, 'both terminals known');
    expect(first.find((r) => r.terminal_serial === serials[1])).toMatchObject({
      status: 'DEGRADED',
      reasons: ['low_battery'],
    });
    // Nothing more arrives: after offlineAfter both go OFFLINE at a tick.
    await eventually(
      statusOf,
      (r) => r.length === 2 && r.every((x) => x.status === 'OFFLINE'),
      'both terminals offline',
      20_000,
    );
    const records = await readTopic(kafka, topics.terminalStatus);
    const decoded = await Promise.all(records.map((r) => codec.decode(r.value!, 'TerminalStatus')));
    for (const serial of serials) {
      expect(
        decoded
          .filter((d) => d.terminal_serial === serial)
          .map((d) => d.status)
          .at(-1),
      ).toBe('OFFLINE');
    }
  }, 60_000);
});
