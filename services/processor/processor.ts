import type { Kafka } from 'kafkajs';
import type { AvroCodec } from '../shared/avro/codec.ts';
import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import { EventConsumer, type ConsumedRecord } from '../shared/kafka/consumer.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import type { TopicNames } from '../shared/kafka/topics.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';
import type { ProcessorConfig } from './config.ts';
import { RawWriter } from './raw-writer.ts';

export interface ProcessorDeps {
  kafka: Kafka;
  codec: AvroCodec;
  store: Store;
  /** Dead letters and the processor's own outputs. */
  producer: EventProducer;
  topics: TopicNames;
  /** Fully qualified table names (`database.table`). */
  tables: { transactions: string; heartbeats: string };
  logger: Logger;
  metrics: Registry;
}

/**
 * Consumes transactions and heartbeats in one consumer group. Each fetch of a partition is handled
 * completely — raw rows, then everything derived from them — before its offsets are committed, so
 * a crash at any point replays work whose writes are idempotent, and nothing is skipped.
 */
export class Processor {
  private readonly consumer: EventConsumer;
  private readonly raw: RawWriter;
  private running = false;
  private readonly events;

  constructor(
    private readonly deps: ProcessorDeps,
    config: Pick<ProcessorConfig, 'groupId' | 'fetchMinBytes' | 'fetchMaxWaitMs'>,
  ) {
    this.raw = new RawWriter(deps.store, deps.tables);
    this.events = counter(
      deps.metrics,
      'pospulse_processor_events_total',
      'Events stored and processed, by type.',
      ['type'],
    );
    this.consumer = new EventConsumer(deps.kafka, deps.codec, deps.producer, deps.logger, {
      groupId: config.groupId,
      deadLetterTopic: deps.topics.deadLetter,
      fromBeginning: true,
      metrics: deps.metrics,
      minBytes: config.fetchMinBytes,
      maxWaitTimeMs: config.fetchMaxWaitMs,
      subscriptions: [
        {
          topic: deps.topics.transactions,
          schema: 'TransactionEvent',
          handle: (records) => this.onTransactions(records),
        },
        {
          topic: deps.topics.heartbeats,
          schema: 'TerminalHeartbeat',
          handle: (records) => this.onHeartbeats(records),
        },
      ],
    });
  }

  get isRunning(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    await this.consumer.start();
    this.running = true;
  }

  /** Finishes the fetch in hand (writes and commit), then leaves the group. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.stop();
  }

  private async onTransactions(records: ConsumedRecord<TransactionEvent>[]): Promise<void> {
    await this.raw.transactions(records);
    this.events.inc({ type: 'TransactionEvent' }, records.length);
  }

  private async onHeartbeats(records: ConsumedRecord<TerminalHeartbeat>[]): Promise<void> {
    await this.raw.heartbeats(records);
    this.events.inc({ type: 'TerminalHeartbeat' }, records.length);
  }
}
