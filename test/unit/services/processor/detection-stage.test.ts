import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordMetadata } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FLAG_INTERVAL_MS } from '../../../../services/processor/detection/alert-book.ts';
import type { AlertRow, FlagRow } from '../../../../services/processor/detection/rows.ts';
import { RulesSource } from '../../../../services/processor/detection/rules-file.ts';
import { RULE_DEFINITIONS } from '../../../../services/processor/detection/rules/index.ts';
import { DetectionStage } from '../../../../services/processor/detection-stage.ts';
import { partitionOfKey } from '../../../../services/processor/partition-of.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import type {
  Alert,
  RecordOf,
  SchemaName,
  TransactionEvent,
} from '../../../../services/shared/avro/types.generated.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import type { EventProducer, OutgoingRecord } from '../../../../services/shared/kafka/producer.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry, type Registry } from '../../../../services/shared/metrics.ts';
import { sampleTransaction, transactionAt } from '../../../support/fixtures.ts';
import { DAY, HOUR, MONDAY, fleet, traffic } from './detection/rules/fleet-traffic.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const PARTITIONS = 3;
const FLAGS_TABLE = 'pospulse.flags';
const ALERTS_TABLE = 'pospulse.alerts';
const ALERTS_TOPIC = 'alerts';
const RULES_UNDER_TEST = ['duplicate_transaction', 'card_testing'];
const codec = createAvroCodec(parseAvroCodecConfig({}));

/** The first serial of the form TRM-nnnnn that the gateways' producer puts in `partition`. */
function serialIn(partition: number, skip = 0): string {
  let found = 0;
  for (let i = 0; ; i++) {
    const serial = `TRM-${String(i).padStart(5, '0')}`;
    if (partitionOfKey(serial, PARTITIONS) === partition && found++ === skip) return serial;
  }
}

const A = serialIn(0);
const B = serialIn(0, 1);
const C = serialIn(1);

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

  rows<R>(table: string): R[] {
    return this.inserts.filter((i) => i.table === table).flatMap((i) => i.rows as R[]);
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
    for (const r of records) await codec.encode(schema, r.value);
    this.sends.push({ topic, schema, records: [...records] });
    return [];
  }

  alerts(): OutgoingRecord<Alert>[] {
    return this.sends.flatMap((s) => s.records as OutgoingRecord<Alert>[]);
  }
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

let dir: string;
let rulesVersion = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pospulse-detection-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Writes the rules file: the rules under test enabled (others, added later, off so they cannot
 * interfere), with `settings` merged in. Every write is longer than the last, so a reload sees it.
 */
async function writeRules(settings: Record<string, Record<string, unknown>> = {}): Promise<string> {
  const file = join(dir, 'rules.json');
  const rules = Object.fromEntries(
    RULE_DEFINITIONS.map((d) => [
      d.name,
      { enabled: RULES_UNDER_TEST.includes(d.name), ...settings[d.name] },
    ]),
  );
  rulesVersion += 1;
  await writeFile(file, JSON.stringify({ $comment: 'v'.repeat(rulesVersion), rules }));
  return file;
}

async function harness(
  opts: { stored?: Record<string, unknown>[]; settings?: Record<string, Record<string, unknown>> } = {},
) {
  const clock = { now: T0 + 30 * MIN };
  const store = new FakeStore(opts.stored);
  const producer = new FakeProducer();
  const metrics = createMetricsRegistry('processor', false);
  const logger = createLogger({ service: 'test', level: 'silent' });
  const rules = await RulesSource.open(await writeRules(opts.settings), RULE_DEFINITIONS, logger);
  const stage = new DetectionStage({
    store,
    producer,
    alertsTopic: ALERTS_TOPIC,
    tables: { flags: FLAGS_TABLE, alerts: ALERTS_TABLE },
    rules,
    logger,
    metrics,
    clock: () => clock.now,
  });
  return { stage, store, producer, metrics, clock, rules };
}

let seq = 90_000;

/** The k-th probe of a card tester at `serial`: 1.00 on card k, declined 05/14/51/54. */
function probe(serial: string, t: number, k: number, overrides: Partial<TransactionEvent> = {}) {
  return transactionAt(seq++, t, t + 300, {
    terminal_serial: serial,
    transaction_type: 'SALE',
    card_token: (k + 1).toString(16).padStart(8, '0').repeat(8),
    card_bin: String(400000 + k),
    card_last4: String(1000 + k),
    amount_minor: 100,
    status: 'DECLINED',
    response_code: ['05', '14', '51', '54'][k % 4]!,
    ...overrides,
  });
}

/** `n` probes on distinct cards, `gap` apart from `t`, card numbers from `firstCard`. */
const burst = (serial: string, n: number, t = T0, gap = 5 * SEC, firstCard = 0) =>
  Array.from({ length: n }, (_, k) => probe(serial, t + k * gap, firstCard + k));

/** An approved sale of 12.50 on one card at `serial`, requested at `t`. */
function charge(serial: string, t: number): TransactionEvent {
  return transactionAt(seq++, t, t + 300, {
    terminal_serial: serial,
    card_token: 'ef56'.repeat(16),
    amount_minor: 1250,
    currency: 'EUR',
    transaction_type: 'SALE',
    status: 'APPROVED',
    response_code: '00',
  });
}

/** An alert as the SELECT of `open` returns it (JSONEachRow: 64-bit integers quoted). */
function storedRow(a: Alert): Record<string, unknown> {
  return {
    alert_id: a.alert_id,
    rule: a.rule,
    severity: a.severity,
    entity_level: a.entity_level,
    entity_id: a.entity_id,
    window_start: String(a.window_start),
    window_end: String(a.window_end),
    fired_time: String(a.fired_time),
    summary: a.summary,
    value: a.value,
    threshold: a.threshold,
    evidence: a.evidence,
    labels: a.labels,
  };
}

function firingAlert(serial: string, windowEnd: number, alertId: string): Alert {
  return {
    alert_id: alertId,
    rule: 'card_testing',
    severity: 'CRITICAL',
    state: 'FIRING',
    entity_level: 'TERMINAL',
    entity_id: serial,
    window_start: windowEnd - MIN,
    window_end: windowEnd,
    fired_time: windowEnd - 30 * SEC,
    resolved_time: null,
    summary: 'stored',
    value: 6,
    threshold: 6,
    evidence: { pattern: 'small_declines' },
    labels: { terminal_serial: serial },
  };
}

describe('DetectionStage', () => {
  it('finds nothing in a fleet’s ordinary traffic, and writes nothing', async () => {
    const { stage, store, producer, metrics } = await harness();
    await stage.open(0, PARTITIONS);
    const events = Array.from({ length: 3000 }, (_, i) => sampleTransaction(i));
    for (let i = 0; i < events.length; i += 500) await stage.onTransactions(0, [], events.slice(i, i + 500));

    expect(store.inserts).toEqual([]);
    expect(producer.sends).toEqual([]);
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(0);
    expect(
      await metricValue(metrics, 'pospulse_processor_detection_state_entries', { rule: 'card_testing' }),
    ).toBe(3000);
  });

  it('turns a card-testing burst into one FIRING alert on the alerts topic, a flag and an alert row', async () => {
    const { stage, store, producer, metrics, clock } = await harness();
    await stage.open(0, PARTITIONS);
    const events = burst(A, 6);
    await stage.onTransactions(0, [], events.slice(0, 5));
    expect(store.inserts).toEqual([]);

    clock.now = T0 + 31 * MIN;
    await stage.onTransactions(0, [], events.slice(5));

    expect(producer.sends).toHaveLength(1);
    expect(producer.sends[0]).toMatchObject({ topic: ALERTS_TOPIC, schema: 'Alert' });
    const [record] = producer.alerts();
    expect(record!.key).toBe(`card_testing:TERMINAL:${A}`);
    expect(record!.value).toMatchObject({
      rule: 'card_testing',
      severity: 'CRITICAL',
      state: 'FIRING',
      entity_level: 'TERMINAL',
      entity_id: A,
      window_start: T0,
      window_end: T0 + 25 * SEC + 1,
      resolved_time: null,
      value: 6,
      threshold: 6,
    });

    const flags = store.rows<FlagRow>(FLAGS_TABLE);
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({
      alert_id: record!.value.alert_id,
      rule: 'card_testing',
      entity_id: A,
      event_ids: events.map((ev) => ev.event_id),
      source_partition: 0,
      detected_time: '2026-11-01 09:31:00.000',
    });
    const alertRows = store.rows<AlertRow>(ALERTS_TABLE);
    expect(alertRows).toEqual([
      expect.objectContaining({
        alert_id: record!.value.alert_id,
        state: 'FIRING',
        version: 1,
        source_partition: 0,
        updated_time: '2026-11-01 09:31:00.000',
      }),
    ]);

    expect(await metricValue(metrics, 'pospulse_processor_flags_total', { rule: 'card_testing' })).toBe(1);
    expect(
      await metricValue(metrics, 'pospulse_processor_alerts_total', {
        rule: 'card_testing',
        state: 'FIRING',
      }),
    ).toBe(1);
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(1);
  });

  it('keeps a firing alert quiet within a minute, then flags it again and moves its row on without a new record', async () => {
    const { stage, store, producer } = await harness();
    await stage.open(0, PARTITIONS);
    await stage.onTransactions(0, [], burst(A, 6));
    const written = store.inserts.length;

    // Within the flag interval of the first hit (T0 + 25 s): nothing new.
    await stage.onTransactions(0, [], burst(A, 3, T0 + 30 * SEC, 5 * SEC, 6));
    expect(store.inserts).toHaveLength(written);

    await stage.onTransactions(0, [], [probe(A, T0 + 25 * SEC + FLAG_INTERVAL_MS, 9)]);
    expect(producer.alerts()).toHaveLength(1);
    expect(store.rows<FlagRow>(FLAGS_TABLE)).toHaveLength(2);
    const rows = store.rows<AlertRow>(ALERTS_TABLE);
    expect(rows.map((r) => [r.state, r.version, r.window_end])).toEqual([
      ['FIRING', 1, '2026-11-01 09:00:25.001'],
      ['FIRING', 1, '2026-11-01 09:01:25.001'],
    ]);
    expect(new Set(rows.map((r) => r.alert_id)).size).toBe(1);
  });

  it('reports a duplicate charge as a WARNING alert keyed by its rule and terminal', async () => {
    const { stage, producer, store } = await harness();
    await stage.open(0, PARTITIONS);
    await stage.onTransactions(0, [], [charge(B, T0), charge(B, T0 + 20 * SEC)]);
    expect(producer.alerts().map((r) => [r.key, r.value.severity, r.value.state])).toEqual([
      [`duplicate_transaction:TERMINAL:${B}`, 'WARNING', 'FIRING'],
    ]);
    expect(store.rows<FlagRow>(FLAGS_TABLE).map((f) => f.rule)).toEqual(['duplicate_transaction']);
  });

  it('resolves on the receive clock within a backlog batch, so a later double charge is an alert of its own', async () => {
    const { stage, producer } = await harness();
    await stage.open(0, PARTITIONS);
    const later = T0 + 2 * 3_600_000;
    await stage.onTransactions(
      0,
      [],
      [charge(B, T0), charge(B, T0 + 20 * SEC), charge(B, later), charge(B, later + 20 * SEC)],
    );
    expect(producer.alerts().map((r) => [r.value.state, r.value.fired_time - T0])).toEqual([
      ['FIRING', 20 * SEC + 1],
      ['RESOLVED', 20 * SEC + 1],
      ['FIRING', later - T0 + 20 * SEC + 1],
    ]);
  });

  it('rebuilds state from replayed events without reporting them, then reports fresh ones', async () => {
    const { stage, store, producer } = await harness();
    await stage.open(0, PARTITIONS);
    const events = burst(A, 7);
    // The previous owner saw these six and reported the hit.
    await stage.onTransactions(0, events.slice(0, 6), []);
    expect(store.inserts).toEqual([]);
    expect(producer.sends).toEqual([]);

    await stage.onTransactions(0, [], events.slice(6));
    expect(producer.alerts().map((r) => r.value.value)).toEqual([7]);
  });

  it('gives a replay of the same events the same flag and alert ids', async () => {
    const run = async () => {
      const h = await harness();
      await h.stage.open(0, PARTITIONS);
      const events = [...burst(A, 6), probe(A, T0 + 2 * MIN, 6), charge(B, T0), charge(B, T0 + SEC)];
      await h.stage.onTransactions(0, [], events);
      return {
        flags: h.store.rows<FlagRow>(FLAGS_TABLE).map((f) => [f.flag_id, f.alert_id]),
        alerts: h.producer.alerts().map((r) => r.value.alert_id),
      };
    };
    seq = 1_000_000;
    const first = await run();
    seq = 1_000_000;
    const second = await run();
    expect(first.flags).toHaveLength(3);
    expect(first.alerts).toHaveLength(2);
    expect(second).toEqual(first);
  });

  it('lets an absence rule hit on a tick: a busy shop silent at lunchtime fires terminal_silent', async () => {
    const { stage, producer, store } = await harness({ settings: { terminal_silent: { enabled: true } } });
    await stage.open(0, PARTITIONS);
    const shop = { ...fleet(24).find((t) => t.kind === 'shop')!, serial: 'SIL-STAGE', peakPerHour: 30 };
    const week4 = MONDAY + 21 * DAY;
    await stage.onTransactions(
      0,
      [],
      [...traffic([shop], MONDAY, 21 * 24), ...traffic([shop], week4, 11, 5)],
    );
    expect(producer.alerts()).toEqual([]);

    await stage.tick(0, week4 + 11 * HOUR);
    expect(producer.alerts()).toEqual([]);
    await stage.tick(0, week4 + 13 * HOUR);
    expect(producer.alerts().map((r) => [r.key, r.value.state])).toEqual([
      ['terminal_silent:TERMINAL:SIL-STAGE', 'FIRING'],
    ]);
    expect(store.rows<FlagRow>(FLAGS_TABLE).map((f) => f.rule)).toEqual(['terminal_silent']);
  });

  it('resolves an alert once its rule has been quiet for resolve_after, and expires rule state', async () => {
    const { stage, store, producer, metrics, clock } = await harness();
    await stage.open(0, PARTITIONS);
    await stage.onTransactions(0, [], burst(A, 6));
    const lastHit = T0 + 25 * SEC + 1;
    const [fired] = producer.alerts();

    await stage.tick(0, lastHit + 10 * MIN - 1);
    expect(producer.alerts()).toHaveLength(1);
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(1);

    clock.now = T0 + 50 * MIN;
    await stage.tick(0, lastHit + 10 * MIN);
    const resolved = producer.alerts()[1];
    expect(resolved).toEqual({
      key: `card_testing:TERMINAL:${A}`,
      value: { ...fired!.value, state: 'RESOLVED', resolved_time: lastHit + 10 * MIN },
    });
    expect(store.rows<AlertRow>(ALERTS_TABLE).at(-1)).toMatchObject({
      alert_id: fired!.value.alert_id,
      state: 'RESOLVED',
      version: 2,
      updated_time: '2026-11-01 09:50:00.000',
    });
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(0);
    expect(
      await metricValue(metrics, 'pospulse_processor_alerts_total', {
        rule: 'card_testing',
        state: 'RESOLVED',
      }),
    ).toBe(1);
    expect(
      await metricValue(metrics, 'pospulse_processor_detection_state_entries', { rule: 'card_testing' }),
    ).toBe(0);
  });

  it('takes back the FIRING terminal alerts of its partition from the alerts table, and carries them on', async () => {
    const restoredId = '0b7b3c1e-8c6e-5f7a-9d2e-3a4b5c6d7e8f';
    const otherId = '1c8c4d2f-9d7f-5a8b-8e3f-4b5c6d7e8f90';
    const stored = [firingAlert(A, T0 - 5 * MIN, restoredId), firingAlert(C, T0 - 5 * MIN, otherId)];
    const { stage, store, producer, metrics } = await harness({ stored: stored.map(storedRow) });
    await stage.open(0, PARTITIONS);

    expect(store.queries).toHaveLength(1);
    expect(store.queries[0]).toMatch(new RegExp(`FROM ${ALERTS_TABLE} FINAL`));
    expect(store.queries[0]).toMatch(/state = 'FIRING'/);
    expect(store.queries[0]).toMatch(/entity_level IN \('TERMINAL'\)/);
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(1);

    // A's alert is still open: its burst adds a flag under the stored id, no second FIRING record.
    await stage.onTransactions(0, [], burst(A, 6));
    expect(producer.alerts()).toEqual([]);
    expect(store.rows<FlagRow>(FLAGS_TABLE).map((f) => f.alert_id)).toEqual([restoredId]);
    expect(store.rows<AlertRow>(ALERTS_TABLE)).toEqual([
      expect.objectContaining({
        alert_id: restoredId,
        state: 'FIRING',
        fired_time: '2026-11-01 08:54:30.000',
        window_end: '2026-11-01 09:00:25.001',
      }),
    ]);

    // C belongs to another partition: its stored alert was not taken, so a burst there fires anew.
    await stage.onTransactions(0, [], burst(C, 6, T0, 5 * SEC, 20));
    expect(producer.alerts().map((r) => r.value.entity_id)).toEqual([C]);
    expect(producer.alerts()[0]!.value.alert_id).not.toBe(otherId);
  });

  it('resolves a restored alert when its terminal stays quiet', async () => {
    const restoredId = '0b7b3c1e-8c6e-5f7a-9d2e-3a4b5c6d7e8f';
    const { stage, producer } = await harness({ stored: [storedRow(firingAlert(A, T0, restoredId))] });
    await stage.open(0, PARTITIONS);
    await stage.tick(0, T0 + 10 * MIN - 1);
    expect(producer.alerts()).toEqual([]);
    await stage.tick(0, T0 + 10 * MIN);
    expect(producer.alerts().map((r) => [r.value.alert_id, r.value.state, r.value.fired_time])).toEqual([
      [restoredId, 'RESOLVED', T0 - 30 * SEC],
    ]);
  });

  it('resolves the alerts of a rule the reloaded file disables and stops running it', async () => {
    const { stage, producer, rules } = await harness();
    await stage.open(0, PARTITIONS);
    await stage.open(1, PARTITIONS);
    await stage.onTransactions(0, [], [...burst(A, 6), charge(B, T0), charge(B, T0 + SEC)]);
    await stage.onTransactions(1, [], burst(C, 6));
    expect(producer.alerts()).toHaveLength(3);

    // Unchanged file: nothing happens.
    await stage.reloadRules(T0 + 2 * MIN);
    expect(producer.alerts()).toHaveLength(3);

    await writeRules({ card_testing: { enabled: false } });
    await stage.reloadRules(T0 + 2 * MIN);
    expect(rules.current.enabled).not.toContain('card_testing');
    const resolved = producer.alerts().slice(3);
    expect(resolved.map((r) => [r.key, r.value.state, r.value.resolved_time]).sort()).toEqual(
      [
        [`card_testing:TERMINAL:${A}`, 'RESOLVED', T0 + 2 * MIN],
        [`card_testing:TERMINAL:${C}`, 'RESOLVED', T0 + 2 * MIN],
      ].sort(),
    );

    // The disabled rule no longer hits; the other one still does.
    await stage.onTransactions(0, [], [...burst(A, 8, T0 + 3 * MIN, SEC, 30), charge(A, T0 + 3 * MIN)]);
    await stage.onTransactions(0, [], [charge(A, T0 + 3 * MIN + SEC)]);
    expect(
      producer
        .alerts()
        .slice(5)
        .map((r) => r.key),
    ).toEqual([`duplicate_transaction:TERMINAL:${A}`]);
  });

  it('keeps the rules and alerts in force when the reloaded file is refused', async () => {
    const { stage, producer, rules } = await harness();
    await stage.open(0, PARTITIONS);
    await stage.onTransactions(0, [], burst(A, 6));
    const before = rules.current;

    await writeRules({ card_testing: { enabled: false, min_cards: 1 } });
    await stage.reloadRules(T0 + 2 * MIN);
    expect(rules.current).toBe(before);
    expect(producer.alerts()).toHaveLength(1);
    await stage.onTransactions(0, [], [probe(A, T0 + 2 * MIN, 6)]);
    expect(producer.alerts()).toHaveLength(1);
    await stage.tick(0, T0 + 25 * SEC + 1 + 10 * MIN);
    expect(producer.alerts().map((r) => r.value.state)).toEqual(['FIRING']);
    await stage.tick(0, T0 + 2 * MIN + 1 + 10 * MIN);
    expect(producer.alerts().map((r) => r.value.state)).toEqual(['FIRING', 'RESOLVED']);
  });

  it('applies a reloaded resolve_after to alerts already open', async () => {
    const { stage, producer } = await harness();
    await stage.open(0, PARTITIONS);
    await stage.onTransactions(0, [], burst(A, 6));
    await writeRules({ card_testing: { resolve_after: '2m' } });
    await stage.reloadRules(T0 + MIN);
    expect(producer.alerts()).toHaveLength(1);
    await stage.tick(0, T0 + 25 * SEC + 1 + 2 * MIN);
    expect(producer.alerts().map((r) => r.value.state)).toEqual(['FIRING', 'RESOLVED']);
  });

  it('refuses events for a partition it has not opened, ignores ticks for it, and forgets a dropped one', async () => {
    const { stage, producer, metrics } = await harness();
    await expect(stage.onTransactions(2, [], burst(A, 6))).rejects.toThrow(
      'detection of partition 2 was not opened',
    );
    await expect(stage.tick(2, T0)).resolves.toBeUndefined();

    await stage.open(0, PARTITIONS);
    expect(stage.has(0)).toBe(true);
    await stage.onTransactions(0, [], burst(A, 6));
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(1);
    stage.drop(0);
    expect(stage.has(0)).toBe(false);
    expect(await metricValue(metrics, 'pospulse_processor_open_alerts')).toBe(0);
    await expect(stage.onTransactions(0, [], [])).rejects.toThrow('was not opened');
    expect(producer.alerts()).toHaveLength(1);
  });

  // Regression: a re-fire within the rule's window once reused the resolved alert's id.
  it('gives an alert that fires again after resolving a new id', async () => {
    const { stage, producer } = await harness({ settings: { card_testing: { resolve_after: '1m' } } });
    await stage.open(0, PARTITIONS);
    await stage.onTransactions(0, [], burst(A, 6));
    await stage.tick(0, T0 + 25 * SEC + 1 + MIN);
    await stage.onTransactions(0, [], [probe(A, T0 + 2 * MIN, 6)]);
    const [fired, resolved, firedAgain] = producer.alerts().map((r) => r.value);
    expect([fired?.state, resolved?.state, firedAgain?.state]).toEqual(['FIRING', 'RESOLVED', 'FIRING']);
    expect(firedAgain!.alert_id).not.toBe(fired!.alert_id);
  });
});
