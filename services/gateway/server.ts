import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from 'kafkajs';
import type { AvroCodec } from '../shared/avro/codec.ts';
import { EventProducer } from '../shared/kafka/producer.ts';
import { ensureTopics, topicNames, type TopicLayout } from '../shared/kafka/topics.ts';
import type { Logger } from '../shared/logger.ts';
import type { Registry } from '../shared/metrics.ts';
import { buildGateway } from './app.ts';
import type { GatewayConfig } from './config.ts';
import type { IsoConfig } from './iso-config.ts';
import { Iso8583Listener } from './iso8583-listener.ts';
import { Publisher } from './publisher.ts';
import { loadTerminalRegistry } from './terminal-registry.ts';

export interface GatewayRuntimeDeps {
  kafka: Kafka;
  codec: AvroCodec;
  logger: Logger;
  metrics: Registry;
  topics: TopicLayout;
  /** Compression of produced batches (KAFKA_COMPRESSION). */
  compression?: 'none' | 'gzip';
}

export interface RunningGateway {
  /** The fastify app (tests use `app.inject()`). */
  app: ReturnType<typeof buildGateway>;
  httpUrl: string;
  /** Port of the ISO 8583 listener; null when it is disabled. */
  isoPort: number | null;
  publisher: Publisher;
  /** Stop accepting (HTTP and TCP), flush what was taken to Kafka, disconnect. */
  close(): Promise<void>;
}

/** How long the readiness probe waits for Kafka before calling it unreachable. */
const READY_TIMEOUT_MS = 2_000;

/**
 * The whole gateway, listening: producer and publisher, the HTTP API, the ISO 8583 listener. Used by
 * main.ts and by integration tests (which pass port 0).
 */
export async function startGateway(
  config: GatewayConfig,
  iso: IsoConfig,
  deps: GatewayRuntimeDeps,
): Promise<RunningGateway> {
  const { kafka, codec, logger, metrics } = deps;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, deps.topics, logger);
  const names = topicNames(deps.topics.prefix);
  const producer = new EventProducer(kafka, codec, logger, { compression: deps.compression ?? 'none' });
  await producer.connect();

  const publisher = new Publisher({
    producer,
    topics: { transactions: names.transactions, heartbeats: names.heartbeats },
    logger,
    metrics,
    maxQueued: config.queueMax,
    maxBatch: config.produceBatch,
    timeoutMs: config.publishTimeoutMs,
    dedupeWindowMs: config.dedupeWindowMs,
    dedupeMaxEntries: config.dedupeMaxIds,
    retryAfterMs: 1_000,
  });

  const kafkaReady = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
    });
    try {
      return await Promise.race([admin.describeCluster().then((c) => c.brokers.length > 0), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };

  const app = buildGateway(
    { sink: publisher, logger, metrics, kafkaReady },
    {
      ...config,
      // Node checks request deadlines on this interval (30 s by default), which would let a
      // slow-body client hold a socket well past GATEWAY_REQUEST_TIMEOUT.
      serverFactory: (handler) =>
        createServer(
          {
            requestTimeout: config.requestTimeoutMs,
            headersTimeout: Math.min(config.requestTimeoutMs, 60_000),
            connectionsCheckingInterval: Math.max(100, Math.min(1_000, config.requestTimeoutMs / 4)),
          },
          handler,
        ),
    },
  );
  await app.listen({ host: config.host, port: config.port });
  const httpPort = (app.server.address() as AddressInfo).port;

  let listener: Iso8583Listener | undefined;
  let isoPort: number | null = null;
  if (iso.enabled) {
    listener = new Iso8583Listener({
      sink: publisher,
      logger: logger.child({ component: 'iso8583' }),
      metrics,
      gatewayId: config.gatewayId,
      tokenKeys: config.tokenKeys,
      registry: loadTerminalRegistry(iso.terminalsFile),
      config: iso,
    });
    isoPort = (await listener.listen(iso.port, iso.host)).port;
  }

  let closed: Promise<void> | undefined;
  return {
    app,
    httpUrl: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${httpPort}`,
    isoPort,
    publisher,
    close: () =>
      (closed ??= (async () => {
        // Stop taking new work first; requests in flight still get their answer.
        await Promise.all([app.close(), listener?.close()]);
        await publisher.close(config.shutdownTimeoutMs);
        await producer.disconnect();
        await admin.disconnect();
      })()),
  };
}
