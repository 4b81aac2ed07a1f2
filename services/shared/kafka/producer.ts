import {
  CompressionTypes,
  Partitioners,
  type IHeaders,
  type Kafka,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import { KafkaError, ShutdownError, isPosPulseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { AvroCodec } from '../avro/codec.ts';
import type { RecordOf, SchemaName } from '../avro/types.generated.ts';
import { DEFAULT_MAX_SEND_BYTES, chunkBySize, type WireMessage } from './send-chunks.ts';

/** What the bus needs of a codec (a narrower type lets unit tests pass a fake). */
export type RecordCodec = Pick<AvroCodec, 'encode' | 'decode'>;

export interface OutgoingRecord<T> {
  /** Partition key: the terminal serial for events, so one terminal's events stay in order. */
  key: string;
  value: T;
  headers?: IHeaders;
  /** Kafka timestamp in ms; the broker's time when omitted. */
  timestamp?: number;
}

export interface RawMessage {
  key: Buffer | string | null;
  value: Buffer | null;
  headers?: IHeaders;
}

/**
 * Idempotent producer with acks=all: a send resolves only once every in-sync replica has the
 * records, and a retried send never writes a record twice. One request in flight keeps the
 * broker's sequence numbers in order, which kafkajs's (experimental) idempotence relies on.
 */
export class EventProducer {
  private readonly producer: Producer;
  private closing = false;

  private readonly compression: CompressionTypes;
  private readonly maxSendBytes: number;

  constructor(
    kafka: Kafka,
    private readonly codec: RecordCodec,
    private readonly logger: Logger,
    options: { compression?: 'none' | 'gzip'; maxSendBytes?: number } = {},
  ) {
    this.maxSendBytes = options.maxSendBytes ?? DEFAULT_MAX_SEND_BYTES;
    this.compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async connect(): Promise<void> {
    try {
      await this.producer.connect();
    } catch (err) {
      throw new KafkaError(`producer could not connect: ${(err as Error).message}`, {
        cause: err,
        retryable: true,
      });
    }
  }

  /**
   * Encodes and sends records, in order, in as many requests as keep each under the broker's
   * message size; throws EncodeError before anything is sent if one is invalid.
   */
  async send<N extends SchemaName>(
    topic: string,
    schema: N,
    records: readonly OutgoingRecord<RecordOf<N>>[],
  ): Promise<RecordMetadata[]> {
    const messages = await Promise.all(
      records.map(async (r) => ({
        key: r.key,
        value: await this.codec.encode(schema, r.value, topic),
        headers: r.headers,
        timestamp: r.timestamp === undefined ? undefined : String(r.timestamp),
      })),
    );
    return this.sendMessages(topic, messages);
  }

  /** Sends bytes as they are (dead-letter records, replays). */
  async sendRaw(topic: string, messages: readonly RawMessage[]): Promise<RecordMetadata[]> {
    return this.sendMessages(
      topic,
      messages.map((m) => ({ ...m })),
    );
  }

  private async sendMessages(topic: string, messages: WireMessage[]): Promise<RecordMetadata[]> {
    if (this.closing)
      throw new ShutdownError(`producer is closing; ${messages.length} records to ${topic} not sent`);
    if (messages.length === 0) return [];
    try {
      const out: RecordMetadata[] = [];
      // One after the other: a key's records keep their order, as they would in one request.
      for (const chunk of chunkBySize(messages, this.maxSendBytes))
        out.push(
          ...(await this.producer.send({ topic, messages: chunk, acks: -1, compression: this.compression })),
        );
      return out;
    } catch (err) {
      if (isPosPulseError(err)) throw err;
      const retriable = (err as { retriable?: boolean }).retriable ?? true;
      throw new KafkaError(
        `send of ${messages.length} records to ${topic} failed: ${(err as Error).message}`,
        {
          cause: err,
          retryable: retriable,
        },
      );
    }
  }

  /** Refuses new sends, waits for those in flight, then disconnects. */
  async disconnect(): Promise<void> {
    this.closing = true;
    await this.producer.disconnect();
    this.logger.debug('producer disconnected');
  }
}
