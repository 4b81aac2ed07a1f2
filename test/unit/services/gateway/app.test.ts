import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { OverloadError } from '../../../../services/shared/errors.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';
import { generateKey, parseApiKeys } from '../../../../services/gateway/api-keys.ts';
import { buildGateway } from '../../../../services/gateway/app.ts';
import { parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import type { EventSink, PublishItem, PublishResult } from '../../../../services/gateway/sink.ts';
import { heartbeatInput, transactionInput } from '../../../support/gateway-input.ts';

const acme = generateKey('acme');
const ops = generateKey('ops');
const slow = generateKey('slow');
const scoped = generateKey('scoped');

/** Records what would go to Kafka; `fail` makes it refuse like a full queue. */
class RecordingSink implements EventSink {
  published: PublishItem[] = [];
  fail: Error | undefined;
  async publish(items: readonly PublishItem[]): Promise<PublishResult[]> {
    if (this.fail) throw this.fail;
    this.published.push(...items);
    return items.map(() => 'accepted');
  }
}

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function build(over: Partial<Parameters<typeof buildGateway>[1]> = {}) {
  const sink = new RecordingSink();
  const metrics = createMetricsRegistry('gateway', false);
  const app = buildGateway(
    {
      sink,
      logger: createLogger({ service: 'gateway', level: 'silent' }),
      metrics,
      kafkaReady: async () => true,
    },
    {
      apiKeys: parseApiKeys(
        JSON.stringify([
          { id: 'acme', key_sha256: acme.sha256, merchants: ['*'] },
          { id: 'ops', key_sha256: ops.sha256, metrics: true },
          { id: 'slow', key_sha256: slow.sha256, merchants: ['*'], rate_per_second: 1 },
          { id: 'scoped', key_sha256: scoped.sha256, merchants: ['M-OWN'], terminals: ['T-LENT'] },
        ]),
      ),
      gatewayId: 'gw-unit',
      tokenKeys: parseTokenKeys(`k1:${Buffer.alloc(32, 7).toString('base64')}`),
      maxBodyBytes: 64 * 1024,
      maxBatch: 50,
      maxJsonDepth: 16,
      maxClockSkewMs: 300_000,
      maxEventAgeMs: 7 * 86_400_000,
      rateLimit: 100_000,
      rateBurst: 100_000,
      requestTimeoutMs: 30_000,
      ...over,
    },
  );
  apps.push(app);
  return { app, sink, metrics };
}

const auth = { authorization: `Bearer ${acme.secret}` };
const json = { ...auth, 'content-type': 'application/json' };

describe('gateway HTTP app', () => {
  it('accepts a single event object and answers one result', async () => {
    const { app, sink } = build();
    const event = transactionInput(1);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: json,
      payload: JSON.stringify(event),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 0,
      results: [{ index: 0, event_id: event.event_id, status: 'accepted' }],
    });
    expect(sink.published).toHaveLength(1);
    expect(sink.published[0]).toMatchObject({
      schema: 'TransactionEvent',
      key: event.terminal_serial,
      eventId: event.event_id,
    });
  });

  it('sends heartbeats to the heartbeat schema', async () => {
    const { app, sink } = build();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/heartbeats',
      headers: json,
      payload: JSON.stringify([heartbeatInput(1), heartbeatInput(2)]),
    });
    expect(res.json()).toMatchObject({ accepted: 2 });
    expect(sink.published.map((p) => p.schema)).toEqual(['TerminalHeartbeat', 'TerminalHeartbeat']);
  });

  it.each([
    ['no key', {}],
    ['a wrong key', { authorization: 'Bearer pp_acme_x' }],
    ['a key in the wrong scheme', { authorization: `Basic ${acme.secret}` }],
  ])('refuses %s with 401 and publishes nothing', async (_name, headers) => {
    const { app, sink } = build();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: JSON.stringify([transactionInput(1)]),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'unauthorized' } });
    expect(sink.published).toHaveLength(0);
  });

  it('rejects, per event, events outside the key scope and publishes the others', async () => {
    const { app, sink } = build();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: { authorization: `Bearer ${scoped.secret}`, 'content-type': 'application/json' },
      payload: JSON.stringify([
        transactionInput(1, { merchant_id: 'M-OWN' }),
        transactionInput(2, { merchant_id: 'M-OTHER' }),
        transactionInput(3, { merchant_id: 'M-OTHER', terminal_serial: 'T-LENT' }),
      ]),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().results.map((r: { code?: string; status: string }) => r.code ?? r.status)).toEqual([
      'accepted',
      'out_of_scope',
      'accepted',
    ]);
    expect(res.json().results[1]).toMatchObject({ path: '/merchant_id' });
    expect(sink.published.map((p) => p.value.merchant_id)).toEqual(['M-OWN', 'M-OTHER']);
  });

  it('refuses events from a metrics-only key with 403', async () => {
    const { app, sink } = build();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: { authorization: `Bearer ${ops.secret}`, 'content-type': 'application/json' },
      payload: JSON.stringify([transactionInput(1)]),
    });
    expect(res.statusCode).toBe(403);
    expect(sink.published).toHaveLength(0);
  });

  it('answers 503 with Retry-After when the publisher is overloaded, acknowledging nothing', async () => {
    const { app, sink } = build();
    sink.fail = new OverloadError('queue_full', 'publish queue full', 2_000);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: json,
      payload: JSON.stringify([transactionInput(1)]),
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toMatchObject({ error: { code: 'overloaded' } });
    expect(res.body).not.toContain('accepted"');
  });

  it('limits each key to its rate of events, with Retry-After', async () => {
    const { app } = build({ rateBurst: 3, maxBatch: 3 });
    const send = (n: number, key = slow.secret) =>
      app.inject({
        method: 'POST',
        url: '/v1/transactions',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: JSON.stringify(Array.from({ length: n }, (_, i) => transactionInput(i))),
      });
    expect((await send(3)).statusCode).toBe(200);
    const limited = await send(2);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another key has its own bucket.
    expect((await send(1, acme.secret)).statusCode).toBe(200);
  });

  describe('hostile and malformed bodies', () => {
    const cases: [string, { payload: string | Buffer; headers?: Record<string, string> }, number, string][] =
      [
        ['a body over the size limit', { payload: `[${'1,'.repeat(40_000)}1]` }, 413, 'body_too_large'],
        [
          'more events than the batch limit',
          { payload: JSON.stringify(Array.from({ length: 51 }, (_, i) => transactionInput(i))) },
          413,
          'too_many_events',
        ],
        [
          'an unsupported content type',
          { payload: '<xml/>', headers: { 'content-type': 'application/xml' } },
          415,
          'unsupported_media_type',
        ],
        [
          'invalid UTF-8',
          { payload: Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]) },
          400,
          'invalid_utf8',
        ],
        ['invalid JSON', { payload: '[{"event_id": ' }, 400, 'invalid_json'],
        ['deeply nested JSON', { payload: `${'['.repeat(5_000)}${']'.repeat(5_000)}` }, 400, 'too_deep'],
        ['an empty body', { payload: '' }, 400, 'empty_body'],
      ];
    it.each(cases)('answers %s with a clear 4xx and keeps serving', async (_name, req, status, code) => {
      const { app, sink } = build();
      const res = await app.inject({
        method: 'POST',
        url: '/v1/transactions',
        headers: { ...json, ...req.headers },
        payload: req.payload,
      });
      expect(res.statusCode).toBe(status);
      expect(res.json()).toMatchObject({ error: { code } });
      expect(sink.published).toHaveLength(0);
      const next = await app.inject({
        method: 'POST',
        url: '/v1/transactions',
        headers: json,
        payload: JSON.stringify(transactionInput(1)),
      });
      expect(next.statusCode).toBe(200);
    });

    it('rejects per event: unknown fields, wrong types, huge strings', async () => {
      const { app, sink } = build();
      const res = await app.inject({
        method: 'POST',
        url: '/v1/transactions',
        headers: json,
        payload: JSON.stringify([
          transactionInput(1, { surprise: true }),
          transactionInput(2, { amount_minor: 'lots' }),
          transactionInput(3, { merchant_name: 'x'.repeat(100_000 / 2) }),
          transactionInput(4),
        ]),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().results.map((r: { code?: string; status: string }) => r.code ?? r.status)).toEqual([
        'unknown_field',
        'wrong_type',
        'too_long',
        'accepted',
      ]);
      expect(sink.published).toHaveLength(1);
    });

    it('survives arbitrary bodies and content types (fuzz): always an answer, never a 5xx', async () => {
      const { app } = build();
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
            fc.json().map((s) => Buffer.from(s)),
          ),
          fc.constantFrom(
            'application/json',
            'application/x-ndjson',
            'text/plain',
            'application/json; charset=latin1',
          ),
          fc.constantFrom('/v1/transactions', '/v1/heartbeats'),
          async (payload, contentType, url) => {
            const res = await app.inject({
              method: 'POST',
              url,
              headers: { ...auth, 'content-type': contentType },
              payload,
            });
            expect(res.statusCode).toBeLessThan(500);
            expect(() => res.json()).not.toThrow();
          },
        ),
        { numRuns: 300 },
      );
    });
  });

  it('serves an OpenAPI 3.1 document of the ingest routes to any key', async () => {
    const { app } = build();
    await app.ready();
    expect((await app.inject({ url: '/openapi.json' })).statusCode).toBe(401);
    const res = await app.inject({ url: '/openapi.json', headers: auth });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/v1/heartbeats', '/v1/transactions']);
    const post = doc.paths['/v1/transactions'].post;
    expect(Object.keys(post.requestBody.content)).toEqual(['application/json', 'application/x-ndjson']);
    expect(JSON.stringify(post.requestBody.content['application/x-ndjson'].schema)).toContain('amount_minor');
    expect(post.responses['200']).toBeDefined();
    expect(post.responses['503']).toBeDefined();
  });

  it('answers probes without a key and metrics only to a metrics key', async () => {
    const { app } = build();
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ready', kafka: true });
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/metrics', headers: auth })).statusCode).toBe(403);
    const m = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ops.secret}` } });
    expect(m.statusCode).toBe(200);
    expect(m.body).toContain('pospulse_gateway_requests_refused_total');
  });

  it('says 404 with the error format for an unknown route', async () => {
    const { app } = build();
    const res = await app.inject({ url: '/v2/nothing', headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'not_found' } });
  });
});
