import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Kafka } from 'kafkajs';
import { createAvroCodec, type AvroCodec } from '../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../services/shared/avro/config.ts';
import { createKafka } from '../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../services/shared/kafka/config.ts';
import { topicNames, type TopicNames } from '../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../services/shared/metrics.ts';
import { generateKey } from '../../../services/gateway/api-keys.ts';
import { parseGatewayConfig } from '../../../services/gateway/config.ts';
import { parseIsoConfig } from '../../../services/gateway/iso-config.ts';
import { startGateway, type RunningGateway } from '../../../services/gateway/server.ts';
import { uniqueName } from './kafka.ts';

export interface TestGateway {
  gateway: RunningGateway;
  kafka: Kafka;
  codec: AvroCodec;
  topics: TopicNames;
  /** Every log line the gateway wrote (JSON), for assertions on what reached the logs. */
  logs: string[];
  /** Keys by id: `acme` (merchants M0..M4, terminals T-SCOPED), `other` (merchant X only), `ops` (metrics). */
  keys: Record<'acme' | 'other' | 'ops', string>;
  auth(key?: 'acme' | 'other' | 'ops'): { authorization: string };
  close(): Promise<void>;
}

/** The secret of a fresh token key ring (`k1`), base64 of 32 random bytes. */
export function testTokenKeys(): string {
  return `k1:${randomBytes(32).toString('base64')}`;
}

/**
 * A gateway on free ports with its own topics (random prefix) on the test broker, its logs captured.
 * `env` overrides any GATEWAY_* / GATEWAY_ISO_* / KAFKA_* variable.
 */
export async function startTestGateway(
  brokers: string[],
  env: Record<string, string> = {},
): Promise<TestGateway> {
  const acme = generateKey('acme');
  const other = generateKey('other');
  const ops = generateKey('ops');
  const prefix = `${uniqueName('gw')}.`;
  const fullEnv = {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    GATEWAY_ID: 'gw-test',
    GATEWAY_PORT: '0',
    GATEWAY_ISO_PORT: '0',
    GATEWAY_TOKEN_KEYS: testTokenKeys(),
    GATEWAY_API_KEYS: JSON.stringify([
      {
        id: 'acme',
        key_sha256: acme.sha256,
        merchants: ['M0', 'M1', 'M2', 'M3', 'M4'],
        terminals: ['T-SCOPED'],
      },
      { id: 'other', key_sha256: other.sha256, merchants: ['X'] },
      { id: 'ops', key_sha256: ops.sha256, metrics: true },
    ]),
    ...env,
  };
  const logs: string[] = [];
  const logger = createLogger({
    service: 'gateway',
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    }),
  });
  const kafkaConfig = parseKafkaConfig(fullEnv);
  const kafka = createKafka(kafkaConfig, logger);
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const gateway = await startGateway(parseGatewayConfig(fullEnv), parseIsoConfig(fullEnv), {
    kafka,
    codec,
    logger,
    metrics: createMetricsRegistry('gateway', false),
    topics: { prefix, partitions: 3, replicationFactor: 1 },
  });
  const keys = { acme: acme.secret, other: other.secret, ops: ops.secret };
  return {
    gateway,
    kafka,
    codec,
    topics: topicNames(prefix),
    logs,
    keys,
    auth: (key = 'acme') => ({ authorization: `Bearer ${keys[key]}` }),
    close: () => gateway.close(),
  };
}
