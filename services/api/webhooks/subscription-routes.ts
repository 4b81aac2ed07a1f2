import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { FilterError, parseSubscriptionFilter } from '../../shared/subscription-filter.ts';
import type { WebhookWorker } from './delivery-worker.ts';
import {
  DELIVERY_STATES,
  type Attempt,
  type Delivery,
  type DeliveryState,
  type StoredSubscription,
  type SubscriptionStore,
} from './subscription-store.ts';

export interface SubscriptionRoutesDeps {
  store: Pick<
    SubscriptionStore,
    | 'subscriptions'
    | 'subscription'
    | 'saveSubscription'
    | 'deliveries'
    | 'delivery'
    | 'attempts'
    | 'saveDeliveries'
  >;
  /** The worker of this instance, if it runs one: told of changes at once instead of at its next reload. */
  worker?: Pick<WebhookWorker, 'reload' | 'schedule'>;
  clock: () => number;
}

interface SubscriptionBody {
  name: string;
  topic: string;
  filter?: unknown;
  delivery: { type: 'webhook'; url: string; secret?: string; max_attempts?: number };
}

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const bodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'topic', 'delivery'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128 },
    topic: { type: 'string', enum: ['alerts', 'kpis'] },
    filter: {
      type: 'object',
      description:
        'alerts: rules, severities, levels, entities, states, labels; kpis: level (required), entities, metrics, final_only (docs/API.md)',
    },
    delivery: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'url'],
      properties: {
        type: { type: 'string', enum: ['webhook'] },
        url: { type: 'string', minLength: 1, maxLength: 2048, description: 'http or https' },
        secret: {
          type: 'string',
          minLength: 16,
          maxLength: 256,
          description: 'HMAC key of the signature; generated (and returned once) when absent',
        },
        max_attempts: { type: 'integer', minimum: 1, maximum: 100 },
      },
    },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: UUID } },
} as const;

function problem(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ errors: [{ code, message }] });
}

function view(s: StoredSubscription) {
  return {
    id: s.id,
    name: s.name,
    topic: s.filter.topic,
    filter: s.filter.filter,
    delivery: { type: 'webhook', url: s.url, max_attempts: s.maxAttempts },
    created_time: new Date(s.createdTime).toISOString(),
    updated_time: new Date(s.updatedTime).toISOString(),
  };
}

function deliveryView(d: Delivery, attempts: readonly Attempt[]) {
  return {
    id: d.id,
    subscription_id: d.subscriptionId,
    event: d.event,
    state: d.state,
    attempt_count: d.attempts,
    next_attempt_time: d.state === 'PENDING' ? new Date(d.nextAttemptTime).toISOString() : null,
    last_status: d.lastStatus,
    last_error: d.lastError === '' ? null : d.lastError,
    created_time: new Date(d.createdTime).toISOString(),
    updated_time: new Date(d.updatedTime).toISOString(),
    payload: JSON.parse(d.payload) as unknown,
    attempts: attempts.map((a) => ({
      attempt: a.attempt,
      time: new Date(a.attemptedTime).toISOString(),
      status: a.status,
      error: a.error === '' ? null : a.error,
      duration_ms: a.durationMs,
    })),
  };
}

/** The parts of a body beyond its JSON schema: the filter, and an http(s) URL. */
function validate(body: SubscriptionBody) {
  const filter = parseSubscriptionFilter(body.topic, body.filter);
  let url: URL;
  try {
    url = new URL(body.delivery.url);
  } catch {
    throw new UrlError('`delivery.url` is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UrlError(`\`delivery.url\` must be http or https, not ${url.protocol.slice(0, 20)}`);
  return { filter, url: url.toString() };
}

class UrlError extends Error {}

/**
 * `/v1/subscriptions…` (admin): subscriptions to alerts or KPI updates delivered by webhook, and
 * their deliveries (docs/API.md, "Subscriptions and webhooks").
 */
export function subscriptionRoutes(deps: SubscriptionRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    // Validation is checked in the handlers (attachValidation), so the role check comes first
    // and every failure has the API's `{errors: [{code, message}]}` shape.
    const invalid = (reply: FastifyReply, err: Error | undefined) =>
      err === undefined ? undefined : problem(reply, 400, 'bad_request', err.message);
    const parsedBody = (reply: FastifyReply, body: SubscriptionBody) => {
      try {
        return validate(body);
      } catch (err) {
        if (err instanceof FilterError) return problem(reply, 400, 'bad_filter', err.message);
        if (err instanceof UrlError) return problem(reply, 400, 'bad_url', err.message);
        throw err;
      }
    };
    const notFound = (reply: FastifyReply, id: string) =>
      problem(reply, 404, 'unknown_subscription', `no subscription ${id}`);
    const changed = () => deps.worker?.reload().catch(() => undefined);

    app.post<{ Body: SubscriptionBody }>(
      '/v1/subscriptions',
      {
        config: { role: 'admin' },
        attachValidation: true,
        schema: {
          summary: 'Create a subscription; the reply holds its secret, shown this once',
          body: bodySchema,
        },
      },
      async (request, reply) => {
        if (request.validationError) return invalid(reply, request.validationError);
        const checked = parsedBody(reply, request.body);
        if (!('filter' in checked)) return checked;
        const now = deps.clock();
        const s: StoredSubscription = {
          id: randomUUID(),
          name: request.body.name,
          filter: checked.filter,
          url: checked.url,
          secret: request.body.delivery.secret ?? randomBytes(32).toString('base64url'),
          maxAttempts: request.body.delivery.max_attempts ?? null,
          deleted: false,
          createdTime: now,
          updatedTime: now,
          version: now,
        };
        await deps.store.saveSubscription(s);
        await changed();
        const v = view(s);
        return reply
          .code(201)
          .send({ subscription: { ...v, delivery: { ...v.delivery, secret: s.secret } } });
      },
    );

    app.get(
      '/v1/subscriptions',
      { config: { role: 'admin' }, schema: { summary: 'Every subscription (secrets are never shown)' } },
      async () => ({ subscriptions: (await deps.store.subscriptions()).map(view) }),
    );

    app.get<{ Params: { id: string } }>(
      '/v1/subscriptions/:id',
      {
        config: { role: 'admin' },
        attachValidation: true,
        schema: { summary: 'One subscription', params: idParams },
      },
      async (request, reply) => {
        if (request.validationError) return invalid(reply, request.validationError);
        const s = await deps.store.subscription(request.params.id);
        if (s === undefined || s.deleted) return notFound(reply, request.params.id);
        return { subscription: view(s) };
      },
    );

    app.put<{ Params: { id: string }; Body: SubscriptionBody }>(
      '/v1/subscriptions/:id',
      {
        config: { role: 'admin' },
        attachValidation: true,
        schema: {
          summary: 'Replace a subscription; without `delivery.secret` it keeps its secret',
          params: idParams,
          body: bodySchema,
        },
      },
      async (request, reply) => {
        if (request.validationError) return invalid(reply, request.validationError);
        const checked = parsedBody(reply, request.body);
        if (!('filter' in checked)) return checked;
        const old = await deps.store.subscription(request.params.id);
        if (old === undefined || old.deleted) return notFound(reply, request.params.id);
        const now = deps.clock();
        const s: StoredSubscription = {
          ...old,
          name: request.body.name,
          filter: checked.filter,
          url: checked.url,
          secret: request.body.delivery.secret ?? old.secret,
          maxAttempts: request.body.delivery.max_attempts ?? null,
          updatedTime: now,
          version: Math.max(old.version + 1, now),
        };
        await deps.store.saveSubscription(s);
        await changed();
        return { subscription: view(s) };
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/v1/subscriptions/:id',
      {
        config: { role: 'admin' },
        attachValidation: true,
        schema: {
          summary: 'Delete a subscription; its pending deliveries become DEAD ("subscription deleted")',
          params: idParams,
        },
      },
      async (request, reply) => {
        if (request.validationError) return invalid(reply, request.validationError);
        const old = await deps.store.subscription(request.params.id);
        if (old === undefined || old.deleted) return notFound(reply, request.params.id);
        const now = deps.clock();
        await deps.store.saveSubscription({
          ...old,
          deleted: true,
          updatedTime: now,
          version: Math.max(old.version + 1, now),
        });
        await changed();
        return reply.code(204).send();
      },
    );

    app.get<{ Params: { id: string }; Querystring: { state?: DeliveryState; limit: number } }>(
      '/v1/subscriptions/:id/deliveries',
      {
        config: { role: 'admin' },
        attachValidation: true,
        schema: {
          summary: 'A subscription’s deliveries, newest first, each with its attempts',
          params: idParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              state: { type: 'string', enum: DELIVERY_STATES },
              limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            },
          },
        },
      },
      async (request, reply) => {
        if (request.validationError) return invalid(reply, request.validationError);
        const s = await deps.store.subscription(request.params.id);
        if (s === undefined) return notFound(reply, request.params.id);
        const list = await deps.store.deliveries(s.id, request.query.state, request.query.limit);
        const attempts = await deps.store.attempts(list.map((d) => d.id));
        return { deliveries: list.map((d) => deliveryView(d, attempts.get(d.id) ?? [])) };
      },
    );

    app.post<{ Params: { id: string; delivery: string } }>(
      '/v1/subscriptions/:id/deliveries/:delivery/retry',
      {
        config: { role: 'admin' },
        attachValidation: true,
        schema: {
          summary: 'Queue a DEAD delivery again, with a fresh count of attempts',
          params: {
            type: 'object',
            required: ['id', 'delivery'],
            properties: {
              id: { type: 'string', pattern: UUID },
              delivery: { type: 'string', pattern: UUID },
            },
          },
        },
      },
      async (request, reply) => {
        if (request.validationError) return invalid(reply, request.validationError);
        const { id, delivery } = request.params;
        const s = await deps.store.subscription(id);
        if (s === undefined || s.deleted) return notFound(reply, id);
        const d = await deps.store.delivery(s.id, delivery);
        if (d === undefined)
          return problem(reply, 404, 'unknown_delivery', `subscription ${id} has no delivery ${delivery}`);
        if (d.state !== 'DEAD')
          return problem(
            reply,
            409,
            'not_dead',
            `delivery ${delivery} is ${d.state}; only a DEAD one is retried`,
          );
        const now = deps.clock();
        const queued: Delivery = {
          ...d,
          state: 'PENDING',
          attempts: 0,
          nextAttemptTime: now,
          updatedTime: now,
          version: d.version + 1,
        };
        await deps.store.saveDeliveries([queued]);
        deps.worker?.schedule(queued);
        return reply.code(202).send({ delivery: deliveryView(queued, []) });
      },
    );
  };
}
