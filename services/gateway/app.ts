import Fastify, {
  LogController,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
} from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';
import { authenticateKey, presentedKey, type ApiKey } from './api-keys.ts';
import type { GatewayConfig } from './config.ts';
import { registerIngestRoutes, type IngestSink } from './http-ingest.ts';
import { sendError } from './http-errors.ts';

export interface GatewayDeps {
  sink: IngestSink;
  logger: Logger;
  metrics: Registry;
  /** Whether Kafka answers now (the readiness probe). */
  kafkaReady: () => Promise<boolean>;
  clock?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKey | null;
  }
}

/** fastify's own errors that clients should be able to tell apart, as our stable codes. */
const FASTIFY_CODES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
};

/** Routes that answer without a key: orchestrator probes, which carry no data. */
const PUBLIC = new Set(['/healthz', '/readyz']);

/**
 * The gateway's HTTP side: authenticated ingest of transactions and heartbeats (see
 * http-ingest.ts), the OpenAPI document built from the route schemas, probes and metrics.
 * Built without listening; main.ts adds the ISO 8583 listener and the Kafka publisher.
 */
export function buildGateway(
  deps: GatewayDeps,
  config: Pick<
    GatewayConfig,
    | 'apiKeys'
    | 'gatewayId'
    | 'tokenKeys'
    | 'maxBodyBytes'
    | 'maxBatch'
    | 'maxJsonDepth'
    | 'maxClockSkewMs'
    | 'maxEventAgeMs'
    | 'rateLimit'
    | 'rateBurst'
    | 'requestTimeoutMs'
  > & { serverFactory?: FastifyServerFactory },
) {
  const { logger, metrics } = deps;
  const refused = counter(
    metrics,
    'pospulse_gateway_requests_refused_total',
    'Whole requests refused before any event was published, by reason.',
    ['reason'],
  );

  // No request logging by fastify: bodies hold card data, headers hold keys. Outcomes are logged
  // by the routes without either.
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: true,
    ...(config.serverFactory ? { serverFactory: config.serverFactory } : {}),
    // The default would pass a proxy's X-Forwarded-For through as the client; keep the socket peer.
    trustProxy: false,
  });
  app.decorateRequest('apiKey', null);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = err.statusCode ?? 500;
    const code =
      FASTIFY_CODES[err.code ?? ''] ??
      (status === 408 ? 'request_timeout' : status < 500 ? 'bad_request' : 'internal_error');
    refused.inc({ reason: code });
    if (status >= 500) request.log.error({ err }, 'request failed');
    const message =
      code === 'body_too_large'
        ? `the body is larger than ${config.maxBodyBytes} bytes (GATEWAY_MAX_BODY_BYTES)`
        : status >= 500
          ? 'internal error'
          : err.message;
    return sendError(reply, status, code, message);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`),
  );

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '';
    if (PUBLIC.has(path)) return;
    const key = authenticateKey(config.apiKeys, presentedKey(request.headers));
    if (!key) {
      refused.inc({ reason: 'unauthorized' });
      reply.header('WWW-Authenticate', 'Bearer realm="pospulse-gateway"');
      return sendError(
        reply,
        401,
        'unauthorized',
        'a valid API key is required (Authorization: Bearer <key> or X-API-Key)',
      );
    }
    request.apiKey = key;
  });

  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'pospulse gateway',
        version: '1',
        description:
          'Ingest of POS terminal transactions and heartbeats. Every event is validated, tokenized (no PAN is kept) and acknowledged only once Kafka has it. See docs/INGEST.md and docs/GATEWAY.md.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKeyHeader: [] }],
    },
  });

  app.register(async (scope) => {
    registerIngestRoutes(scope, { ...deps, refused }, config);
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const kafka = await deps.kafkaReady().catch(() => false);
    return reply.code(kafka ? 200 : 503).send({ status: kafka ? 'ready' : 'not ready', kafka });
  });
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (!request.apiKey?.metrics)
      return sendError(reply, 403, 'forbidden', `key ${request.apiKey?.id ?? ''} may not read metrics`);
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
  return app;
}
