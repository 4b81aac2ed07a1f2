import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import { detectionGauges, setDetectionGauges } from './detection/gauges.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import type { Logger } from '../shared/logger.ts';
import type { Registry } from '../shared/metrics.ts';
import { AlertBook, bookOutputs, type BookOutput } from './detection/alert-book.ts';
import { AlertWriter } from './detection/alert-writer.ts';
import type { Hit } from './detection/hit.ts';
import type { TransactionRule } from './detection/rule.ts';
import { TRANSACTION_RULES } from './detection/rules/index.ts';
import type { RulesSource } from './detection/rules-file.ts';

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
  /** Receive time the book last resolved at while reading transactions. */
  clock: number;
}

/**
 * Fraud and anomaly rules over the transactions of the partitions this instance owns (terminal
 * level: a terminal's events all arrive here, in order). Hits become flags and alerts through one
 * AlertBook per partition; flags and alert states go to ClickHouse, alerts to the alerts topic.
 * Rules read their settings from the RulesSource on every event, so a reloaded file applies at once.
 */
export class DetectionStage {
  private readonly partitions = new Map<number, PartitionDetection>();
  private readonly writer: AlertWriter;
  private readonly m;

  constructor(private readonly deps: DetectionStageDeps) {
    this.writer = new AlertWriter(deps);
    const r = deps.metrics;
    this.m = {
      ...detectionGauges(r, {
        name: 'pospulse_processor_open_alerts',
        help: 'Alerts firing in the partitions held.',
      }),
    };
  }

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  /** Builds a partition's rules and takes back its alerts still FIRING in the alerts table. */
  async open(partition: number, partitionCount: number): Promise<void> {
    const rules = TRANSACTION_RULES.map((r) => r.create(() => this.deps.rules.current));
    const book = new AlertBook((rule) => this.resolveAfter(rule));
    book.restore(await this.writer.firing('TERMINAL', partition, partitionCount));
    this.partitions.set(partition, { rules, book, clock: -Infinity });
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
    // A batch read from a backlog may span hours: alerts quiet by an event's receive time resolve
    // before it is judged, as ticks at the wall clock would have resolved them live.
    const { out, add } = bookOutputs();
    let hits: Hit[] = [];
    for (const ev of fresh) {
      const at = ev.gateway_received_time;
      if (at - p.clock >= 60_000) {
        add(p.book.record(hits));
        hits = [];
        if (p.clock !== -Infinity) add({ flags: [], alerts: p.book.tick(at) });
        p.clock = at;
      }
      for (const r of enabled) hits.push(...r.onTransaction(ev));
    }
    add(p.book.record(hits));
    await this.write(partition, out);
  }

  /** Heartbeats of a partition's terminals, for the rules that judge silence. */
  async onHeartbeats(partition: number, heartbeats: readonly TerminalHeartbeat[]): Promise<void> {
    const p = this.partitions.get(partition);
    if (p === undefined) return;
    const hits: Hit[] = [];
    for (const r of p.rules) {
      if (r.onHeartbeat === undefined || !this.deps.rules.current.get(r.definition).enabled) continue;
      for (const hb of heartbeats) hits.push(...r.onHeartbeat(hb));
    }
    await this.write(partition, p.book.record(hits));
  }

  /**
   * At event time `now`: lets the rules that judge absence (a terminal silent in its hours) hit,
   * then expires rule state and resolves quiet alerts.
   */
  async tick(partition: number, now: number): Promise<void> {
    const p = this.partitions.get(partition);
    if (p === undefined) return;
    const hits: Hit[] = [];
    for (const r of p.rules)
      if (r.onTick !== undefined && this.deps.rules.current.get(r.definition).enabled)
        hits.push(...r.onTick(now));
    const recorded = p.book.record(hits);
    for (const r of p.rules) r.expire(now);
    await this.write(partition, { ...recorded, alerts: [...recorded.alerts, ...p.book.tick(now)] });
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
    await this.writer.write(partition, out);
    this.updateGauges();
  }

  private updateGauges(): void {
    setDetectionGauges(this.partitions.values(), this.m);
  }
}
