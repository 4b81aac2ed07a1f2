import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { errorsSchema, problemSchema } from './problem-schemas.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import { reportCsv } from './report-csv.ts';
import { REPORT_CSP, reportHtml } from './report-html.ts';
import { PERIOD_KINDS, parseDate, reportPeriod, type PeriodKind } from './report-period.ts';
import {
  buildReport,
  entityKnown,
  type Problem,
  type ReportLevel,
  type ReportTables,
} from './report-query.ts';

export interface ReportRoutesDeps {
  store: Pick<Store, 'query'>;
  tables: ReportTables;
  clock: () => number;
}

const FORMATS = ['json', 'csv', 'html'] as const;
type Format = (typeof FORMATS)[number];

interface ReportQuerystring {
  merchant?: string;
  region?: string;
  acquirer?: string;
  fleet?: boolean;
  period?: PeriodKind;
  date?: string;
  format?: Format;
  top: number;
  min_transactions: number;
}

const ENTITY_PARAMS = [
  ['merchant', 'MERCHANT'],
  ['region', 'REGION'],
  ['acquirer', 'ACQUIRER'],
] as const;

const MEDIA: Record<string, Format> = {
  'application/json': 'json',
  'text/csv': 'csv',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
};

/** The format an Accept header prefers (q-values honoured); JSON when it names none we make. */
export function formatFromAccept(accept: string | undefined): Format {
  if (accept === undefined) return 'json';
  const ranked = accept
    .split(',')
    .map((part, i) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q === undefined ? 1 : Number(q.slice(2)), i };
    })
    .filter((m) => m.q > 0 && MEDIA[m.type] !== undefined)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return ranked[0] === undefined ? 'json' : (MEDIA[ranked[0].type] as Format);
}

/** Schema failures as the API's own codes: `bad_<parameter>`. */
function schemaProblem(request: FastifyRequest): Problem | undefined {
  const err = request.validationError as
    | (Error & { validation?: { instancePath: string; params: Record<string, unknown>; message?: string }[] })
    | undefined;
  if (err === undefined) return undefined;
  const first = err.validation?.[0];
  const param =
    (first?.params['missingProperty'] as string | undefined) ?? first?.instancePath.replace(/^\//, '') ?? '';
  const hints: Record<string, string> = {
    period: `period must be one of ${PERIOD_KINDS.join(', ')}`,
    format: `format must be one of ${FORMATS.join(', ')}`,
    top: 'top must be a whole number from 1 to 100',
    min_transactions: 'min_transactions must be a whole number from 1 to 1000000000',
    fleet: 'fleet must be true or false',
  };
  return {
    code: param === '' ? 'bad_request' : `bad_${param}`,
    message: hints[param] ?? `${param || 'query'}: ${first?.message ?? err.message}`,
  };
}
const loose = { type: 'object', additionalProperties: true } as const;
const looseList = { type: 'array', items: loose } as const;

/** `GET /v1/reports` (docs/API.md, "Reports"). */
export function reportRoutes(deps: ReportRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: ReportQuerystring }>(
      '/v1/reports',
      {
        config: { role: 'viewer' },
        // Schema failures reach the handler, which answers them with the API's error codes.
        attachValidation: true,
        schema: {
          summary:
            'A period report of one merchant, region or acquirer (or the fleet): KPIs and their trend, charts, worst terminals, decline reasons, alerts',
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['period'],
            properties: {
              merchant: { type: 'string', minLength: 1, maxLength: 64 },
              region: { type: 'string', minLength: 1, maxLength: 64 },
              acquirer: { type: 'string', minLength: 1, maxLength: 64 },
              fleet: { type: 'boolean', description: 'true: the whole fleet (instead of an entity)' },
              period: {
                type: 'string',
                enum: [...PERIOD_KINDS],
                description: 'UTC day, ISO week, calendar month',
              },
              date: {
                type: 'string',
                description: 'YYYY-MM-DD: the period containing this day; default: the last complete period',
              },
              format: {
                type: 'string',
                enum: [...FORMATS],
                description: 'default: from the Accept header (text/csv, text/html), else json',
              },
              top: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
              min_transactions: { type: 'integer', minimum: 1, maximum: 1_000_000_000, default: 20 },
            },
          },
          response: {
            200: {
              description: 'The report; CSV and HTML carry the same content (docs/API.md, "Reports")',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      entity: loose,
                      period: loose,
                      previous_period: loose,
                      generated_at: { type: 'string', format: 'date-time' },
                      kpis: loose,
                      amounts: looseList,
                      series: loose,
                      worst_terminals: loose,
                      decline_reasons: looseList,
                      alerts: loose,
                      warnings: { type: 'array', items: problemSchema },
                    },
                  },
                },
                'text/csv': { schema: { type: 'string' } },
                'text/html': { schema: { type: 'string' } },
              },
            },
            '4xx': errorsSchema,
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const now = deps.clock();
        const invalid = schemaProblem(request);
        if (invalid !== undefined) return reply.code(400).send({ errors: [invalid] });
        const errors: Problem[] = [];
        const given = ENTITY_PARAMS.filter(([p]) => q[p] !== undefined);
        if (given.length + (q.fleet === true ? 1 : 0) > 1)
          errors.push({
            code: 'too_many_entities',
            message: `give one of merchant, region, acquirer, fleet=true (got ${[
              ...given.map(([p]) => p),
              ...(q.fleet === true ? ['fleet'] : []),
            ].join(', ')})`,
          });
        else if (given.length === 0 && q.fleet !== true)
          errors.push({
            code: 'missing_entity',
            message: 'give one of merchant, region, acquirer, fleet=true',
          });
        const date = q.date === undefined ? undefined : parseDate(q.date);
        if (q.date !== undefined && date === undefined)
          errors.push({ code: 'bad_date', message: `date=${q.date}: not a real YYYY-MM-DD date` });
        const kind = q.period as PeriodKind;
        const period = reportPeriod(kind, date, now);
        if (period.from > now)
          errors.push({ code: 'bad_date', message: `the ${kind} ${period.label} has not started yet` });
        if (errors.length > 0) return reply.code(400).send({ errors });

        const [param, level] = given[0] ?? [undefined, 'FLEET' as ReportLevel];
        const entityId = param === undefined ? '*' : (q[param] as string);
        if (!(await entityKnown(deps.store, deps.tables, level, entityId)))
          return reply.code(404).send({
            errors: [
              {
                code: 'unknown_entity',
                message: `no ${level.toLowerCase()} ${entityId} has ever had a transaction or a terminal`,
              },
            ],
          });
        const report = await buildReport(
          deps.store,
          deps.tables,
          { level, entityId, period, top: q.top, minTransactions: q.min_transactions },
          now,
        );
        const format = q.format ?? formatFromAccept(request.headers.accept);
        const base =
          `pospulse-report-${level.toLowerCase()}-${entityId === '*' ? 'fleet' : entityId}-${period.label}`
            .replace(/[^A-Za-z0-9._-]/g, '_')
            .slice(0, 150);
        reply.header('vary', 'Accept');
        if (format === 'csv')
          return reply
            .header('content-type', 'text/csv; charset=utf-8; header=present')
            .header('content-disposition', `attachment; filename="${base}.csv"`)
            .send(reportCsv(report));
        if (format === 'html')
          return reply
            .header('content-type', 'text/html; charset=utf-8')
            .header('content-security-policy', REPORT_CSP)
            .header('x-content-type-options', 'nosniff')
            .header('content-disposition', `inline; filename="${base}.html"`)
            .send(reportHtml(report));
        return report;
      },
    );
  };
}
