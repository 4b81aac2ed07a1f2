import Fastify, { LogController } from 'fastify';
import { bearerToken, sameSecret } from '../shared/bearer.ts';
import type { Logger } from '../shared/logger.ts';
import type { Registry } from '../shared/metrics.ts';

export interface ProcessorAppDeps {
  logger: Logger;
  metrics: Registry;
  /** Kafka consumer running and ClickHouse answering. */
  ready: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

/** The processor's HTTP side: probes (no auth, no data) and `/metrics` (bearer token). */
export function buildProcessorApp(deps: ProcessorAppDeps, config: { metricsToken: string }) {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const r = await deps.ready();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', ...r.checks });
  });
  app.get('/metrics', async (request, reply) => {
    const token = bearerToken(request.headers.authorization);
    if (token === undefined || !sameSecret(token, config.metricsToken))
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Bearer realm="pospulse-processor"')
        .send({ error: { code: 'unauthorized', message: 'a valid bearer token is required' } });
    return reply.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });
  return app;
}
