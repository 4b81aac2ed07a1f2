import { randomBytes } from 'node:crypto';
import { retryWhileElecting } from '../shared/kafka/metadata-retry.ts';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Alert, KpiUpdate, TerminalStatus } from '../shared/avro/types.generated.ts';
import { isPosPulseError } from '../shared/errors.ts';
import type { RecordCodec } from '../shared/kafka/producer.ts';
import { sourcePartitionOf } from '../shared/kafka/source-partition.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';

export interface FeedTopics {
  terminalStatus: string;
  kpiUpdates: string;
  alerts: string;
}

export interface FeedHandlers {
  status(s: TerminalStatus): void;
  /** A FLEET-level update; `source`: the `transactions` partition that computed it, null without the header. */
  kpi(u: KpiUpdate, source: number | null): void;
  alert(a: Alert): void;
  /** Any level's update, for KPI subscriptions; levels other than FLEET only if `wantsKpiLevel`. */
  kpiUpdate?(u: KpiUpdate): void;
  /** Whether some client subscribed to KPI updates of this level (the rest are not decoded). */
  wantsKpiLevel?(level: string): boolean;
}

export interface FeedOptions {
  /** KpiUpdates are read from this long before the start (the minutes the wall shows). */
  kpiLookbackMs: number;
  /** Alerts read back per partition at the start, for the ticker. */
  recentAlerts: number;
}

/**
 * Reads the fleet for one live instance: the whole compacted terminal-status topic (then its new
 * records), KpiUpdates from a few minutes back, and the latest alerts. Every instance reads every
 * partition (a consumer group of its own, never committed), so any number can serve behind a
 * load balancer. `ready` resolves once terminal-status was read up to where it ended at the start.
 */
export class LiveFeed {
  private readonly consumer: Consumer;
  private readonly records;
  private statusTargets = new Map<number, bigint>();
  private readyResolve: (() => void) | undefined;
  readonly ready: Promise<void>;
  private isReady = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly codec: RecordCodec,
    private readonly topics: FeedTopics,
    private readonly handlers: FeedHandlers,
    private readonly options: FeedOptions,
    private readonly logger: Logger,
    metrics: Registry,
  ) {
    this.consumer = kafka.consumer({
      groupId: `pospulse-live-${randomBytes(6).toString('hex')}`,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
    });
    this.records = counter(metrics, 'pospulse_live_records_total', 'Records read, by topic and outcome.', [
      'topic',
      'outcome',
    ]);
    this.ready = new Promise((resolve) => {
      this.readyResolve = resolve;
    });
  }

  get rebuilt(): boolean {
    return this.isReady;
  }

  async start(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    let seeks: { topic: string; partition: number; offset: string }[];
    try {
      const status = await retryWhileElecting(() => admin.fetchTopicOffsets(this.topics.terminalStatus));
      this.statusTargets = new Map(
        status.filter((o) => o.high !== o.low).map((o) => [o.partition, BigInt(o.high)]),
      );
      const since = Date.now() - this.options.kpiLookbackMs;
      const kpi = await retryWhileElecting(() =>
        admin.fetchTopicOffsetsByTimestamp(this.topics.kpiUpdates, since),
      );
      const alerts = await retryWhileElecting(() => admin.fetchTopicOffsets(this.topics.alerts));
      seeks = [
        ...kpi.map((o) => ({ topic: this.topics.kpiUpdates, partition: o.partition, offset: o.offset })),
        ...alerts.map((o) => ({
          topic: this.topics.alerts,
          partition: o.partition,
          offset: String(
            BigInt(o.high) - BigInt(this.options.recentAlerts) > BigInt(o.low)
              ? BigInt(o.high) - BigInt(this.options.recentAlerts)
              : BigInt(o.low),
          ),
        })),
      ];
    } finally {
      await admin.disconnect();
    }
    this.checkReady();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topics.terminalStatus], fromBeginning: true });
    await this.consumer.subscribe({
      topics: [this.topics.kpiUpdates, this.topics.alerts],
      fromBeginning: false,
    });
    await this.consumer.run({
      autoCommit: false,
      eachBatch: (payload) => this.onBatch(payload),
    });
    for (const s of seeks) this.consumer.seek(s);
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  private async onBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    for (const m of batch.messages) {
      await this.read(topic, partition, m);
      resolveOffset(m.offset);
    }
    await heartbeat();
    if (topic === this.topics.terminalStatus && !this.isReady) {
      const target = this.statusTargets.get(partition);
      if (target !== undefined && BigInt(batch.lastOffset()) + 1n >= target)
        this.statusTargets.delete(partition);
      this.checkReady();
    }
  }

  private async read(topic: string, partition: number, m: KafkaMessage): Promise<void> {
    // A tombstone (compaction's deletion marker) says nothing; of the KPI updates, keyed
    // LEVEL:entity, the fleet's are shown and other levels only go to KPI subscriptions: those no
    // client subscribed to are not decoded at all.
    if (m.value === null) return;
    let fleetKpi = false;
    if (topic === this.topics.kpiUpdates) {
      const level = m.key?.toString().split(':', 1)[0] ?? '';
      fleetKpi = level === 'FLEET';
      if (!fleetKpi && this.handlers.wantsKpiLevel?.(level) !== true) return;
    }
    try {
      const where = { topic, partition, offset: m.offset };
      if (topic === this.topics.terminalStatus)
        this.handlers.status(await this.codec.decode(m.value, 'TerminalStatus', where));
      else if (topic === this.topics.kpiUpdates) {
        const u = await this.codec.decode(m.value, 'KpiUpdate', where);
        if (fleetKpi) this.handlers.kpi(u, sourcePartitionOf(m));
        this.handlers.kpiUpdate?.(u);
      } else if (topic === this.topics.alerts)
        this.handlers.alert(await this.codec.decode(m.value, 'Alert', where));
      this.records.inc({ topic, outcome: 'ok' });
    } catch (err) {
      if (!isPosPulseError(err)) throw err;
      // The wall shows state others own (the processor's topics): a record it cannot read is
      // logged and counted, and the topic stays the record of it.
      this.records.inc({ topic, outcome: 'undecodable' });
      this.logger.warn(
        { code: err.code, topic, partition, offset: m.offset },
        'record the live service cannot read',
      );
    }
  }

  private checkReady(): void {
    if (this.isReady || this.statusTargets.size > 0) return;
    this.isReady = true;
    this.readyResolve?.();
    this.logger.info('fleet rebuilt from the terminal-status topic');
  }
}
