import { parseAvroCodecConfig } from '../shared/avro/config.ts';
import { createAvroCodec } from '../shared/avro/codec.ts';
import { parseClickHouseConfig } from '../shared/clickhouse/config.ts';
import { createStore } from '../shared/clickhouse/store.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { parseKafkaConfig } from '../shared/kafka/config.ts';
import { topicNames } from '../shared/kafka/topics.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { processorTables } from '../processor/tables.ts';
import { AlertFeed } from './alert-feed.ts';
import { AlertmanagerForwarder } from './alertmanager.ts';
import { buildApiApp } from './app.ts';
import { parseApiConfig } from './config.ts';

const logger = createLogger({ service: 'api', ...parseLoggingConfig(process.env) });

let configs;
try {
  const api = parseApiConfig(process.env);
  configs = {
    api,
    clickhouse: parseClickHouseConfig(process.env),
    // Kafka only feeds the Alertmanager forwarder.
    kafka: api.alertmanagerUrl === undefined ? undefined : parseKafkaConfig(process.env),
    avro: parseAvroCodecConfig(process.env),
  };
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const store = createStore(configs.clickhouse);
const tables = processorTables(configs.clickhouse.database);
const { app } = buildApiApp(
  {
    logger,
    metrics: createMetricsRegistry('api'),
    store,
    tables,
  },
  configs.api,
);
let forwarding: { forwarder: AlertmanagerForwarder; feed: AlertFeed } | undefined;
try {
  await app.listen({ host: configs.api.host, port: configs.api.port });
  const kafkaConfig = configs.kafka;
  if (configs.api.alertmanagerUrl !== undefined && kafkaConfig !== undefined) {
    const forwarder = new AlertmanagerForwarder(
      {
        url: configs.api.alertmanagerUrl,
        resendMs: configs.api.alertmanagerResendMs,
        generatorUrl: `http://${configs.api.host}:${configs.api.port}/v1/alerts`,
      },
      logger,
    );
    const feed = new AlertFeed(
      createKafka(kafkaConfig, logger),
      createAvroCodec(configs.avro),
      topicNames(kafkaConfig.topicPrefix).alerts,
      forwarder,
      logger,
    );
    await feed.start(store, tables.alerts);
    forwarder.start();
    forwarding = { forwarder, feed };
  }
} catch (err) {
  logger.fatal({ err }, 'api could not start');
  process.exit(1);
}
logger.info({ url: `http://${configs.api.host}:${configs.api.port}`, docs: '/docs' }, 'api listening');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'api stopping');
  await app.close();
  await forwarding?.feed.stop();
  await forwarding?.forwarder.stop();
  await store.close();
  logger.info('api stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
