import { parseAvroCodecConfig } from '../shared/avro/config.ts';
import { createAvroCodec } from '../shared/avro/codec.ts';
import { createKafka } from '../shared/kafka/client.ts';
import { parseKafkaConfig } from '../shared/kafka/config.ts';
import { createLogger, parseLoggingConfig } from '../shared/logger.ts';
import { createMetricsRegistry } from '../shared/metrics.ts';
import { parseGatewayConfig } from './config.ts';
import { parseIsoConfig } from './iso-config.ts';
import { startGateway } from './server.ts';

process.env['KAFKAJS_NO_PARTITIONER_WARNING'] ??= '1';
const logger = createLogger({ service: 'gateway', ...parseLoggingConfig(process.env) });

let configs;
try {
  configs = {
    gateway: parseGatewayConfig(process.env),
    iso: parseIsoConfig(process.env),
    kafka: parseKafkaConfig(process.env),
    avro: parseAvroCodecConfig(process.env),
  };
} catch (err) {
  logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
  process.exit(2);
}

const metrics = createMetricsRegistry('gateway');
const gateway = await startGateway(configs.gateway, configs.iso, {
  kafka: createKafka(configs.kafka, logger),
  codec: createAvroCodec(configs.avro),
  logger,
  metrics,
  compression: configs.kafka.compression,
  topics: {
    prefix: configs.kafka.topicPrefix,
    partitions: configs.kafka.partitions,
    replicationFactor: configs.kafka.replicationFactor,
  },
}).catch((err: unknown) => {
  logger.fatal({ err }, 'gateway could not start');
  process.exit(1);
});
logger.info(
  { http: gateway.httpUrl, iso8583: gateway.isoPort, gatewayId: configs.gateway.gatewayId },
  'gateway listening',
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, queued: gateway.publisher.depth }, 'gateway stopping: flushing events to Kafka');
  await gateway.close();
  logger.info('gateway stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
