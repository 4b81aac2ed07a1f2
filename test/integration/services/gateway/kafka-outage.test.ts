import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPrivateBroker, type PrivateBroker } from '../../support/broker.ts';
import { startTestGateway, type TestGateway } from '../../support/gateway.ts';
import { describeKafka, readTopic } from '../../support/kafka.ts';
import { transactionInput } from '../../../support/gateway-input.ts';

/*
 * The broker is stopped while clients keep sending: the gateway must answer 503 (never 200 for an
 * event Kafka does not have), and once the broker is back, every event it ever acknowledged must be
 * on the topic. A private broker, because stopping the shared one would break the other suites.
 */
describeKafka('gateway during a Kafka outage', () => {
  let broker: PrivateBroker;
  let gw: TestGateway;

  beforeAll(async () => {
    broker = await startPrivateBroker();
    gw = await startTestGateway(broker.brokers, {
      GATEWAY_PUBLISH_TIMEOUT: '1500ms',
      GATEWAY_QUEUE_MAX: '400',
      GATEWAY_MAX_BATCH: '100',
      GATEWAY_RATE_BURST: '100000',
      KAFKA_REQUEST_TIMEOUT: '2s',
      KAFKA_CONNECTION_TIMEOUT: '1s',
      GATEWAY_ISO_ENABLED: 'false',
    });
  }, 180_000);

  afterAll(async () => {
    await gw?.close();
    await broker?.destroy();
  }, 120_000);

  async function send(
    ids: string[],
  ): Promise<{ status: number; body: { results?: { event_id: string; status: string }[] } }> {
    const events = ids.map((id, i) => transactionInput(i, { event_id: id }));
    const res = await gw.gateway.app.inject({
      method: 'POST',
      url: '/v1/transactions',
      headers: { ...gw.auth(), 'content-type': 'application/json' },
      payload: JSON.stringify(events),
    });
    return { status: res.statusCode, body: res.json() };
  }

  it('answers 503 while the broker is down, and every acknowledged event is on the topic afterwards', async () => {
    const acknowledged = new Set<string>();
    const record = (r: Awaited<ReturnType<typeof send>>) => {
      if (r.status !== 200) return;
      for (const x of r.body.results ?? [])
        if (x.status === 'accepted' || x.status === 'duplicate') acknowledged.add(x.event_id);
    };

    const before = Array.from({ length: 50 }, () => randomUUID());
    const ok = await send(before);
    expect(ok.status).toBe(200);
    record(ok);
    expect(acknowledged.size).toBe(50);

    await broker.stop();
    const during: string[][] = [];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const ids = Array.from({ length: 20 }, () => randomUUID());
      during.push(ids);
      const r = await send(ids);
      statuses.push(r.status);
      record(r);
      if (r.status === 503) expect(r.body).toMatchObject({ error: { code: 'overloaded' } });
    }
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(5);
    const ready = await gw.gateway.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);

    await broker.start();
    // Clients retry what was refused, with the same ids, until the gateway takes it.
    for (const ids of during) {
      for (let attempt = 0; ; attempt++) {
        const r = await send(ids);
        record(r);
        if (r.status === 200) break;
        expect(attempt).toBeLessThan(60);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    expect(acknowledged.size).toBe(50 + during.flat().length);

    const onTopic = new Map<string, number>();
    const records = await readTopic(gw.kafka, gw.topics.transactions);
    for (const rec of records) {
      const event = await gw.codec.decode(rec.value!, 'TransactionEvent', {});
      onTopic.set(event.event_id, (onTopic.get(event.event_id) ?? 0) + 1);
    }
    const missing = [...acknowledged].filter((id) => !onTopic.has(id));
    expect(missing).toEqual([]);
  }, 240_000);
});
