import type { Alert } from '../../shared/avro/types.generated.ts';
import type { Store } from '../../shared/clickhouse/store.ts';
import type { EventProducer } from '../../shared/kafka/producer.ts';
import { counter, type Registry } from '../../shared/metrics.ts';
import { partitionOfKey } from '../partition-of.ts';
import type { BookOutput, OpenAlert } from './alert-book.ts';
import type { HitLevel } from './hit.ts';
import { alertRow, flagRow } from './rows.ts';

export interface AlertWriterDeps {
  store: Pick<Store, 'insert' | 'query'>;
  producer: Pick<EventProducer, 'send'>;
  alertsTopic: string;
  tables: { flags: string; alerts: string };
  metrics: Registry;
  clock: () => number;
}

/**
 * The write path every detection stage shares: flags and alert states to ClickHouse, alert records
 * to the alerts topic (key `rule:LEVEL:entity`), and back from the alerts table the alerts a new
 * owner of a partition must take over. Writes are idempotent (ids derived from the evidence,
 * ReplacingMergeTree tables), so a repeated batch repeats them harmlessly.
 */
export class AlertWriter {
  private readonly m;

  constructor(private readonly deps: AlertWriterDeps) {
    const r = deps.metrics;
    this.m = {
      flags: counter(r, 'pospulse_processor_flags_total', 'Rule hits written as flags, by rule.', ['rule']),
      alerts: counter(r, 'pospulse_processor_alerts_total', 'Alert records published, by rule and state.', [
        'rule',
        'state',
      ]),
    };
  }

  /** Makes a book's output durable; resolves once ClickHouse and Kafka acknowledged it. */
  async write(partition: number, out: BookOutput): Promise<void> {
    const states = [...out.alerts, ...(out.updated ?? [])];
    if (out.flags.length === 0 && states.length === 0) return;
    const now = this.deps.clock();
    await Promise.all([
      this.deps.store.insert(
        this.deps.tables.flags,
        out.flags.map((f) => flagRow(f, partition, now)),
      ),
      this.deps.store.insert(
        this.deps.tables.alerts,
        states.map((a) => alertRow(a, partition, now)),
      ),
    ]);
    if (out.alerts.length > 0) {
      await this.deps.producer.send(
        this.deps.alertsTopic,
        'Alert',
        out.alerts.map((a: Alert) => ({ key: `${a.rule}:${a.entity_level}:${a.entity_id}`, value: a })),
      );
    }
    for (const f of out.flags) this.m.flags.inc({ rule: f.hit.rule }, 1);
    for (const a of out.alerts) this.m.alerts.inc({ rule: a.rule, state: a.state }, 1);
  }

  /**
   * The alerts of `level` still FIRING in the alerts table whose entity id, as a Kafka key, falls
   * in `partition` of `partitionCount`: what the previous owner of that partition left open.
   * `keyOf` gives the Kafka key the entity's records are partitioned by (default: the entity id).
   */
  async firing(
    levels: HitLevel | readonly HitLevel[],
    partition: number,
    partitionCount: number,
    keyOf: (a: OpenAlert) => string = (a) => a.entityId,
  ): Promise<OpenAlert[]> {
    const list = typeof levels === 'string' ? [levels] : levels;
    // `levels` are HitLevel literals, never outside input.
    const rows = await this.deps.store.query<Record<string, unknown>>(
      `SELECT alert_id, rule, severity, entity_level, entity_id,
              toUnixTimestamp64Milli(window_start) AS window_start, toUnixTimestamp64Milli(window_end) AS window_end,
              toUnixTimestamp64Milli(fired_time) AS fired_time, summary, value, threshold, evidence, labels
       FROM ${this.deps.tables.alerts} FINAL WHERE state = 'FIRING' AND entity_level IN (${list.map((l) => `'${l}'`).join(', ')})`,
    );
    return rows.map(openAlertOf).filter((a) => partitionOfKey(keyOf(a), partitionCount) === partition);
  }
}

export function openAlertOf(row: Record<string, unknown>): OpenAlert {
  const num = (v: unknown): number => Number(v);
  const optionalNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  const firedTime = num(row['fired_time']);
  return {
    alertId: String(row['alert_id']),
    rule: String(row['rule']),
    severity: String(row['severity']) as OpenAlert['severity'],
    level: String(row['entity_level']) as HitLevel,
    entityId: String(row['entity_id']),
    windowStart: num(row['window_start']),
    windowEnd: num(row['window_end']),
    firedTime,
    // The stored row does not say when the rule last hit; the window end is the latest known.
    lastHitTime: num(row['window_end']),
    lastFlagTime: num(row['window_end']),
    summary: String(row['summary']),
    value: optionalNum(row['value']),
    threshold: optionalNum(row['threshold']),
    evidence: { ...(row['evidence'] as Record<string, string>) },
    labels: { ...(row['labels'] as Record<string, string>) },
  };
}
