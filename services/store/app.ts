import Fastify, { LogController } from 'fastify';
import type { Logger } from '../shared/logger.ts';
import { counter, histogram, gauge, type Registry } from '../shared/metrics.ts';
import type { Engine } from './engine.ts';
import { HttpInterface } from './http-interface.ts';
import type { IssuedUsers } from './issued-users.ts';
import { authenticate, basicCredentials } from './users.ts';
import type { StoreConfig } from './config.ts';

/** Longest request line plus headers accepted, as ClickHouse's http_max_uri_size. */
export const MAX_URL_BYTES = 1024 * 1024;

export interface StoreDeps {
  engine: Engine;
  /** Users created over SQL (embedded.ts loads them from the data directory). */
  issuedUsers: IssuedUsers;
  logger: Logger;
  metrics: Registry;
}

/**
 * The store: the ClickHouse HTTP interface at `/` over the embedded engine, plus `/ping`,
 * `/healthz`, `/readyz` (no data, no auth, as probes need) and `/metrics` (authenticated).
 */
export function buildStore(
  deps: StoreDeps,
  config: Pick<StoreConfig, 'users' | 'maxQueryBytes' | 'maxInsertBytes' | 'maxQueued' | 'queueTimeoutMs'>,
) {
  const { engine, logger, metrics } = deps;
  const queries = counter(
    metrics,
    'pospulse_store_queries_total',
    'Queries served, by user, statement kind and outcome.',
    ['user', 'kind', 'outcome'],
  );
  const seconds = histogram(
    metrics,
    'pospulse_store_query_seconds',
    'Query time including queueing.',
    ['kind'],
    [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
  );
  const busy = gauge(
    metrics,
    'pospulse_store_connections_busy',
    'Engine sessions running a query, by pool.',
    ['pool'],
  );
  const queued = gauge(
    metrics,
    'pospulse_store_requests_queued',
    'Requests waiting for a session, by pool.',
    ['pool'],
  );
  const iface = new HttpInterface({
    engine,
    users: config.users,
    issued: deps.issuedUsers,
    logger,
    maxQueryBytes: config.maxQueryBytes,
    maxInsertBytes: config.maxInsertBytes,
    maxQueued: config.maxQueued,
    queueTimeoutMs: config.queueTimeoutMs,
    onQuery: ({ user, kind, ok, seconds: s }) => {
      queries.inc({ user, kind: kind || 'unknown', outcome: ok ? 'ok' : 'error' });
      seconds.observe({ kind: kind || 'unknown' }, s);
    },
  });

  // No per-request log lines: URLs carry SQL and may carry a `password` parameter. Failures are
  // logged by the interface with their code, without the query text.
  const app = Fastify({
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Query parameters travel in the URL (@clickhouse/client sends them there): a lookup of a
    // batch's card tokens can take hundreds of kilobytes. ClickHouse's own limit is 1 MiB
    // (http_max_uri_size); Node's 16 KiB default answered such a query 431.
    http: { maxHeaderSize: MAX_URL_BYTES },
  });

  // The ClickHouse interface takes the request before fastify parses anything: bodies are
  // streamed (to the engine or to disk), in whatever content type a client sends.
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (
      path !== '/' ||
      (request.method === 'GET' && !new URL(request.url, 'http://s').searchParams.has('query'))
    )
      return;
    if (request.method !== 'GET' && request.method !== 'POST' && request.method !== 'HEAD') return;
    reply.hijack();
    await iface.handle(request.raw, reply.raw);
  });

  // ClickHouse answers a bare GET / with "Ok." so load balancers can probe it.
  app.get('/', async () => 'Ok.\n');
  app.get('/ping', async () => 'Ok.\n');
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ok = await engine.ready();
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', engine: engine.version });
  });
  app.get('/metrics', async (request, reply) => {
    const creds = basicCredentials(request.headers.authorization);
    const user = creds ? authenticate(config.users, creds) : undefined;
    if (!user)
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Basic realm="pospulse-store"')
        .send({ error: 'authentication required' });
    for (const p of engine.poolStats) {
      busy.set({ pool: p.key }, p.busy);
      queued.set({ pool: p.key }, p.queued);
    }
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });

  app.addHook('onClose', async () => {
    await iface.close();
  });
  return app;
}
