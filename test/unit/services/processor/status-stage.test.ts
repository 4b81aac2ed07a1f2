import type { RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionOfKey } from '../../../../services/processor/partition-of.ts';
import { TERMINAL_STATUS_COLUMNS, terminalStatusRow } from '../../../../services/processor/status/rows.ts';
import { TerminalStatusTracker } from '../../../../services/processor/status/terminal-status.ts';
import { StatusStage } from '../../../../services/processor/status-stage.ts';
import { loadSchemaCatalog } from '../../../../services/shared/avro/schemas.ts';
import type {
  RecordOf,
  SchemaName,
  TerminalHeartbeat,
  TerminalStatus,
  TransactionEvent,
} from '../../../../services/shared/avro/types.generated.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { ValidationError } from '../../../../services/shared/errors.ts';
import type { EventProducer, OutgoingRecord } from '../../../../services/shared/kafka/producer.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry, type Registry } from '../../../../services/shared/metrics.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../support/fixtures.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const PARTITIONS = 3;
const STATUS_TABLE = 'pospulse.terminal_status';
const LATEST_TABLE = 'pospulse.terminal_status_latest';
const STATUS_TOPIC = 'terminal-status';
const catalog = loadSchemaCatalog();

/** The first serial of the form TRM-nnnnn that the gateways' producer puts in `partition`. */
function serialIn(partition: number, skip = 0): string {
  let found = 0;
  for (let i = 0; ; i++) {
    const serial = `TRM-${String(i).padStart(5, '0')}`;
    if (partitionOfKey(serial, PARTITIONS) === partition && found++ === skip) return serial;
  }
}

const A = serialIn(0);
const B = serialIn(1);
const C = serialIn(2);
const D = serialIn(0, 1);

class FakeStore implements Pick<Store, 'insert' | 'query'> {
  readonly inserts: { table: string; rows: unknown[] }[] = [];
  readonly queries: string[] = [];
  constructor(public stored: Record<string, unknown>[] = []) {}

  async insert<T extends object>(table: string, rows: readonly T[]): Promise<void> {
    this.inserts.push({ table, rows: [...rows] });
  }

  async query<T>(sql: string): Promise<T[]> {
    this.queries.push(sql);
    return structuredClone(this.stored) as T[];
  }
}

/** Records what would be sent; refuses a record the real producer's Avro encoding would refuse. */
class FakeProducer implements Pick<EventProducer, 'send'> {
  readonly sends: { topic: string; schema: SchemaName; records: OutgoingRecord<unknown>[] }[] = [];

  async send<N extends SchemaName>(
    topic: string,
    schema: N,
    records: readonly OutgoingRecord<RecordOf<N>>[],
  ): Promise<RecordMetadata[]> {
    for (const r of records) {
      if (!catalog.getSchema(schema).type.isValid(r.value)) throw new Error(`invalid ${schema} record`);
    }
    this.sends.push({ topic, schema, records: [...records] });
    return [];
  }

  statuses(): OutgoingRecord<TerminalStatus>[] {
    return this.sends.flatMap((s) => s.records as OutgoingRecord<TerminalStatus>[]);
  }
}

let seq = 0;

/** A healthy heartbeat of `serial` received at `at`. */
function hb(serial: string, at: number, overrides: Partial<TerminalHeartbeat> = {}): TerminalHeartbeat {
  return sampleHeartbeat(seq++, {
    terminal_serial: serial,
    merchant_id: 'M1',
    event_time: at - SEC,
    gateway_received_time: at,
    online: true,
    battery_pct: 80,
    paper_state: 'OK',
    signal_strength_dbm: -70,
    connection_type: 'WIFI',
    last_error_code: null,
    offline_queue_length: 0,
    ...overrides,
  });
}

function tx(serial: string, at: number, overrides: Partial<TransactionEvent> = {}): TransactionEvent {
  return sampleTransaction(seq++, {
    terminal_serial: serial,
    merchant_id: 'M1',
    merchant_name: 'Kiosk 24',
    region: 'north',
    acquirer_id: 'ACQ1',
    latitude: 48.1,
    longitude: 11.5,
    status: 'APPROVED',
    request_time: at - 300,
    gateway_received_time: at,
    ...overrides,
  });
}

/** A terminal's record as an earlier processor published it. */
function storedRecord(
  serial: string,
  at: number,
  overrides: Partial<TerminalHeartbeat> = {},
): TerminalStatus {
  const earlier = new TerminalStatusTracker({ clock: () => at });
  const [record] = earlier.onHeartbeat(hb(serial, at, overrides));
  if (record === undefined) throw new Error('expected a first record');
  return record;
}

/** As JSONEachRow returns it: DateTime64 text, UInt64 quoted. */
function latestRow(r: TerminalStatus): Record<string, unknown> {
  return { ...terminalStatusRow(r), version: String(r.version) };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

function harness(stored: TerminalStatus[] = []) {
  const clock = { now: T0 + 10 * MIN };
  const store = new FakeStore(stored.map(latestRow));
  const producer = new FakeProducer();
  const metrics = createMetricsRegistry('processor', false);
  const stage = new StatusStage(
    {
      store,
      producer,
      statusTopic: STATUS_TOPIC,
      tables: { status: STATUS_TABLE, latest: LATEST_TABLE },
      logger: createLogger({ service: 'test', level: 'silent' }),
      metrics,
    },
    { offlineAfterMs: 5 * MIN, clock: () => clock.now },
  );
  return { stage, store, producer, metrics, clock };
}

describe('StatusStage', () => {
  it('restores the terminals of the partitions it opens from terminal_status_latest, and only those', async () => {
    const records = [A, B, C].map((s) => storedRecord(s, T0));
    const { stage, store, metrics } = harness(records);
    await stage.open([0, 1], PARTITIONS);

    expect(store.queries).toHaveLength(1);
    expect(store.queries[0]).toBe(`SELECT ${TERMINAL_STATUS_COLUMNS.join(', ')} FROM ${LATEST_TABLE} FINAL`);
    expect(stage.status(A)).toEqual(records[0]);
    expect(stage.status(B)).toEqual(records[1]);
    expect(stage.status(C)).toBeUndefined();
    expect([0, 1, 2].map((p) => stage.has(p))).toEqual([true, true, false]);
    expect(await metricValue(metrics, 'pospulse_processor_terminals')).toBe(2);
  });

  it('opens a partition once: a later open reads only for the partitions not open yet', async () => {
    const { stage, store } = harness([storedRecord(A, T0), storedRecord(C, T0)]);
    await stage.open([0], PARTITIONS);
    await stage.open([0], PARTITIONS);
    expect(store.queries).toHaveLength(1);

    // A's state moved on since; opening partition 2 must not put A back to its stored record.
    await stage.onHeartbeats(0, [hb(A, T0 + 9 * MIN, { battery_pct: 5 })]);
    await stage.open([0, 2], PARTITIONS);
    expect(store.queries).toHaveLength(2);
    expect(stage.status(A)).toMatchObject({ status: 'DEGRADED', reasons: ['low_battery'] });
    expect(stage.status(C)).toMatchObject({ status: 'ONLINE' });
  });

  it('carries on from a restored terminal rather than starting it over', async () => {
    const restored = storedRecord(A, T0 + 9 * MIN);
    const { stage, producer } = harness([restored]);
    await stage.open([0], PARTITIONS);
    // Same health as stored: no record (a terminal seen for the first time would get one).
    await stage.onHeartbeats(0, [hb(A, T0 + 10 * MIN)]);
    expect(producer.sends).toEqual([]);

    await stage.onHeartbeats(0, [hb(A, T0 + 10 * MIN + SEC, { paper_state: 'OUT' })]);
    const [changed] = producer.statuses();
    expect(changed?.value).toMatchObject({ status: 'DEGRADED', reasons: ['paper_out'] });
    expect(changed!.value.version).toBeGreaterThan(restored.version);
  });

  it('publishes each change to the history table and to the status topic, keyed by serial', async () => {
    const { stage, store, producer, metrics } = harness();
    await stage.open([0], PARTITIONS);
    await stage.onHeartbeats(0, [hb(A, T0 + 10 * MIN), hb(D, T0 + 10 * MIN, { online: false })]);

    const published = producer.statuses();
    expect(producer.sends.map((s) => [s.topic, s.schema])).toEqual([[STATUS_TOPIC, 'TerminalStatus']]);
    expect(published.map((r) => [r.key, r.value.terminal_serial, r.value.status])).toEqual([
      [A, A, 'ONLINE'],
      [D, D, 'DEGRADED'],
    ]);
    expect(store.inserts).toEqual([
      { table: STATUS_TABLE, rows: published.map((r) => terminalStatusRow(r.value)) },
    ]);
    expect(stage.status(D)).toEqual(published[1]!.value);
    expect(await metricValue(metrics, 'pospulse_processor_status_changes_total', { status: 'ONLINE' })).toBe(
      1,
    );
    expect(
      await metricValue(metrics, 'pospulse_processor_status_changes_total', { status: 'DEGRADED' }),
    ).toBe(1);
    expect(await metricValue(metrics, 'pospulse_processor_terminals')).toBe(2);
  });

  it('follows transactions too, and publishes nothing when nothing changed', async () => {
    const { stage, store, producer } = harness();
    await stage.open([1], PARTITIONS);
    await stage.onTransactions(1, [tx(B, T0 + 10 * MIN)]);
    expect(producer.statuses().map((r) => [r.key, r.value.status, r.value.last_transaction_time])).toEqual([
      [B, 'ONLINE', T0 + 10 * MIN - 300],
    ]);
    const sends = producer.sends.length;
    const inserts = store.inserts.length;
    await stage.onTransactions(1, [tx(B, T0 + 10 * MIN + SEC)]);
    await stage.onTransactions(1, []);
    expect(producer.sends).toHaveLength(sends);
    expect(store.inserts).toHaveLength(inserts);
  });

  it('turns a silent terminal OFFLINE at a tick, and leaves a partition it does not hold alone', async () => {
    const { stage, producer } = harness();
    await stage.open([0], PARTITIONS);
    await stage.onHeartbeats(0, [hb(A, T0 + 10 * MIN)]);
    await stage.tick(0, T0 + 14 * MIN);
    expect(producer.statuses()).toHaveLength(1);
    await stage.tick(0, T0 + 15 * MIN);
    expect(producer.statuses().map((r) => r.value.status)).toEqual(['ONLINE', 'OFFLINE']);
    await expect(stage.tick(2, T0 + 60 * MIN)).resolves.toBeUndefined();
  });

  it('refuses events for a partition it was not asked to open, and forgets a dropped one', async () => {
    const { stage, metrics } = harness([storedRecord(A, T0), storedRecord(B, T0)]);
    await expect(stage.onHeartbeats(0, [hb(A, T0)])).rejects.toThrow(/not opened/);
    await stage.open([0, 1], PARTITIONS);
    stage.drop(0);
    expect(stage.has(0)).toBe(false);
    expect(stage.status(A)).toBeUndefined();
    expect(stage.status(B)).toBeDefined();
    expect(await metricValue(metrics, 'pospulse_processor_terminals')).toBe(1);
    await expect(stage.onTransactions(0, [tx(A, T0)])).rejects.toThrow(/not opened/);
  });

  it('opens nothing when a stored row cannot be read, so a retry starts clean', async () => {
    const { stage, store } = harness([storedRecord(A, T0)]);
    store.stored = [{ ...store.stored[0], status: 7 }];
    await expect(stage.open([0], PARTITIONS)).rejects.toBeInstanceOf(ValidationError);
    expect(stage.has(0)).toBe(false);
    store.stored = [latestRow(storedRecord(A, T0))];
    await stage.open([0], PARTITIONS);
    expect(stage.status(A)).toMatchObject({ terminal_serial: A, status: 'ONLINE' });
  });
});
