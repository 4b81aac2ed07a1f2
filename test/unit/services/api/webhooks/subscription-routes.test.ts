import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { subscriptionRoutes } from '../../../../../services/api/webhooks/subscription-routes.ts';
import type {
  Delivery,
  StoredSubscription,
} from '../../../../../services/api/webhooks/subscription-store.ts';

const NOW = Date.UTC(2026, 11, 3, 12);

/** The store in memory, newest version wins, as FINAL reads it. */
function memory() {
  const subs = new Map<string, StoredSubscription>();
  const rows = new Map<string, Delivery>();
  return {
    subs,
    rows,
    async subscriptions() {
      return [...subs.values()].filter((s) => !s.deleted);
    },
    async subscription(id: string) {
      return subs.get(id);
    },
    async saveSubscription(s: StoredSubscription) {
      subs.set(s.id, { ...s });
    },
    async deliveries(sub: string, state: string | undefined) {
      return [...rows.values()].filter(
        (d) => d.subscriptionId === sub && (state === undefined || d.state === state),
      );
    },
    async delivery(sub: string, id: string) {
      const d = rows.get(id);
      return d?.subscriptionId === sub ? d : undefined;
    },
    async attempts() {
      return new Map();
    },
    async saveDeliveries(ds: readonly Delivery[]) {
      for (const d of ds) rows.set(d.id, { ...d });
    },
  };
}

const apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

function build() {
  const store = memory();
  const calls = { reload: 0, scheduled: [] as Delivery[] };
  const app = Fastify();
  apps.push(app);
  void app.register(
    subscriptionRoutes({
      store,
      worker: {
        reload: async () => {
          calls.reload += 1;
        },
        schedule: (d) => calls.scheduled.push(d),
      },
      clock: () => NOW,
    }),
  );
  return { app, store, calls };
}

const body = {
  name: 'ops webhook',
  topic: 'alerts',
  filter: { severities: ['CRITICAL'], labels: { region: 'north' } },
  delivery: { type: 'webhook', url: 'https://hooks.example.com/pospulse' },
};

describe('/v1/subscriptions', () => {
  it('creates a subscription with a generated secret shown once, and never shows it again', async () => {
    const { app, store, calls } = build();
    const res = await app.inject({ method: 'POST', url: '/v1/subscriptions', payload: body });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json().subscription;
    expect(created).toMatchObject({
      name: 'ops webhook',
      topic: 'alerts',
      filter: body.filter,
      delivery: { type: 'webhook', url: 'https://hooks.example.com/pospulse', max_attempts: null },
    });
    const secret = created.delivery.secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(store.subs.get(created.id)?.secret).toBe(secret);
    expect(calls.reload).toBe(1);
    const one = await app.inject({ url: `/v1/subscriptions/${created.id}` });
    const list = await app.inject({ url: '/v1/subscriptions' });
    expect(one.json().subscription.id).toBe(created.id);
    expect(list.json().subscriptions).toHaveLength(1);
    for (const r of [one, list]) expect(r.body).not.toContain(secret);
  });

  it('refuses a URL that is not http(s), a filter naming a bad field, and a body off its schema', async () => {
    const { app, store } = build();
    const post = (payload: unknown) =>
      app.inject({ method: 'POST', url: '/v1/subscriptions', payload: payload as object });
    const ftp = await post({ ...body, delivery: { type: 'webhook', url: 'ftp://files.example.com/x' } });
    expect(ftp.statusCode).toBe(400);
    expect(ftp.json().errors[0]).toMatchObject({
      code: 'bad_url',
      message: expect.stringContaining('http or https'),
    });
    const junk = await post({ ...body, delivery: { type: 'webhook', url: 'not a url' } });
    expect(junk.json().errors[0].code).toBe('bad_url');
    const filter = await post({
      ...body,
      topic: 'kpis',
      filter: { level: 'FLEET', metrics: ['tps', 'nope'] },
    });
    expect(filter.statusCode).toBe(400);
    expect(filter.json().errors[0]).toMatchObject({
      code: 'bad_filter',
      message: expect.stringContaining('filter.metrics[1]'),
    });
    const noName = await post({ topic: 'alerts', delivery: body.delivery });
    expect(noName.statusCode).toBe(400);
    expect(noName.json().errors[0].code).toBe('bad_request');
    const shortSecret = await post({ ...body, delivery: { ...body.delivery, secret: 'short' } });
    expect(shortSecret.statusCode).toBe(400);
    expect(store.subs.size).toBe(0);
  });

  it('replaces a subscription keeping its secret unless a new one is given, and deletes it', async () => {
    const { app, store, calls } = build();
    const created = (await app.inject({ method: 'POST', url: '/v1/subscriptions', payload: body })).json()
      .subscription;
    const url = `/v1/subscriptions/${created.id}`;
    const put = await app.inject({
      method: 'PUT',
      url,
      payload: {
        ...body,
        topic: 'kpis',
        filter: { level: 'MERCHANT' },
        delivery: { ...body.delivery, max_attempts: 3 },
      },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().subscription).toMatchObject({
      topic: 'kpis',
      filter: { level: 'MERCHANT', final_only: true },
      delivery: { max_attempts: 3 },
    });
    expect(put.body).not.toContain(created.delivery.secret);
    expect(store.subs.get(created.id)?.secret).toBe(created.delivery.secret);
    const version = store.subs.get(created.id)!.version;
    await app.inject({
      method: 'PUT',
      url,
      payload: { ...body, delivery: { ...body.delivery, secret: 'a-brand-new-secret-value' } },
    });
    expect(store.subs.get(created.id)?.secret).toBe('a-brand-new-secret-value');
    expect(store.subs.get(created.id)!.version).toBeGreaterThan(version);

    expect((await app.inject({ method: 'DELETE', url })).statusCode).toBe(204);
    expect(store.subs.get(created.id)?.deleted).toBe(true);
    expect((await app.inject({ url })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url })).json().errors[0].code).toBe('unknown_subscription');
    expect(calls.reload).toBe(4);
    const bad = await app.inject({ url: '/v1/subscriptions/not-a-uuid' });
    expect(bad.statusCode).toBe(400);
  });

  it('re-queues a DEAD delivery with a fresh count of attempts, and only a DEAD one', async () => {
    const { app, store, calls } = build();
    const created = (await app.inject({ method: 'POST', url: '/v1/subscriptions', payload: body })).json()
      .subscription;
    const dead: Delivery = {
      id: '0b6f1d1c-9a57-4c36-9d4d-6a4fb1c0a001',
      subscriptionId: created.id,
      event: 'alert',
      payload: '{"event":"alert"}',
      state: 'DEAD',
      attempts: 8,
      nextAttemptTime: NOW - 1_000,
      lastStatus: 500,
      lastError: 'HTTP 500',
      createdTime: NOW - 60_000,
      updatedTime: NOW - 1_000,
      version: 9,
    };
    await store.saveDeliveries([dead]);
    const url = `/v1/subscriptions/${created.id}/deliveries/${dead.id}/retry`;
    const res = await app.inject({ method: 'POST', url });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json().delivery).toMatchObject({
      state: 'PENDING',
      attempt_count: 0,
      payload: { event: 'alert' },
    });
    expect(store.rows.get(dead.id)).toMatchObject({
      state: 'PENDING',
      attempts: 0,
      version: 10,
      nextAttemptTime: NOW,
    });
    expect(calls.scheduled.map((d) => d.id)).toEqual([dead.id]);
    const again = await app.inject({ method: 'POST', url });
    expect(again.statusCode).toBe(409);
    expect(again.json().errors[0].code).toBe('not_dead');
    const unknown = await app.inject({
      method: 'POST',
      url: `/v1/subscriptions/${created.id}/deliveries/0b6f1d1c-9a57-4c36-9d4d-6a4fb1c0a002/retry`,
    });
    expect(unknown.json().errors[0].code).toBe('unknown_delivery');
    const list = await app.inject({ url: `/v1/subscriptions/${created.id}/deliveries?state=PENDING` });
    expect(list.json().deliveries.map((d: { id: string }) => d.id)).toEqual([dead.id]);
    expect(
      (await app.inject({ url: `/v1/subscriptions/${created.id}/deliveries?state=LOST` })).statusCode,
    ).toBe(400);
  });
});
