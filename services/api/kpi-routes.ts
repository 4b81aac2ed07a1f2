import type { FastifyPluginAsync } from 'fastify';
import { problemSchema } from './problem-schemas.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { DefinitionsTable, StoredDefinition } from '../shared/kpi/definitions-table.ts';
import {
  GRANULARITIES,
  METRICS,
  queryKpis,
  type EntityLevel,
  type Granularity,
  type Metric,
} from './kpi-query.ts';

export interface KpiRoutesDeps {
  store: Pick<Store, 'query'>;
  tables: { kpi1m: string; terminalStatus: string };
  maxBuckets: number;
  clock: () => number;
  /** User-defined KPIs, asked for by name like built-in metrics. */
  definitions: Pick<DefinitionsTable, 'list'>;
}

interface KpiQuerystring {
  terminal?: string;
  merchant?: string;
  region?: string;
  acquirer?: string;
  from?: string;
  to?: string;
  metric?: string;
  granularity?: Granularity;
}

interface Problem {
  code: string;
  message: string;
}

const ENTITY_PARAMS = [
  ['terminal', 'TERMINAL'],
  ['merchant', 'MERCHANT'],
  ['region', 'REGION'],
  ['acquirer', 'ACQUIRER'],
] as const;

const DEFAULT_METRICS: readonly Metric[] = ['count', 'approval_rate', 'amount', 'tps', 'latency_p95_ms'];

/** An RFC 3339 time or milliseconds since the epoch. */
function parseTime(v: string): number | undefined {
  const t = /^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}
/** `GET /v1/kpis` (docs/API.md). */
export function kpiRoutes(deps: KpiRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: KpiQuerystring }>(
      '/v1/kpis',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'KPIs of one terminal, merchant, region or acquirer (or the fleet) per time bucket',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              terminal: { type: 'string', maxLength: 64 },
              merchant: { type: 'string', maxLength: 64 },
              region: { type: 'string', maxLength: 64 },
              acquirer: { type: 'string', maxLength: 64 },
              from: {
                type: 'string',
                description: 'RFC 3339 or ms since the epoch; default: `to` minus 1 hour',
              },
              to: { type: 'string', description: 'RFC 3339 or ms since the epoch (exclusive); default: now' },
              metric: {
                type: 'string',
                description: `comma-separated: ${METRICS.join(', ')}, or the name of a KPI definition`,
              },
              granularity: { type: 'string', enum: Object.keys(GRANULARITIES), default: '1m' },
            },
          },
          response: {
            '2xx': {
              type: 'object',
              properties: {
                request: { type: 'object', additionalProperties: true },
                buckets: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      start: { type: 'string', format: 'date-time' },
                      end: { type: 'string', format: 'date-time' },
                      complete: { type: 'boolean' },
                      values: { type: 'object', additionalProperties: true },
                    },
                  },
                },
                warnings: { type: 'array', items: problemSchema },
                errors: { type: 'array', items: problemSchema },
              },
            },
            '4xx': {
              type: 'object',
              properties: {
                request: { type: 'object', additionalProperties: true },
                buckets: { type: 'array', maxItems: 0 },
                warnings: { type: 'array', items: problemSchema },
                errors: { type: 'array', items: problemSchema },
              },
            },
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const now = deps.clock();
        const errors: Problem[] = [];
        const warnings: Problem[] = [];
        const given = ENTITY_PARAMS.filter(([p]) => q[p] !== undefined);
        if (given.length > 1)
          errors.push({
            code: 'too_many_entities',
            message: `give at most one of terminal, merchant, region, acquirer (got ${given.map(([p]) => p).join(', ')})`,
          });
        const [param, level] = given[0] ?? [undefined, 'FLEET' as EntityLevel];
        const entityId = param === undefined ? '*' : (q[param] as string);
        const to = q.to === undefined ? now : parseTime(q.to);
        const from = q.from === undefined ? (to ?? now) - 3_600_000 : parseTime(q.from);
        if (to === undefined)
          errors.push({ code: 'bad_time', message: `to=${q.to}: not RFC 3339 nor ms since the epoch` });
        if (from === undefined)
          errors.push({ code: 'bad_time', message: `from=${q.from}: not RFC 3339 nor ms since the epoch` });
        const granularity = q.granularity ?? '1m';
        const g = GRANULARITIES[granularity];
        if (from !== undefined && to !== undefined) {
          if (from >= to) errors.push({ code: 'bad_time', message: 'from must be before to' });
          else if (Math.ceil((to - from) / g) > deps.maxBuckets)
            errors.push({
              code: 'range_too_large',
              message: `${Math.ceil((to - from) / g)} buckets of ${granularity}; at most ${deps.maxBuckets}: narrow the range or coarsen the granularity`,
            });
        }
        const asked =
          q.metric === undefined ? [...DEFAULT_METRICS] : q.metric.split(',').map((m) => m.trim());
        const notBuiltIn = asked.filter((m) => !(METRICS as readonly string[]).includes(m));
        const defined: ReadonlyMap<string, StoredDefinition> =
          notBuiltIn.length === 0 ? new Map() : await deps.definitions.list();
        const unknown = notBuiltIn.filter((m) => !defined.has(m));
        if (unknown.length > 0)
          errors.push({
            code: 'unknown_metric',
            message: `unknown metric ${unknown.join(', ')}; known: ${METRICS.join(', ')}${defined.size > 0 ? `, ${[...defined.keys()].join(', ')}` : ''} (and /v1/kpi-definitions)`,
          });
        const echo = {
          level,
          entity: entityId,
          from: from === undefined ? q.from : new Date(from).toISOString(),
          to: to === undefined ? q.to : new Date(to).toISOString(),
          granularity,
          metrics: asked,
        };
        if (errors.length > 0) return reply.code(400).send({ request: echo, buckets: [], warnings, errors });

        const buckets = await queryKpis(
          deps.store,
          deps.tables.kpi1m,
          {
            level,
            entityId,
            from: from as number,
            to: to as number,
            granularity,
            metrics: asked.filter((m) => !defined.has(m)) as Metric[],
            formulas: [...defined.values()]
              .filter((d) => notBuiltIn.includes(d.definition.name))
              .map((d) => ({ name: d.definition.name, parsed: d.definition.parsed })),
          },
          now,
        );
        if (buckets.length === 0 && level === 'TERMINAL') {
          const [row] = await deps.store.query<{ n: string | number }>(
            `SELECT count() AS n FROM ${deps.tables.terminalStatus} WHERE terminal_serial = {s:String}`,
            { s: entityId },
          );
          if (Number(row?.n ?? 0) === 0)
            return reply.code(404).send({
              request: echo,
              buckets: [],
              warnings,
              errors: [{ code: 'unknown_terminal', message: `no terminal ${entityId} has ever reported` }],
            });
        }
        const open = buckets.filter((b) => !b.complete).length;
        if (open > 0)
          warnings.push({
            code: 'window_open',
            message: `${open} bucket(s) still open: their values are partial and will grow`,
          });
        if (buckets.length === 0) warnings.push({ code: 'no_data', message: 'no transactions in the range' });
        return {
          request: echo,
          buckets: buckets.map((b) => ({
            ...b,
            start: new Date(b.start).toISOString(),
            end: new Date(b.end).toISOString(),
          })),
          warnings,
          errors,
        };
      },
    );
  };
}
