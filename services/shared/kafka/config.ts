import { ConfigError } from '../errors.ts';
import { bool, duration, int, list, oneOf, optionalStr, parseConfig, str, type Env } from '../config.ts';

export const kafkaSpec = {
  brokers: list({
    key: 'KAFKA_BROKERS',
    doc: 'Bootstrap brokers, host:port, comma-separated.',
    default: ['127.0.0.1:9092'],
    item: /^[^\s:,]+:\d{1,5}$/,
  }),
  clientId: str({
    key: 'KAFKA_CLIENT_ID',
    doc: 'Client id sent to the brokers (shows in broker logs and quotas).',
    default: 'pospulse',
  }),
  topicPrefix: str({
    key: 'KAFKA_TOPIC_PREFIX',
    doc: 'Prefix of every pospulse topic name (e.g. `pospulse.transactions`).',
    default: 'pospulse.',
    pattern: /^[A-Za-z0-9._-]*$/,
  }),
  partitions: int({
    key: 'KAFKA_TOPIC_PARTITIONS',
    doc: 'Partitions of the event topics when pospulse creates them (upper bound on consumer parallelism).',
    default: 6,
    min: 1,
    max: 10_000,
  }),
  replicationFactor: int({
    key: 'KAFKA_REPLICATION_FACTOR',
    doc: 'Replication factor of the topics pospulse creates; 3 on a production cluster.',
    default: 1,
    min: 1,
    max: 16,
  }),
  connectionTimeoutMs: duration({
    key: 'KAFKA_CONNECTION_TIMEOUT',
    doc: 'Time limit to open a connection to a broker.',
    default: 3_000,
    min: 100,
  }),
  requestTimeoutMs: duration({
    key: 'KAFKA_REQUEST_TIMEOUT',
    doc: 'Time limit of one request to a broker.',
    default: 30_000,
    min: 100,
  }),
  compression: oneOf({
    key: 'KAFKA_COMPRESSION',
    doc: 'Compression of produced batches (gzip trades CPU for network; Avro is already compact).',
    default: 'none',
    values: ['none', 'gzip'] as const,
  }),
  ssl: bool({ key: 'KAFKA_SSL', doc: 'Connect to the brokers over TLS.', default: false }),
  saslMechanism: oneOf({
    key: 'KAFKA_SASL_MECHANISM',
    doc: 'SASL mechanism for broker authentication.',
    default: 'none',
    values: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'] as const,
  }),
  saslUsername: optionalStr({
    key: 'KAFKA_SASL_USERNAME',
    doc: 'SASL user (required when KAFKA_SASL_MECHANISM is set).',
  }),
  saslPassword: optionalStr({
    key: 'KAFKA_SASL_PASSWORD',
    doc: 'SASL password (required when KAFKA_SASL_MECHANISM is set).',
  }),
} as const;

export type KafkaConfig = ReturnType<typeof parseKafkaConfig>;

export function parseKafkaConfig(env: Env) {
  const config = parseConfig(kafkaSpec, env);
  if (config.saslMechanism !== 'none') {
    if (config.saslUsername === undefined)
      throw new ConfigError(
        'KAFKA_SASL_USERNAME',
        undefined,
        `a user name when KAFKA_SASL_MECHANISM=${config.saslMechanism}`,
      );
    if (config.saslPassword === undefined)
      throw new ConfigError(
        'KAFKA_SASL_PASSWORD',
        undefined,
        `a password when KAFKA_SASL_MECHANISM=${config.saslMechanism}`,
      );
  }
  return config;
}
