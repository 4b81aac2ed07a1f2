import { Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '../logger.ts';
import type { KafkaConfig } from './config.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

function sasl(config: KafkaConfig): SASLOptions | undefined {
  if (config.saslMechanism === 'none') return undefined;
  // parseKafkaConfig guarantees both are set when a mechanism is chosen.
  const username = config.saslUsername ?? '';
  const password = config.saslPassword ?? '';
  return { mechanism: config.saslMechanism, username, password };
}

/** One kafkajs client per service, logging through the service's pino logger. */
export function createKafka(config: KafkaConfig, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: config.clientId,
    brokers: [...config.brokers],
    ssl: config.ssl,
    sasl: sasl(config),
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log[LEVELS[level] ?? 'info']({ kafka: rest }, message);
      },
  });
}
