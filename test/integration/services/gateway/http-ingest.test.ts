import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../services/shared/avro/types.generated.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { describeKafka, kafkaBrokers, readTopic } from '../../support/kafka.ts';
import { heartbeatInput, transactionInput } from '../../../support/gateway-input.ts';

describeKafka('gateway HTTP ingest on the real broker', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway(kafkaBrokers(), {
      GATEWAY_ISO_ENABLED: 'false',
      GATEWAY_REQUEST_TIMEOUT: '1s',
    });
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  async function post(path: string, payload: string, headers: Record<string, string> = {}) {
    const res = await gw.gateway.app.inject({
      method: 'POST',
      url: path,
      headers: { ...gw.auth(), 'content-type': 'application/json', ...headers },
      payload,
    });
    return { status: res.statusCode, body: res.json(), headers: res.headers };
  }

  async function transactionsOnTopic(): Promise<Map<string, { key: string; event: TransactionEvent }>> {
    const out = new Map<string, { key: string; event: TransactionEvent }>();
    for (const rec of await readTopic(gw.kafka, gw.topics.transactions)) {
      const event = await gw.codec.decode(rec.value!, 'TransactionEvent', {});
      out.set(event.event_id, { key: rec.key!.toString(), event });
    }
    return out;
  }

  describe('a mixed batch', () => {
    const good1 = transactionInput(1);
    const bad = transactionInput(2, { currency: 'XYZ' });
    const good2 = transactionInput(3, { pan: '4111111111111111' });
    const foreign = transactionInput(4, { merchant_id: 'NOT-MINE' });
    let reply: Awaited<ReturnType<typeof post>>;

    beforeAll(async () => {
      reply = await post('/v1/transactions', JSON.stringify([good1, bad, good2, foreign]));
    });

    it('answers each event in order, accepting the good ones', () => {
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: 2 });
      expect(reply.body.results).toEqual([
        { index: 0, event_id: good1.event_id, status: 'accepted' },
        expect.objectContaining({
          index: 1,
          status: 'rejected',
          code: 'unknown_currency',
          path: '/currency',
        }),
        { index: 2, event_id: good2.event_id, status: 'accepted' },
        expect.objectContaining({ index: 3, status: 'rejected', code: 'out_of_scope', path: '/merchant_id' }),
      ]);
    });

    it('has put exactly the accepted events on the topic, keyed by terminal, PAN tokenized', async () => {
      const onTopic = await transactionsOnTopic();
      expect([...onTopic.keys()].sort()).toEqual([good1.event_id, good2.event_id].sort());
      const tokenized = onTopic.get(good2.event_id)!;
      expect(tokenized.key).toBe(good2.terminal_serial);
      expect(tokenized.event).toMatchObject({
        terminal_serial: good2.terminal_serial,
        merchant_id: good2.merchant_id,
        amount_minor: good2.amount_minor,
        gateway_id: 'gw-test',
        ingest_channel: 'HTTP',
        card_bin: '41111111',
        card_last4: '1111',
        card_token_key_id: 'k1',
      });
      expect(tokenized.event.card_token).toMatch(/^[0-9a-f]{64}$/);
    });

    it('answers a resent event as duplicate and does not publish it again', async () => {
      const again = await post('/v1/transactions', JSON.stringify([good1, transactionInput(5)]));
      expect(again.body.results.map((r: { status: string }) => r.status)).toEqual(['duplicate', 'accepted']);
      const onTopic = await readTopic(gw.kafka, gw.topics.transactions);
      expect(onTopic).toHaveLength(3);
    });
  });

  it('takes NDJSON, keeping the good lines around a broken one', async () => {
    const a = heartbeatInput(1);
    const b = heartbeatInput(2);
    const body = `${JSON.stringify(a)}\n{"event_id": oops\n\n${JSON.stringify(b)}\n`;
    const reply = await post('/v1/heartbeats', body, { 'content-type': 'application/x-ndjson' });
    expect(reply.status).toBe(200);
    expect(reply.body.results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual([
      'accepted',
      'invalid_json',
      'accepted',
    ]);
    const records = await readTopic(gw.kafka, gw.topics.heartbeats);
    const ids = await Promise.all(
      records.map(async (r) => (await gw.codec.decode(r.value!, 'TerminalHeartbeat', {})).event_id),
    );
    expect(ids.sort()).toEqual([a.event_id, b.event_id].sort());
  });

  it('refuses a request without a key or with a wrong key, and publishes nothing', async () => {
    const before = (await readTopic(gw.kafka, gw.topics.transactions)).length;
    const attempts: Record<string, string>[] = [
      { authorization: '' },
      { authorization: 'Bearer pp_acme_wrong' },
      { 'x-api-key': 'nope', authorization: '' },
    ];
    for (const headers of attempts) {
      const reply = await post('/v1/transactions', JSON.stringify([transactionInput(50)]), headers);
      expect(reply.status).toBe(401);
      expect(reply.body).toMatchObject({ error: { code: 'unauthorized' } });
      expect(reply.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect(await readTopic(gw.kafka, gw.topics.transactions)).toHaveLength(before);
  });

  it('is ready while Kafka answers, and serves metrics to a metrics key only', async () => {
    expect((await gw.gateway.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await gw.gateway.app.inject({ url: '/readyz' })).json()).toMatchObject({
      status: 'ready',
      kafka: true,
    });
    const denied = await gw.gateway.app.inject({ url: '/metrics', headers: gw.auth('acme') });
    expect(denied.statusCode).toBe(403);
    const metrics = await gw.gateway.app.inject({ url: '/metrics', headers: gw.auth('ops') });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(/pospulse_gateway_events_total\{[^}]*outcome="accepted"[^}]*\} [1-9]/);
    expect(metrics.body).toMatch(/pospulse_gateway_events_total\{[^}]*reason="unknown_currency"[^}]*\} 1/);
    expect(metrics.body).toMatch(/pospulse_gateway_produce_seconds_count\{[^}]*outcome="ok"[^}]*\} [1-9]/);
    expect(metrics.body).toContain('pospulse_gateway_queue_depth');
  });

  it('closes a client that sends its body too slowly with 408, and keeps serving others', async () => {
    const url = new URL(gw.gateway.httpUrl);
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `POST /v1/transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.keys.acme}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[`,
    );
    const drip = setInterval(() => socket.write(' '), 200);
    const started = Date.now();
    await closed;
    clearInterval(drip);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(Buffer.concat(received).toString()).toMatch(/^HTTP\/1.1 408/);
    const reply = await fetch(`${gw.gateway.httpUrl}/healthz`);
    expect(reply.status).toBe(200);
  });
});
