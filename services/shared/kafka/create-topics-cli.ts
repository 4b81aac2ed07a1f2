import { parseLoggingConfig, createLogger } from '../logger.ts';
import { createKafka } from './client.ts';
import { parseKafkaConfig } from './config.ts';
import { ensureTopics } from './topics.ts';

// Creates the pospulse topics on the brokers named by KAFKA_BROKERS (idempotent) and prints what it did.
const logger = createLogger({ service: 'topics', ...parseLoggingConfig(process.env) });
const config = parseKafkaConfig(process.env);
const admin = createKafka(config, logger).admin();
try {
  await admin.connect();
  const report = await ensureTopics(admin, {
    prefix: config.topicPrefix,
    partitions: config.partitions,
    replicationFactor: config.replicationFactor,
  });
  logger.info(report, 'topics ready');
} finally {
  await admin.disconnect();
}
