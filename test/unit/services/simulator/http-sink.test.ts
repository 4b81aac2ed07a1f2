import { describe, expect, it } from 'vitest';
import { AuthError } from '../../../../services/shared/errors.ts';
import type { SimEvent } from '../../../../services/simulator/events.ts';
import { HttpSink, retryAfterMs } from '../../../../services/simulator/http-sink.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';

const START = Date.UTC(2026, 2, 3, 10);

function someEvents(): SimEvent[] {
  const sim = new Simulator({
    seed: 'http',
    fleet: { terminals: 20 },
    rate: 5,
    start: START,
    end: START + 120_000,
  });
  return [...sim.events()];
}

interface Call {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A fake gateway: answers each call with the next scripted reply, or accepts everything. */
function fakeFetch(script: ((call: Call) => Response | Error | undefined)[] = []) {
  const calls: Call[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    const call = { url, headers: init.headers as Record<string, string>, body: init.body as string };
    calls.push(call);
    const step = script.shift();
    const scripted = step?.(call);
    if (scripted instanceof Error) throw scripted;
    if (scripted !== undefined) return scripted;
    const items =
      call.headers['content-type'] === 'application/json'
        ? JSON.parse(call.body)
        : call.body
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l));
    return Response.json({
      accepted: items.length,
      duplicates: 0,
      rejected: 0,
      results: items.map((it: { event_id: string }, index: number) => ({
        index,
        event_id: it.event_id,
        status: 'accepted',
      })),
    });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}

const noSleep = async () => {};

describe('HttpSink', () => {
  const events = someEvents();
  const tx = events.filter((e) => e.kind === 'transaction').length;
  const hb = events.length - tx;

  it('posts heartbeats and transactions in batches with the bearer key, and counts what was accepted', async () => {
    const { fetch, calls } = fakeFetch();
    const sink = new HttpSink({
      url: 'http://gw:8080/',
      apiKey: 'pp_secret',
      fetch,
      batchSize: 100,
      sleep: noSleep,
    });
    await sink.send(events);
    expect(calls.every((c) => c.headers['authorization'] === 'Bearer pp_secret')).toBe(true);
    expect(calls.filter((c) => c.url === 'http://gw:8080/v1/transactions')).toHaveLength(Math.ceil(tx / 100));
    expect(calls.filter((c) => c.url === 'http://gw:8080/v1/heartbeats')).toHaveLength(Math.ceil(hb / 100));
    const sent = calls.flatMap((c) => JSON.parse(c.body) as { event_id: string }[]).map((e) => e.event_id);
    expect(sent.sort()).toEqual(events.map((e) => e.fields.event_id).sort());
    expect(sink.stats()).toMatchObject({
      sent: { transactions: tx, heartbeats: hb },
      accepted: events.length,
      failed: 0,
      rejected: 0,
    });
  });

  it('sends NDJSON when asked', async () => {
    const { fetch, calls } = fakeFetch();
    const sink = new HttpSink({ url: 'http://gw', apiKey: 'k', fetch, format: 'ndjson', sleep: noSleep });
    await sink.send(events.slice(0, 10));
    expect(calls[0]!.headers['content-type']).toBe('application/x-ndjson');
    expect(sink.stats().accepted).toBe(10);
  });

  it('waits as long as Retry-After says on 429 and 503, then resends the same body', async () => {
    const waits: number[] = [];
    const { fetch, calls } = fakeFetch([
      () =>
        new Response(JSON.stringify({ error: { code: 'rate_limited' } }), {
          status: 429,
          headers: { 'retry-after': '3' },
        }),
      () =>
        new Response(JSON.stringify({ error: { code: 'overloaded' } }), {
          status: 503,
          headers: { 'retry-after': '1' },
        }),
    ]);
    const sink = new HttpSink({
      url: 'http://gw',
      apiKey: 'k',
      fetch,
      sleep: async (ms) => void waits.push(ms),
    });
    const batch = events.filter((e) => e.kind === 'transaction').slice(0, 5);
    await sink.send(batch);
    expect(waits).toEqual([3000, 1000]);
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
    expect(sink.stats()).toMatchObject({ accepted: 5, failed: 0 });
  });

  it('retries connection errors with growing backoff and reports the events as failed when it gives up', async () => {
    const waits: number[] = [];
    const refused = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const { fetch } = fakeFetch(Array.from({ length: 4 }, () => refused));
    const sink = new HttpSink({
      url: 'http://gw',
      apiKey: 'k',
      fetch,
      maxAttempts: 4,
      sleep: async (ms) => void waits.push(ms),
    });
    const batch = events.filter((e) => e.kind === 'transaction').slice(0, 7);
    await sink.send(batch);
    expect(waits).toEqual([200, 400, 800, 1600]);
    const stats = sink.stats();
    expect(stats.failed).toBe(7);
    expect(stats.lastError).toMatch(
      /POST \/v1\/transactions: fetch failed \(ECONNREFUSED\) \(gave up after 4 tries\)/,
    );
  });

  it('splits a batch the gateway finds too large', async () => {
    const { fetch, calls } = fakeFetch([
      () => new Response('{"error":{"code":"too_many_events"}}', { status: 413 }),
    ]);
    const sink = new HttpSink({ url: 'http://gw', apiKey: 'k', fetch, sleep: noSleep });
    const batch = events.filter((e) => e.kind === 'transaction').slice(0, 10);
    await sink.send(batch);
    expect(calls.map((c) => (JSON.parse(c.body) as unknown[]).length)).toEqual([10, 5, 5]);
    expect(sink.stats().accepted).toBe(10);
  });

  it('counts rejections and duplicates by the reply, keeping a few samples without contents', async () => {
    const { fetch } = fakeFetch([
      (call) => {
        const items = JSON.parse(call.body) as { event_id: string }[];
        return Response.json({
          accepted: 1,
          duplicates: 1,
          rejected: items.length - 2,
          results: items.map((it, index) =>
            index === 0
              ? { index, event_id: it.event_id, status: 'accepted' }
              : index === 1
                ? { index, event_id: it.event_id, status: 'duplicate' }
                : {
                    index,
                    event_id: it.event_id,
                    status: 'rejected',
                    code: 'out_of_scope',
                    path: '/merchant_id',
                    message: 'not in scope',
                  },
          ),
        });
      },
    ]);
    const sink = new HttpSink({ url: 'http://gw', apiKey: 'k', fetch, sleep: noSleep });
    await sink.send(events.filter((e) => e.kind === 'transaction').slice(0, 4));
    const stats = sink.stats();
    expect(stats).toMatchObject({ accepted: 1, duplicates: 1, rejected: 2, rejections: { out_of_scope: 2 } });
    expect(stats.rejectionSamples[0]).toMatchObject({ code: 'out_of_scope', path: '/merchant_id' });
  });

  it('stops with an AuthError when the key is refused, counting the batch as failed', async () => {
    const unauthorized = () =>
      new Response('{"error":{"code":"unauthorized","message":"no key"}}', { status: 401 });
    const { fetch } = fakeFetch([unauthorized, unauthorized]);
    const sink = new HttpSink({ url: 'http://gw', apiKey: 'k', fetch, sleep: noSleep });
    const batch = events.filter((e) => e.kind === 'transaction').slice(0, 3);
    await expect(sink.send(batch)).rejects.toBeInstanceOf(AuthError);
    expect(sink.stats().failed).toBe(3);
    await expect(sink.send(batch)).rejects.toThrow(/401 unauthorized: no key.*SIMULATOR_API_KEY/);
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
