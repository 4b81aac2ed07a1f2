import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { PosPulseError } from '../errors.ts';

/** Headers a dead-letter record carries besides the original ones; documented in docs/KAFKA.md. */
export const DLQ_HEADERS = {
  topic: 'pp-dlq-source-topic',
  partition: 'pp-dlq-source-partition',
  offset: 'pp-dlq-source-offset',
  timestamp: 'pp-dlq-source-timestamp',
  code: 'pp-dlq-error-code',
  error: 'pp-dlq-error',
  consumerGroup: 'pp-dlq-consumer-group',
  time: 'pp-dlq-time',
} as const;

/** The original record, bytes untouched, with headers saying where it came from and why it failed. */
export function deadLetterMessage(
  source: { topic: string; partition: number; groupId: string },
  message: KafkaMessage,
  error: PosPulseError,
  now: number,
): { key: Buffer | null; value: Buffer | null; headers: IHeaders } {
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...message.headers,
      [DLQ_HEADERS.topic]: source.topic,
      [DLQ_HEADERS.partition]: String(source.partition),
      [DLQ_HEADERS.offset]: message.offset,
      [DLQ_HEADERS.timestamp]: message.timestamp,
      [DLQ_HEADERS.code]: error.code,
      // Messages of decode errors describe framing, never field contents, so they are safe to keep.
      [DLQ_HEADERS.error]: error.message.slice(0, 1000),
      [DLQ_HEADERS.consumerGroup]: source.groupId,
      [DLQ_HEADERS.time]: String(now),
    },
  };
}
