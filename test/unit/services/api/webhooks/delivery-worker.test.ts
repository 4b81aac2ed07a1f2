import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  deliveryId,
  WebhookWorker,
  type IncomingRecord,
} from '../../../../../services/api/webhooks/delivery-worker.ts';
import { verifySignature } from '../../../../../services/api/webhooks/signature.ts';
import type {
  Attempt,
  Delivery,
  StoredSubscription,
} from '../../../../../services/api/webhooks/subscription-store.ts';
import type { Alert } from '../../../../../services/shared/avro/types.generated.ts';
import { createLogger } from '../../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../../services/shared/metrics.ts';
import { parseSubscriptionFilter } from '../../../../../services/shared/subscription-filter.ts';

const T0 = Date.UTC(2026, 11, 3, 12);
const logger = createLogger({ service: 'test', level: 'silent' });

function subscription(id: string, rule: string, over: Partial<StoredSubscription> = {}): StoredSubscription {
  return {
    id,
    name: id,
    filter: parseSubscriptionFilter('alerts', { rules: [rule] }),
    url: `http://receiver.test/${id}`,
    secret: `secret-of-${id}-0123456789`,
    maxAttempts: null,
    deleted: false,
    createdTime: T0,
    updatedTime: T0,
    version: 1,
    ...over,
  };
}

function alertRecord(rule: string, offset: number): IncomingRecord {
  const value: Alert = {
    alert_id: '9d3c6a1e-64d3-4c8e-8a4b-0a9f2f0e1b7c',
    rule,
    severity: 'WARNING',
    state: 'FIRING',
    entity_level: 'TERMINAL',
    entity_id: 'T-1',
    window_start: T0 - 60_000,
    window_end: T0,
    fired_time: T0,
    resolved_time: null,
    summary: rule,
    value: null,
    threshold: null,
    evidence: {},
    labels: {},
  };
  return { topic: 'alerts', value, source: `alerts:0:${offset}` };
}

/** The tables in memory: each delivery keeps its highest version, as FINAL reads it. */
function memoryStore(subs: StoredSubscription[]) {
  const deliveries = new Map<string, Delivery>();
  const attempts: Attempt[] = [];
  let failWrites = 0;
  const save = (d: Delivery) => {
    const cur = deliveries.get(d.id);
    if (cur === undefined || cur.version <= d.version) deliveries.set(d.id, { ...d });
  };
  return {
    subs,
    deliveries,
    attempts,
    failNextWrites(n: number) {
      failWrites = n;
    },
    async subscriptions() {
      return subs.filter((s) => !s.deleted);
    },
    async pendingDeliveries() {
      return [...deliveries.values()].filter((d) => d.state === 'PENDING');
    },
    async saveDeliveries(ds: readonly Delivery[]) {
      ds.forEach(save);
    },
    async existingDeliveries(ids: readonly string[]) {
      return new Set(ids.filter((id) => deliveries.has(id)));
    },
    async recordAttempt(a: Attempt, d: Delivery) {
      if (failWrites > 0) {
        failWrites -= 1;
        throw new Error('ClickHouse away');
      }
      attempts.push(a);
      save(d);
    },
  };
}

/** A fetch answering each call with the next status (then 200), recording what it was sent. */
function scriptedFetch(statuses: (number | Error)[]) {
  const calls: { url: string; headers: Record<string, string>; body: string; at: number }[] = [];
  const fn = async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({
      url: String(url),
      headers: init?.headers as Record<string, string>,
      body: String(init?.body),
      at: Date.now(),
    });
    const next = statuses.shift() ?? 200;
    if (next instanceof Error) throw next;
    return new Response(null, { status: next });
  };
  return { fetch: fn as typeof fetch, calls };
}

const options = {
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  maxAttempts: 4,
  timeoutMs: 5_000,
  concurrency: 4,
};

describe('webhook worker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function worker(
    store: ReturnType<typeof memoryStore>,
    f: typeof fetch,
    over: Partial<typeof options> = {},
  ) {
    return new WebhookWorker(
      {
        store,
        logger,
        metrics: createMetricsRegistry('api', false),
        fetch: f,
        clock: () => Date.now(),
        random: () => 0.5,
      },
      { ...options, ...over },
    );
  }

  it('stores one PENDING delivery per matching subscription before accept resolves, and none twice for a record read again', async () => {
    const store = memoryStore([subscription('a', 'r1'), subscription('b', 'r1'), subscription('c', 'r2')]);
    // Every request hangs: nothing is attempted to completion during this test.
    const w = worker(store, (() => new Promise(() => undefined)) as typeof fetch);
    await w.start();
    expect(await w.accept([alertRecord('r1', 7), alertRecord('r3', 8)])).toBe(2);
    expect([...store.deliveries.values()].map((d) => [d.subscriptionId, d.state, d.attempts])).toEqual([
      ['a', 'PENDING', 0],
      ['b', 'PENDING', 0],
    ]);
    expect(store.deliveries.has(deliveryId('a', 'alerts:0:7'))).toBe(true);
    // The same Kafka record again (a crash before the commit): recognised, not stored again.
    expect(await w.accept([alertRecord('r1', 7)])).toBe(0);
    expect(store.deliveries.size).toBe(2);
    void w.stop();
  });

  it('retries with backoff until a 2xx and records every attempt; the delivery SUCCEEDS once', async () => {
    const store = memoryStore([subscription('a', 'r1')]);
    const { fetch: f, calls } = scriptedFetch([
      500,
      new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }) as Error,
    ]);
    const w = worker(store, f);
    await w.start();
    await w.accept([alertRecord('r1', 1)]);
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toHaveLength(1);
    // random() = 0.5: half the ceiling, 500 ms after the first failure, 1 s after the second.
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(3);

    const [d] = [...store.deliveries.values()];
    expect(d).toMatchObject({ state: 'SUCCEEDED', attempts: 3, lastStatus: 200, lastError: '' });
    expect(store.attempts.map((a) => [a.attempt, a.status, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, null, 'ECONNREFUSED'],
      [3, 200, ''],
    ]);
    for (const c of calls) {
      expect(c.url).toBe('http://receiver.test/a');
      expect(c.headers['x-pospulse-delivery']).toBe(d!.id);
      expect(c.headers['x-pospulse-event']).toBe('alert');
      expect(
        verifySignature('secret-of-a-0123456789', c.body, c.headers['x-pospulse-signature']!, c.at),
      ).toBe(true);
    }
    expect(JSON.parse(calls[0]!.body)).toMatchObject({
      delivery_id: d!.id,
      subscription_id: 'a',
      event: 'alert',
    });
    expect(w.pending).toBe(0);
    await w.stop();
  });

  it('makes a delivery DEAD after the attempts its subscription allows (or the default)', async () => {
    const store = memoryStore([subscription('a', 'r1'), subscription('b', 'r1', { maxAttempts: 2 })]);
    const { fetch: f, calls } = scriptedFetch(Array.from({ length: 20 }, () => 503));
    const w = worker(store, f);
    await w.start();
    await w.accept([alertRecord('r1', 1)]);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const bySub = new Map([...store.deliveries.values()].map((d) => [d.subscriptionId, d]));
    expect(bySub.get('a')).toMatchObject({ state: 'DEAD', attempts: 4, lastStatus: 503 });
    expect(bySub.get('b')).toMatchObject({ state: 'DEAD', attempts: 2 });
    expect(calls).toHaveLength(6);
    await w.stop();
  });

  it('delivers at start what the table holds as PENDING, at its next attempt time; a deleted subscription’s becomes DEAD', async () => {
    const store = memoryStore([subscription('a', 'r1'), subscription('gone', 'r1', { deleted: true })]);
    const pending = (id: string, sub: string, next: number): Delivery => ({
      id,
      subscriptionId: sub,
      event: 'alert',
      payload: '{"x":1}',
      state: 'PENDING',
      attempts: 2,
      nextAttemptTime: next,
      lastStatus: 500,
      lastError: 'HTTP 500',
      createdTime: T0 - 10_000,
      updatedTime: T0 - 5_000,
      version: 3,
    });
    await store.saveDeliveries([pending('d1', 'a', T0 + 2_000), pending('d2', 'gone', T0)]);
    const { fetch: f, calls } = scriptedFetch([]);
    const w = worker(store, f);
    await w.start();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toHaveLength(0);
    expect(store.deliveries.get('d2')).toMatchObject({
      state: 'DEAD',
      lastError: 'subscription deleted',
      version: 4,
    });
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.body)).toEqual(['{"x":1}']);
    expect(store.deliveries.get('d1')).toMatchObject({ state: 'SUCCEEDED', attempts: 3, version: 4 });
    // A reload reading the (now older) PENDING row again does not deliver it twice.
    await w.reload();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toHaveLength(1);
    await w.stop();
  });

  it('picks up a delivery re-queued in the table (a retry through another instance) at its next reload', async () => {
    const store = memoryStore([subscription('a', 'r1')]);
    const { fetch: f, calls } = scriptedFetch([500]);
    const w = worker(store, f, { maxAttempts: 1 });
    await w.start();
    await w.accept([alertRecord('r1', 1)]);
    await vi.advanceTimersByTimeAsync(0);
    const [dead] = [...store.deliveries.values()];
    expect(dead).toMatchObject({ state: 'DEAD', attempts: 1 });
    await store.saveDeliveries([
      { ...dead!, state: 'PENDING', attempts: 0, nextAttemptTime: Date.now(), version: dead!.version + 1 },
    ]);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toHaveLength(2);
    expect(store.deliveries.get(dead!.id)).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    await w.stop();
  });

  it('holds at most `concurrency` requests in flight', async () => {
    const store = memoryStore([1, 2, 3, 4, 5].map((i) => subscription(`s${i}`, 'r1')));
    let inFlight = 0;
    let most = 0;
    const f = (async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 100));
      inFlight -= 1;
      return new Response(null, { status: 204 });
    }) as typeof fetch;
    const w = worker(store, f, { concurrency: 2 });
    await w.start();
    await w.accept([alertRecord('r1', 1)]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(most).toBe(2);
    expect([...store.deliveries.values()].every((d) => d.state === 'SUCCEEDED')).toBe(true);
    await w.stop();
  });

  it('keeps an attempt’s outcome until ClickHouse takes it, without asking the receiver again', async () => {
    const store = memoryStore([subscription('a', 'r1')]);
    const { fetch: f, calls } = scriptedFetch([]);
    const w = worker(store, f);
    await w.start();
    await w.accept([alertRecord('r1', 1)]);
    store.failNextWrites(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
    expect(store.attempts).toHaveLength(1);
    expect([...store.deliveries.values()][0]).toMatchObject({ state: 'SUCCEEDED' });
    await w.stop();
  });

  it('counts attempts and finished deliveries in its metrics', async () => {
    const metrics = createMetricsRegistry('api', false);
    const store = memoryStore([subscription('a', 'r1')]);
    const { fetch: f } = scriptedFetch([500]);
    const w = new WebhookWorker(
      { store, logger, metrics, fetch: f, clock: () => Date.now(), random: () => 0 },
      options,
    );
    await w.start();
    await w.accept([alertRecord('r1', 1)]);
    await vi.advanceTimersByTimeAsync(1_000);
    const text = await metrics.metrics();
    expect(text).toMatch(/pospulse_webhook_attempts_total\{outcome="failure",service="api"\} 1/);
    expect(text).toMatch(/pospulse_webhook_attempts_total\{outcome="success",service="api"\} 1/);
    expect(text).toMatch(/pospulse_webhook_deliveries_total\{state="succeeded",service="api"\} 1/);
    await w.stop();
  });
});
