import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { createAvroCodec } from '../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../services/shared/avro/config.ts';
import type { TerminalStatus } from '../../services/shared/avro/types.generated.ts';
import { createKafka } from '../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../services/shared/kafka/config.ts';
import { EventProducer } from '../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../../services/shared/kafka/topics.ts';
import { createLogger } from '../../services/shared/logger.ts';
import { freePorts, repoRoot, startPrivateBroker } from '../../test/integration/support/broker.ts';
import { status } from '../../test/unit/services/live/statuses.ts';
import { childEnv, startServiceChild, waitReady } from './_processor-children.ts';
import { envInt } from './_env.ts';

/*
 * npm run bench:live — the live service (services/live/main.ts, a child process) with N WebSocket
 * clients on loopback, each subscribed to the whole fleet. Terminal status changes go into Kafka at
 * a fixed rate, each stamped with the time it was sent; every client notes when it receives it.
 * Prints the delay from Kafka to the clients (p50, p99, max, with the 1 s coalescing interval in
 * it), the share of changes delivered, and the service's memory per client; then the same for a
 * bare Kafka-to-WebSocket relay (_live-relay.ts) as the peer, and the ratios.
 *
 * BENCH_LIVE_CLIENTS (1000), BENCH_LIVE_TERMINALS (2000), BENCH_LIVE_RATE (changes/s, 50),
 * BENCH_LIVE_SECONDS (20); KAFKA_BROKERS, else a broker of its own.
 */

const TOKEN = randomBytes(18).toString('hex');

/** Terminal `serial`'s n-th record, stamped `now` (sent time) with a version that only grows. */
function statusOf(serial: string, n: number, now: number): TerminalStatus {
  const degraded = n % 2 === 1;
  return status(serial, degraded ? 'DEGRADED' : 'ONLINE', now * 1_000 + (n % 1_000), {
    merchant_id: `M${serial.slice(-3)}`,
    region: ['fr-paris', 'de-berlin', 'es-madrid'][n % 3] as string,
    reasons: degraded ? ['low_battery'] : [],
    since: now,
    last_seen_time: now,
    updated_time: now,
  });
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

interface MeasureOptions {
  url: string;
  clients: number;
  terminals: number;
  rate: number;
  seconds: number;
  producer: EventProducer;
  topics: ReturnType<typeof topicNames>;
  serials: readonly string[];
  say: (s: string) => void;
  cleanups: (() => Promise<unknown>)[];
  /** The service's /metrics, to report its memory per client. */
  memory?: string;
}

/** Connects the clients (hello, one subscription to everything), sends the changes, notes each delay. */
async function measure(o: MeasureOptions): Promise<{ p50: number; p99: number }> {
  const memoryBefore = o.memory === undefined ? undefined : await memoryOf(o.memory);
  const delays: number[] = [];
  let snapshots = 0;
  const sockets: WebSocket[] = [];
  o.cleanups.push(async () => {
    for (const s of sockets) s.terminate();
  });
  const connectStart = performance.now();
  for (let i = 0; i < o.clients; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, o.clients - i) }, async () => {
        const ws = new WebSocket(o.url);
        sockets.push(ws);
        ws.on('message', (data) => {
          const f = JSON.parse(data.toString()) as { type: string; changes?: { updated_time?: number }[] };
          if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', id: 'all' }));
          else if (f.type === 'snapshot') snapshots += 1;
          else if (f.type === 'delta') {
            const now = Date.now();
            for (const c of f.changes ?? [])
              if (c.updated_time !== undefined) delays.push(now - c.updated_time);
          }
        });
        await new Promise((r, j) => ws.once('open', r).once('error', j));
        ws.send(JSON.stringify({ type: 'hello', v: 1, token: TOKEN }));
      }),
    );
  }
  while (snapshots < o.clients) await sleep(50);
  const connectS = (performance.now() - connectStart) / 1000;
  await sleep(2_000);
  const memoryAfter = o.memory === undefined ? undefined : await memoryOf(o.memory);
  o.say(`${o.url}: ${o.clients} clients connected and given their snapshot in ${connectS.toFixed(1)} s`);

  // `rate` changes a second, each terminal at most once a second (none coalesced away).
  let sent = 0;
  const perTick = Math.max(1, Math.round(o.rate / 20));
  const sendStart = Date.now();
  while (Date.now() - sendStart < o.seconds * 1000) {
    const now = Date.now();
    const batch = Array.from({ length: perTick }, (_, k) => {
      const n = sent + k;
      const serial = o.serials[n % o.terminals] as string;
      return { key: serial, value: statusOf(serial, n + 1, now) };
    });
    await o.producer.send(o.topics.terminalStatus, 'TerminalStatus', batch);
    sent += batch.length;
    await sleep(Math.max(0, sendStart + Math.round((sent / o.rate) * 1000) - Date.now()));
  }
  await sleep(3_000);
  for (const s of sockets) s.terminate();
  const sorted = Float64Array.from(delays).sort();
  const expected = sent * o.clients;
  const [p50, p99] = [quantile(sorted, 0.5), quantile(sorted, 0.99)];
  o.say(
    `  ${sent} changes in ${o.seconds} s (${(sent / o.seconds).toFixed(0)}/s): ${delays.length} receipts ` +
      `(${((100 * delays.length) / expected).toFixed(1)} % of ${expected}); delay from Kafka to the clients ` +
      `p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(0)} ms`,
  );
  if (memoryBefore !== undefined && memoryAfter !== undefined) {
    o.say(
      `  service memory: RSS ${(memoryBefore.rss / 2 ** 20).toFixed(0)} → ${(memoryAfter.rss / 2 ** 20).toFixed(0)} MiB, ` +
        `${((memoryAfter.rss - memoryBefore.rss) / o.clients / 1024).toFixed(1)} KiB per client ` +
        `(heap ${((memoryAfter.heap - memoryBefore.heap) / o.clients / 1024).toFixed(1)} KiB per client)`,
    );
  }
  return { p50, p99 };
}

async function memoryOf(url: string): Promise<{ rss: number; heap: number }> {
  return {
    rss: await metric(url, 'pospulse_process_resident_memory_bytes'),
    heap: await metric(url, 'pospulse_nodejs_heap_size_used_bytes'),
  };
}

export async function main(): Promise<void> {
  const clients = envInt('BENCH_LIVE_CLIENTS', 1_000);
  const terminals = envInt('BENCH_LIVE_TERMINALS', 2_000);
  const rate = envInt('BENCH_LIVE_RATE', 50);
  const seconds = envInt('BENCH_LIVE_SECONDS', 20);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const logger = createLogger({ service: 'bench-live', level: 'warn' });
  try {
    let brokers = process.env['KAFKA_BROKERS']?.split(',').filter((b) => b !== '');
    if (brokers === undefined || brokers.length === 0) {
      const broker = await startPrivateBroker();
      cleanups.push(() => broker.destroy());
      brokers = broker.brokers;
    }
    const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: brokers.join(',') }), logger);
    const prefix = `bench-live-${randomBytes(3).toString('hex')}.`;
    const topics = topicNames(prefix);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 3, replicationFactor: 1 });
    await admin.disconnect();
    const producer = new EventProducer(kafka, createAvroCodec(parseAvroCodecConfig({})), logger);
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const serials = Array.from({ length: terminals }, (_, i) => `T${String(i).padStart(7, '0')}`);
    const t0 = Date.now();
    await producer.send(
      topics.terminalStatus,
      'TerminalStatus',
      serials.map((s, i) => ({ key: s, value: statusOf(s, i * 2, t0) })),
    );

    const common = { clients, terminals, rate, seconds, producer, topics, serials, say, cleanups };
    /** The live service as deployed, with `coalesce` (LIVE_COALESCE), measured, then stopped. */
    const runLive = async (coalesce: string) => {
      const [port] = (await freePorts(1)) as [number];
      const live = startServiceChild({
        name: 'live',
        cwd: repoRoot,
        entry: 'services/live/main.ts',
        env: childEnv({
          KAFKA_BROKERS: (brokers as string[]).join(','),
          KAFKA_TOPIC_PREFIX: prefix,
          LIVE_PORT: String(port),
          LIVE_TOKENS: TOKEN,
          LIVE_MAX_CONNECTIONS_PER_TOKEN: String(clients + 10),
          LIVE_COALESCE: coalesce,
          LOG_LEVEL: 'warn',
        }),
      });
      cleanups.push(() => live.stop(10_000));
      const base = `http://127.0.0.1:${port}`;
      await waitReady(live, new URL('/readyz', base), 120_000);
      say(`live service, LIVE_COALESCE ${coalesce}:`);
      const r = await measure({ ...common, url: `ws://127.0.0.1:${port}/ws`, memory: `${base}/metrics` });
      await live.stop(10_000);
      return r;
    };
    const live_ = await runLive('1s');
    const quick = await runLive('20ms');

    // The peer, in the same run: a bare Kafka-to-WebSocket relay (scripts/bench/_live-relay.ts).
    const [relayPort] = (await freePorts(1)) as [number];
    const relay = startServiceChild({
      name: 'relay',
      cwd: repoRoot,
      entry: 'scripts/bench/_live-relay.ts',
      env: childEnv({
        KAFKA_BROKERS: brokers.join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        RELAY_PORT: String(relayPort),
      }),
    });
    cleanups.push(() => relay.stop(10_000));
    await waitReady(relay, new URL('/readyz', `http://127.0.0.1:${relayPort}`), 60_000);
    say('peer: bare Kafka-to-WebSocket relay:');
    const peer = await measure({ ...common, url: `ws://127.0.0.1:${relayPort}/ws` });
    say(
      `live (1 s coalescing) / relay: p50 ${(live_.p50 / peer.p50).toFixed(1)}×, p99 ${(live_.p99 / peer.p99).toFixed(1)}×; ` +
        `live (20 ms) / relay: p50 ${(quick.p50 / peer.p50).toFixed(1)}×, p99 ${(quick.p99 / peer.p99).toFixed(1)}× ` +
        `(the relay sends each Kafka batch at once, with no state, snapshot, filter or coalescing)`,
    );
  } finally {
    for (const c of cleanups.reverse())
      await c().catch((err: unknown) => process.stderr.write(`${String(err)}\n`));
  }
}
