import type { TerminalHeartbeat, TerminalStatus, TransactionEvent } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, gauge, type Registry } from '../shared/metrics.ts';
import { partitionOfKey } from './partition-of.ts';
import { TERMINAL_STATUS_COLUMNS, terminalStatusFromRow, terminalStatusRow } from './status/rows.ts';
import { TerminalStatusTracker, type TerminalStatusOptions } from './status/terminal-status.ts';

export interface StatusStageDeps {
  store: Pick<Store, 'insert' | 'query'>;
  producer: Pick<EventProducer, 'send'>;
  statusTopic: string;
  tables: { status: string; latest: string };
  logger: Logger;
  metrics: Registry;
}

/**
 * Terminal status for the partitions this instance owns, one tracker per partition (a terminal's
 * transactions and heartbeats share a partition number, see co-partition-assigner.ts). Each change
 * goes to `terminal_status` (history; a materialized view keeps `terminal_status_latest`) and to the
 * compacted topic keyed by serial, which the live service reads.
 *
 * A tracker starts from `terminal_status_latest` for its partition's terminals, then follows the
 * events. After a crash, events since the last commit are fed again: a re-fed event changes nothing
 * the first feeding did not (statuses follow the newest times), so at worst a record is repeated.
 */
export class StatusStage {
  private readonly trackers = new Map<number, TerminalStatusTracker>();
  private readonly published;
  private readonly held;

  constructor(
    private readonly deps: StatusStageDeps,
    private readonly options: Partial<TerminalStatusOptions>,
  ) {
    this.published = counter(
      deps.metrics,
      'pospulse_processor_status_changes_total',
      'TerminalStatus records published, by status.',
      ['status'],
    );
    this.held = gauge(
      deps.metrics,
      'pospulse_processor_terminals',
      'Terminals whose status this instance holds.',
      [],
    );
  }

  has(partition: number): boolean {
    return this.trackers.has(partition);
  }

  /** Builds the trackers of `partitions` from the stored latest status of their terminals. */
  async open(partitions: readonly number[], partitionCount: number): Promise<void> {
    const wanted = new Set(partitions.filter((p) => !this.trackers.has(p)));
    if (wanted.size === 0) return;
    const rows = await this.deps.store.query<Record<string, unknown>>(
      `SELECT ${TERMINAL_STATUS_COLUMNS.join(', ')} FROM ${this.deps.tables.latest} FINAL`,
    );
    const byPartition = new Map<number, TerminalStatus[]>([...wanted].map((p) => [p, []]));
    for (const row of rows) {
      const record = terminalStatusFromRow(row);
      byPartition.get(partitionOfKey(record.terminal_serial, partitionCount))?.push(record);
    }
    for (const [p, records] of byPartition) {
      const tracker = new TerminalStatusTracker(this.options);
      tracker.restore(records);
      this.trackers.set(p, tracker);
      this.deps.logger.info(
        { partition: p, terminals: tracker.size },
        'terminal status of partition restored',
      );
    }
    this.updateGauge();
  }

  drop(partition: number): void {
    this.trackers.delete(partition);
    this.updateGauge();
  }

  async onTransactions(partition: number, events: readonly TransactionEvent[]): Promise<void> {
    const t = this.get(partition);
    const changes: TerminalStatus[] = [];
    for (const ev of events) changes.push(...t.onTransaction(ev));
    await this.publish(changes);
  }

  async onHeartbeats(partition: number, heartbeats: readonly TerminalHeartbeat[]): Promise<void> {
    const t = this.get(partition);
    const changes: TerminalStatus[] = [];
    for (const hb of heartbeats) changes.push(...t.onHeartbeat(hb));
    await this.publish(changes);
  }

  /** Re-evaluates a partition's terminals at `now` (silence, aging rate windows). */
  async tick(partition: number, now: number): Promise<void> {
    const t = this.trackers.get(partition);
    if (t !== undefined) await this.publish(t.tick(now));
  }

  /** The record of one terminal held by this instance. */
  get status(): (serial: string) => TerminalStatus | undefined {
    return (serial) => {
      for (const t of this.trackers.values()) {
        const r = t.get(serial);
        if (r !== undefined) return r;
      }
      return undefined;
    };
  }

  private get(partition: number): TerminalStatusTracker {
    const t = this.trackers.get(partition);
    if (t === undefined) throw new Error(`terminal status of partition ${partition} was not opened`);
    return t;
  }

  private async publish(changes: readonly TerminalStatus[]): Promise<void> {
    if (changes.length === 0) return;
    await Promise.all([
      this.deps.store.insert(this.deps.tables.status, changes.map(terminalStatusRow)),
      this.deps.producer.send(
        this.deps.statusTopic,
        'TerminalStatus',
        changes.map((r) => ({ key: r.terminal_serial, value: r })),
      ),
    ]);
    for (const r of changes) this.published.inc({ status: r.status }, 1);
    this.updateGauge();
  }

  private updateGauge(): void {
    let n = 0;
    for (const t of this.trackers.values()) n += t.size;
    this.held.set({}, n);
  }
}
