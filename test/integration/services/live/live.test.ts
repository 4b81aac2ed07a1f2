import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE } from '../../../../services/live/protocol.ts';
import type { Alert } from '../../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { minuteUpdate } from '../../../unit/services/processor/detection/kpi-rules/kpi-minutes.ts';
import { status } from '../../../unit/services/live/statuses.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { openLive } from '../../support/live.ts';

const TOKEN = 'live-test-token-0123456789';

describeKafka('live service on the real broker', () => {
  const logger = createLogger({ service: 'live-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('live')}.`;
  const topics = topicNames(prefix);
  let producer: EventProducer;
  let live: Awaited<ReturnType<typeof openLive>>['live'];
  let close: (() => Promise<void>) | undefined;
  let url: string;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 2, replicationFactor: 1 });
    await admin.disconnect();
    producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
    // The fleet before the service starts: it must rebuild it from the compacted topic.
    await producer.send(
      topics.terminalStatus,
      'TerminalStatus',
      ['T1', 'T2', 'T3'].map((serial, i) => ({
        key: serial,
        value: status(serial, i === 2 ? 'OFFLINE' : 'ONLINE', 1),
      })),
    );
    await producer.send(topics.terminalStatus, 'TerminalStatus', [
      { key: 'T1', value: status('T1', 'DEGRADED', 2) },
    ]);
    let origin: string;
    ({ live, close, origin } = await openLive({
      kafka,
      codec,
      logger,
      topics,
      token: TOKEN,
      overrides: { allowedOrigins: ['http://wall.example'] },
    }));
    url = `ws://${origin}/ws`;
  }, 120_000);

  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await close?.();
    await producer?.disconnect();
  });

  /** A client that said hello; frames in arrival order. */
  async function client(headers: Record<string, string> = {}) {
    const ws = new WebSocket(url, { headers });
    sockets.push(ws);
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    ws.send(JSON.stringify({ type: 'hello', v: 1, token: TOKEN }));
    const next = async (pred: (f: Record<string, unknown>) => boolean, ms = 20_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const f = frames.find(pred);
        if (f !== undefined) return f;
        if (Date.now() > deadline)
          throw new Error(`no such frame in ${JSON.stringify(frames).slice(0, 2_000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await next((f) => f['type'] === 'welcome');
    return { ws, frames, next };
  }

  it('rebuilds the fleet from the compacted topic before serving, then streams its changes', async () => {
    const c = await client();
    c.ws.send(JSON.stringify({ type: 'subscribe', id: 'all' }));
    const snap = await c.next((f) => f['type'] === 'snapshot');
    expect(
      (snap['terminals'] as { terminal_serial: string; status: string }[]).map((t) => [
        t.terminal_serial,
        t.status,
      ]),
    ).toEqual([
      ['T1', 'DEGRADED'],
      ['T2', 'ONLINE'],
      ['T3', 'OFFLINE'],
    ]);
    await producer.send(topics.terminalStatus, 'TerminalStatus', [
      { key: 'T3', value: status('T3', 'ONLINE', 2) },
    ]);
    const delta = await c.next((f) => f['type'] === 'delta');
    expect(delta['changes']).toEqual([expect.objectContaining({ terminal_serial: 'T3', status: 'ONLINE' })]);
    expect(delta['seq']).toBe((snap['seq'] as number) + 1);
  });

  it('puts the fleet KPIs in the summary and alerts in front of every client', async () => {
    const c = await client();
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 2 * 60_000;
    const at = (m: number, tx: number, p: number) => {
      const u = minuteUpdate('*', 0, { tx, declineShare: 0.25 }, p, 'FLEET');
      return { ...u, window_start: t0 + m * 60_000, window_end: t0 + (m + 1) * 60_000 };
    };
    await producer.send(topics.kpiUpdates, 'KpiUpdate', [
      { key: 'FLEET:*', value: at(0, 120, 0), headers: { 'pospulse-source-partition': '0' } },
      { key: 'FLEET:*', value: at(0, 120, 1), headers: { 'pospulse-source-partition': '1' } },
      { key: 'FLEET:*', value: at(1, 10, 0), headers: { 'pospulse-source-partition': '0' } },
    ]);
    const summary = await c.next(
      (f) => f['type'] === 'summary' && (f['kpis'] as { tps?: number } | null)?.tps === 4,
    );
    expect(summary).toMatchObject({ terminals: 3, kpis: { approval_rate: 0.75, as_of: t0 } });
    const alert = {
      alert_id: '6f0b8f9e-4a63-4d55-9d6b-0b4f0d7e6a11',
      rule: 'card_testing',
      severity: 'CRITICAL',
      state: 'FIRING',
      entity_level: 'TERMINAL',
      entity_id: 'T2',
      window_start: t0,
      window_end: t0 + 60_000,
      fired_time: t0 + 60_000,
      resolved_time: null,
      summary: '12 small declines on 9 cards',
      value: 12,
      threshold: 6,
      evidence: {},
      labels: {},
    } as unknown as Alert;
    await producer.send(topics.alerts, 'Alert', [{ key: 'card_testing:TERMINAL:T2', value: alert }]);
    const a = await c.next((f) => f['type'] === 'alert');
    expect(a['alert']).toMatchObject({ rule: 'card_testing', entity_id: 'T2', state: 'FIRING' });
  });

  it('sends a KPI subscription the updates of its level and entities read from the topic, any level', async () => {
    const c = await client();
    c.ws.send(
      JSON.stringify({
        type: 'subscribe',
        id: 'shops',
        topic: 'kpis',
        filter: { level: 'MERCHANT', entities: ['M-7'], metrics: ['tx_count', 'approval_rate'] },
      }),
    );
    await c.next((f) => f['type'] === 'subscribed' && f['sub'] === 'shops');
    await producer.send(topics.kpiUpdates, 'KpiUpdate', [
      { key: 'MERCHANT:M-8', value: minuteUpdate('M-8', 0, { tx: 10 }) },
      { key: 'TERMINAL:T1', value: minuteUpdate('T1', 0, { tx: 10 }, 0, 'TERMINAL') },
      { key: 'MERCHANT:M-7', value: minuteUpdate('M-7', 0, { tx: 40, declineShare: 0.25 }) },
    ]);
    const frame = await c.next((f) => f['type'] === 'kpi');
    expect(frame).toMatchObject({
      sub: 'shops',
      update: {
        entity_level: 'MERCHANT',
        entity_id: 'M-7',
        is_final: true,
        tx_count: 40,
        approval_rate: 0.75,
      },
    });
    expect(Object.keys(frame['update'] as object)).not.toContain('tps');
    await new Promise((r) => setTimeout(r, 500));
    expect(c.frames.filter((f) => f['type'] === 'kpi')).toHaveLength(1);
  });

  it('refuses a page of a foreign origin with 4403 and any other path with 404', async () => {
    const foreign = new WebSocket(url, { headers: { origin: 'http://evil.example' } });
    sockets.push(foreign);
    const code = await new Promise<number>((r) => foreign.once('close', (c) => r(c)));
    expect(code).toBe(CLOSE.FORBIDDEN_ORIGIN);
    // An allowed origin connects.
    await client({ origin: 'http://wall.example' });
    const elsewhere = new WebSocket(url.replace('/ws', '/other'));
    sockets.push(elsewhere);
    const status = await new Promise<number | undefined>((r) =>
      elsewhere
        .once('unexpected-response', (_req, res) => r(res.statusCode))
        .once('error', () => r(undefined)),
    );
    expect(status).toBe(404);
    const metrics = await live.app.inject({ url: '/metrics' });
    expect(metrics.statusCode).toBe(401);
    const ready = await live.app.inject({ url: '/readyz' });
    expect(ready.json()).toEqual({ status: 'ready', fleet_rebuilt: true });
  });
});
