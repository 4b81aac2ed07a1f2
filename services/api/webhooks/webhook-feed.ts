import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { isPosPulseError } from '../../shared/errors.ts';
import type { RecordCodec } from '../../shared/kafka/producer.ts';
import type { Logger } from '../../shared/logger.ts';
import { counter, type Registry } from '../../shared/metrics.ts';
import type { IncomingRecord, WebhookWorker } from './delivery-worker.ts';

export interface WebhookFeedOptions {
  groupId: string;
  topics: { alerts: string; kpiUpdates: string };
  /** Where a group without committed offsets starts; false (the topics' end) in production. */
  fromBeginning?: boolean;
  metrics?: Registry;
}

/**
 * Feeds the webhook worker from the alerts and kpi-updates topics with a durable consumer group
 * (API_WEBHOOK_GROUP). A batch's offset is committed only after the worker stored its deliveries,
 * so a crash reads it again (the worker recognises deliveries it already stored). KPI updates of
 * levels no subscription wants are skipped by their key (`LEVEL:entity`) without being decoded,
 * and committed: a subscription gets the records read after it exists.
 */
export class WebhookFeed {
  private readonly consumer: Consumer;
  private readonly records;

  constructor(
    kafka: Kafka,
    private readonly codec: RecordCodec,
    private readonly worker: Pick<WebhookWorker, 'accept' | 'wantsAlerts' | 'wantsKpiLevel'>,
    private readonly logger: Logger,
    private readonly options: WebhookFeedOptions,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
    });
    this.records = options.metrics
      ? counter(
          options.metrics,
          'pospulse_webhook_records_total',
          'Records the webhook feed read, by outcome.',
          ['topic', 'outcome'],
        )
      : undefined;
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: [this.options.topics.alerts, this.options.topics.kpiUpdates],
      fromBeginning: this.options.fromBeginning ?? false,
    });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Waits for the batch in hand to be stored and committed, then leaves the group. */
  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  private async onBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }: EachBatchPayload) {
    const { topic, partition } = batch;
    if (batch.messages.length === 0) return;
    const isAlerts = topic === this.options.topics.alerts;
    const records: IncomingRecord[] = [];
    let skipped = 0;
    for (const m of batch.messages) {
      if (m.value === null) continue;
      const wanted = isAlerts
        ? this.worker.wantsAlerts
        : this.worker.wantsKpiLevel(m.key?.toString('utf8').split(':', 1)[0] ?? '');
      if (!wanted) {
        skipped += 1;
        continue;
      }
      const where = { topic, partition, offset: m.offset };
      const source = `${topic}:${partition}:${m.offset}`;
      try {
        records.push(
          isAlerts
            ? { topic: 'alerts', value: await this.codec.decode(m.value, 'Alert', where), source }
            : { topic: 'kpis', value: await this.codec.decode(m.value, 'KpiUpdate', where), source },
        );
      } catch (err) {
        if (!isPosPulseError(err)) throw err;
        // The processor owns these topics (and its dead-letter handling); a record the API
        // cannot read is logged and counted, and stays on the topic.
        this.records?.inc({ topic, outcome: 'undecodable' });
        this.logger.warn({ code: err.code, ...where }, 'record the webhook feed cannot read: not delivered');
      }
    }
    await this.worker.accept(records);
    resolveOffset(batch.lastOffset());
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
    await heartbeat();
    this.records?.inc({ topic, outcome: 'read' }, records.length);
    if (skipped > 0) this.records?.inc({ topic, outcome: 'unwanted' }, skipped);
  }
}
