import type { FastifyPluginAsync } from 'fastify';
import { bearerToken, sameSecret } from '../bearer.ts';
import type { Registry } from '../metrics.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route that needs no role where routes otherwise do (the API): it checks its own access. */
    public?: true;
  }
}

export interface ProbeDeps {
  metrics: Registry;
  /** Whether the service can do its work now, and the checks behind the answer. */
  ready: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  /** Bearer tokens `/metrics` accepts… */
  tokens: readonly string[];
  /** …or, instead, who may read it (the API's roles). */
  authorize?: (authorization: string | undefined) => Promise<boolean>;
  /** WWW-Authenticate realm, e.g. `pospulse-processor`. */
  realm: string;
}

/** `/healthz` and `/readyz` (no auth, no data) and `/metrics` (bearer token), as a plugin. */
export function probes(deps: ProbeDeps): FastifyPluginAsync {
  return async (app) => {
    // `public`: no role (the API's routes otherwise need one); /metrics checks its own credentials.
    app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
    app.get('/readyz', { config: { public: true } }, async (_request, reply) => {
      const r = await deps.ready();
      return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', ...r.checks });
    });
    app.get('/metrics', { config: { public: true } }, async (request, reply) => {
      const token = bearerToken(request.headers.authorization);
      const allowed =
        deps.authorize !== undefined
          ? await deps.authorize(request.headers.authorization)
          : token !== undefined && deps.tokens.some((t) => sameSecret(token, t));
      if (!allowed)
        return reply
          .code(401)
          .header('WWW-Authenticate', `Bearer realm="${deps.realm}"`)
          .send({ error: { code: 'unauthorized', message: 'a valid bearer token is required' } });
      return reply.type(deps.metrics.contentType).send(await deps.metrics.metrics());
    });
  };
}
