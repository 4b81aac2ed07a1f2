import type { Alert, TransactionEvent } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, gauge, type Registry } from '../shared/metrics.ts';
import { AlertBook, type BookOutput, type OpenAlert } from './detection/alert-book.ts';
import type { Hit } from './detection/hit.ts';
import { alertRow, flagRow } from './detection/rows.ts';
import type { TransactionRule } from './detection/rule.ts';
import { TRANSACTION_RULES } from './detection/rules/index.ts';
import type { RulesSource } from './detection/rules-file.ts';
import { partitionOfKey } from './partition-of.ts';
import type { KpiLevel } from './kpi/window-state.ts';

export interface DetectionStageDeps {
  store: Pick<Store, 'insert' | 'query'>;
  producer: Pick<EventProducer, 'send'>;
  alertsTopic: string;
  tables: { flags: string; alerts: string };
  rules: RulesSource;
  logger: Logger;
  metrics: Registry;
  clock: () => number;
}

interface PartitionDetection {
  rules: TransactionRule[];
  book: AlertBook;
}

/**
 * Fraud and anomaly rules over the transactions of the partitions this instance owns (terminal
 * level: a terminal's events all arrive here, in order). Hits become flags and alerts through one
 * AlertBook per partition; flags and alert states go to ClickHouse, alerts to the alerts topic.
 * Rules read their settings from the RulesSource on every event, so a reloaded file applies at once.
 */
export class DetectionStage {
  private readonly partitions = new Map<number, PartitionDetection>();
  private readonly m;

  constructor(private readonly deps: DetectionStageDeps) {
    const r = deps.metrics;
    this.m = {
      flags: counter(r, 'pospulse_processor_flags_total', 'Rule hits written as flags, by rule.', ['rule']),
      alerts: counter(r, 'pospulse_processor_alerts_total', 'Alert records published, by rule and state.', [
        'rule',
        'state',
      ]),
      state: gauge(
        r,
        'pospulse_processor_detection_state_entries',
        'Entries held by detection rules, by rule.',
        ['rule'],
      ),
      open: gauge(r, 'pospulse_processor_open_alerts', 'Alerts firing in the partitions held.', []),
    };
  }

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  /** Builds a partition's rules and takes back its alerts still FIRING in the alerts table. */
  async open(partition: number, partitionCount: number): Promise<void> {
    const rules = TRANSACTION_RULES.map((r) => r.create(() => this.deps.rules.current));
    const book = new AlertBook((rule) => this.resolveAfter(rule));
    const firing = await this.deps.store.query<Record<string, unknown>>(
      `SELECT alert_id, rule, severity, entity_level, entity_id,
              toUnixTimestamp64Milli(window_start) AS window_start, toUnixTimestamp64Milli(window_end) AS window_end,
              toUnixTimestamp64Milli(fired_time) AS fired_time, summary, value, threshold, evidence, labels
       FROM ${this.deps.tables.alerts} FINAL WHERE state = 'FIRING' AND entity_level = 'TERMINAL'`,
    );
    book.restore(
      firing.map(openAlertOf).filter((a) => partitionOfKey(a.entityId, partitionCount) === partition),
    );
    this.partitions.set(partition, { rules, book });
    this.updateGauges();
  }

  drop(partition: number): void {
    this.partitions.delete(partition);
    this.updateGauges();
  }

  /**
   * Feeds a batch: `replayed` events (already processed by a previous owner) only rebuild rule
   * state; `fresh` ones may hit. Writes the flags and alerts they cause.
   */
  async onTransactions(
    partition: number,
    replayed: readonly TransactionEvent[],
    fresh: readonly TransactionEvent[],
  ): Promise<void> {
    const p = this.get(partition);
    const enabled = p.rules.filter((r) => this.deps.rules.current.get(r.definition).enabled);
    for (const ev of replayed) for (const r of enabled) r.onTransaction(ev);
    const hits: Hit[] = [];
    for (const ev of fresh) for (const r of enabled) hits.push(...r.onTransaction(ev));
    await this.write(partition, p.book.record(hits));
  }

  /** At event time `now`: expires rule state and resolves quiet alerts. */
  async tick(partition: number, now: number): Promise<void> {
    const p = this.partitions.get(partition);
    if (p === undefined) return;
    for (const r of p.rules) r.expire(now);
    await this.write(partition, { flags: [], alerts: p.book.tick(now) });
  }

  /**
   * Re-reads the rules file if it changed. Alerts of rules it disabled resolve at `now`; rules it
   * keeps carry their state over.
   */
  async reloadRules(now: number): Promise<void> {
    const before = new Set(this.deps.rules.current.enabled);
    if (!(await this.deps.rules.reloadIfChanged())) return;
    const after = new Set(this.deps.rules.current.enabled);
    for (const rule of before) {
      if (after.has(rule)) continue;
      for (const [partition, p] of this.partitions) {
        await this.write(partition, { flags: [], alerts: p.book.resolveRule(rule, now) });
      }
    }
  }

  private resolveAfter(rule: string): number {
    const def = TRANSACTION_RULES.find((r) => r.definition.name === rule)?.definition;
    return def === undefined ? 300_000 : this.deps.rules.current.get(def).resolve_after;
  }

  private get(partition: number): PartitionDetection {
    const p = this.partitions.get(partition);
    if (p === undefined) throw new Error(`detection of partition ${partition} was not opened`);
    return p;
  }

  private async write(partition: number, out: BookOutput): Promise<void> {
    const states = [...out.alerts, ...(out.updated ?? [])];
    if (out.flags.length === 0 && states.length === 0) return this.updateGauges();
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
    this.updateGauges();
  }

  private updateGauges(): void {
    const byRule = new Map<string, number>();
    let open = 0;
    for (const p of this.partitions.values()) {
      open += p.book.size;
      for (const r of p.rules) byRule.set(r.definition.name, (byRule.get(r.definition.name) ?? 0) + r.size);
    }
    for (const [rule, n] of byRule) this.m.state.set({ rule }, n);
    this.m.open.set({}, open);
  }
}

function openAlertOf(row: Record<string, unknown>): OpenAlert {
  const num = (v: unknown): number => Number(v);
  const optionalNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  const firedTime = num(row['fired_time']);
  return {
    alertId: String(row['alert_id']),
    rule: String(row['rule']),
    severity: String(row['severity']) as OpenAlert['severity'],
    level: String(row['entity_level']) as KpiLevel,
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
