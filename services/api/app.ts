import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController } from 'fastify';
import type { Store } from '../shared/clickhouse/store.ts';
import { probes } from '../shared/http/probes.ts';
import type { Logger } from '../shared/logger.ts';
import type { Registry } from '../shared/metrics.ts';
import { analystCredentialRoutes, type AnalystCredentialRoutesDeps } from './analyst-credential-routes.ts';
import { Authenticator, covers, type Principal, type Role } from './auth.ts';
import type { ApiConfig } from './config.ts';
import { DefinitionsTable } from '../shared/kpi/definitions-table.ts';
import { fleetRoutes } from './fleet-routes.ts';
import { kpiDefinitionRoutes } from './kpi-definition-routes.ts';
import { kpiRoutes } from './kpi-routes.ts';
import { reportRoutes } from './report-routes.ts';
import type { WebhookWorker } from './webhooks/delivery-worker.ts';
import { subscriptionRoutes } from './webhooks/subscription-routes.ts';
import type { SecretBox } from './webhooks/secret-box.ts';
import { SubscriptionStore } from './webhooks/subscription-store.ts';
import type { SubscriptionTables } from './webhooks/tables.ts';

export interface ApiAppDeps {
  logger: Logger;
  metrics: Registry;
  store: Pick<Store, 'query' | 'insert'>;
  tables: {
    kpi1m: string;
    terminalStatus: string;
    terminalStatusLatest: string;
    alerts: string;
    kpiDefinitions: string;
  };
  clock?: () => number;
  /** Analyst SQL credentials (`/v1/analyst-credentials…`, `/v1/sql`); main.ts always gives them. */
  analystCredentials?: AnalystCredentialRoutesDeps['credentials'];
  /** Subscriptions (`/v1/subscriptions…`); `worker`: this instance's webhook worker, if it runs one. */
  subscriptions?: {
    tables: SubscriptionTables;
    /** Seals the webhook secrets stored (API_SECRETS_KEY). */
    secrets: SecretBox;
    worker?: Pick<WebhookWorker, 'reload' | 'schedule'>;
  };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role the route needs; every route names one unless it is `public`. */
    role?: Role;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * The KPI API without listening: every route declares the role it needs (a route that does not
 * is refused when it is added), requests authenticate with an API key or a JWT, and the OpenAPI
 * document is generated from the route schemas (`/openapi.json`, a docs page at `/docs`).
 */
export function buildApiApp(
  deps: ApiAppDeps,
  config: Pick<ApiConfig, 'keys' | 'jwtSecret' | 'jwtIssuer' | 'jwtAudience' | 'maxBuckets'>,
) {
  const app = Fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  const auth = new Authenticator(
    config.keys ?? new Map(),
    config.jwtSecret === undefined
      ? undefined
      : { secret: config.jwtSecret, issuer: config.jwtIssuer, audience: config.jwtAudience },
  );
  /** Every route, for the sweep test and the docs. */
  const routes: { method: string; url: string; role: Role | 'public' }[] = [];

  app.addHook('onRoute', (route) => {
    const cfg = route.config as { role?: Role; public?: true } | undefined;
    // Routes the plugins add for themselves (swagger's static files, HEAD twins) describe the API only.
    const own =
      route.prefix.startsWith('/docs') || route.url.startsWith('/docs') || route.url === '/openapi.json';
    if (cfg?.role === undefined && cfg?.public !== true && !own)
      throw new Error(`route ${String(route.method)} ${route.url} declares neither a role nor public`);
    for (const method of [route.method].flat())
      routes.push({ method, url: route.url, role: cfg?.role ?? 'public' });
  });

  // On request, before the body is parsed or validated: an unauthenticated caller learns nothing
  // about a route's schema and costs no parsing.
  app.addHook('onRequest', async (request, reply) => {
    const needs = request.routeOptions.config.role;
    if (needs === undefined) return;
    const result = await auth.authenticate(request.headers.authorization);
    if (!result.ok)
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Bearer realm="pospulse-api"')
        .send({ errors: [{ code: result.code, message: result.message }] });
    if (!covers(result.principal.role, needs))
      return reply.code(403).send({
        errors: [
          {
            code: 'forbidden',
            message: `this needs the ${needs} role; the credentials have ${result.principal.role}`,
          },
        ],
      });
    request.principal = result.principal;
  });

  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'pospulse KPI API',
        version: '1',
        description: 'KPIs, terminals and alerts of a POS terminal fleet (docs/API.md).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  void app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  void app.register(
    probes({
      metrics: deps.metrics,
      ready: async () => {
        const ok = await deps.store
          .query('SELECT 1')
          .then(() => true)
          .catch(() => false);
        return { ready: ok, checks: { clickhouse: ok } };
      },
      tokens: [],
      authorize: async (header) => {
        const r = await auth.authenticate(header);
        return r.ok && covers(r.principal.role, 'admin');
      },
      realm: 'pospulse-api',
    }),
  );
  const definitions = new DefinitionsTable(deps.store, deps.tables.kpiDefinitions, deps.clock ?? Date.now);
  void app.register(kpiDefinitionRoutes({ definitions }));
  void app.register(fleetRoutes({ store: deps.store, tables: deps.tables, clock: deps.clock ?? Date.now }));
  void app.register(
    kpiRoutes({
      store: deps.store,
      tables: deps.tables,
      maxBuckets: config.maxBuckets,
      clock: deps.clock ?? Date.now,
      definitions,
    }),
  );
  if (deps.subscriptions !== undefined)
    void app.register(
      subscriptionRoutes({
        store: new SubscriptionStore(deps.store, deps.subscriptions.tables, deps.subscriptions.secrets),
        ...(deps.subscriptions.worker === undefined ? {} : { worker: deps.subscriptions.worker }),
        clock: deps.clock ?? Date.now,
      }),
    );
  void app.register(reportRoutes({ store: deps.store, tables: deps.tables, clock: deps.clock ?? Date.now }));
  if (deps.analystCredentials !== undefined)
    void app.register(analystCredentialRoutes({ credentials: deps.analystCredentials }));
  return { app, routes };
}
