import { randomBytes } from 'node:crypto';
import { parseAvroCodecConfig } from '../shared/avro/config.ts';
import { createAvroCodec } from '../shared/avro/codec.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { parseKafkaConfig } from '../shared/kafka/config.ts';
import { topicNames } from '../shared/kafka/topics.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { buildLiveApp } from './app.ts';
import { parseLiveConfig } from './config.ts';
import { LiveFeed } from './feed.ts';

const logger = createLogger({ service: 'live', ...parseLoggingConfig(process.env) });

let configs;
try {
  configs = {
    live: parseLiveConfig(process.env),
    kafka: parseKafkaConfig(process.env),
    avro: parseAvroCodecConfig(process.env),
  };
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const metrics = createMetricsRegistry('live');
const topics = topicNames(configs.kafka.topicPrefix);
const { app, handlers } = buildLiveApp(
  // Called once listening, when `feed` exists.
  { logger, metrics, epoch: randomBytes(6).toString('hex'), rebuilt: () => feed.rebuilt },
  configs.live,
);
const feed = new LiveFeed(
  createKafka(configs.kafka, logger),
  createAvroCodec(configs.avro),
  { terminalStatus: topics.terminalStatus, kpiUpdates: topics.kpiUpdates, alerts: topics.alerts },
  handlers,
  { kpiLookbackMs: 15 * 60_000, recentAlerts: 50 },
  logger,
  metrics,
);

try {
  await app.listen({ host: configs.live.host, port: configs.live.port });
  await feed.start();
} catch (err) {
  logger.fatal({ err }, 'live could not start');
  process.exit(1);
}
logger.info(
  { url: `http://${configs.live.host}:${configs.live.port}` },
  'live listening; rebuilding the fleet',
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'live stopping: closing connections');
  await app.close();
  await feed.stop();
  logger.info('live stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
