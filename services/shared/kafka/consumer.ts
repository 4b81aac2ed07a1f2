import type { Consumer, EachBatchPayload, IHeaders, Kafka, PartitionAssigner } from 'kafkajs';
import { DecodeError, KafkaError, isPosPulseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { counter, histogram, type Registry } from '../metrics.ts';
import type { RecordOf, SchemaName } from '../avro/types.generated.ts';
import { deadLetterMessage } from './dead-letter.ts';
import type { EventProducer, RecordCodec } from './producer.ts';

export interface ConsumedRecord<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  /** Kafka record timestamp, ms. */
  timestamp: number;
  headers: IHeaders;
}

/**
 * What to commit for a partition: the offset a restarted consumer reads from, and metadata stored
 * with it (e.g. a window checkpoint). A handler that must re-read records on restart commits an
 * offset before the end of its batch.
 */
export interface CommitPoint {
  offset: string;
  metadata?: string;
}

/** A partition's committed offset and its metadata, as the group coordinator holds them. */
export interface CommittedOffset {
  /** "-1" when the group never committed this partition. */
  offset: string;
  metadata: string | null;
}

export interface Subscription<N extends SchemaName> {
  topic: string;
  schema: N;
  /**
   * Handles the decoded records of one partition's batch, in offset order (possibly none, when
   * every record of the batch went to the dead-letter topic). The batch's offsets
   * are committed only after this resolves — the returned point, or the end of the batch; if it
   * throws, nothing is committed and the records are delivered again.
   */
  handle(
    records: ConsumedRecord<RecordOf<N>>[],
    partition: number,
    batch: BatchInfo,
  ): Promise<CommitPoint | void>;
}

/** Where a batch stands in its partition. */
export interface BatchInfo {
  /** Offset after the batch's last record. */
  nextOffset: string;
  /** The partition's high watermark when fetched: nextOffset = highWatermark means caught up. */
  highWatermark: string;
}

/** A subscription to any of the records; each keeps its own record type. */
export type AnySubscription = { [N in SchemaName]: Subscription<N> }[SchemaName];

export interface EventConsumerOptions {
  groupId: string;
  subscriptions: readonly AnySubscription[];
  /** Where undecodable records go, bytes untouched. */
  deadLetterTopic: string;
  fromBeginning?: boolean;
  metrics?: Registry;
  sessionTimeoutMs?: number;
  maxBytesPerPartition?: number;
  /**
   * How long a fetch waits for data on an idle topic. `stop()` waits for the fetch in flight,
   * so this bounds shutdown time too (kafkajs defaults to 5 s).
   */
  maxWaitTimeMs?: number;
  /**
   * Bytes a fetch waits for (up to `maxWaitTimeMs`) before the broker answers: with both set,
   * batches are "this many bytes or this much time", whichever comes first.
   */
  minBytes?: number;
  /** Called with the partitions this member owns after each (re)balance. */
  onAssignment?: (assigned: { topic: string; partitions: number[] }[]) => void;
  /** Replaces kafkajs's round-robin assignment (e.g. to keep partition p of every topic together). */
  partitionAssigners?: PartitionAssigner[];
}

/**
 * Batch consumer over a consumer group. Every record either reaches a handler or the dead-letter
 * topic before its offset is committed, so nothing is skipped silently; `stop()` lets the batch
 * in hand finish and commit before leaving the group.
 */
export class EventConsumer {
  private readonly consumer: Consumer;
  private readonly byTopic: Map<string, AnySubscription>;
  private readonly records;
  private readonly batchSeconds;
  private started = false;

  constructor(
    kafka: Kafka,
    private readonly codec: RecordCodec,
    private readonly deadLetters: EventProducer,
    private readonly logger: Logger,
    private readonly options: EventConsumerOptions,
  ) {
    this.byTopic = new Map(options.subscriptions.map((s) => [s.topic, s]));
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: options.sessionTimeoutMs ?? 30_000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
      maxWaitTimeInMs: options.maxWaitTimeMs ?? 500,
      minBytes: options.minBytes ?? 1,
      ...(options.partitionAssigners ? { partitionAssigners: options.partitionAssigners } : {}),
    });
    if (options.onAssignment) {
      const notify = options.onAssignment;
      this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
        notify(
          Object.entries(e.payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions })),
        );
      });
    }
    const registry = options.metrics;
    this.records = registry
      ? counter(registry, 'pospulse_consumer_records_total', 'Records consumed, by outcome.', [
          'topic',
          'outcome',
        ])
      : undefined;
    this.batchSeconds = registry
      ? histogram(
          registry,
          'pospulse_consumer_batch_seconds',
          'Time to decode and handle one batch.',
          ['topic'],
          [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
        )
      : undefined;
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      this.logger.error(
        { err: e.payload.error, restart: e.payload.restart, groupId: options.groupId },
        'consumer crashed',
      );
    });
  }

  async start(): Promise<void> {
    if (this.started) throw new KafkaError(`consumer ${this.options.groupId} already started`);
    this.started = true;
    try {
      await this.consumer.connect();
      await this.consumer.subscribe({
        topics: [...this.byTopic.keys()],
        fromBeginning: this.options.fromBeginning ?? false,
      });
      await this.consumer.run({
        eachBatchAutoResolve: false,
        // Offsets are committed explicitly after each batch (see handleBatch), with metadata.
        autoCommit: false,
        eachBatch: (payload) => this.handleBatch(payload),
      });
    } catch (err) {
      throw new KafkaError(`consumer ${this.options.groupId} could not start: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
      });
    }
  }

  private async handleBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary }: EachBatchPayload) {
    const { topic, partition } = batch;
    const sub = this.byTopic.get(topic);
    if (!sub || batch.messages.length === 0) return;
    const stopTimer = this.batchSeconds?.startTimer({ topic });
    // One subscription decodes into one record type; TypeScript cannot follow `sub.schema` into
    // `sub.handle`, so the array is typed as the subscription's handler expects.
    const decoded: ConsumedRecord<never>[] = [];
    let deadLettered = 0;
    for (const message of batch.messages) {
      try {
        if (message.value === null)
          throw new DecodeError('record has no value', { topic, partition, offset: message.offset });
        const value = await this.codec.decode(message.value, sub.schema, {
          topic,
          partition,
          offset: message.offset,
        });
        decoded.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key === null ? null : message.key.toString('utf8'),
          value: value as never,
          timestamp: Number(message.timestamp),
          headers: message.headers ?? {},
        });
      } catch (err) {
        if (!isPosPulseError(err)) throw err;
        // The dead-letter write is awaited before any offset is committed: a record that cannot
        // be decoded is parked, never dropped.
        await this.deadLetters.sendRaw(this.options.deadLetterTopic, [
          deadLetterMessage({ topic, partition, groupId: this.options.groupId }, message, err, Date.now()),
        ]);
        deadLettered += 1;
        this.logger.warn(
          {
            code: err.code,
            topic,
            partition,
            offset: message.offset,
            deadLetterTopic: this.options.deadLetterTopic,
          },
          'undecodable record sent to the dead-letter topic',
        );
      }
    }
    const nextOffset = (BigInt(batch.lastOffset()) + 1n).toString();
    // Called even when every record was dead-lettered, so a handler that commits its own point
    // (and metadata) keeps it.
    const point = await sub.handle(decoded, partition, { nextOffset, highWatermark: batch.highWatermark });
    // resolveOffset moves the fetch position; the commit says where a restart begins, which a
    // handler may set earlier than the batch's end.
    resolveOffset(batch.lastOffset());
    const commit = point ?? { offset: nextOffset };
    // The batch's own commit path: consumer.commitOffsets is skipped once stop() began, and stop()
    // waits for this batch precisely so that its commit happens.
    // kafkajs's type omits the partition's metadata, which its commit request does send.
    const partitions = [{ partition, offset: commit.offset, metadata: commit.metadata ?? null }];
    await commitOffsetsIfNecessary({ topics: [{ topic, partitions }] });
    await heartbeat();
    this.records?.inc({ topic, outcome: 'ok' }, decoded.length);
    if (deadLettered > 0) this.records?.inc({ topic, outcome: 'dead_letter' }, deadLettered);
    stopTimer?.();
  }

  /**
   * Commits one partition's offset (and metadata) for the group, for work done outside a batch.
   * A no-op once stop() began (kafkajs refuses commits then).
   */
  async commit(topic: string, partition: number, point: CommitPoint): Promise<void> {
    await this.consumer.commitOffsets([
      { topic, partition, offset: point.offset, metadata: point.metadata ?? null },
    ]);
  }

  /** Stops fetching one partition (a batch already fetched may still be handed over). */
  pause(topic: string, partition: number): void {
    this.consumer.pause([{ topic, partitions: [partition] }]);
  }

  resume(topic: string, partition: number): void {
    this.consumer.resume([{ topic, partitions: [partition] }]);
  }

  /** Waits for the batch in hand to be handled and committed, then leaves the group. */
  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
