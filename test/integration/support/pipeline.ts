import type { Kafka } from 'kafkajs';
import type { AvroCodec } from '../../../services/shared/avro/codec.ts';
import { runMigrations } from '../../../services/shared/clickhouse/migrations.ts';
import type { Store } from '../../../services/shared/clickhouse/store.ts';
import { EventProducer } from '../../../services/shared/kafka/producer.ts';
import { ensureTopics } from '../../../services/shared/kafka/topics.ts';
import type { Logger } from '../../../services/shared/logger.ts';
import { openTestStore, type TestStore } from './store.ts';

/**
 * What a processor test stands on: the store with the migrations applied to the test's database,
 * the test's topics (`prefix`), and a connected producer. The caller closes `test` and disconnects
 * `producer`.
 */
export async function openPipeline(opts: {
  kafka: Kafka;
  codec: AvroCodec;
  logger: Logger;
  prefix: string;
  db: string;
  partitions?: number;
}): Promise<{ test: TestStore; store: Store; producer: EventProducer }> {
  const test = await openTestStore();
  await runMigrations(test.store, { database: opts.db, rawTtlDays: 90 });
  const admin = opts.kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, {
      prefix: opts.prefix,
      partitions: opts.partitions ?? 3,
      replicationFactor: 1,
    });
  } finally {
    await admin.disconnect();
  }
  const producer = new EventProducer(opts.kafka, opts.codec, opts.logger);
  await producer.connect();
  return { test, store: test.store, producer };
}
