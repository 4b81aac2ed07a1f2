import { parseAvroCodecConfig } from '../shared/avro/config.ts';
import { createAvroCodec } from '../shared/avro/codec.ts';
import { LOCAL_STORE_URL, parseClickHouseConfig } from '../shared/clickhouse/config.ts';
import { createStore } from '../shared/clickhouse/store.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { parseKafkaConfig } from '../shared/kafka/config.ts';
import { topicNames } from '../shared/kafka/topics.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { processorTables } from '../processor/tables.ts';
import { AlertFeed } from './alert-feed.ts';
import { AlertmanagerForwarder } from './alertmanager.ts';
import { AnalystCredentials } from './analyst-credentials.ts';
import { buildApiApp } from './app.ts';
import { parseApiConfig } from './config.ts';
import { WebhookWorker } from './webhooks/delivery-worker.ts';
import { SecretBox } from './webhooks/secret-box.ts';
import { SubscriptionStore } from './webhooks/subscription-store.ts';
import { subscriptionTables } from './webhooks/tables.ts';
import { parseWebhookConfig } from './webhooks/webhook-config.ts';
import { WebhookFeed } from './webhooks/webhook-feed.ts';

const logger = createLogger({ service: 'api', ...parseLoggingConfig(process.env) });

let configs;
try {
  const api = parseApiConfig(process.env);
  const webhooks = parseWebhookConfig(process.env);
  configs = {
    api,
    webhooks,
    clickhouse: parseClickHouseConfig(process.env),
    // Kafka only feeds the Alertmanager forwarder and the webhook worker.
    kafka: api.alertmanagerUrl === undefined && !webhooks.enabled ? undefined : parseKafkaConfig(process.env),
    avro: parseAvroCodecConfig(process.env),
  };
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const store = createStore(configs.clickhouse);
const tables = processorTables(configs.clickhouse.database);
const metrics = createMetricsRegistry('api');
const subTables = subscriptionTables(configs.clickhouse.database);
const secrets = new SecretBox(configs.api.secretsKey);
// One instance only should run it (API_WEBHOOKS): see WebhookWorker.
const worker = configs.webhooks.enabled
  ? new WebhookWorker(
      { store: new SubscriptionStore(store, subTables, secrets), logger, metrics },
      configs.webhooks,
    )
  : undefined;
const { app } = buildApiApp(
  {
    logger,
    metrics,
    subscriptions: { tables: subTables, secrets, ...(worker === undefined ? {} : { worker }) },
    store,
    tables,
    analystCredentials: new AnalystCredentials({
      store,
      table: tables.analystCredentials,
      database: configs.clickhouse.database,
      clickhouseUrl: configs.api.analystClickhouseUrl ?? configs.clickhouse.url ?? LOCAL_STORE_URL,
      clock: Date.now,
    }),
  },
  configs.api,
);
let forwarding: { forwarder: AlertmanagerForwarder; feed: AlertFeed } | undefined;
let webhookFeed: WebhookFeed | undefined;
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
  if (worker !== undefined && kafkaConfig !== undefined) {
    await worker.start();
    webhookFeed = new WebhookFeed(
      createKafka(kafkaConfig, logger),
      createAvroCodec(configs.avro),
      worker,
      logger,
      {
        groupId: configs.webhooks.group,
        topics: topicNames(kafkaConfig.topicPrefix),
        metrics,
      },
    );
    await webhookFeed.start();
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
  // The feed first: its batch in hand is stored and committed before the worker stops.
  await webhookFeed?.stop();
  await worker?.stop();
  await store.close();
  logger.info('api stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
