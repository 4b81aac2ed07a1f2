import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { cpus, release, totalmem } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { generateKey } from '../../services/gateway/api-keys.ts';
import { topicNames } from '../../services/shared/kafka/topics.ts';
import {
  freePorts,
  repoRoot,
  runKafkaScript,
  startPrivateBroker,
} from '../../test/integration/support/broker.ts';
import { benchEvent } from './_gateway-events.ts';
import { BodyPool, percentile, request, runLoad, type LoadResult } from './_gateway-load.ts';
import { runProducerPerformance, type PerfToolResult } from './_gateway-perf.ts';
import {
  CpuMeter,
  machineCpuSeconds,
  pidListeningOn,
  processCpuSeconds,
  processMemory,
  type Memory,
} from './_gateway-proc.ts';
import { envInt } from './_env.ts';

const { Kafka, logLevel } = kafkajs;

/*
 * Gateway ingest throughput against Kafka's own producer benchmark, on the same broker in the same
 * run. The gateway (services/gateway/main.ts) runs as a child process as in production; this
 * process keeps C keep-alive HTTP connections busy with JSON-array batches of N transactions and
 * counts what the gateway acknowledged (each reply comes only after Kafka acks=all). Then
 * ProducerPerformance (kafka-producer-perf-test) writes as many records of the gateway's average
 * Avro record size, idempotent with acks=all and unthrottled, to a fresh topic with as many
 * partitions. docs/BENCHMARKS.md ("Gateway ingest vs kafka-producer-perf-test") says what every
 * number means. `BENCH_ONLY=gateway npm run bench` or `npm run bench:gateway`.
 */

// ---------------------------------------------------------------------------------------------
// Configuration

interface BenchConfig {
  /** Events per request (one JSON array). */
  batch: number;
  /** Concurrent keep-alive connections, one request in flight on each. */
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Distinct pre-built bodies (event ids are fresh on every request regardless). */
  templates: number;
  /** Terminals (Kafka keys) the events come from; merchants are terminals / 10. */
  terminals: number;
  /** Partitions of the gateway's topics (KAFKA_TOPIC_PARTITIONS) and so of the perf-tool topic. */
  partitions: number;
  /** Records the perf tool writes; 0: as many as the gateway acknowledged in its measured window. */
  perfRecords: number;
  /** Extra node flags for the gateway child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  gatewayNodeArgs: string[];
  /** The gateway's entry point, relative to the repo root (a build under dist/, say). */
  gatewayEntry: string;
  progressMs: number;
}

function benchConfig(): BenchConfig {
  return {
    batch: envInt('BENCH_GW_BATCH', 1000),
    connections: envInt('BENCH_GW_CONNECTIONS', 4),
    warmupMs: envInt('BENCH_GW_WARMUP_S', 5, 0) * 1000,
    durationMs: envInt('BENCH_GW_DURATION_S', 20) * 1000,
    templates: envInt('BENCH_GW_TEMPLATES', 8),
    terminals: envInt('BENCH_GW_TERMINALS', 5000, 10),
    partitions: envInt('BENCH_GW_PARTITIONS', 6),
    perfRecords: envInt('BENCH_GW_PERF_RECORDS', 0, 0),
    gatewayNodeArgs: (process.env['BENCH_GW_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== ''),
    gatewayEntry: process.env['BENCH_GW_ENTRY'] ?? 'services/gateway/main.ts',
    progressMs: envInt('BENCH_GW_PROGRESS_S', 5) * 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Progress and small helpers

const benchStarted = performance.now();

function progress(text: string): void {
  const secs = ((performance.now() - benchStarted) / 1000).toFixed(1);
  process.stderr.write(`  [gateway +${secs}s] ${text}\n`);
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function javaVersion(): string {
  // `java -version` prints to stderr.
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.split('\n')[0]?.trim() || 'unknown';
}

function kafkaVersion(): string {
  const lib = path.join(repoRoot, 'infra/kafka/lib');
  const jar = existsSync(lib) ? readdirSync(lib).find((f) => /^kafka-clients-.*\.jar$/.test(f)) : undefined;
  return jar?.slice('kafka-clients-'.length, -'.jar'.length) ?? 'unknown';
}

// ---------------------------------------------------------------------------------------------
// The gateway child process

interface GatewayChild {
  process: ChildProcess;
  pid: number;
  url: URL;
  /** Log lines (pino JSON at LOG_LEVEL=warn, or anything printed), most recent last. */
  logTail: string[];
  logLines(): number;
  /** SIGTERM, then wait for the exit; SIGKILL after `timeoutMs`. */
  stop(
    timeoutMs: number,
  ): Promise<{ code: number | null; signal: string | null; ms: number; killed: boolean }>;
}

async function startGatewayChild(
  cfg: BenchConfig,
  brokers: readonly string[],
  prefix: string,
  keys: { ingest: ReturnType<typeof generateKey>; ops: ReturnType<typeof generateKey> },
  maxBodyBytes: number,
): Promise<GatewayChild> {
  const [port] = await freePorts(1);
  const env: NodeJS.ProcessEnv = {};
  // The gateway gets only what this benchmark sets, plus the basics (PATH, HOME, ...): no KAFKA_*,
  // GATEWAY_* or SCHEMA_REGISTRY_* of the caller's shell, and not run.ts's UV_THREADPOOL_SIZE.
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(KAFKA_|GATEWAY_|SCHEMA_REGISTRY_|LOG_|UV_THREADPOOL_SIZE$|NODE_OPTIONS$|BENCH_)/.test(k)) continue;
    env[k] = v;
  }
  Object.assign(env, {
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: String(cfg.partitions),
    KAFKA_CLIENT_ID: 'pospulse-bench-gateway',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    GATEWAY_ID: 'gw-bench',
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: String(port),
    GATEWAY_ISO_ENABLED: 'false',
    GATEWAY_TOKEN_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    GATEWAY_API_KEYS: JSON.stringify([
      { id: 'bench', key_sha256: keys.ingest.sha256, merchants: ['*'] },
      { id: 'ops', key_sha256: keys.ops.sha256, metrics: true },
    ]),
    // The limiter is not what is measured: far above anything 2 cores can push.
    GATEWAY_RATE_LIMIT: '100000000',
    GATEWAY_RATE_BURST: '100000000',
    LOG_LEVEL: 'warn',
  });
  // Limits raised only when the knobs ask for more than the gateway's defaults allow.
  if (cfg.batch > 5_000) env['GATEWAY_MAX_BATCH'] = String(cfg.batch);
  if (maxBodyBytes > 4 * 1024 * 1024) env['GATEWAY_MAX_BODY_BYTES'] = String(Math.ceil(maxBodyBytes));
  if (2 * cfg.batch * cfg.connections > 100_000)
    env['GATEWAY_QUEUE_MAX'] = String(2 * cfg.batch * cfg.connections);
  const tsx = /\.[cm]?ts$/.test(cfg.gatewayEntry) ? ['--import', 'tsx'] : [];
  const args = [...cfg.gatewayNodeArgs, ...tsx, cfg.gatewayEntry];
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logTail: string[] = [];
  let lines = 0;
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines++;
      logTail.push(line);
      if (logTail.length > 40) logTail.shift();
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error('could not start the gateway process');
  const url = new URL(`http://127.0.0.1:${port}`);

  const gw: GatewayChild = {
    process: child,
    pid: child.pid,
    url,
    logTail,
    logLines: () => lines,
    async stop(timeoutMs) {
      const t0 = performance.now();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) child.kill('SIGKILL');
      const { code, signal } = await exited;
      return { code, signal, ms: performance.now() - t0, killed: timedOut };
    },
  };

  // Ready when /readyz says Kafka answers; fail at once if the process dies first.
  const deadline = performance.now() + 120_000;
  const agent = new http.Agent({ keepAlive: false });
  let died: { code: number | null; signal: string | null } | undefined;
  void exited.then((e) => (died = e));
  for (;;) {
    if (died !== undefined) {
      throw new Error(
        `the gateway exited during start-up (code ${died.code}, signal ${died.signal}):\n${logTail.join('\n')}`,
      );
    }
    const status = await request(agent, new URL('/readyz', url), 'GET', {}, undefined, 5_000)
      .then((r) => r.status)
      .catch(() => 0);
    if (status === 200) break;
    if (performance.now() > deadline) {
      await gw.stop(5_000);
      throw new Error(`the gateway was not ready within 120 s (/readyz ${status}):\n${logTail.join('\n')}`);
    }
    await sleep(250);
  }
  agent.destroy();
  return gw;
}

// ---------------------------------------------------------------------------------------------
// Gateway metrics (Prometheus text from /metrics)

type Samples = Map<string, number>;

function parseMetrics(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels contain all of `labels` (`outcome="ok"` …). */
function metric(samples: Samples, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [series, value] of samples) {
    const bare = series.split('{', 1)[0];
    if (bare === name && labels.every((l) => series.includes(l))) sum += value;
  }
  return sum;
}

async function scrapeMetrics(gw: GatewayChild, opsKey: string): Promise<Samples | undefined> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const reply = await request(agent, new URL('/metrics', gw.url), 'GET', {
      authorization: `Bearer ${opsKey}`,
    });
    return reply.status === 200 ? parseMetrics(reply.body.toString('utf8')) : undefined;
  } catch {
    return undefined;
  } finally {
    agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka side: partitions, record sizes, the perf-tool topic

type KafkaClient = InstanceType<typeof Kafka>;

async function topicLayout(
  kafka: KafkaClient,
  topic: string,
): Promise<{ partitions: number; replicas: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const t = meta.topics[0];
    if (!t) throw new Error(`no metadata for ${topic}`);
    return { partitions: t.partitions.length, replicas: t.partitions[0]?.replicas.length ?? 1 };
  } finally {
    await admin.disconnect();
  }
}

interface RecordSizes {
  records: number;
  avgValueBytes: number;
  avgKeyBytes: number;
  minValueBytes: number;
  maxValueBytes: number;
}

/** Reads up to `max` records of `topic` from the beginning and averages their value and key sizes. */
async function sampleRecordSizes(
  kafka: KafkaClient,
  topic: string,
  groupId: string,
  max: number,
): Promise<RecordSizes> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  const s = { records: 0, value: 0, key: 0, min: Infinity, max: 0 };
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      // Fewer records than `max` on the topic: average what arrived within 30 s.
      timer = setTimeout(resolve, 30_000);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) {
              if (s.records >= max) break;
              const v = m.value?.length ?? 0;
              s.records++;
              s.value += v;
              s.key += m.key?.length ?? 0;
              s.min = Math.min(s.min, v);
              s.max = Math.max(s.max, v);
            }
            if (s.records >= max) resolve();
          },
        })
        .catch(reject);
    }).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  if (s.records === 0) throw new Error(`read no records back from ${topic}`);
  return {
    records: s.records,
    avgValueBytes: s.value / s.records,
    avgKeyBytes: s.key / s.records,
    minValueBytes: s.min,
    maxValueBytes: s.max,
  };
}

// ---------------------------------------------------------------------------------------------
// The run

interface CpuWindow {
  seconds: number;
  /** % of one core; 100 x cores is the whole machine. */
  machinePct: number;
  gatewayPct: number;
  driverPct: number;
  brokerPct: number;
}

function cpuSnapshot(gatewayPid: number, brokerPid: number | undefined) {
  return {
    at: performance.now(),
    machine: machineCpuSeconds().busy,
    gateway: processCpuSeconds(gatewayPid) ?? NaN,
    driver: process.cpuUsage(),
    broker: brokerPid === undefined ? NaN : (processCpuSeconds(brokerPid) ?? NaN),
  };
}

function cpuWindow(a: ReturnType<typeof cpuSnapshot>, b: ReturnType<typeof cpuSnapshot>): CpuWindow {
  const seconds = (b.at - a.at) / 1000;
  const pct = (cpu: number) => (cpu / seconds) * 100;
  const driverSecs = (b.driver.user - a.driver.user + (b.driver.system - a.driver.system)) / 1e6;
  return {
    seconds,
    machinePct: pct(b.machine - a.machine),
    gatewayPct: pct(b.gateway - a.gateway),
    driverPct: pct(driverSecs),
    brokerPct: pct(b.broker - a.broker),
  };
}

interface GatewayNumbers {
  load: LoadResult;
  eventsPerSec: number;
  requestsPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  cpu: CpuWindow;
  memBefore: Memory | undefined;
  memAfter: Memory | undefined;
  produce: {
    requests: number;
    avgMs: number;
    avgEvents: number;
    /** Share of the window with a produce request in flight (one at a time). */
    busyShare: number;
    failures: number;
  };
  eventLoopLagP99Ms: number;
}

export async function run(): Promise<Record<string, number>> {
  const cfg = benchConfig();
  const cleanups: { what: string; fn: () => Promise<unknown> }[] = [];
  let cleaned: Promise<void> | undefined;
  // Last in, first out: the gateway, then this run's topics (external broker), then the broker.
  const cleanUp = () =>
    (cleaned ??= (async () => {
      for (const c of cleanups.reverse()) {
        await c
          .fn()
          .catch((err: unknown) => progress(`cleanup failed (${c.what}): ${(err as Error).message}`));
      }
    })());
  // The private broker runs detached (setsid): on Ctrl-C it would outlive this process. A listener
  // stays on (not `once`): tsx's CLI relays the terminal's SIGINT a second time, whose default
  // action would kill this process in the middle of the cleanup.
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    progress(`${signal}: cleaning up…`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const prefix = `bench-gw-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}.`;
  const topics = topicNames(prefix);
  const perfTopic = `${prefix}perf-test`;
  let numbers: Record<string, number>;
  let stopFailure: Error | undefined;

  try {
    // 1. Broker
    let brokers: string[];
    const external = (process.env['KAFKA_BROKERS'] ?? '').trim();
    if (external !== '') {
      brokers = external
        .split(',')
        .map((b) => b.trim())
        .filter((b) => b !== '');
      progress(`using KAFKA_BROKERS=${brokers.join(',')}`);
      // The perf tool needs the jars even when the broker is someone else's.
      await runKafkaScript('fetch.sh', process.env, 300_000);
    } else {
      progress('starting a private Kafka broker (infra/kafka/start.sh)…');
      const broker = await startPrivateBroker();
      cleanups.push({ what: 'destroy the private broker', fn: () => broker.destroy() });
      brokers = broker.brokers;
      progress(`broker up at ${brokers.join(',')}`);
    }
    const [brokerHost, brokerPort] = (brokers[0] ?? '').split(':');
    const brokerPid =
      brokers.length === 1 && /^(127\.0\.0\.1|localhost|::1)$/.test(brokerHost ?? '')
        ? pidListeningOn(Number(brokerPort))
        : undefined;
    const kafka = new Kafka({ clientId: 'pospulse-bench', brokers, logLevel: logLevel.ERROR });

    // 2. Bodies
    const builtAt = Date.now();
    const pool = new BodyPool(cfg.templates, cfg.batch, (i) => benchEvent(i, cfg.terminals, builtAt));
    progress(
      `built ${cfg.templates} bodies of ${cfg.batch} events (${fmtInt(pool.averageBytes / 1024)} KiB each, ` +
        `${fmtInt(pool.averageBytes / cfg.batch)} bytes/event of JSON) in ${fmtInt(Date.now() - builtAt)} ms`,
    );

    // 3. Gateway
    const keys = { ingest: generateKey('bench'), ops: generateKey('ops') };
    progress(`starting the gateway (node ${cfg.gatewayEntry})…`);
    const gw = await startGatewayChild(cfg, brokers, prefix, keys, pool.maxBytes);
    let gatewayStopped = false;
    cleanups.push({
      what: 'stop the gateway',
      fn: async () => {
        if (!gatewayStopped) await gw.stop(5_000);
      },
    });
    if (external !== '') {
      cleanups.push({
        what: `delete this run's topics (${prefix}*)`,
        fn: () => deleteOwnTopics(kafka, prefix),
      });
    }
    progress(`gateway ready at ${gw.url.origin} (pid ${gw.pid}); broker pid ${brokerPid ?? 'not found'}`);

    // 4. Load: warm-up, then the measured window
    const memBefore = processMemory(gw.pid);
    const gwMeter = new CpuMeter(gw.pid);
    const machineMeter = { last: machineCpuSeconds().busy, at: performance.now() };
    let snapA: ReturnType<typeof cpuSnapshot> | undefined;
    let snapB: ReturnType<typeof cpuSnapshot> | undefined;
    let metricsA: Promise<Samples | undefined> = Promise.resolve(undefined);
    let metricsB: Promise<Samples | undefined> = Promise.resolve(undefined);
    progress(
      `load: ${cfg.connections} connections x ${cfg.batch} events/request, ` +
        `${cfg.warmupMs / 1000} s warm-up + ${cfg.durationMs / 1000} s measured`,
    );
    const load = await runLoad({
      url: new URL('/v1/transactions', gw.url),
      authorization: `Bearer ${keys.ingest.secret}`,
      connections: cfg.connections,
      pool,
      warmupMs: cfg.warmupMs,
      durationMs: cfg.durationMs,
      progressMs: cfg.progressMs,
      onPhase: (phase) => {
        if (phase === 'measure') {
          snapA = cpuSnapshot(gw.pid, brokerPid);
          metricsA = scrapeMetrics(gw, keys.ops.secret);
        } else {
          snapB = cpuSnapshot(gw.pid, brokerPid);
          metricsB = scrapeMetrics(gw, keys.ops.secret);
        }
      },
      onProgress: (p) => {
        const now = performance.now();
        const busy = machineCpuSeconds().busy;
        const machinePct = ((busy - machineMeter.last) / ((now - machineMeter.at) / 1000)) * 100;
        machineMeter.last = busy;
        machineMeter.at = now;
        progress(
          `${p.phase.padEnd(7)} ${fmtInt(p.eventsPerSec)} events/s, ${fmt(p.requestsPerSec)} req/s, ` +
            `p50 ${fmt(p.p50Ms, 0)} ms; gateway CPU ${fmt(gwMeter.sample() ?? NaN, 0)}%, ` +
            `machine ${fmt(machinePct, 0)}% of ${cpus().length * 100}%`,
        );
      },
    });
    const memAfter = processMemory(gw.pid);
    if (snapA === undefined || snapB === undefined) throw new Error('the measured window never opened');
    const [mA, mB] = await Promise.all([metricsA, metricsB]);
    const gateway = gatewayNumbers(load, cpuWindow(snapA, snapB), memBefore, memAfter, mA, mB);
    progress(
      `gateway: ${fmtInt(gateway.eventsPerSec)} events/s, p50 ${fmt(gateway.p50Ms, 0)} ms, p99 ${fmt(gateway.p99Ms, 0)} ms`,
    );

    // 5. Record size: read back what the gateway wrote
    const sizes = await sampleRecordSizes(kafka, topics.transactions, `${prefix}size-probe`, 20_000);
    const recordSize = Math.round(sizes.avgValueBytes);
    const layout = await topicLayout(kafka, topics.transactions);
    progress(
      `read back ${fmtInt(sizes.records)} records: value ${fmt(sizes.avgValueBytes)} bytes on average ` +
        `(${sizes.minValueBytes}–${sizes.maxValueBytes}), key ${fmt(sizes.avgKeyBytes)}; ` +
        `${layout.partitions} partitions`,
    );

    // 6. The perf tool, same broker, a fresh topic with the same partitions
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic: perfTopic, numPartitions: layout.partitions, replicationFactor: layout.replicas }],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    const perfRecords = cfg.perfRecords > 0 ? cfg.perfRecords : Math.max(10_000, load.events);
    progress(
      `ProducerPerformance: ${fmtInt(perfRecords)} records of ${recordSize} bytes to ${perfTopic} ` +
        `(acks=all enable.idempotence=true --throughput -1)…`,
    );
    const perfA = cpuSnapshot(gw.pid, brokerPid);
    const perf = await runProducerPerformance({
      repoRoot,
      brokers,
      topic: perfTopic,
      records: perfRecords,
      recordSize,
      timeoutMs: 600_000,
      onLine: (line) => progress(`perf-test: ${line}`),
    });
    const perfB = cpuSnapshot(gw.pid, brokerPid);
    const perfCpu = cpuWindow(perfA, perfB);

    // 7. Stop the gateway: SIGTERM, it must exit 0 within its shutdown timeout (15 s) + margin
    const stop = await gw.stop(25_000);
    gatewayStopped = true;
    const stopOk = stop.code === 0 && !stop.killed;
    progress(
      stopOk
        ? `gateway exited 0 ${fmt(stop.ms / 1000, 2)} s after SIGTERM`
        : `gateway did NOT exit cleanly: code ${stop.code}, signal ${stop.signal}${stop.killed ? ', killed after 25 s' : ''}`,
    );

    numbers = report({
      cfg,
      brokers,
      external: external !== '',
      brokerPid,
      pool,
      gateway,
      sizes,
      recordSize,
      partitions: layout.partitions,
      perf,
      perfCpu,
      perfRecords,
      stop: { ...stop, ok: stopOk },
      logLines: gw.logLines(),
      logTail: gw.logTail,
    });
    if (!stopOk)
      stopFailure = new Error(`the gateway did not exit 0 within 25 s of SIGTERM (code ${stop.code})`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp(); // also on failure
  }
  // After the report, so its numbers are printed; the caller still sees the failure.
  if (stopFailure !== undefined) throw stopFailure;
  return numbers;
}

async function deleteOwnTopics(kafka: KafkaClient, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    await admin.deleteGroups([`${prefix}size-probe`]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

function gatewayNumbers(
  load: LoadResult,
  cpu: CpuWindow,
  memBefore: Memory | undefined,
  memAfter: Memory | undefined,
  a: Samples | undefined,
  b: Samples | undefined,
): GatewayNumbers {
  const d = (name: string, ...labels: string[]) =>
    a === undefined || b === undefined ? NaN : metric(b, name, ...labels) - metric(a, name, ...labels);
  const produceCount = d('pospulse_gateway_produce_seconds_count', 'outcome="ok"');
  const produceSum = d('pospulse_gateway_produce_seconds_sum', 'outcome="ok"');
  const batchSum = d('pospulse_gateway_produce_batch_events_sum');
  const batchCount = d('pospulse_gateway_produce_batch_events_count');
  return {
    load,
    eventsPerSec: load.events / load.seconds,
    requestsPerSec: load.requests / load.seconds,
    p50Ms: percentile(load.latenciesMs, 50),
    p90Ms: percentile(load.latenciesMs, 90),
    p99Ms: percentile(load.latenciesMs, 99),
    maxMs: load.latenciesMs.at(-1) ?? NaN,
    cpu,
    memBefore,
    memAfter,
    produce: {
      requests: produceCount,
      avgMs: (produceSum / produceCount) * 1000,
      avgEvents: batchSum / batchCount,
      busyShare: produceSum / load.seconds,
      failures: d('pospulse_gateway_produce_failures_total'),
    },
    eventLoopLagP99Ms: b === undefined ? NaN : metric(b, 'pospulse_nodejs_eventloop_lag_p99_seconds') * 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

interface ReportInput {
  cfg: BenchConfig;
  brokers: string[];
  external: boolean;
  brokerPid: number | undefined;
  pool: BodyPool;
  gateway: GatewayNumbers;
  sizes: RecordSizes;
  recordSize: number;
  partitions: number;
  perf: PerfToolResult;
  perfCpu: CpuWindow;
  perfRecords: number;
  stop: { code: number | null; signal: string | null; ms: number; killed: boolean; ok: boolean };
  logLines: number;
  logTail: string[];
}

function report(r: ReportInput): Record<string, number> {
  const { cfg, gateway: g, perf, perfCpu } = r;
  const cores = cpus().length;
  const out: string[] = [];
  const line = (s = '') => out.push(s);
  const row = (label: string, value: string) => line(`  ${label.padEnd(48)} ${value}`);
  const ratio = g.eventsPerSec / perf.recordsPerSec;
  const other = (w: CpuWindow, extra = 0) =>
    w.machinePct - w.gatewayPct - w.driverPct - (Number.isFinite(w.brokerPct) ? w.brokerPct : 0) - extra;
  const perfToolPct = (perf.cpuSeconds / perf.wallSeconds) * 100;

  line('Machine');
  row('CPU', `${cores} x ${cpus()[0]?.model.trim() ?? 'unknown'}`);
  row('RAM', `${fmt(totalmem() / 2 ** 30)} GiB`);
  row('OS', `Linux ${release()}`);
  row('node / java', `${process.version} / ${javaVersion()}`);
  row(
    'Kafka (broker and perf tool)',
    `${kafkaVersion()}${r.external ? ' (tool); broker from KAFKA_BROKERS' : ''}`,
  );
  row('broker', `${r.external ? 'KAFKA_BROKERS' : 'private (infra/kafka/start.sh)'} ${r.brokers.join(',')}`);
  line();
  line('Parameters');
  row('events per request (BENCH_GW_BATCH)', String(cfg.batch));
  row('connections (BENCH_GW_CONNECTIONS)', String(cfg.connections));
  row('warm-up / measured (BENCH_GW_WARMUP_S, …)', `${cfg.warmupMs / 1000} s / ${cfg.durationMs / 1000} s`);
  row(
    'request body',
    `${fmtInt(r.pool.averageBytes)} bytes (${fmtInt(r.pool.averageBytes / cfg.batch)} per event)`,
  );
  row('terminals (Kafka keys) / partitions', `${cfg.terminals} / ${r.partitions}`);
  row(
    'record size (read back from the gateway topic)',
    `${fmt(r.sizes.avgValueBytes)} bytes Avro value on average (${r.sizes.minValueBytes}–${r.sizes.maxValueBytes}, ` +
      `${fmtInt(r.sizes.records)} sampled) + ${fmt(r.sizes.avgKeyBytes)} bytes key`,
  );
  line();
  line('Gateway (HTTP JSON -> validate, tokenize, Avro -> kafkajs idempotent acks=all)');
  row('accepted events/s', fmtInt(g.eventsPerSec));
  row('requests/s', fmt(g.requestsPerSec));
  row(
    'events accepted in the window',
    `${fmtInt(g.load.events)} (${g.load.requests} requests, none rejected)`,
  );
  row(
    'reply latency per request p50 / p90 / p99 / max',
    `${fmt(g.p50Ms)} / ${fmt(g.p90Ms)} / ${fmt(g.p99Ms)} / ${fmt(g.maxMs)} ms`,
  );
  row(
    'gateway CPU',
    `${fmt(g.cpu.gatewayPct, 0)}% of one core (${fmt((g.cpu.gatewayPct / 100 / g.eventsPerSec) * 1e6)} µs/event)`,
  );
  row(
    'gateway RSS before / after (peak)',
    `${fmt(g.memBefore?.rssMiB ?? NaN, 0)} / ${fmt(g.memAfter?.rssMiB ?? NaN, 0)} MiB (${fmt(g.memAfter?.peakMiB ?? NaN, 0)} MiB)`,
  );
  row(
    'produce requests: count, avg time, avg events',
    `${fmtInt(g.produce.requests)}, ${fmt(g.produce.avgMs)} ms, ${fmtInt(g.produce.avgEvents)} events (failures ${fmtInt(g.produce.failures)})`,
  );
  row('share of the window with a produce in flight', `${fmt(g.produce.busyShare * 100, 0)}%`);
  row('event-loop lag p99 (prom-client, end of run)', `${fmt(g.eventLoopLagP99Ms)} ms`);
  row(
    'CPU in the window (% of one core)',
    `machine ${fmt(g.cpu.machinePct, 0)}% of ${cores * 100}%: gateway ${fmt(g.cpu.gatewayPct, 0)}, ` +
      `broker ${fmt(g.cpu.brokerPct, 0)}, this client ${fmt(g.cpu.driverPct, 0)}, other ${fmt(other(g.cpu), 0)}`,
  );
  line();
  line('kafka-producer-perf-test (ProducerPerformance, acks=all enable.idempotence=true --throughput -1)');
  row('records/s', fmtInt(perf.recordsPerSec));
  row('MB/s', fmt(perf.mbPerSec, 2));
  row('records', `${fmtInt(perf.records)} of ${r.recordSize} bytes, ${r.partitions} partitions, no key`);
  row(
    'latency avg / p50 / p95 / p99 / p99.9 / max',
    [perf.avgLatencyMs, perf.p50Ms, perf.p95Ms, perf.p99Ms, perf.p999Ms, perf.maxLatencyMs]
      .map((v) => fmt(v))
      .join(' / ') + ' ms',
  );
  row(
    'tool CPU (JVM start-up and JIT included)',
    `${fmt(perf.cpuSeconds)} s over ${fmt(perf.wallSeconds)} s (${fmt(perfToolPct, 0)}% of one core)`,
  );
  row(
    'CPU during the tool (% of one core)',
    `machine ${fmt(perfCpu.machinePct, 0)}% of ${cores * 100}%: tool ${fmt(perfToolPct, 0)}, ` +
      `broker ${fmt(perfCpu.brokerPct, 0)}, gateway (idle) ${fmt(perfCpu.gatewayPct, 0)}, ` +
      `other ${fmt(other(perfCpu, perfToolPct), 0)}`,
  );
  line(`  summary: ${perf.summary}`);
  const busyOthers = [
    ['gateway window', other(g.cpu)],
    ['perf-tool run', other(perfCpu, perfToolPct)],
  ] as const;
  for (const [when, pct] of busyOthers)
    if (pct > 20)
      line(
        `  WARNING: other processes used ${fmt(pct, 0)}% of one core during the ${when}: ` +
          'on a shared machine the numbers above are lower than on an idle one',
      );
  line();
  line('Ratio');
  row(
    'gateway events/s ÷ perf-tool records/s',
    `${fmt(ratio, 3)} (the tool is ${fmt(1 / ratio, 1)}x faster)`,
  );
  row(
    'broker CPU per record: gateway / tool',
    `${fmt((g.cpu.brokerPct / 100 / g.eventsPerSec) * 1e6)} / ${fmt((perfCpu.brokerPct / 100 / perf.recordsPerSec) * 1e6)} µs`,
  );
  line();
  row(
    'gateway shutdown',
    r.stop.ok
      ? `exit 0, ${fmt(r.stop.ms / 1000, 2)} s after SIGTERM`
      : `FAILED: code ${r.stop.code}, signal ${r.stop.signal}${r.stop.killed ? ', SIGKILLed' : ''}`,
  );
  row('gateway log lines at warn or above', String(r.logLines));
  if (r.logLines > 0) for (const l of r.logTail.slice(-5)) line(`    ${l.slice(0, 300)}`);
  process.stdout.write(`${out.join('\n')}\n`);

  return {
    cores,
    events_per_request: cfg.batch,
    connections: cfg.connections,
    measured_s: cfg.durationMs / 1000,
    partitions: r.partitions,
    record_bytes: r.recordSize,
    gateway_events_per_s: Math.round(g.eventsPerSec),
    gateway_requests_per_s: round(g.requestsPerSec, 2),
    gateway_latency_p50_ms: round(g.p50Ms, 1),
    gateway_latency_p99_ms: round(g.p99Ms, 1),
    gateway_cpu_pct: round(g.cpu.gatewayPct, 1),
    gateway_rss_mib: round(g.memAfter?.rssMiB ?? NaN, 1),
    gateway_rss_peak_mib: round(g.memAfter?.peakMiB ?? NaN, 1),
    gateway_cpu_us_per_event: round((g.cpu.gatewayPct / 100 / g.eventsPerSec) * 1e6, 1),
    gateway_produce_avg_ms: round(g.produce.avgMs, 1),
    gateway_produce_avg_events: Math.round(g.produce.avgEvents),
    gateway_produce_busy_pct: round(g.produce.busyShare * 100, 1),
    gateway_phase_machine_cpu_pct: round(g.cpu.machinePct, 1),
    gateway_phase_broker_cpu_pct: round(g.cpu.brokerPct, 1),
    gateway_phase_client_cpu_pct: round(g.cpu.driverPct, 1),
    gateway_phase_other_cpu_pct: round(other(g.cpu), 1),
    perf_records: perf.records,
    perf_records_per_s: Math.round(perf.recordsPerSec),
    perf_mb_per_s: perf.mbPerSec,
    perf_latency_avg_ms: perf.avgLatencyMs,
    perf_latency_p50_ms: perf.p50Ms,
    perf_latency_p99_ms: perf.p99Ms,
    perf_latency_max_ms: perf.maxLatencyMs,
    perf_tool_cpu_pct: round(perfToolPct, 1),
    perf_phase_machine_cpu_pct: round(perfCpu.machinePct, 1),
    perf_phase_broker_cpu_pct: round(perfCpu.brokerPct, 1),
    perf_phase_other_cpu_pct: round(other(perfCpu, perfToolPct), 1),
    ratio_gateway_to_perf: round(ratio, 4),
    gateway_exit_ok: r.stop.ok ? 1 : 0,
  };
}

const round = (n: number, digits: number) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : NaN);

// `npx tsx scripts/bench/gateway.ts` runs it alone, as run.ts would.
if (process.argv[1] === import.meta.filename) {
  const numbers = await run();
  process.stdout.write(
    `${JSON.stringify({ bench: 'gateway', date: new Date().toISOString(), results: numbers })}\n`,
  );
}
