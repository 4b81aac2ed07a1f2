import { Writable } from 'node:stream';
import type { IHeaders, RecordMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KPI_RULE_DEFINITIONS } from '../../../../services/processor/detection/kpi-detection.ts';
import type { AlertRow } from '../../../../services/processor/detection/rows.ts';
import { RulesSource } from '../../../../services/processor/detection/rules-file.ts';
import { KpiDetectionStage } from '../../../../services/processor/kpi-detection-stage.ts';
import { sourcePartitionOf } from '../../../../services/shared/kafka/source-partition.ts';
import { SOURCE_PARTITION_HEADER } from '../../../../services/shared/kafka/source-partition.ts';
import { WINDOW_MS } from '../../../../services/processor/kpi/window-state.ts';
import { partitionOfKey } from '../../../../services/processor/partition-of.ts';
import type {
  Alert,
  KpiUpdate,
  RecordOf,
  SchemaName,
} from '../../../../services/shared/avro/types.generated.ts';
import type { QueryParams, Store } from '../../../../services/shared/clickhouse/store.ts';
import type { ConsumedRecord } from '../../../../services/shared/kafka/consumer.ts';
import type { EventProducer, OutgoingRecord } from '../../../../services/shared/kafka/producer.ts';
import { checkDefinition, type KpiDefinition } from '../../../../services/shared/kpi/definitions.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';
import { T0, minuteUpdate, type MinuteShape } from './detection/kpi-rules/kpi-minutes.ts';

const PARTITIONS = 3;
const TABLES = { flags: 'pp.flags', alerts: 'pp.alerts', kpi1m: 'pp.kpi_1m' };

/** A merchant id whose KpiUpdates (key MERCHANT:id) land in `partition`. */
function merchantIn(partition: number, skip = 0): string {
  let found = 0;
  for (let i = 0; ; i++) {
    const id = `M${String(i).padStart(6, '0')}`;
    if (partitionOfKey(`MERCHANT:${id}`, PARTITIONS) === partition && found++ === skip) return id;
  }
}

/** kpi_1m as the stage reads it back: one row per (entity, minute, source partition). */
function kpiRow(u: KpiUpdate, sourcePartition: number): Record<string, unknown> {
  return {
    entity_level: u.entity_level,
    entity_id: u.entity_id,
    window_start: String(u.window_start),
    source_partition: sourcePartition,
    version: String(u.version),
    tx_count: String(u.tx_count),
    approved_count: String(u.approved_count),
    declined_count: String(u.declined_count),
    timeout_count: String(u.timeout_count),
    refund_count: String(u.refund_count),
    reversal_count: String(u.reversal_count),
    latency_sketch_base64: u.latency_sketch === null ? null : u.latency_sketch.toString('base64'),
  };
}

class FakeStore implements Pick<Store, 'insert' | 'query'> {
  readonly inserts: { table: string; rows: unknown[] }[] = [];
  readonly queries: string[] = [];
  kpiRows: Record<string, unknown>[] = [];
  alerts: Record<string, unknown>[] = [];

  async insert<T extends object>(table: string, rows: readonly T[]): Promise<void> {
    if (rows.length > 0) this.inserts.push({ table, rows: [...rows] });
  }

  async query<T>(sql: string, params?: QueryParams): Promise<T[]> {
    this.queries.push(sql);
    if (sql.includes(TABLES.kpi1m)) {
      const from = Number(params?.['from']);
      const levels = params?.['levels'] as string[];
      const rows = this.kpiRows.filter(
        (r) => Number(r['window_start']) >= from && levels.includes(String(r['entity_level'])),
      );
      return rows.sort((a, b) => Number(b['window_start']) - Number(a['window_start'])) as T[];
    }
    if (sql.includes(TABLES.alerts)) return structuredClone(this.alerts) as T[];
    throw new Error(`unexpected query ${sql}`);
  }

  rows<R>(table: string): R[] {
    return this.inserts.filter((i) => i.table === table).flatMap((i) => i.rows as R[]);
  }
}

class FakeProducer implements Pick<EventProducer, 'send'> {
  readonly sent: Alert[] = [];
  async send<N extends SchemaName>(
    topic: string,
    schema: N,
    records: readonly OutgoingRecord<RecordOf<N>>[],
  ): Promise<RecordMetadata[]> {
    expect([topic, schema]).toEqual(['alerts', 'Alert']);
    this.sent.push(...records.map((r) => r.value as Alert));
    return [];
  }
}

function harness(definitions: { current: readonly KpiDefinition[] } = { current: [] }) {
  const store = new FakeStore();
  const producer = new FakeProducer();
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ service: 'test', level: 'info', destination });
  const clock = { now: T0 + 90 * WINDOW_MS };
  const stage = new KpiDetectionStage({
    store,
    producer,
    alertsTopic: 'alerts',
    tables: TABLES,
    rules: RulesSource.defaults(KPI_RULE_DEFINITIONS, logger),
    definitions,
    logger,
    metrics: createMetricsRegistry('processor', false),
    clock: () => clock.now,
  });
  // Every transactions partition read to its end: nothing is held back unless a test says so.
  stage.setSettled(Infinity);
  return { stage, store, producer, lines, clock };
}

const NORMAL: MinuteShape = { tx: 60, declineShare: 0.04 };
const SPIKE: MinuteShape = { tx: 60, declineShare: 0.6 };

/** Minutes [from, to) of `merchant`, half of each minute from source partition 0, half from 1. */
function minutes(merchant: string, from: number, to: number, shape: MinuteShape) {
  const out: { update: KpiUpdate; source: number }[] = [];
  for (let m = from; m < to; m++)
    for (const source of [0, 1])
      out.push({ update: minuteUpdate(merchant, m, { ...shape, tx: shape.tx / 2 }, source), source });
  return out;
}

function consumed(
  list: readonly { update: KpiUpdate; source: number | null }[],
): ConsumedRecord<KpiUpdate>[] {
  return list.map(({ update, source }, i) => {
    const headers: IHeaders =
      source === null ? {} : { [SOURCE_PARTITION_HEADER]: Buffer.from(String(source)) };
    return {
      topic: 'kpi-updates',
      partition: 0,
      offset: String(i),
      key: `${update.entity_level}:${update.entity_id}`,
      value: update,
      timestamp: update.window_start,
      headers,
    };
  });
}

describe('KpiDetectionStage', () => {
  it('rebuilds baselines from kpi_1m at open, so a decline spike right after a restart fires', async () => {
    const { stage, store, producer } = harness();
    const mine = merchantIn(0);
    const other = merchantIn(1);
    store.kpiRows = [...minutes(mine, 0, 90, NORMAL), ...minutes(other, 0, 90, NORMAL)].map((m) =>
      kpiRow(m.update, m.source),
    );
    await stage.open([0], PARTITIONS);
    expect(store.queries.some((q) => q.includes('FROM pp.kpi_1m FINAL'))).toBe(true);

    await stage.process(0, consumed(minutes(mine, 90, 96, SPIKE)));
    const firing = producer.sent.filter((a) => a.state === 'FIRING');
    expect(firing).toEqual([
      expect.objectContaining({ rule: 'decline_spike', entity_level: 'MERCHANT', entity_id: mine }),
    ]);
    // Each half-minute of 30 attempts has round(30 × 4 %) = 1 decline.
    expect(Number(firing[0]!.evidence['baseline'])).toBeCloseTo(1 / 30, 3);
    // Judged minute by minute: one alert, its row following the newest evidence.
    expect(new Set(store.rows<AlertRow>(TABLES.alerts).map((a) => a.alert_id)).size).toBe(1);
    expect(firing[0]!.fired_time).toBe(T0 + 92 * WINDOW_MS);
  });

  it('does not judge an entity without a baseline (empty kpi_1m), nor one of another partition', async () => {
    const { stage, producer } = harness();
    await stage.open([0], PARTITIONS);
    await stage.process(0, consumed(minutes(merchantIn(0), 90, 96, SPIKE)));
    expect(producer.sent).toEqual([]);
  });

  it('judges idleness on the data’s clock: a wall-clock tick during a backlog keeps unsettled minutes', async () => {
    const { stage, producer } = harness();
    const mine = merchantIn(0);
    await stage.open([0], PARTITIONS);
    await stage.process(0, consumed(minutes(mine, 0, 20, NORMAL)));
    // Looks caught up between two batches of a backlog: judged at the wall clock, days later.
    await stage.tick(0, T0 + 10 * 86_400_000);
    await stage.process(0, consumed(minutes(mine, 20, 76, NORMAL)));
    // 16 minutes have left the 60 kept ones: the baseline (15 minutes) needs the first 20 kept.
    await stage.process(0, consumed(minutes(mine, 76, 80, SPIKE)));
    expect(producer.sent.map((a) => [a.rule, a.entity_id])).toEqual([['decline_spike', mine]]);
  });

  it('holds back the partials of minutes a slower transactions partition has not reached, then judges them whole', async () => {
    const { stage, store, producer } = harness();
    const mine = merchantIn(0);
    store.kpiRows = minutes(mine, 0, 90, NORMAL).map((m) => kpiRow(m.update, m.source));
    await stage.open([0], PARTITIONS);
    // Source partition 0 is hours ahead of source 1, which is still at minute 60.
    stage.setSettled(T0 + 60 * WINDOW_MS);
    const spike = minutes(mine, 90, 96, SPIKE);
    await stage.process(0, consumed(spike.filter((m) => m.source === 0)));
    expect(producer.sent).toEqual([]);
    await stage.process(0, consumed(spike.filter((m) => m.source === 1)));
    expect(producer.sent).toEqual([]);
    // Source 1 caught up: the minutes are judged, in order, with both halves.
    stage.setSettled(Infinity);
    await stage.tick(0, T0 + 96 * WINDOW_MS);
    const firing = producer.sent.filter((a) => a.state === 'FIRING');
    expect(firing.map((a) => a.entity_id)).toEqual([mine]);
    expect(Number(firing[0]!.evidence['transactions'])).toBeGreaterThanOrEqual(60);
  });

  it('resolves on the data’s clock within a backlog batch, so a second spike is an alert of its own', async () => {
    const { stage, store, producer } = harness();
    const mine = merchantIn(0);
    store.kpiRows = minutes(mine, 0, 90, NORMAL).map((m) => kpiRow(m.update, m.source));
    await stage.open([0], PARTITIONS);
    const backlog = [
      ...minutes(mine, 90, 95, SPIKE),
      ...minutes(mine, 95, 120, NORMAL),
      ...minutes(mine, 120, 125, SPIKE),
    ];
    await stage.process(0, consumed(backlog));
    expect(producer.sent.map((a) => [a.state, (a.fired_time - T0) / WINDOW_MS])).toEqual([
      ['FIRING', 92],
      ['RESOLVED', 92],
      ['FIRING', 122],
    ]);
  });

  it('judges a late partial in its own minute’s windows, not only in the newest one', async () => {
    const { stage, store, producer } = harness();
    const mine = merchantIn(0);
    store.kpiRows = minutes(mine, 0, 90, NORMAL).map((m) => kpiRow(m.update, m.source));
    await stage.open([0], PARTITIONS);
    // Source 0 is already at minute 100 when source 1 reports a burst of declines in 92–93.
    await stage.process(
      0,
      consumed(minutes(mine, 90, 101, { tx: 20, declineShare: 0 }).filter((m) => m.source === 0)),
    );
    const burst = (m: number) => ({
      update: minuteUpdate(mine, m, { tx: 30, declineShare: 0.9 }, 1),
      source: 1,
    });
    await stage.process(0, consumed([burst(92), burst(93)]));
    const firing = producer.sent.filter((a) => a.state === 'FIRING');
    expect(firing.map((a) => a.entity_id)).toEqual([mine]);
    expect(firing[0]!.fired_time).toBe(T0 + 94 * WINDOW_MS);
  });

  it('leaves out an update without its source-partition header, and says so', async () => {
    const { stage, store, lines } = harness();
    const mine = merchantIn(0);
    store.kpiRows = minutes(mine, 0, 90, NORMAL).map((m) => kpiRow(m.update, m.source));
    await stage.open([0], PARTITIONS);
    await stage.process(
      0,
      consumed(minutes(mine, 90, 96, SPIKE).map((m) => ({ update: m.update, source: null }))),
    );
    expect(store.rows(TABLES.alerts)).toEqual([]);
    expect(lines.some((l) => String(l['msg']).includes('without a source partition header'))).toBe(true);
  });

  it('takes back the KPI alerts FIRING for its entities (keyed LEVEL:entity) and resolves them when quiet', async () => {
    const { stage, store, producer } = harness();
    const alert = (entity: string, rule = 'decline_spike') => ({
      alert_id: `00000000-0000-4000-8000-${entity.slice(1).padStart(12, '0')}`,
      rule,
      severity: 'WARNING',
      entity_level: 'MERCHANT',
      entity_id: entity,
      window_start: T0,
      window_end: T0 + 5 * WINDOW_MS,
      fired_time: T0 + 5 * WINDOW_MS,
      summary: 's',
      value: 0.5,
      threshold: 0.2,
      evidence: {},
      labels: {},
    });
    const mine = merchantIn(0);
    store.alerts = [alert(mine), alert(merchantIn(2)), alert(merchantIn(0, 1), 'velocity')];
    await stage.open([0], PARTITIONS);
    await stage.tick(0, T0 + 6 * WINDOW_MS);
    expect(producer.sent).toEqual([]);
    await stage.tick(0, T0 + 30 * WINDOW_MS);
    expect(producer.sent).toEqual([
      expect.objectContaining({ rule: 'decline_spike', entity_id: mine, state: 'RESOLVED' }),
    ]);
  });

  it('reads the source partition from a string or bytes header, and refuses anything else', () => {
    const h = (v: IHeaders[string]) => ({ headers: { [SOURCE_PARTITION_HEADER]: v } });
    expect(sourcePartitionOf(h(Buffer.from('7')))).toBe(7);
    expect(sourcePartitionOf(h('12'))).toBe(12);
    expect(sourcePartitionOf(h('-1'))).toBeNull();
    expect(sourcePartitionOf(h('x'))).toBeNull();
    expect(sourcePartitionOf({ headers: {} })).toBeNull();
  });

  it('judges KPI definitions: warning, escalation to critical, resolution, and removal', async () => {
    const checked = checkDefinition(
      {
        name: 'decline_share',
        formula: 'declined / count * 100',
        unit: '%',
        level: 'MERCHANT',
        warning: 10,
        critical: 40,
        window_minutes: 2,
        min_count: 30,
        resolve_after_minutes: 3,
      },
      [],
    );
    if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
    const definitions = { current: [checked.definition] as readonly KpiDefinition[] };
    const { stage, producer } = harness(definitions);
    const mine = merchantIn(0);
    await stage.open([0], PARTITIONS);
    // 4 % declines: within bounds, and no baseline is needed.
    await stage.process(0, consumed(minutes(mine, 0, 5, NORMAL)));
    expect(producer.sent).toEqual([]);
    // 20 %: beyond the warning threshold once the 2-minute window holds it.
    await stage.process(0, consumed(minutes(mine, 5, 7, { tx: 60, declineShare: 0.2 })));
    expect(producer.sent).toEqual([
      expect.objectContaining({
        rule: 'kpi:decline_share',
        severity: 'WARNING',
        state: 'FIRING',
        entity_id: mine,
        threshold: 10,
        labels: { merchant: mine, kpi: 'decline_share' },
      }),
    ]);
    expect(producer.sent[0]!.value).toBeGreaterThan(10);
    // 60 %: the same alert escalates to CRITICAL with a new FIRING record.
    await stage.process(0, consumed(minutes(mine, 7, 9, SPIKE)));
    expect(producer.sent.map((a) => [a.severity, a.state])).toEqual([
      ['WARNING', 'FIRING'],
      ['CRITICAL', 'FIRING'],
    ]);
    expect(new Set(producer.sent.map((a) => a.alert_id)).size).toBe(1);
    // Back to normal for more than resolve_after: resolved.
    await stage.process(0, consumed(minutes(mine, 9, 16, NORMAL)));
    await stage.tick(0, T0 + 16 * WINDOW_MS);
    expect(producer.sent.at(-1)).toMatchObject({ state: 'RESOLVED', severity: 'CRITICAL' });

    // A quiet window (fewer than min_count attempts) is not judged, however bad its share.
    await stage.process(0, consumed(minutes(merchantIn(0, 1), 16, 18, { tx: 12, declineShare: 0.5 })));
    expect(producer.sent).toHaveLength(3);
    // Fires again; deleting the definition resolves it at the next reload.
    await stage.process(0, consumed(minutes(mine, 18, 20, SPIKE)));
    expect(producer.sent.at(-1)).toMatchObject({ state: 'FIRING', severity: 'CRITICAL' });
    definitions.current = [];
    await stage.reloadRules(T0 + 20 * WINDOW_MS);
    expect(producer.sent.at(-1)).toMatchObject({ rule: 'kpi:decline_share', state: 'RESOLVED' });
  });
});
