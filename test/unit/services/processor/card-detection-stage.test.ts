import { Writable } from 'node:stream';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordMetadata } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CardDetectionStage,
  LOOKUPS_PER_QUERY,
  MAX_CARD_REBUILD_MS,
} from '../../../../services/processor/card-detection-stage.ts';
import {
  cardCheckpointOf,
  cardCommitPoint,
} from '../../../../services/processor/detection/card-checkpoint.ts';
import { CARD_RULE_DEFINITIONS } from '../../../../services/processor/detection/card-rules/index.ts';
import type { AlertRow, FlagRow } from '../../../../services/processor/detection/rows.ts';
import { RulesSource } from '../../../../services/processor/detection/rules-file.ts';
import { partitionOfKey } from '../../../../services/processor/partition-of.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import type {
  Alert,
  RecordOf,
  SchemaName,
  TransactionEvent,
} from '../../../../services/shared/avro/types.generated.ts';
import type { QueryParams, Store } from '../../../../services/shared/clickhouse/store.ts';
import type { EventProducer, OutgoingRecord } from '../../../../services/shared/kafka/producer.ts';
import { createLogger, type Logger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry, type Registry } from '../../../../services/shared/metrics.ts';
import {
  DAY,
  DAY0,
  HOUR,
  MIN,
  SEC,
  attempt,
  merchants,
  tokenOf,
} from './detection/card-rules/card-traffic.ts';

const PARTITIONS = 3;
const TABLES = { flags: 'pp.flags', alerts: 'pp.alerts', transactions: 'pp.transactions' };
const ALERTS_TOPIC = 'alerts';
const T = DAY0 + 10 * HOUR;
const codec = createAvroCodec(parseAvroCodecConfig({}));
const shops = merchants();

/** The first card number k ≥ `from` whose token the producer puts in `partition`. */
function cardIn(partition: number, from = 0): number {
  for (let k = from; ; k++) if (partitionOfKey(tokenOf(k), PARTITIONS) === partition) return k;
}

class FakeStore implements Pick<Store, 'insert' | 'query'> {
  readonly inserts: { table: string; rows: unknown[] }[] = [];
  readonly queries: { sql: string; params: QueryParams | undefined }[] = [];
  /** Rows of the alerts table the stage may read back (all levels; the SQL filters CARD). */
  alerts: Record<string, unknown>[] = [];
  /** Rows of the transactions table a sale lookup returns. */
  sales: Record<string, unknown>[] = [];

  async insert<T extends object>(table: string, rows: readonly T[]): Promise<void> {
    if (rows.length > 0) this.inserts.push({ table, rows: [...rows] });
  }

  async query<T>(sql: string, params?: QueryParams): Promise<T[]> {
    this.queries.push({ sql, params });
    if (sql.includes(TABLES.alerts)) {
      const level = /entity_level IN \('([A-Z]+)'\)/.exec(sql)?.[1];
      return structuredClone(this.alerts.filter((a) => a['entity_level'] === level)) as T[];
    }
    if (sql.includes(TABLES.transactions)) return structuredClone(this.sales) as T[];
    throw new Error(`unexpected query ${sql}`);
  }

  rows<R>(table: string): R[] {
    return this.inserts.filter((i) => i.table === table).flatMap((i) => i.rows as R[]);
  }
}

/** Records what would be sent; encodes every record as the real producer would (CARD included). */
class FakeProducer implements Pick<EventProducer, 'send'> {
  readonly sent: OutgoingRecord<Alert>[] = [];

  async send<N extends SchemaName>(
    topic: string,
    schema: N,
    records: readonly OutgoingRecord<RecordOf<N>>[],
  ): Promise<RecordMetadata[]> {
    expect([topic, schema]).toEqual([ALERTS_TOPIC, 'Alert']);
    for (const r of records) {
      const decoded = await codec.decode(await codec.encode(schema, r.value), 'Alert');
      expect(decoded).toEqual(r.value);
    }
    this.sent.push(...(records as unknown as OutgoingRecord<Alert>[]));
    return [];
  }
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

let dir: string;
let version = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pospulse-cards-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes the rules file (longer every time, so a reload sees the change). */
async function writeRules(rules: Record<string, Record<string, unknown>> = {}): Promise<string> {
  const file = join(dir, 'rules.json');
  version += 1;
  await writeFile(file, JSON.stringify({ $comment: 'v'.repeat(version), rules }));
  return file;
}

function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'info', destination }), lines };
}

async function harness(opts: { rules?: RulesSource } = {}) {
  const store = new FakeStore();
  const producer = new FakeProducer();
  const metrics = createMetricsRegistry('processor', false);
  const { logger, lines } = capturingLogger();
  const rules = opts.rules ?? RulesSource.defaults(CARD_RULE_DEFINITIONS, logger);
  const clock = { now: T + HOUR };
  const stage = new CardDetectionStage({
    store,
    producer,
    alertsTopic: ALERTS_TOPIC,
    tables: TABLES,
    rules,
    logger,
    metrics,
    clock: () => clock.now,
  });
  // Every transactions partition processed: refunds are judged at once unless a test says otherwise.
  stage.setSettled(Infinity);
  return { stage, store, producer, metrics, lines, rules, clock };
}

/** Records of one card-activity partition from offset `first` on. */
const records = (events: readonly TransactionEvent[], first = 0) =>
  events.map((value, i) => ({ offset: String(first + i), value }));

/** Card `card` at `n` terminals, two per merchant, 20 s apart from `t`: a velocity ring at n ≥ 5. */
const ring = (card: number, n = 6, t = T) =>
  Array.from({ length: n }, (_, i) => attempt(card, shops[i >> 1]!, i & 1, t + i * 20 * SEC));

describe('card detection stage', () => {
  it('turns a velocity ring into one CARD alert: flag, alert row, and an Alert keyed rule:CARD:token', async () => {
    const { stage, store, producer } = await harness();
    const card = cardIn(0);
    await stage.open(0, PARTITIONS, undefined);
    const events = ring(card);
    const point = await stage.process(0, records(events), String(events.length));

    const alerts = store.rows<AlertRow>(TABLES.alerts);
    expect(alerts).toEqual([
      expect.objectContaining({
        rule: 'velocity',
        state: 'FIRING',
        entity_level: 'CARD',
        entity_id: tokenOf(card),
        source_partition: 0,
      }),
    ]);
    const flags = store.rows<FlagRow>(TABLES.flags);
    expect(flags).toHaveLength(1);
    expect(flags[0]!.event_ids).toEqual(events.slice(0, 5).map((e) => e.event_id));
    expect(producer.sent).toHaveLength(1);
    expect(producer.sent[0]!.key).toBe(`velocity:CARD:${tokenOf(card)}`);
    expect(producer.sent[0]!.value).toMatchObject({
      entity_level: 'CARD',
      state: 'FIRING',
      rule: 'velocity',
    });

    // The commit keeps what a rebuild needs: everything, here, with the checkpoint as metadata.
    expect(cardCheckpointOf({ offset: point.offset, metadata: point.metadata ?? null })).toEqual({
      kind: 'checkpoint',
      checkpoint: { restartOffset: 0, nextOffset: 6, historyFrom: events[5]!.gateway_received_time },
    });
  });

  it('rebuilds rule state from records a previous owner processed, reporting only what is new', async () => {
    const { stage, store, producer } = await harness();
    const card = cardIn(0);
    const events = ring(card, 5);
    const committed = cardCommitPoint({ restartOffset: 100, nextOffset: 104, historyFrom: T - HOUR });
    await stage.open(0, PARTITIONS, { offset: committed.offset, metadata: committed.metadata ?? null });
    expect(stage.processedUntil(0)).toBe(104);
    // Four attempts replayed: state only.
    await stage.process(0, records(events.slice(0, 4), 100), '104');
    expect(store.inserts).toEqual([]);
    // The fifth completes the ring.
    await stage.process(0, records(events.slice(4), 104), '105');
    expect(producer.sent.map((r) => r.value.rule)).toEqual(['velocity']);
    expect(store.rows<FlagRow>(TABLES.flags)[0]!.event_ids).toEqual(events.map((e) => e.event_id));
  });

  it('deduplicates republished attempts: a repeated batch raises nothing new', async () => {
    const { stage, producer } = await harness();
    const card = cardIn(0);
    await stage.open(0, PARTITIONS, undefined);
    const events = ring(card, 4);
    await stage.process(0, records(events), '4');
    await stage.process(0, records(events, 4), '8');
    expect(producer.sent).toEqual([]);
  });

  it('takes back the FIRING CARD alerts of its partition, and only those', async () => {
    const { stage, store, producer } = await harness();
    const mine = cardIn(0);
    const other = cardIn(1);
    const firing = (card: number, id: string): Record<string, unknown> => ({
      alert_id: id,
      rule: 'velocity',
      severity: 'CRITICAL',
      entity_level: 'CARD',
      entity_id: tokenOf(card),
      window_start: String(T - 5 * MIN),
      window_end: String(T - MIN),
      fired_time: String(T - MIN),
      summary: 'ring',
      value: 5,
      threshold: 4,
      evidence: { measure: 'terminals' },
      labels: { merchant_id: 'M1' },
    });
    store.alerts = [
      firing(mine, '11111111-1111-5111-8111-111111111111'),
      firing(other, '22222222-2222-5222-8222-222222222222'),
      {
        ...firing(mine, '33333333-3333-5333-8333-333333333333'),
        entity_level: 'TERMINAL',
        entity_id: 'TRM-1',
      },
    ];
    await stage.open(0, PARTITIONS, undefined);
    expect(store.queries[0]!.sql).toContain(`entity_level IN ('CARD')`);
    // The ring hits the card again: its alert is open already, so no second FIRING record.
    await stage.process(0, records(ring(mine)), '6');
    expect(producer.sent).toEqual([]);
    // Once quiet for resolve_after, it resolves — the other partition's alert is not ours to close.
    await stage.tick(0, T + 2 * HOUR);
    expect(producer.sent.map((r) => [r.value.alert_id, r.value.state])).toEqual([
      ['11111111-1111-5111-8111-111111111111', 'RESOLVED'],
    ]);
  });

  it('resolves a quiet alert once the rule has not hit for its resolve_after (event time)', async () => {
    const { stage, producer } = await harness();
    const card = cardIn(0);
    await stage.open(0, PARTITIONS, undefined);
    const events = ring(card);
    await stage.process(0, records(events), '6');
    const lastHit = events[5]!.request_time + 1;
    await stage.tick(0, lastHit + 29 * MIN);
    expect(producer.sent.map((r) => r.value.state)).toEqual(['FIRING']);
    await stage.tick(0, lastHit + 30 * MIN);
    expect(producer.sent.map((r) => r.value.state)).toEqual(['FIRING', 'RESOLVED']);
    expect(producer.sent[1]!.value.resolved_time).toBe(lastHit + 30 * MIN);
  });

  it('looks a refund up in the transactions table when its card history is incomplete', async () => {
    const { stage, store, producer, metrics } = await harness();
    const card = cardIn(0);
    const shop = shops[4]!;
    await stage.open(0, PARTITIONS, undefined);
    // The stage started a minute ago: a sale days earlier is not in memory.
    const refund = attempt(card, shop, 0, T, { transaction_type: 'REFUND', amount_minor: 2_500 });
    store.sales = [
      {
        card_token: tokenOf(card),
        merchant_id: shop.id,
        currency: 'EUR',
        amount_minor: '3000',
        t: String(T - 2 * DAY),
      },
    ];
    await stage.process(0, records([refund]), '1');
    const lookup = store.queries.find((q) => q.sql.includes(TABLES.transactions))!;
    expect(lookup.params).toEqual({
      merchants: [shop.id],
      cards: [tokenOf(card)],
      from: T - 7 * DAY,
      to: T,
    });
    expect(producer.sent).toEqual([]);
    expect(
      await metricValue(metrics, 'pospulse_processor_card_sale_lookups_total', { outcome: 'matched' }),
    ).toBe(1);

    // The same for a refund the table cannot explain (its sale was smaller): an alert.
    const card2 = cardIn(0, card + 1);
    store.sales = [{ ...store.sales[0]!, card_token: tokenOf(card2), amount_minor: '1000' }];
    const unexplained = attempt(card2, shop, 0, T + MIN, { transaction_type: 'REFUND', amount_minor: 2_500 });
    await stage.process(0, records([unexplained], 1), '2');
    expect(producer.sent.map((r) => [r.value.rule, r.value.entity_id])).toEqual([
      ['refund_abuse', tokenOf(card2)],
    ]);
    expect(
      await metricValue(metrics, 'pospulse_processor_card_sale_lookups_total', { outcome: 'unmatched' }),
    ).toBe(1);
  });

  it('asks a busy batch’s look-ups a bounded number at a time, so the query URL stays small', async () => {
    const { stage, store } = await harness();
    await stage.open(0, PARTITIONS, undefined);
    const refunds: TransactionEvent[] = [];
    for (let card = cardIn(0); refunds.length < LOOKUPS_PER_QUERY + 500; card = cardIn(0, card + 1)) {
      const n = refunds.length;
      refunds.push(
        attempt(card, shops[n % shops.length]!, n, T + n, { transaction_type: 'REFUND', amount_minor: 100 }),
      );
    }
    await stage.process(0, records(refunds), '1');
    const lookups = store.queries.filter((q) => q.sql.includes(TABLES.transactions));
    expect(lookups.map((q) => (q.params?.['cards'] as string[]).length)).toEqual([LOOKUPS_PER_QUERY, 500]);
  });

  it('holds a refund until every transactions partition is past it, so a sale from a lagging one still explains it', async () => {
    const { stage, producer } = await harness();
    const card = cardIn(0);
    const other = cardIn(0, card + 1);
    const shop = shops[4]!;
    await stage.open(0, PARTITIONS, undefined);
    // Another transactions partition is behind: it has not republished the sale before the refund.
    stage.setSettled(T - 10 * MIN);
    const refund = attempt(card, shop, 0, T, { transaction_type: 'REFUND', amount_minor: 2_500 });
    const orphan = attempt(other, shop, 1, T + SEC, { transaction_type: 'REFUND', amount_minor: 900 });
    const held = await stage.process(0, records([refund, orphan]), '2');
    expect(producer.sent).toEqual([]);
    // The commit never passes a waiting refund: a restart judges it again.
    expect(cardCheckpointOf({ offset: held.offset, metadata: held.metadata ?? null })).toMatchObject({
      kind: 'checkpoint',
      checkpoint: { nextOffset: 0 },
    });
    const sale = attempt(card, shop, 1, T - 5 * MIN, { amount_minor: 3_000 });
    await stage.process(0, records([sale], 2), '3');
    expect(producer.sent).toEqual([]);
    // Settled past both refunds: the one with a sale passes, the orphan is an alert.
    stage.setSettled(T + 3 * MIN);
    await stage.tick(0, T + 3 * MIN);
    expect(producer.sent.map((r) => [r.value.rule, r.value.entity_id, r.value.state])).toEqual([
      ['refund_abuse', tokenOf(other), 'FIRING'],
    ]);
  });

  it('commits the oldest record a rebuild needs: at most MAX_CARD_REBUILD_MS of receive time back', async () => {
    const { stage } = await harness();
    await stage.open(0, PARTITIONS, undefined);
    let offset = 0;
    let point = { offset: '0' } as { offset: string; metadata?: string };
    // One batch of ten attempts (distinct cards) every 10 minutes for 3 hours.
    for (let b = 0; b < 18; b++) {
      const batch = Array.from({ length: 10 }, (_, i) =>
        attempt(cardIn(0, 1000 + b * 100 + i * 10), shops[i]!, 0, T + b * 10 * MIN + i * SEC),
      );
      point = await stage.process(0, records(batch, offset), String(offset + batch.length));
      offset += batch.length;
    }
    const cp = cardCheckpointOf({ offset: point.offset, metadata: point.metadata ?? null });
    expect(cp.kind).toBe('checkpoint');
    if (cp.kind !== 'checkpoint') return;
    // The travel window (6 h) is longer than the cap: the last hour's batches, and the one
    // straddling its start, are kept.
    const newest = T + 17 * 10 * MIN + 9 * SEC + 400;
    expect(cp.checkpoint.nextOffset).toBe(180);
    expect(cp.checkpoint.historyFrom).toBe(newest - MAX_CARD_REBUILD_MS);
    expect(cp.checkpoint.restartOffset).toBe(110);
  });

  it('runs no card rule the rule set does not define, and says so', async () => {
    const { logger } = capturingLogger();
    const { stage, producer, lines } = await harness({ rules: RulesSource.defaults([], logger) });
    expect(lines).toContainEqual(
      expect.objectContaining({ rules: ['velocity', 'impossible_travel', 'refund_abuse'], level: 'warn' }),
    );
    await stage.open(0, PARTITIONS, undefined);
    await stage.process(0, records(ring(cardIn(0))), '6');
    await stage.tick(0, T + DAY);
    expect(producer.sent).toEqual([]);
  });

  it('applies a reloaded rules file: a disabled card rule resolves its alerts and drops its state', async () => {
    const { logger } = capturingLogger();
    const rules = await RulesSource.open(await writeRules(), CARD_RULE_DEFINITIONS, logger);
    const { stage, producer, metrics } = await harness({ rules });
    const card = cardIn(0);
    await stage.open(0, PARTITIONS, undefined);
    await stage.process(0, records(ring(card)), '6');
    expect(
      await metricValue(metrics, 'pospulse_processor_detection_state_entries', { rule: 'velocity' }),
    ).toBe(6);

    await writeRules({ velocity: { enabled: false } });
    expect(await rules.reloadIfChanged()).toBe(true);
    await stage.reloadRules(T + 10 * MIN);
    expect(producer.sent.map((r) => [r.value.rule, r.value.state])).toEqual([
      ['velocity', 'FIRING'],
      ['velocity', 'RESOLVED'],
    ]);
    expect(
      await metricValue(metrics, 'pospulse_processor_detection_state_entries', { rule: 'velocity' }),
    ).toBe(0);
    expect(await metricValue(metrics, 'pospulse_processor_open_card_alerts')).toBe(0);
    // Disabled: a new ring is quiet.
    await stage.process(0, records(ring(cardIn(0, card + 1), 6, T + 20 * MIN), 6), '12');
    expect(producer.sent).toHaveLength(2);

    // Enabled again with a stricter limit: it starts empty and applies the new settings.
    await writeRules({ velocity: { enabled: true, max_terminals: 2 } });
    await rules.reloadIfChanged();
    await stage.reloadRules(T + 30 * MIN);
    await stage.process(0, records(ring(cardIn(0, card + 1), 3, T + 40 * MIN), 12), '15');
    expect(producer.sent.map((r) => [r.value.rule, r.value.state, r.value.threshold])).toEqual([
      ['velocity', 'FIRING', 4],
      ['velocity', 'RESOLVED', 4],
      ['velocity', 'FIRING', 2],
    ]);
  });
});
