/**
 * Helpers for integration tests that need Kafka. The broker comes from test/integration/global-setup.ts
 * (`KAFKA_BROKERS`, or a throw-away broker it starts).
 *
 *   describeKafka('my consumer', () => { ... kafkaBrokers() ... uniqueName('orders') ... });
 *
 * Without a broker, `describeKafka` suites are skipped locally but still run (and fail) under CI, so
 * a missing broker can never turn a CI run green.
 */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { describe, inject } from 'vitest';

/** Same rule as global-setup.ts: `CI=true` (or `CI=1`) means Kafka is mandatory. */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

// kafkajs 2.x warns about its partitioner change on every producer it creates.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const provided = inject('kafkaBrokers');

/** True when global setup provided a broker. */
export const hasKafka: boolean = typeof provided === 'string' && provided.trim() !== '';

/** The bootstrap brokers (`host:port`). Throws when there is none: always under CI, else misuse. */
export function kafkaBrokers(): string[] {
  if (!hasKafka) {
    if (isCI) throw new Error('Kafka is required under CI, but global setup provided no broker');
    throw new Error('No Kafka broker available; wrap Kafka tests in describeKafka so they skip');
  }
  return (provided as string)
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
}

/** `describe` when a broker is there or under CI (where kafkaBrokers() then fails loudly), else skipped. */
export const describeKafka = describe.skipIf(!hasKafka && !isCI);

/**
 * `prefix` plus a random suffix, for per-test topics and consumer groups. Kafka topic names allow
 * `[a-zA-Z0-9._-]` (max 249 chars); keep the prefix within that.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export interface RawRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/**
 * Every record of `topic` up to its current end, as raw bytes: for assertions on exactly what is
 * on the broker (e.g. searching for card numbers), not on what a decoder makes of it.
 */
export async function readTopic(kafka: Kafka, topic: string, timeoutMs = 30_000): Promise<RawRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) ends.set(p.partition, BigInt(p.high));
  } finally {
    await admin.disconnect();
  }
  const remaining = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const records: RawRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({ groupId: uniqueName('read-topic'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `readTopic ${topic}: partitions ${[...remaining].join(',')} not read within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const high = ends.get(partition) ?? 0n;
            if (BigInt(message.offset) < high)
              records.push({
                partition,
                offset: message.offset,
                key: message.key,
                value: message.value,
                headers: message.headers ?? {},
              });
            if (BigInt(message.offset) + 1n >= high && remaining.delete(partition) && remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
