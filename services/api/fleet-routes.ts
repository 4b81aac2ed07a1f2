import type { FastifyPluginAsync } from 'fastify';
import type { Store } from '../shared/clickhouse/store.ts';
import { queryKpis } from './kpi-query.ts';

export interface FleetRoutesDeps {
  store: Pick<Store, 'query'>;
  tables: { kpi1m: string; terminalStatusLatest: string; alerts: string };
  clock: () => number;
}

const STATUSES = ['ONLINE', 'DEGRADED', 'OFFLINE', 'UNKNOWN'];
const STATES = ['FIRING', 'RESOLVED'];
const LEVELS = ['TERMINAL', 'MERCHANT', 'REGION', 'ACQUIRER', 'FLEET', 'CARD'];

/** Time columns read as ms since the epoch, shown as RFC 3339. */
const TIME_COLUMNS = [
  'since',
  'last_seen_time',
  'last_heartbeat_time',
  'last_transaction_time',
  'updated_time',
];
const STATUS_SELECT = `terminal_serial, merchant_id, merchant_name, region, acquirer_id, latitude, longitude, status,
  reasons, paper_state, connection_type, battery_pct, signal_strength_dbm, offline_queue_length, firmware_version,
  app_version, reported_online, recent_tx_count, recent_decline_share, recent_timeout_share,
  ${TIME_COLUMNS.map((c) => `toUnixTimestamp64Milli(${c}) AS ${c}`).join(', ')}`;
const ALERT_TIMES = ['window_start', 'window_end', 'fired_time', 'resolved_time', 'updated_time'];
const ALERT_SELECT = `toString(alert_id) AS alert_id, rule, severity, state, entity_level, entity_id, summary, value,
  threshold, evidence, labels, ${ALERT_TIMES.map((c) => `toUnixTimestamp64Milli(${c}) AS ${c}`).join(', ')}`;

function withTimes(row: Record<string, unknown>, columns: readonly string[]): Record<string, unknown> {
  const out = { ...row };
  for (const c of columns) {
    const v = row[c];
    out[c] = v === null || v === undefined ? null : new Date(Number(v)).toISOString();
  }
  return out;
}

/** Opaque page cursors: the sort key of the last item, base64url. */
const cursor = {
  encode: (parts: readonly (string | number)[]) => Buffer.from(JSON.stringify(parts)).toString('base64url'),
  decode: (c: string): unknown[] | undefined => {
    try {
      const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
      return Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  },
};

/** Adds `column = {param}` to `where` for each query parameter given (parameter → column). */
function equalTo<Q extends object>(
  q: Q,
  columns: Partial<Record<keyof Q & string, string>>,
  where: string[],
  params: Record<string, unknown>,
): void {
  for (const [key, column] of Object.entries(columns) as [keyof Q & string, string][]) {
    if (q[key] === undefined) continue;
    where.push(`${column} = {${key}:String}`);
    params[key] = q[key];
  }
}

const badCursor = { errors: [{ code: 'bad_cursor', message: 'cursor is not one this API gave out' }] };
const limitSchema = { type: 'integer', minimum: 1, maximum: 1_000, default: 100 } as const;

/** `GET /v1/terminals/{serial}`, `GET /v1/terminals`, `GET /v1/alerts` (docs/API.md). */
export function fleetRoutes(deps: FleetRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { serial: string } }>(
      '/v1/terminals/:serial',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'One terminal: its live status, its KPIs over the last 15 minutes and its recent alerts',
          params: {
            type: 'object',
            properties: { serial: { type: 'string', maxLength: 64 } },
            required: ['serial'],
          },
        },
      },
      async (request, reply) => {
        const serial = request.params.serial;
        const [status] = await deps.store.query<Record<string, unknown>>(
          `SELECT ${STATUS_SELECT} FROM ${deps.tables.terminalStatusLatest} FINAL WHERE terminal_serial = {s:String}`,
          { s: serial },
        );
        if (status === undefined)
          return reply.code(404).send({
            errors: [{ code: 'unknown_terminal', message: `no terminal ${serial} has ever reported` }],
          });
        const now = deps.clock();
        const from = now - 15 * 60_000;
        const [kpis] = await queryKpis(
          deps.store,
          deps.tables.kpi1m,
          {
            level: 'TERMINAL',
            entityId: serial,
            from: Math.floor(from / 60_000) * 60_000,
            to: now,
            granularity: 'whole',
            metrics: ['count', 'approval_rate', 'decline_rate', 'timeout_rate', 'amount', 'latency_p95_ms'],
          },
          now,
        );
        const alerts = await deps.store.query<Record<string, unknown>>(
          `SELECT ${ALERT_SELECT} FROM ${deps.tables.alerts} FINAL
           WHERE entity_level = 'TERMINAL' AND entity_id = {s:String} ORDER BY fired_time DESC LIMIT 20`,
          { s: serial },
        );
        return {
          terminal: withTimes(status, TIME_COLUMNS),
          kpis_15m: {
            from: new Date(from).toISOString(),
            to: new Date(now).toISOString(),
            values: kpis?.values ?? null,
          },
          recent_alerts: alerts.map((a) => withTimes(a, ALERT_TIMES)),
        };
      },
    );

    app.get<{
      Querystring: {
        status?: string;
        region?: string;
        merchant?: string;
        acquirer?: string;
        limit: number;
        cursor?: string;
      };
    }>(
      '/v1/terminals',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Terminals by status, region, merchant or acquirer, by serial, a page at a time',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              status: { type: 'string', enum: STATUSES },
              region: { type: 'string', maxLength: 64 },
              merchant: { type: 'string', maxLength: 64 },
              acquirer: { type: 'string', maxLength: 64 },
              limit: limitSchema,
              cursor: { type: 'string', maxLength: 512 },
            },
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const after = q.cursor === undefined ? [''] : cursor.decode(q.cursor);
        if (after === undefined || typeof after[0] !== 'string') return reply.code(400).send(badCursor);
        const where = ['terminal_serial > {after:String}'];
        const params: Record<string, unknown> = { after: after[0], limit: q.limit + 1 };
        equalTo(
          q,
          { status: 'status', region: 'region', merchant: 'merchant_id', acquirer: 'acquirer_id' },
          where,
          params,
        );
        const rows = await deps.store.query<Record<string, unknown>>(
          `SELECT ${STATUS_SELECT} FROM ${deps.tables.terminalStatusLatest} FINAL
           WHERE ${where.join(' AND ')} ORDER BY terminal_serial LIMIT {limit:UInt32}`,
          params,
        );
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        return {
          terminals: page.map((r) => withTimes(r, TIME_COLUMNS)),
          next_cursor:
            rows.length > q.limit && last !== undefined
              ? cursor.encode([String(last['terminal_serial'])])
              : null,
        };
      },
    );

    app.get<{
      Querystring: {
        state?: string;
        rule?: string;
        level?: string;
        entity?: string;
        limit: number;
        cursor?: string;
      };
    }>(
      '/v1/alerts',
      {
        config: { role: 'viewer' },
        schema: {
          summary: 'Alerts, newest first, by state, rule or entity, a page at a time',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              state: { type: 'string', enum: STATES },
              rule: { type: 'string', maxLength: 64 },
              level: { type: 'string', enum: LEVELS },
              entity: { type: 'string', maxLength: 128 },
              limit: limitSchema,
              cursor: { type: 'string', maxLength: 512 },
            },
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        const where: string[] = [];
        const params: Record<string, unknown> = { limit: q.limit + 1 };
        if (q.cursor !== undefined) {
          const after = cursor.decode(q.cursor);
          if (after === undefined || typeof after[0] !== 'number' || typeof after[1] !== 'string')
            return reply.code(400).send(badCursor);
          // Newest first: fired earlier, or at the same time with a smaller id. (fired_time and
          // alert_id are the SELECT's aliases here: ms since the epoch and the id as text.)
          where.push('(fired_time, alert_id) < ({t:Int64}, {id:String})');
          params['t'] = after[0];
          params['id'] = after[1];
        }
        equalTo(
          q,
          { state: 'state', rule: 'rule', level: 'entity_level', entity: 'entity_id' },
          where,
          params,
        );
        const rows = await deps.store.query<Record<string, unknown>>(
          `SELECT ${ALERT_SELECT} FROM ${deps.tables.alerts} FINAL
           ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY fired_time DESC, alert_id DESC LIMIT {limit:UInt32}`,
          params,
        );
        const page = rows.slice(0, q.limit);
        const last = page.at(-1);
        return {
          alerts: page.map((r) => withTimes(r, ALERT_TIMES)),
          next_cursor:
            rows.length > q.limit && last !== undefined
              ? cursor.encode([Number(last['fired_time']), String(last['alert_id'])])
              : null,
        };
      },
    );
  };
}
