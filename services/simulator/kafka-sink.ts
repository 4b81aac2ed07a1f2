import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import { EncodeError, ShutdownError, isPosPulseError } from '../shared/errors.ts';
import type { EventProducer, OutgoingRecord } from '../shared/kafka/producer.ts';
import type { TopicNames } from '../shared/kafka/topics.ts';
import type { TokenKeys } from '../gateway/card-data.ts';
import { heartbeatRecord, transactionRecord, type SimEvent } from './events.ts';
import { emptyStats, sleep, type Sink, type SinkStats } from './sink.ts';

/**
 * Publishes events straight to Kafka, as the gateway would: Avro records (the shared codec, via the
 * idempotent EventProducer) keyed by terminal serial on the transactions and heartbeats topics. The
 * card number is turned into the gateway's token, BIN and last 4 here (same HMAC, same key ring)
 * and never reaches the topic. `ingest_channel` is KAFKA; `gateway_id` names the simulator;
 * `gateway_received_time` is the report time plus a small ingest lag, so backfilled data keeps its
 * simulated timeline.
 */

export interface KafkaSinkOptions {
  producer: Pick<EventProducer, 'send'>;
  topics: Pick<TopicNames, 'transactions' | 'heartbeats'>;
  /** The gateway's key ring (GATEWAY_TOKEN_KEYS), so tokens match events that came through it. */
  tokenKeys: TokenKeys;
  /** @default 'simulator' */
  gatewayId?: string;
  /** Records per produce request. @default 1000 */
  batchSize?: number;
  /** Tries of a produce request that failed for a retryable reason. @default 5 */
  maxAttempts?: number;
  /** @default 25 ms */
  ingestLagMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Releases the producer (main.ts disconnects it); tests may leave it out. */
  onClose?: () => Promise<void>;
}

export class KafkaSink implements Sink {
  readonly name = 'kafka';
  private readonly s: SinkStats = emptyStats();
  private readonly gatewayId: string;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly lag: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: KafkaSinkOptions) {
    this.gatewayId = options.gatewayId ?? 'simulator';
    this.batchSize = options.batchSize ?? 1_000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.lag = options.ingestLagMs ?? 25;
    this.sleep = options.sleep ?? ((ms) => sleep(ms));
  }

  stats(): SinkStats {
    return structuredClone(this.s);
  }

  /** The records this sink publishes for `events` (exposed for tests and harnesses). */
  records(events: readonly SimEvent[]): {
    transactions: OutgoingRecord<TransactionEvent>[];
    heartbeats: OutgoingRecord<TerminalHeartbeat>[];
  } {
    const transactions: OutgoingRecord<TransactionEvent>[] = [];
    const heartbeats: OutgoingRecord<TerminalHeartbeat>[] = [];
    for (const ev of events) {
      const ctx = { gatewayId: this.gatewayId, channel: 'KAFKA' as const, receivedTime: ev.time + this.lag };
      if (ev.kind === 'transaction') {
        transactions.push({
          key: ev.fields.terminal_serial,
          value: transactionRecord(ev.fields, { ...ctx, tokenKeys: this.options.tokenKeys }),
        });
      } else {
        heartbeats.push({ key: ev.fields.terminal_serial, value: heartbeatRecord(ev.fields, ctx) });
      }
    }
    return { transactions, heartbeats };
  }

  async send(events: readonly SimEvent[]): Promise<void> {
    const { transactions, heartbeats } = this.records(events);
    for (let i = 0; i < heartbeats.length; i += this.batchSize) {
      await this.produce(
        this.options.topics.heartbeats,
        'TerminalHeartbeat',
        heartbeats.slice(i, i + this.batchSize),
      );
    }
    for (let i = 0; i < transactions.length; i += this.batchSize) {
      await this.produce(
        this.options.topics.transactions,
        'TransactionEvent',
        transactions.slice(i, i + this.batchSize),
      );
    }
    this.s.sent.heartbeats += heartbeats.length;
    this.s.sent.transactions += transactions.length;
  }

  private async produce<N extends 'TransactionEvent' | 'TerminalHeartbeat'>(
    topic: string,
    schema: N,
    records: OutgoingRecord<N extends 'TransactionEvent' ? TransactionEvent : TerminalHeartbeat>[],
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.producer.send(topic, schema, records as never);
        this.s.accepted += records.length;
        return;
      } catch (err) {
        const message = `${topic}: ${(err as Error).message}`;
        if (err instanceof ShutdownError) {
          this.s.failed += records.length;
          this.s.lastError = message;
          throw err;
        }
        // An EncodeError is a simulator bug (a field out of its schema): retrying cannot help.
        const retryable = isPosPulseError(err) && err.retryable && !(err instanceof EncodeError);
        if (!retryable || attempt >= this.maxAttempts) {
          this.s.failed += records.length;
          this.s.lastError = attempt > 1 ? `${message} (gave up after ${attempt} tries)` : message;
          return;
        }
        await this.sleep(Math.min(10_000, 250 * 2 ** attempt));
      }
    }
  }

  async close(): Promise<void> {
    await this.options.onClose?.();
  }
}
