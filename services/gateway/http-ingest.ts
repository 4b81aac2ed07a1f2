import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import { OverloadError, ShutdownError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';
import { canIngest, inScope, type ApiKey } from './api-keys.ts';
import type { GatewayConfig } from './config.ts';
import { BodyError, parseBody } from './http/body.ts';
import { REJECTION_REASONS } from './http/reasons.ts';
import { heartbeatInputSchema, transactionInputSchema } from './http/input-schema.ts';
import { validateHeartbeat, validateTransaction } from './http/validate.ts';
import { errorBodySchema, sendError } from './http-errors.ts';
import { EventRateLimiter } from './rate-limit.ts';
import type { EventSink, PublishItem } from './sink.ts';

export type IngestSink = EventSink;

export interface IngestDeps {
  sink: IngestSink;
  logger: Logger;
  metrics: Registry;
  refused: { inc(labels: { reason: string }): void };
  clock?: () => number;
}

type IngestConfig = Pick<
  GatewayConfig,
  | 'gatewayId'
  | 'tokenKeys'
  | 'maxBatch'
  | 'maxJsonDepth'
  | 'maxClockSkewMs'
  | 'maxEventAgeMs'
  | 'rateLimit'
  | 'rateBurst'
>;

/** One line of the reply, in request order. */
export interface EventResult {
  index: number;
  event_id: string | null;
  status: 'accepted' | 'duplicate' | 'rejected';
  code?: string;
  path?: string;
  message?: string;
}

const resultSchema = {
  type: 'object',
  required: ['index', 'event_id', 'status'],
  properties: {
    index: {
      type: 'integer',
      description: 'Position of the event in the request (0-based; NDJSON: line order without blank lines).',
    },
    event_id: { type: ['string', 'null'], description: 'The event_id sent, when it could be read.' },
    status: { type: 'string', enum: ['accepted', 'duplicate', 'rejected'] },
    code: {
      type: 'string',
      enum: Object.keys(REJECTION_REASONS),
      description: 'Why the event was rejected: a stable reason code (docs/INGEST.md).',
    },
    path: { type: 'string', description: 'JSON Pointer to the offending field ("" for the whole event).' },
    message: { type: 'string' },
  },
} as const;

const replySchema = {
  type: 'object',
  required: ['accepted', 'duplicates', 'rejected', 'results'],
  properties: {
    accepted: { type: 'integer', description: 'Events now on Kafka.' },
    duplicates: {
      type: 'integer',
      description: 'Events whose event_id was already on Kafka; not published again.',
    },
    rejected: { type: 'integer', description: 'Events refused; see their results.' },
    results: { type: 'array', items: resultSchema },
  },
} as const;

const KINDS = {
  transactions: {
    schema: 'TransactionEvent',
    input: transactionInputSchema,
    validate: validateTransaction,
    summary: 'Ingest transactions',
  },
  heartbeats: {
    schema: 'TerminalHeartbeat',
    input: heartbeatInputSchema,
    validate: validateHeartbeat,
    summary: 'Ingest terminal heartbeats',
  },
} as const;

type Kind = keyof typeof KINDS;

function idOf(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as Record<string, unknown>)['event_id'];
  return typeof id === 'string' && id.length <= 64 ? id : null;
}

/**
 * `POST /v1/transactions` and `POST /v1/heartbeats`: one event, a JSON array or NDJSON. Every event
 * is validated on its own, so a batch with bad events still publishes the good ones; the reply has
 * one result per event, in order, and is sent only after Kafka acknowledged the accepted ones.
 */
export function registerIngestRoutes(app: FastifyInstance, deps: IngestDeps, config: IngestConfig): void {
  const clock = deps.clock ?? Date.now;
  const limiter = new EventRateLimiter(config.rateBurst, clock);
  const events = counter(
    deps.metrics,
    'pospulse_gateway_events_total',
    'Events received over HTTP, by type, outcome (accepted, duplicate, rejected) and rejection reason.',
    ['type', 'outcome', 'reason'],
  );
  const dropped = counter(
    deps.metrics,
    'pospulse_gateway_sensitive_fields_dropped_total',
    'Card data fields (track data, CVV, PIN block, expiry) received and dropped, by field.',
    ['field'],
  );

  // Bodies are read as bytes and parsed per event (see http/body.ts): fastify's JSON parser would
  // refuse a whole batch for one bad NDJSON line, and would hide invalid UTF-8.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  for (const kind of Object.keys(KINDS) as Kind[]) {
    const spec = KINDS[kind];
    app.post(
      `/v1/${kind}`,
      {
        schema: {
          summary: spec.summary,
          description: `One ${spec.schema} (JSON object), a JSON array of them, or NDJSON (one per line). The reply has one result per event in request order; accepted events are on Kafka when it is sent.`,
          body: {
            content: {
              'application/json': {
                schema: {
                  oneOf: [spec.input, { type: 'array', items: spec.input, maxItems: config.maxBatch }],
                },
              },
              'application/x-ndjson': { schema: spec.input },
            },
          },
          response: {
            200: replySchema,
            400: errorBodySchema,
            401: errorBodySchema,
            403: errorBodySchema,
            408: errorBodySchema,
            413: errorBodySchema,
            415: errorBodySchema,
            429: errorBodySchema,
            503: errorBodySchema,
          },
        },
        // The schema above documents the body; validation is per event, by the handler.
        validatorCompiler: () => () => true,
      },
      async (request, reply) => ingest(kind, request, reply),
    );
  }

  async function ingest(kind: Kind, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const key = request.apiKey as ApiKey;
    if (!canIngest(key)) {
      deps.refused.inc({ reason: 'forbidden' });
      return sendError(
        reply,
        403,
        'forbidden',
        `key ${key.id} has no merchants or terminals to send events for`,
      );
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    let items;
    try {
      ({ items } = parseBody(body, request.headers['content-type'], {
        maxEvents: config.maxBatch,
        maxDepth: config.maxJsonDepth,
      }));
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      deps.refused.inc({ reason: err.code });
      return sendError(reply, err.status, err.code, err.message);
    }

    const waitMs = limiter.take(key.id, items.length, key.ratePerSecond ?? config.rateLimit);
    if (waitMs > 0) {
      deps.refused.inc({ reason: 'rate_limited' });
      reply.header('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
      return sendError(reply, 429, 'rate_limited', `key ${key.id} is over its rate of events per second`);
    }

    const spec = KINDS[kind];
    const ctx = {
      now: clock(),
      maxClockSkewMs: config.maxClockSkewMs,
      maxEventAgeMs: config.maxEventAgeMs,
      gatewayId: config.gatewayId,
      tokenKeys: config.tokenKeys,
    };
    const results: EventResult[] = [];
    const publish: PublishItem[] = [];
    const publishIndex: number[] = [];
    items.forEach((item, index) => {
      const eventId = item.ok ? idOf(item.value) : null;
      const outcome = item.ok ? spec.validate(item.value, ctx) : item;
      if (!outcome.ok) {
        results.push({ index, event_id: eventId, status: 'rejected', ...outcome.rejection });
        return;
      }
      const event = outcome.event as TransactionEvent & TerminalHeartbeat;
      if (!inScope(key, event.merchant_id, event.terminal_serial)) {
        results.push({
          index,
          event_id: event.event_id,
          status: 'rejected',
          code: 'out_of_scope',
          path: event.merchant_id === null ? '/terminal_serial' : '/merchant_id',
          message: `key ${key.id} may not send events for this merchant or terminal`,
        });
        return;
      }
      for (const field of outcome.dropped) dropped.inc({ field });
      results.push({ index, event_id: event.event_id, status: 'accepted' });
      publishIndex.push(index);
      publish.push(
        kind === 'transactions'
          ? { schema: 'TransactionEvent', eventId: event.event_id, key: event.terminal_serial, value: event }
          : {
              schema: 'TerminalHeartbeat',
              eventId: event.event_id,
              key: event.terminal_serial,
              value: event,
            },
      );
    });

    if (publish.length > 0) {
      try {
        const outcomes = await deps.sink.publish(publish);
        outcomes.forEach((o, i) => {
          const r = results[publishIndex[i] as number];
          if (r) r.status = o;
        });
      } catch (err) {
        if (err instanceof OverloadError || err instanceof ShutdownError) {
          const retryAfter = err instanceof OverloadError ? Math.ceil(err.retryAfterMs / 1000) : 5;
          deps.refused.inc({
            reason: err instanceof OverloadError ? `overloaded_${err.reason}` : 'shutting_down',
          });
          reply.header('Retry-After', String(Math.max(1, retryAfter)));
          return sendError(
            reply,
            503,
            err instanceof OverloadError ? 'overloaded' : 'shutting_down',
            `${err.message}; none of the ${publish.length} valid events is acknowledged, retry with the same event_ids`,
          );
        }
        throw err;
      }
    }

    // One counter update per distinct outcome, not per event: label lookups are the costly part.
    const counts = { accepted: 0, duplicates: 0, rejected: 0 };
    const tally = new Map<string, number>();
    for (const r of results) {
      if (r.status === 'accepted') counts.accepted++;
      else if (r.status === 'duplicate') counts.duplicates++;
      else counts.rejected++;
      const label = `${r.status}:${r.code ?? ''}`;
      tally.set(label, (tally.get(label) ?? 0) + 1);
    }
    for (const [label, n] of tally) {
      const colon = label.indexOf(':');
      events.inc({ type: spec.schema, outcome: label.slice(0, colon), reason: label.slice(colon + 1) }, n);
    }
    if (counts.rejected > 0)
      request.log.info(
        {
          key: key.id,
          type: spec.schema,
          ...counts,
          reasons: [...new Set(results.map((r) => r.code).filter(Boolean))],
        },
        'events rejected',
      );
    return reply.code(200).send({ ...counts, results });
  }
}
