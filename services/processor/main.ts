import { KpiDefinitionsSource } from './kpi-definitions-source.ts';
import { parseAvroCodecConfig } from '../shared/avro/config.ts';
import { createAvroCodec } from '../shared/avro/codec.ts';
import { parseClickHouseConfig } from '../shared/clickhouse/config.ts';
import { createStore } from '../shared/clickhouse/store.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { parseKafkaConfig } from '../shared/kafka/config.ts';
import { EventProducer } from '../shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../shared/kafka/topics.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { counter, createMetricsRegistry } from '../shared/metrics.ts';
import { buildProcessorApp } from './app.ts';
import { parseProcessorConfig } from './config.ts';
import { Processor } from './processor.ts';
import { RulesSource } from './detection/rules-file.ts';
import { RULE_DEFINITIONS } from './detection/rules/index.ts';
import { processorTables } from './tables.ts';

process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';
const logger = createLogger({ service: 'processor', ...parseLoggingConfig(process.env) });

let configs;
try {
  configs = {
    processor: parseProcessorConfig(process.env),
    kafka: parseKafkaConfig(process.env),
    avro: parseAvroCodecConfig(process.env),
    clickhouse: parseClickHouseConfig(process.env),
  };
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const metrics = createMetricsRegistry('processor');
const rulesReloads = counter(
  metrics,
  'pospulse_processor_rules_reloads_total',
  'Rules file reloads, by outcome (applied, refused).',
  ['outcome'],
);
let rules: RulesSource;
try {
  rules = await RulesSource.open(configs.processor.rulesFile, RULE_DEFINITIONS, logger, (outcome) =>
    rulesReloads.inc({ outcome }, 1),
  );
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}
const kafka = createKafka(configs.kafka, logger);
const codec = createAvroCodec(configs.avro);
const store = createStore(configs.clickhouse);
const producer = new EventProducer(kafka, codec, logger, { compression: configs.kafka.compression });
const layout = {
  prefix: configs.kafka.topicPrefix,
  partitions: configs.kafka.partitions,
  replicationFactor: configs.kafka.replicationFactor,
};
const db = configs.clickhouse.database;
const processor = new Processor(
  {
    kafka,
    codec,
    store,
    producer,
    topics: topicNames(layout.prefix),
    tables: processorTables(db),
    rules,
    definitions: new KpiDefinitionsSource(
      store,
      processorTables(db).kpiDefinitions,
      configs.processor.kpiDefinitionsRefreshMs,
      logger,
      metrics,
    ),
    logger,
    metrics,
  },
  configs.processor,
);

const app = buildProcessorApp(
  {
    logger,
    metrics,
    ready: async () => {
      const checks = { kafka: processor.isRunning, clickhouse: await store.ping() };
      return { ready: checks.kafka && checks.clickhouse, checks };
    },
  },
  configs.processor,
);

try {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, layout, logger);
  await admin.disconnect();
  await producer.connect();
  await processor.start();
  await app.listen({ host: configs.processor.host, port: configs.processor.port });
} catch (err) {
  logger.fatal({ err }, 'processor could not start');
  process.exit(1);
}
logger.info({ groupId: configs.processor.groupId, database: db }, 'processor running');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'processor stopping: finishing the batch in hand');
  await processor.stop();
  await app.close();
  await producer.disconnect();
  await store.close();
  logger.info('processor stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
