import type { KpiDefinitionsSource } from './kpi-definitions-source.ts';
import type { Admin, Kafka } from 'kafkajs';
import type { AvroCodec } from '../shared/avro/codec.ts';
import type { KpiUpdate, TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import {
  EventConsumer,
  type BatchInfo,
  type CommitPoint,
  type CommittedOffset,
  type ConsumedRecord,
} from '../shared/kafka/consumer.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import type { TopicNames } from '../shared/kafka/topics.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';
import { CoPartitionAssigner } from './co-partition-assigner.ts';
import type { ProcessorConfig } from './config.ts';
import { checkpointOf } from './kpi/checkpoint-metadata.ts';
import { KpiStage } from './kpi-stage.ts';
import { PartitionLocks } from './partition-locks.ts';
import { RawWriter } from './raw-writer.ts';
import { StatusStage } from './status-stage.ts';
import { DetectionStage } from './detection-stage.ts';
import { CardDetectionStage } from './card-detection-stage.ts';
import { KpiDetectionStage } from './kpi-detection-stage.ts';
import { ReadAlignment } from './read-alignment.ts';
import { cardCheckpointOf } from './detection/card-checkpoint.ts';
import type { RulesSource } from './detection/rules-file.ts';

export interface ProcessorDeps {
  kafka: Kafka;
  codec: AvroCodec;
  store: Store;
  /** Dead letters and the processor's own outputs. */
  producer: EventProducer;
  topics: TopicNames;
  /** Fully qualified table names (`database.table`). */
  tables: {
    transactions: string;
    heartbeats: string;
    kpi1m: string;
    lateEvents: string;
    terminalStatus: string;
    terminalStatusLatest: string;
    flags: string;
    alerts: string;
  };
  /** Detection rules in force (reloaded on change). */
  rules: RulesSource;
  /** The user's KPI definitions, read again at ticks; none when absent. */
  definitions?: KpiDefinitionsSource;
  logger: Logger;
  metrics: Registry;
  /** @default Date.now */
  clock?: () => number;
}

export type ProcessorOptions = Pick<
  ProcessorConfig,
  | 'groupId'
  | 'fetchMinBytes'
  | 'fetchMaxWaitMs'
  | 'fetchMaxPartitionBytes'
  | 'allowedLatenessMs'
  | 'maxFutureSkewMs'
  | 'idleGraceMs'
  | 'readAheadMs'
  | 'tickIntervalMs'
  | 'offlineAfterMs'
  | 'rollingLevels'
>;

/** Where this instance stands in one partition of one topic, as of its last batch or check. */
interface Position {
  next: bigint;
  high: bigint;
  /** Wall-clock time of the last batch; 0 when known from a check only. */
  batchAt: number;
}

/**
 * Consumes transactions and heartbeats in one consumer group, partition p of both topics going to
 * the same instance. Each fetch of a partition is handled completely — raw rows, KPI windows, late
 * events, terminal status, terminal rules, the republishing of carded transactions to
 * `card-activity` — before its offset is committed, so a crash at any point replays work whose
 * writes are idempotent, and nothing is skipped.
 *
 * Partition p of `card-activity` (keyed by card token) goes to the same instance too; its card
 * rules commit their own restart point the same way (CardDetectionStage). Partition p of
 * `kpi-updates` (keyed by entity) feeds the entity KPI rules (KpiDetectionStage), which rebuild
 * their baselines from `kpi_1m` when they open a partition and commit plain offsets.
 *
 * Commits on `transactions` carry the window checkpoint: the offset is where the oldest open window
 * began, the metadata where processing ended. A new owner (restart, rebalance) reads from there,
 * rebuilding the open windows silently before it emits anything (docs/KPIS.md).
 */
export class Processor {
  private readonly consumer: EventConsumer;
  private readonly raw: RawWriter;
  private readonly kpis: KpiStage;
  private readonly status: StatusStage;
  private readonly detection: DetectionStage;
  private readonly cards: CardDetectionStage;
  private readonly kpiDetection: KpiDetectionStage;
  private readonly locks = new PartitionLocks();
  private readonly clock: () => number;
  private readonly events;
  private admin: Admin | undefined;
  private partitionCount = 0;
  private cardPartitionCount = 0;
  private owned = new Set<number>();
  private readonly positions = new Map<string, Position>();
  /**
   * Newest gateway_received_time read per partition, of transactions and of heartbeats apart: the
   * older of the two is the status and detection clock while a backlog is read (the two topics are
   * read independently, and one read ahead would make the other's terminals look silent).
   */
  private readonly receivedUpTo = new Map<number, { tx?: number; hb?: number }>();
  /** The same for `card-activity`: the card rules' clock while its backlog is read. */
  private readonly cardReceivedUpTo = new Map<number, number>();
  /** The card commit point a tick last committed per partition (offset:metadata). */
  private readonly cardTickCommits = new Map<number, string | undefined>();
  private readonly alignment: ReadAlignment;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private running = false;

  constructor(
    private readonly deps: ProcessorDeps,
    private readonly options: ProcessorOptions,
  ) {
    this.clock = deps.clock ?? Date.now;
    this.raw = new RawWriter(deps.store, deps.tables);
    this.kpis = new KpiStage(
      {
        store: deps.store,
        producer: deps.producer,
        kpiTopic: deps.topics.kpiUpdates,
        tables: { kpi1m: deps.tables.kpi1m, lateEvents: deps.tables.lateEvents },
        logger: deps.logger,
        metrics: deps.metrics,
        clock: this.clock,
      },
      options,
    );
    this.status = new StatusStage(
      {
        store: deps.store,
        producer: deps.producer,
        statusTopic: deps.topics.terminalStatus,
        tables: { status: deps.tables.terminalStatus, latest: deps.tables.terminalStatusLatest },
        logger: deps.logger,
        metrics: deps.metrics,
      },
      { offlineAfterMs: options.offlineAfterMs, clock: this.clock },
    );
    this.detection = new DetectionStage({
      store: deps.store,
      producer: deps.producer,
      alertsTopic: deps.topics.alerts,
      tables: { flags: deps.tables.flags, alerts: deps.tables.alerts },
      rules: deps.rules,
      logger: deps.logger,
      metrics: deps.metrics,
      clock: this.clock,
    });
    this.cards = new CardDetectionStage({
      store: deps.store,
      producer: deps.producer,
      alertsTopic: deps.topics.alerts,
      tables: {
        flags: deps.tables.flags,
        alerts: deps.tables.alerts,
        transactions: deps.tables.transactions,
      },
      rules: deps.rules,
      logger: deps.logger,
      metrics: deps.metrics,
      clock: this.clock,
    });
    this.kpiDetection = new KpiDetectionStage({
      store: deps.store,
      producer: deps.producer,
      alertsTopic: deps.topics.alerts,
      tables: { flags: deps.tables.flags, alerts: deps.tables.alerts, kpi1m: deps.tables.kpi1m },
      rules: deps.rules,
      ...(deps.definitions === undefined ? {} : { definitions: deps.definitions }),
      logger: deps.logger,
      metrics: deps.metrics,
      clock: this.clock,
    });
    this.events = counter(
      deps.metrics,
      'pospulse_processor_events_total',
      'Events stored and processed, by type.',
      ['type'],
    );
    this.consumer = new EventConsumer(deps.kafka, deps.codec, deps.producer, deps.logger, {
      groupId: options.groupId,
      deadLetterTopic: deps.topics.deadLetter,
      fromBeginning: true,
      metrics: deps.metrics,
      minBytes: options.fetchMinBytes,
      maxWaitTimeMs: options.fetchMaxWaitMs,
      maxBytesPerPartition: options.fetchMaxPartitionBytes,
      partitionAssigners: [CoPartitionAssigner],
      onAssignment: (assigned) => this.onAssignment(assigned),
      subscriptions: [
        {
          topic: deps.topics.transactions,
          schema: 'TransactionEvent',
          handle: (records, partition, batch) => this.onTransactions(records, partition, batch),
        },
        {
          topic: deps.topics.heartbeats,
          schema: 'TerminalHeartbeat',
          handle: (records, partition, batch) => this.onHeartbeats(records, partition, batch),
        },
        {
          topic: deps.topics.cardActivity,
          schema: 'TransactionEvent',
          handle: (records, partition, batch) => this.onCardActivity(records, partition, batch),
        },
        {
          topic: deps.topics.kpiUpdates,
          schema: 'KpiUpdate',
          handle: (records, partition, batch) => this.onKpiUpdates(records, partition, batch),
        },
      ],
    });
    this.alignment = new ReadAlignment(options.readAheadMs, this.consumer);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Partitions (numbers, the same in every topic) this instance owns now. */
  get partitions(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    const admin = this.deps.kafka.admin();
    await admin.connect();
    this.admin = admin;
    const { topics } = await admin.fetchTopicMetadata({
      topics: [this.deps.topics.transactions, this.deps.topics.cardActivity],
    });
    const countOf = (topic: string): number => topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    this.partitionCount = countOf(this.deps.topics.transactions);
    this.cardPartitionCount = countOf(this.deps.topics.cardActivity);
    // Before any partition opens, so the alerts of definitions are taken back with the rest.
    await this.deps.definitions?.refresh();
    await this.consumer.start();
    this.running = true;
    this.timer = setInterval(() => {
      this.ticking = this.ticking.then(() => this.tick());
    }, this.options.tickIntervalMs);
    this.timer.unref();
  }

  /** Finishes the fetch in hand (writes and commit), then leaves the group. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await this.consumer.stop();
    await this.admin?.disconnect();
  }

  private onAssignment(assigned: { topic: string; partitions: number[] }[]): void {
    const now = new Set(assigned.flatMap((a) => a.partitions));
    for (const p of this.owned) {
      if (now.has(p)) continue;
      void this.locks.run(p, async () => {
        this.forget(p);
        this.forgetCards(p);
        this.forgetKpiDetection(p);
      });
    }
    this.owned = now;
    this.deps.logger.info({ partitions: this.partitions }, 'partitions assigned');
  }

  private forget(partition: number): void {
    this.kpis.drop(partition);
    this.detection.drop(partition);
    this.status.drop(partition);
    this.receivedUpTo.delete(partition);
    for (const topic of [this.deps.topics.transactions, this.deps.topics.heartbeats]) {
      this.positions.delete(`${topic}:${partition}`);
      this.alignment.forget(topic, partition);
    }
  }

  /** Card state is fed by its own topic: a failure on `transactions` leaves it alone. */
  private forgetCards(partition: number): void {
    this.cards.drop(partition);
    this.cardReceivedUpTo.delete(partition);
    this.positions.delete(`${this.deps.topics.cardActivity}:${partition}`);
  }

  private forgetKpiDetection(partition: number): void {
    this.kpiDetection.drop(partition);
    this.positions.delete(`${this.deps.topics.kpiUpdates}:${partition}`);
  }

  private async onTransactions(
    records: ConsumedRecord<TransactionEvent>[],
    partition: number,
    batch: BatchInfo,
  ): Promise<CommitPoint> {
    return this.locks.run(partition, () =>
      this.guard(partition, async () => {
        await this.open(partition);
        const processed = this.kpis.processedUntil(partition);
        const fresh = records.filter((r) => Number(r.offset) >= processed);
        await this.raw.transactions(fresh);
        // After the raw rows: a card-activity record's transaction is always in the table already,
        // which the card stage's sale lookups rely on.
        await this.republishCards(fresh);
        const point = await this.kpis.process(partition, records, batch.nextOffset);
        const events = fresh.map((r) => r.value);
        await this.status.onTransactions(partition, events);
        const replayed = records.filter((r) => Number(r.offset) < processed).map((r) => r.value);
        await this.detection.onTransactions(partition, replayed, events);
        this.noteBatch(this.deps.topics.transactions, partition, batch);
        for (const ev of events) this.noteReceived(partition, 'tx', ev.gateway_received_time);
        this.align(this.deps.topics.transactions, partition, 'tx', batch);
        this.events.inc({ type: 'TransactionEvent' }, fresh.length);
        return point;
      }),
    );
  }

  private async onHeartbeats(
    records: ConsumedRecord<TerminalHeartbeat>[],
    partition: number,
    batch: BatchInfo,
  ): Promise<void> {
    await this.locks.run(partition, () =>
      this.guard(partition, async () => {
        await this.openStatus(partition);
        await this.raw.heartbeats(records);
        const heartbeats = records.map((r) => r.value);
        await this.status.onHeartbeats(partition, heartbeats);
        await this.detection.onHeartbeats(partition, heartbeats);
        this.noteBatch(this.deps.topics.heartbeats, partition, batch);
        for (const hb of heartbeats) this.noteReceived(partition, 'hb', hb.gateway_received_time);
        this.align(this.deps.topics.heartbeats, partition, 'hb', batch);
        this.events.inc({ type: 'TerminalHeartbeat' }, records.length);
      }),
    );
  }

  /**
   * Republishes the fresh transactions that carry a card token to `card-activity`, keyed by the
   * token, before the batch commits: at-least-once (the card rules deduplicate on event_id).
   */
  private async republishCards(fresh: readonly ConsumedRecord<TransactionEvent>[]): Promise<void> {
    const carded = fresh.filter((r) => r.value.card_token !== null);
    if (carded.length === 0) return;
    await this.deps.producer.send(
      this.deps.topics.cardActivity,
      'TransactionEvent',
      carded.map((r) => ({ key: r.value.card_token as string, value: r.value })),
    );
  }

  private async onCardActivity(
    records: ConsumedRecord<TransactionEvent>[],
    partition: number,
    batch: BatchInfo,
  ): Promise<CommitPoint> {
    return this.locks.run(partition, () =>
      this.guard(
        partition,
        async () => {
          await this.openCards(partition);
          const point = await this.cards.process(partition, records, batch.nextOffset);
          this.noteBatch(this.deps.topics.cardActivity, partition, batch);
          for (const r of records) {
            const t = r.value.gateway_received_time;
            if (t > (this.cardReceivedUpTo.get(partition) ?? -Infinity))
              this.cardReceivedUpTo.set(partition, t);
          }
          return point;
        },
        () => this.forgetCards(partition),
      ),
    );
  }

  private async onKpiUpdates(
    records: ConsumedRecord<KpiUpdate>[],
    partition: number,
    batch: BatchInfo,
  ): Promise<void> {
    await this.locks.run(partition, () =>
      this.guard(
        partition,
        async () => {
          if (!this.kpiDetection.has(partition)) {
            // Open every owned partition that needs it in one read of kpi_1m.
            const pending = [...this.owned].filter((p) => !this.kpiDetection.has(p));
            await this.kpiDetection.open(
              pending.includes(partition) ? pending : [...pending, partition],
              this.partitionCount,
            );
          }
          await this.kpiDetection.process(partition, records);
          this.noteBatch(this.deps.topics.kpiUpdates, partition, batch);
        },
        () => this.forgetKpiDetection(partition),
      ),
    );
  }

  private async openCards(partition: number): Promise<void> {
    if (this.cards.has(partition)) return;
    const committed = await this.committed(this.deps.topics.cardActivity);
    await this.cards.open(partition, this.cardPartitionCount, committed.get(partition));
  }

  /** State built from records whose outputs may not be durable must not outlive a failure. */
  private async guard<T>(
    partition: number,
    work: () => Promise<T>,
    forget: () => void = () => this.forget(partition),
  ): Promise<T> {
    try {
      return await work();
    } catch (err) {
      forget();
      throw err;
    }
  }

  private async open(partition: number): Promise<void> {
    if (!this.kpis.has(partition)) {
      const committed = await this.committed(this.deps.topics.transactions);
      this.kpis.open(partition, committed.get(partition));
    }
    if (!this.detection.has(partition)) await this.detection.open(partition, this.partitionCount);
    await this.openStatus(partition);
  }

  private async openStatus(partition: number): Promise<void> {
    if (this.status.has(partition)) return;
    // Open every owned partition that needs it in one read of the stored statuses.
    const pending = [...this.owned].filter((p) => !this.status.has(p));
    await this.status.open(
      pending.includes(partition) ? pending : [...pending, partition],
      this.partitionCount,
    );
  }

  private async committed(topic: string): Promise<Map<number, CommittedOffset>> {
    const admin = this.requireAdmin();
    const [entry] = await admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] });
    return new Map(
      (entry?.partitions ?? []).map((p) => [p.partition, { offset: p.offset, metadata: p.metadata }]),
    );
  }

  private requireAdmin(): Admin {
    if (this.admin === undefined) throw new Error('processor not started');
    return this.admin;
  }

  private noteBatch(topic: string, partition: number, batch: BatchInfo): void {
    this.positions.set(`${topic}:${partition}`, {
      next: BigInt(batch.nextOffset),
      high: BigInt(batch.highWatermark),
      batchAt: this.clock(),
    });
  }

  private align(topic: string, partition: number, which: 'tx' | 'hb', batch: BatchInfo): void {
    const lagging = BigInt(batch.nextOffset) < BigInt(batch.highWatermark);
    this.alignment.note(topic, partition, this.receivedUpTo.get(partition)?.[which], lagging);
  }

  private noteReceived(partition: number, topic: 'tx' | 'hb', time: number): void {
    let r = this.receivedUpTo.get(partition);
    if (r === undefined) this.receivedUpTo.set(partition, (r = {}));
    if (time > (r[topic] ?? -Infinity)) r[topic] = time;
  }

  /** The partition's clock while a backlog is read: the older of its two topics' newest times. */
  private receivedAt(partition: number): number | undefined {
    const r = this.receivedUpTo.get(partition);
    if (r === undefined) return undefined;
    if (r.tx === undefined || r.hb === undefined) return r.tx ?? r.hb;
    return Math.min(r.tx, r.hb);
  }

  /**
   * Every tickInterval: partitions that are current move their watermark to now − idleGrace (so a
   * quiet partition's windows close) and their terminals are judged at the wall clock; partitions
   * still reading a backlog are judged at the newest receive time read, or the backlog would look
   * like silence.
   *
   * Current means nothing left to read and either the last events read were received within
   * idleGrace of now, or nothing came for idleGrace. A backfill of old events (a replay, the
   * simulator's history) is read as fast as it is written, so the partition is often momentarily
   * caught up: judging it at the wall clock then would push the rest of the backfill beyond the
   * windows' lateness and make every terminal look silent.
   */
  private async tick(): Promise<void> {
    if (!this.running || this.owned.size === 0) return;
    try {
      const topics = this.deps.topics;
      const caughtUp = await this.caughtUp([topics.transactions, topics.heartbeats]);
      const cardsCaughtUp = await this.caughtUp([topics.cardActivity]);
      const kpisCaughtUp = await this.caughtUp([topics.kpiUpdates]);
      const settled = await this.transactionsSettled();
      this.cards.setSettled(settled);
      this.kpiDetection.setSettled(settled);
      const now = this.clock();
      const current = (p: number, topic: string, received: number | undefined, caught: Set<number>) =>
        caught.has(p) && this.isCurrent(`${topic}:${p}`, received, now);
      await this.detection.reloadRules(now);
      await this.cards.reloadRules(now);
      await this.deps.definitions?.refreshIfDue(now);
      await this.kpiDetection.reloadRules(now);
      for (const p of this.owned) {
        const txCurrent = current(p, topics.transactions, this.receivedAt(p), caughtUp);
        await this.locks.run(p, () =>
          this.guard(p, async () => {
            if (!this.owned.has(p)) return;
            if (txCurrent && this.kpis.has(p)) {
              const point = await this.kpis.advance(p, now - this.options.idleGraceMs);
              if (point) await this.consumer.commit(topics.transactions, p, point);
            }
            const at = txCurrent ? now : this.receivedAt(p);
            if (at !== undefined) {
              await this.status.tick(p, at);
              await this.detection.tick(p, at);
            }
          }),
        );
        await this.locks.run(p, () =>
          this.guard(
            p,
            async () => {
              if (!this.owned.has(p)) return;
              const received = this.cardReceivedUpTo.get(p);
              const at = current(p, topics.cardActivity, received, cardsCaughtUp) ? now : received;
              if (at === undefined) return;
              await this.cards.tick(p, at);
              // Waiting refunds it judged move the restart point: a quiet partition sends no batch.
              const point = this.cards.commitPointOf(p);
              const key = point === undefined ? undefined : `${point.offset}:${point.metadata ?? ''}`;
              if (point === undefined || this.cardTickCommits.get(p) === key) return;
              await this.consumer.commit(topics.cardActivity, p, point);
              this.cardTickCommits.set(p, key);
            },
            () => this.forgetCards(p),
          ),
        );
        await this.locks.run(p, () =>
          this.guard(
            p,
            async () => {
              if (!this.owned.has(p)) return;
              // KpiUpdates follow the transactions: while those are read from a backlog, the
              // updates' own minutes are the clock, or quiet entities would look gone.
              const at = kpisCaughtUp.has(p) && txCurrent ? now : this.kpiDetection.newestEnd(p);
              if (at !== null) await this.kpiDetection.tick(p, at);
            },
            () => this.forgetKpiDetection(p),
          ),
        );
      }
    } catch (err) {
      this.deps.logger.warn({ err }, 'processor tick failed; retrying at the next one');
    }
  }

  /**
   * The request time every `transactions` partition has been processed up to, by the group's
   * checkpoints (all instances'): a partition read to its end (and current, if this instance's)
   * does not hold anything back, one behind holds back its newest event time (−∞ before its
   * first commit).
   */
  private async transactionsSettled(): Promise<number> {
    const admin = this.requireAdmin();
    const topic = this.deps.topics.transactions;
    const [offsets, committed] = await Promise.all([admin.fetchTopicOffsets(topic), this.committed(topic)]);
    const now = this.clock();
    let settled = Infinity;
    for (const o of offsets) {
      if (o.high === o.low) continue;
      const reading = checkpointOf(o.partition, committed.get(o.partition));
      if (reading.kind !== 'checkpoint') {
        settled = -Infinity;
        continue;
      }
      // Read to its end: it holds nothing back, unless it is this instance's and only caught up
      // for a moment while a backlog of old events is still being written (see isCurrent).
      if (
        BigInt(reading.checkpoint.nextOffset) >= BigInt(o.high) &&
        (!this.owned.has(o.partition) ||
          this.isCurrent(`${topic}:${o.partition}`, this.receivedAt(o.partition), now))
      )
        continue;
      settled = Math.min(settled, reading.checkpoint.maxEventTime ?? -Infinity);
    }
    return settled;
  }

  /** See tick: recent events read, or no batch for idleGrace. */
  private isCurrent(position: string, received: number | undefined, now: number): boolean {
    const grace = this.options.idleGraceMs;
    if (received !== undefined && received >= now - grace) return true;
    const pos = this.positions.get(position);
    return pos === undefined || now - pos.batchAt >= grace;
  }

  /** Owned partitions with nothing left to read in any of `topics`. */
  private async caughtUp(topics: readonly string[]): Promise<Set<number>> {
    const stale = (topic: string, p: number): boolean => {
      const pos = this.positions.get(`${topic}:${p}`);
      // A recent batch tells; otherwise ask the broker (a quiet partition sends no batches).
      return (
        pos === undefined || pos.next < pos.high || this.clock() - pos.batchAt > this.options.tickIntervalMs
      );
    };
    for (const topic of topics) {
      const partitions = [...this.owned].filter((p) => stale(topic, p));
      if (partitions.length > 0) await this.refreshPositions(topic, partitions);
    }
    const out = new Set<number>();
    for (const p of this.owned) {
      const ok = topics.every((topic) => {
        const pos = this.positions.get(`${topic}:${p}`);
        return pos !== undefined && pos.next >= pos.high;
      });
      if (ok) out.add(p);
    }
    return out;
  }

  private async refreshPositions(topic: string, partitions: readonly number[]): Promise<void> {
    const admin = this.requireAdmin();
    const [offsets, committed] = await Promise.all([admin.fetchTopicOffsets(topic), this.committed(topic)]);
    for (const p of partitions) {
      const o = offsets.find((x) => x.partition === p);
      if (o === undefined) continue;
      const c = committed.get(p);
      let next: bigint;
      if (topic === this.deps.topics.transactions) {
        const reading = checkpointOf(p, c);
        next =
          reading.kind === 'checkpoint' ? BigInt(reading.checkpoint.nextOffset) : committedNext(c, o.low);
      } else if (topic === this.deps.topics.cardActivity) {
        const reading = cardCheckpointOf(c);
        next =
          reading.kind === 'checkpoint' ? BigInt(reading.checkpoint.nextOffset) : committedNext(c, o.low);
      } else {
        next = committedNext(c, o.low);
      }
      const known = this.positions.get(`${topic}:${p}`);
      // A position from a batch is at least as new as the committed offset.
      if (known !== undefined && known.next > next) next = known.next;
      this.positions.set(`${topic}:${p}`, { next, high: BigInt(o.high), batchAt: known?.batchAt ?? 0 });
    }
  }
}

function committedNext(c: CommittedOffset | undefined, low: string): bigint {
  return c === undefined || BigInt(c.offset) < 0n ? BigInt(low) : BigInt(c.offset);
}
