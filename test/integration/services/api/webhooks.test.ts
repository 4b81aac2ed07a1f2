import { randomUUID } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../../../services/api/webhooks/secret-box.ts';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApiApp } from '../../../support/api-app.ts';
import { WebhookWorker, type WorkerOptions } from '../../../../services/api/webhooks/delivery-worker.ts';
import { verifySignature } from '../../../../services/api/webhooks/signature.ts';
import { SubscriptionStore } from '../../../../services/api/webhooks/subscription-store.ts';
import { subscriptionTables } from '../../../../services/api/webhooks/tables.ts';
import { WebhookFeed } from '../../../../services/api/webhooks/webhook-feed.ts';
import { processorTables } from '../../../../services/processor/tables.ts';
import type { Alert } from '../../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import type { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';
import { testAlert } from '../../support/alertmanager.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { openPipeline } from '../../support/pipeline.ts';
import type { TestStore } from '../../support/store.ts';
import { eventually } from '../processor/pipeline-queries.ts';

const ADMIN = 'admin-key-0123456789abcdef';

/** A webhook receiver on a free port that answers each request with the next status of `script` (then 200). */
async function receiver(script: number[] = []) {
  const received: { headers: IncomingMessage['headers']; body: string; answered: number }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = script.shift() ?? 200;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    received,
    script,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describeKafka('webhook delivery from the alerts topic, on the real broker and engine', () => {
  const logger = createLogger({ service: 'webhooks-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('hooks')}.`;
  const topics = topicNames(prefix);
  const db = `hooks_${Math.random().toString(36).slice(2, 10)}`;
  const tables = processorTables(db);
  const subTables = subscriptionTables(db);
  const group = uniqueName('webhooks');
  const options: WorkerOptions = {
    backoffBaseMs: 200,
    backoffMaxMs: 400,
    maxAttempts: 4,
    timeoutMs: 2_000,
    concurrency: 4,
    reloadMs: 500,
  };
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  const open: { stop(): Promise<void> }[] = [];
  const receivers: Awaited<ReturnType<typeof receiver>>[] = [];

  beforeAll(async () => {
    ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db, partitions: 2 }));
  }, 60_000);

  afterAll(async () => {
    for (const o of open.reverse()) await o.stop();
    for (const r of receivers) await r.close();
    await producer?.disconnect();
    await test?.close();
  });

  const secrets = new SecretBox(randomBytes(32));

  /** A worker and its feed, as main.ts wires them, with the API app for the routes. */
  async function startWorker() {
    const subscriptions = new SubscriptionStore(store, subTables, secrets);
    const worker = new WebhookWorker(
      { store: subscriptions, logger, metrics: createMetricsRegistry('api', false) },
      options,
    );
    await worker.start();
    const feed = new WebhookFeed(kafka, codec, worker, logger, {
      groupId: group,
      topics,
      fromBeginning: true,
    });
    await feed.start();
    const { app } = testApiApp(
      {
        store,
        tables,
        subscriptions: { tables: subTables, secrets, worker },
      },
      [{ key: ADMIN, role: 'admin', id: 'ops' }],
      { maxBuckets: 100 },
    );
    const stop = async () => {
      await app.close();
      await feed.stop();
      await worker.stop();
    };
    const handle = { worker, app, stop, stopped: false };
    open.push({
      stop: async () => {
        if (!handle.stopped) await stop();
      },
    });
    return handle;
  }

  async function subscribe(
    app: Awaited<ReturnType<typeof startWorker>>['app'],
    url: string,
    rule: string,
    maxAttempts?: number,
  ) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/subscriptions',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: {
        name: `hook for ${rule}`,
        topic: 'alerts',
        filter: { rules: [rule], states: ['FIRING'] },
        delivery: {
          type: 'webhook',
          url,
          ...(maxAttempts === undefined ? {} : { max_attempts: maxAttempts }),
        },
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const s = res.json().subscription as { id: string; delivery: { secret: string } };
    expect(s.delivery.secret.length).toBeGreaterThanOrEqual(32);
    return s;
  }

  async function deliveries(app: Awaited<ReturnType<typeof startWorker>>['app'], id: string) {
    const res = await app.inject({
      url: `/v1/subscriptions/${id}/deliveries`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().deliveries as {
      id: string;
      state: string;
      attempt_count: number;
      last_status: number | null;
      payload: { event: string; data: Alert };
      attempts: { attempt: number; status: number | null; error: string | null }[];
    }[];
  }

  async function produce(rule: string, entity: string): Promise<Alert> {
    const alert = testAlert(randomUUID(), rule, entity);
    await producer.send(topics.alerts, 'Alert', [{ key: `${rule}:TERMINAL:${entity}`, value: alert }]);
    return alert;
  }

  it('delivers an alert once, signed, to a receiver that fails twice and then succeeds; a receiver that always fails gets it DEAD after its attempts', async () => {
    const w = await startWorker();
    const flaky = await receiver([500, 500]);
    const down = await receiver([503, 503, 503, 503, 503, 503]);
    receivers.push(flaky, down);
    const sFlaky = await subscribe(w.app, flaky.url, 'flaky_rule');
    const sDown = await subscribe(w.app, down.url, 'down_rule', 3);
    // A record no subscription matches: delivered to nobody.
    await produce('unrelated_rule', 'T-X');
    const alert = await produce('flaky_rule', 'T-1');
    await produce('down_rule', 'T-2');

    const [d] = await eventually(
      () => deliveries(w.app, sFlaky.id),
      (list) => list.length === 1 && list[0]!.state === 'SUCCEEDED',
      'the flaky receiver’s delivery SUCCEEDED',
    );
    expect(d!.attempt_count).toBe(3);
    expect(d!.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(d!.attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(d!.payload.event).toBe('alert');
    expect(d!.payload.data.alert_id).toBe(alert.alert_id);
    // Three requests, the same delivery id, each signed with the subscription's secret.
    expect(flaky.received.map((r) => r.answered)).toEqual([500, 500, 200]);
    for (const r of flaky.received) {
      expect(r.headers['x-pospulse-delivery']).toBe(d!.id);
      expect(r.headers['x-pospulse-event']).toBe('alert');
      expect(
        verifySignature(
          sFlaky.delivery.secret,
          r.body,
          String(r.headers['x-pospulse-signature']),
          Date.now(),
        ),
      ).toBe(true);
      expect(
        verifySignature(
          'another-secret-entirely',
          r.body,
          String(r.headers['x-pospulse-signature']),
          Date.now(),
        ),
      ).toBe(false);
      expect(JSON.parse(r.body).data.alert_id).toBe(alert.alert_id);
    }

    const [dead] = await eventually(
      () => deliveries(w.app, sDown.id),
      (list) => list.length === 1 && list[0]!.state === 'DEAD',
      'the failing receiver’s delivery DEAD',
    );
    expect(dead!.attempts.map((a) => a.status)).toEqual([503, 503, 503]);
    expect(down.received).toHaveLength(3);

    // Re-queued through the API, it is attempted again (and the receiver now answers 200).
    down.script.length = 0;
    const retry = await w.app.inject({
      method: 'POST',
      url: `/v1/subscriptions/${sDown.id}/deliveries/${dead!.id}/retry`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(retry.statusCode, retry.body).toBe(202);
    const [revived] = await eventually(
      () => deliveries(w.app, sDown.id),
      (list) => list[0]?.state === 'SUCCEEDED',
      'the re-queued delivery SUCCEEDED',
    );
    expect(revived!.attempts.map((a) => a.status)).toEqual([503, 503, 503, 200]);
    const again = await w.app.inject({
      method: 'POST',
      url: `/v1/subscriptions/${sDown.id}/deliveries/${dead!.id}/retry`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().errors[0].code).toBe('not_dead');
    // Exactly one row per delivery in the table, across all its versions.
    const rows = await store.query<{ n: string }>(`SELECT count() AS n FROM ${subTables.deliveries} FINAL`);
    expect(Number(rows[0]!.n)).toBe(2);
    await w.stop();
    w.stopped = true;
  }, 90_000);

  it('delivers after a restart what was still PENDING when the worker stopped', async () => {
    const first = await startWorker();
    // Down: every request refused at the TCP level.
    const hook = await receiver();
    receivers.push(hook);
    const url = hook.url;
    await hook.close();
    const s = await subscribe(first.app, url, 'restart_rule', 50);
    const alert = await produce('restart_rule', 'T-9');
    const [pending] = await eventually(
      () => deliveries(first.app, s.id),
      (list) => list.length === 1 && list[0]!.attempt_count >= 1,
      'a failed attempt of the delivery',
    );
    expect(pending!.state).toBe('PENDING');
    expect(pending!.attempts[0]!.status).toBeNull();
    await first.stop();
    first.stopped = true;

    // The receiver is back on the same port; a new worker (same group, same tables) starts.
    const port = Number(new URL(url).port);
    const back = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        backReceived.push({
          id: String(req.headers['x-pospulse-delivery']),
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(204).end();
      });
    });
    const backReceived: { id: string; body: string }[] = [];
    await new Promise<void>((resolve) => back.listen(port, '127.0.0.1', resolve));
    open.push({ stop: () => new Promise<void>((resolve) => back.close(() => resolve())) });
    const second = await startWorker();
    const [done] = await eventually(
      () => deliveries(second.app, s.id),
      (list) => list[0]?.state === 'SUCCEEDED',
      'the pending delivery SUCCEEDED after the restart',
    );
    expect(done!.id).toBe(pending!.id);
    expect(done!.attempts.at(-1)!.status).toBe(204);
    expect(backReceived.map((r) => r.id)).toEqual([pending!.id]);
    expect(JSON.parse(backReceived[0]!.body).data.alert_id).toBe(alert.alert_id);
    // The alert was not turned into a second delivery by the restarted feed.
    expect(await deliveries(second.app, s.id)).toHaveLength(1);
  }, 90_000);
});
