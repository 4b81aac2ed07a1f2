import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { checkpointOf } from '../../services/processor/kpi/checkpoint-metadata.ts';
import { parseProcessorConfig } from '../../services/processor/config.ts';
import { createAvroCodec } from '../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../services/shared/avro/config.ts';
import type { TerminalHeartbeat, TransactionEvent } from '../../services/shared/avro/types.generated.ts';
import { runMigrations } from '../../services/shared/clickhouse/migrations.ts';
import { Store } from '../../services/shared/clickhouse/store.ts';
import { EventProducer } from '../../services/shared/kafka/producer.ts';
import {
  TOPICS,
  ensureTopics,
  topicNames,
  type TopicKey,
  type TopicNames,
  type TopicSpec,
} from '../../services/shared/kafka/topics.ts';
import { createLogger } from '../../services/shared/logger.ts';
import {
  freePorts,
  repoRoot,
  runKafkaScript,
  startPrivateBroker,
} from '../../test/integration/support/broker.ts';
import {
  childEnv,
  startServiceChild,
  startStoreChild,
  threadBreakdown,
  threadSnapshot,
  type ServiceChild,
  type ThreadSnapshot,
} from './_processor-children.ts';
import { Fleet } from './_processor-events.ts';
import { runConsumerPerformance, type ConsumerPerfResult } from './_processor-perf.ts';
import { machineCpuSeconds, pidListeningOn, processCpuSeconds, processMemory } from './_gateway-proc.ts';
import { envInt } from './_env.ts';

const { Kafka, logLevel } = kafkajs;
type KafkaClient = InstanceType<typeof Kafka>;

/*
 * Processor throughput against Kafka's own consumer benchmark, on the same broker and the same
 * records, in the same run. This process pre-produces a backlog of N TransactionEvents (and the
 * fleet's heartbeats) with the project's Avro codec; ConsumerPerformance (kafka-consumer-perf-test)
 * reads the N transactions; then the processor (services/processor/main.ts, a child process with
 * the service's defaults) works through the whole backlog, writing to the store (services/store/
 * main.ts, another child, chDB), until the offsets its group committed cover every record.
 * docs/BENCHMARKS.md ("Processor vs kafka-consumer-perf-test") says what every number means.
 * `npm run bench:processor` or `BENCH_ONLY=processor npm run bench`.
 */

// ---------------------------------------------------------------------------------------------
// Configuration

interface BenchConfig {
  /** TransactionEvents in the backlog. */
  events: number;
  terminals: number;
  perMerchant: number;
  /** Distinct cards the transactions are paid with. */
  cards: number;
  /** request_time spans this much, ending a few seconds before the run. */
  spanMs: number;
  /** Each terminal sends a heartbeat this often (0: none). */
  heartbeatMs: number;
  /** Transactions per thousand that were queued on an offline terminal for 2.5-4 minutes. */
  offlinePerMille: number;
  /** Partitions of the event topics (KAFKA_TOPIC_PARTITIONS). */
  partitions: number;
  /** Records per produce request while pre-producing. */
  produceBatch: number;
  /**
   * `max.message.bytes` of the processor's output topics (every topic but transactions and
   * heartbeats), created here before ensureTopics; 0 leaves the broker's default (1 MiB), on which
   * the processor fails to publish a backlog's outputs (docs/BENCHMARKS.md).
   */
  outputMaxMessageBytes: number;
  /** Extra node flags for the processor child, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  processorNodeArgs: string[];
  /** Extra environment of the processor child, `K=V K=V` (e.g. CLICKHOUSE_COMPRESSION=false). */
  processorEnv: Record<string, string>;
  processorEntry: string;
  /** Time the processor's stages (scripts/bench/_processor-stages.ts preloaded into it). */
  stages: boolean;
  /** Longest the processor phase may take. */
  timeoutMs: number;
  progressMs: number;
  seed: number;
}

function envPairs(name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (process.env[name] ?? '').split(/\s+/).filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`${name} must be K=V pairs separated by spaces, got ${pair}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function benchConfig(): BenchConfig {
  return {
    events: envInt('BENCH_PROC_EVENTS', 200_000),
    terminals: envInt('BENCH_PROC_TERMINALS', 2_000, 10),
    perMerchant: envInt('BENCH_PROC_PER_MERCHANT', 5),
    cards: envInt('BENCH_PROC_CARDS', 50_000),
    spanMs: envInt('BENCH_PROC_SPAN_S', 300) * 1000,
    heartbeatMs: envInt('BENCH_PROC_HEARTBEAT_S', 60, 0) * 1000,
    offlinePerMille: envInt('BENCH_PROC_OFFLINE_PER_MILLE', 2, 0),
    partitions: envInt('BENCH_PROC_PARTITIONS', 2),
    produceBatch: envInt('BENCH_PROC_PRODUCE_BATCH', 5_000),
    outputMaxMessageBytes: envInt('BENCH_PROC_OUTPUT_MAX_MESSAGE_BYTES', 64 * 1024 * 1024, 0),
    processorNodeArgs: (process.env['BENCH_PROC_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== ''),
    processorEnv: envPairs('BENCH_PROC_ENV'),
    processorEntry: process.env['BENCH_PROC_ENTRY'] ?? 'services/processor/main.ts',
    stages: envInt('BENCH_PROC_STAGES', 0, 0) > 0,
    timeoutMs: envInt('BENCH_PROC_TIMEOUT_S', 600) * 1000,
    progressMs: envInt('BENCH_PROC_PROGRESS_S', 5) * 1000,
    seed: envInt('BENCH_PROC_SEED', 1, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Progress and small helpers

const benchStarted = performance.now();

function progress(text: string): void {
  const secs = ((performance.now() - benchStarted) / 1000).toFixed(1);
  process.stderr.write(`  [processor +${secs}s] ${text}\n`);
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const round = (n: number, digits: number) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : NaN);

function javaVersion(): string {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.split('\n')[0]?.trim() || 'unknown';
}

function kafkaVersion(): string {
  const lib = path.join(repoRoot, 'infra/kafka/lib');
  const jar = existsSync(lib) ? readdirSync(lib).find((f) => /^kafka-clients-.*\.jar$/.test(f)) : undefined;
  return jar?.slice('kafka-clients-'.length, -'.jar'.length) ?? 'unknown';
}

/** The commit measured, and whether services/ or schemas/ differ from it (work in progress). */
function revision(): string {
  const git = (...args: string[]) =>
    spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() ?? '';
  const head = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'services', 'schemas')
    .split('\n')
    .filter((l) => l !== '');
  return dirty.length === 0
    ? head
    : `${head} + ${dirty.length} uncommitted changes in services/ and schemas/`;
}

// ---------------------------------------------------------------------------------------------
// Prometheus text

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

/** Sum of every series of `name` whose labels contain all of `labels`; NaN without samples. */
function metric(samples: Samples | undefined, name: string, ...labels: string[]): number {
  if (samples === undefined) return NaN;
  let sum = 0;
  for (const [series, value] of samples) {
    const bare = series.split('{', 1)[0];
    if (bare === name && labels.every((l) => series.includes(l))) sum += value;
  }
  return sum;
}

async function scrape(url: URL, authorization: string): Promise<Samples | undefined> {
  try {
    const r = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(10_000) });
    return r.ok ? parseMetrics(await r.text()) : undefined;
  } catch {
    return undefined;
  }
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

// ---------------------------------------------------------------------------------------------
// Pre-producing the backlog

interface Backlog {
  transactions: number;
  heartbeats: number;
  offline: number;
  seconds: number;
  /** Avro value bytes of the transactions (as encoded here, no framing beyond the codec's). */
  transactionBytes: number;
}

async function produceBacklog(
  cfg: BenchConfig,
  producer: EventProducer,
  encodedSize: (ev: TransactionEvent) => Promise<number>,
  topics: TopicNames,
): Promise<Backlog> {
  const fleet = new Fleet({
    terminals: cfg.terminals,
    perMerchant: cfg.perMerchant,
    cards: cfg.cards,
    seed: cfg.seed,
  });
  const end = Date.now() - 5_000;
  const start = end - cfg.spanMs;
  // Heartbeats: each terminal every heartbeatMs from a random phase, in time order.
  const beats: { t: number; at: number }[] = [];
  if (cfg.heartbeatMs > 0) {
    for (let t = 0; t < cfg.terminals; t++) {
      for (let at = start + fleet.random01() * cfg.heartbeatMs; at < end; at += cfg.heartbeatMs)
        beats.push({ t, at: Math.round(at) });
    }
    beats.sort((a, b) => a.at - b.at);
  }
  const t0 = performance.now();
  let lastReport = t0;
  let nextBeat = 0;
  let offline = 0;
  let sampledBytes = 0;
  let sampled = 0;
  for (let i = 0; i < cfg.events; i += cfg.produceBatch) {
    const n = Math.min(cfg.produceBatch, cfg.events - i);
    const batch: TransactionEvent[] = [];
    for (let j = 0; j < n; j++) {
      const receivedAt = Math.round(start + ((i + j) / cfg.events) * cfg.spanMs);
      const late = fleet.random01() * 1000 < cfg.offlinePerMille;
      if (late) offline++;
      batch.push(fleet.transaction(receivedAt, late ? Math.round(150_000 + fleet.random01() * 90_000) : 0));
    }
    // Average record size from every 50th event (the codec's output; what Kafka stores as value).
    for (let j = 0; j < batch.length; j += 50) {
      sampledBytes += await encodedSize(batch[j]!);
      sampled++;
    }
    await producer.send(
      topics.transactions,
      'TransactionEvent',
      batch.map((value) => ({ key: value.terminal_serial, value })),
    );
    const upTo = batch.at(-1)!.gateway_received_time;
    const due: TerminalHeartbeat[] = [];
    while (nextBeat < beats.length && beats[nextBeat]!.at <= upTo) {
      const b = beats[nextBeat++]!;
      due.push(fleet.heartbeat(b.t, b.at));
    }
    if (due.length > 0)
      await producer.send(
        topics.heartbeats,
        'TerminalHeartbeat',
        due.map((value) => ({ key: value.terminal_serial, value })),
      );
    const now = performance.now();
    if (now - lastReport > cfg.progressMs) {
      lastReport = now;
      const done = i + n;
      progress(
        `produced ${fmtInt(done)} / ${fmtInt(cfg.events)} transactions, ${fmtInt(nextBeat)} heartbeats ` +
          `(${fmtInt(done / ((now - t0) / 1000))} transactions/s)`,
      );
    }
  }
  const rest = beats.slice(nextBeat).map((b) => fleet.heartbeat(b.t, b.at));
  for (let i = 0; i < rest.length; i += cfg.produceBatch)
    await producer.send(
      topics.heartbeats,
      'TerminalHeartbeat',
      rest.slice(i, i + cfg.produceBatch).map((value) => ({ key: value.terminal_serial, value })),
    );
  return {
    transactions: cfg.events,
    heartbeats: beats.length,
    offline,
    seconds: (performance.now() - t0) / 1000,
    transactionBytes: (sampledBytes / Math.max(1, sampled)) * cfg.events,
  };
}

// ---------------------------------------------------------------------------------------------
// Kafka positions

/** Sum over partitions of the high watermark, and the high watermark per partition. */
async function topicEnds(
  kafka: KafkaClient,
  topic: string,
): Promise<{ total: number; byPartition: Map<number, number> }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const byPartition = new Map(offsets.map((o) => [o.partition, Number(o.high)]));
    let total = 0;
    for (const o of offsets) total += Number(o.high) - Number(o.low);
    return { total, byPartition };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Records of `topic` (per partition) the group's commits say are processed: on `transactions`
 * the `next` of the window checkpoint in the metadata (the committed offset itself is where the
 * oldest open window began), elsewhere the committed offset.
 */
async function committedNext(
  admin: kafkajs.Admin,
  groupId: string,
  topic: string,
  checkpointed: boolean,
): Promise<Map<number, number>> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const out = new Map<number, number>();
  for (const p of entry?.partitions ?? []) {
    if (checkpointed) {
      const reading = checkpointOf(p.partition, { offset: p.offset, metadata: p.metadata });
      out.set(p.partition, reading.kind === 'checkpoint' ? reading.checkpoint.nextOffset : -1);
    } else {
      out.set(p.partition, Number(p.offset));
    }
  }
  return out;
}

function covers(committed: Map<number, number>, ends: Map<number, number>): boolean {
  for (const [p, high] of ends) if (high > 0 && (committed.get(p) ?? -1) < high) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// CPU snapshots

interface Snapshot {
  at: number;
  machine: number;
  processor: ThreadSnapshot;
  store: ThreadSnapshot;
  broker: number;
  driver: NodeJS.CpuUsage;
}

function snapshot(processorPid: number, storePid: number, brokerPid: number | undefined): Snapshot {
  return {
    at: performance.now(),
    machine: machineCpuSeconds().busy,
    processor: threadSnapshot(processorPid),
    store: threadSnapshot(storePid),
    broker: brokerPid === undefined ? NaN : (processCpuSeconds(brokerPid) ?? NaN),
    driver: process.cpuUsage(),
  };
}

interface CpuWindow {
  seconds: number;
  /** CPU seconds (all threads) in the window. */
  machine: number;
  processor: ReturnType<typeof threadBreakdown>;
  store: ReturnType<typeof threadBreakdown>;
  broker: number;
  driver: number;
}

function cpuWindow(processorPid: number, storePid: number, a: Snapshot, b: Snapshot): CpuWindow {
  return {
    seconds: (b.at - a.at) / 1000,
    machine: b.machine - a.machine,
    processor: threadBreakdown(processorPid, a.processor, b.processor),
    store: threadBreakdown(storePid, a.store, b.store),
    broker: b.broker - a.broker,
    driver: (b.driver.user - a.driver.user + (b.driver.system - a.driver.system)) / 1e6,
  };
}

// ---------------------------------------------------------------------------------------------
// The run

interface ProcessorPhase {
  /** performance.now() marks. */
  spawnedAt: number;
  assignedAt: number;
  firstRowAt: number;
  doneAt: number;
  cpu: CpuWindow;
  cpuFromSpawn: CpuWindow;
  rssAtAssignMiB: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  peakMiB: number;
  storeRssEndMiB: number;
  storePeakMiB: number;
  metrics: Samples | undefined;
  /** Wall time per stage (BENCH_PROC_STAGES=1), up to the moment the commits covered the backlog. */
  stages: Record<string, { calls: number; ms: number; bytes?: number }> | undefined;
  storeBefore: Samples | undefined;
  storeAfter: Samples | undefined;
  outputs: Outputs;
  stop: { code: number | null; signal: string | null; ms: number; killed: boolean; ok: boolean };
  logTail: string[];
  warnLines: number;
}

interface Outputs {
  /** Rows (active parts) of the database's other tables, records of the run's other topics. */
  otherTables: { name: string; n: number }[];
  otherTopics: { name: string; n: number }[];
  transactions: number;
  distinctTransactions: number;
  heartbeats: number;
  kpiRows: number;
  kpiFinalRows: number;
  lateEvents: number;
  statusRows: number;
  kpiUpdates: number;
  statusRecords: number;
  deadLetters: number;
}

export async function run(): Promise<Record<string, number>> {
  const cfg = benchConfig();
  const cleanups: { what: string; fn: () => Promise<unknown> }[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaned ??= (async () => {
      for (const c of cleanups.reverse()) {
        await c
          .fn()
          .catch((err: unknown) => progress(`cleanup failed (${c.what}): ${(err as Error).message}`));
      }
    })());
  // As in gateway.ts: the private broker runs detached and would outlive a Ctrl-C; the listener
  // stays on because tsx relays the terminal's SIGINT a second time.
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    progress(`${signal}: cleaning up…`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const suffix = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const prefix = `bench-proc-${suffix}.`;
  const topics = topicNames(prefix);
  const db = `bench_proc_${suffix}`;
  const groupId = `${prefix}processor`;
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
    if (external !== '') {
      cleanups.push({ what: `delete this run's topics (${prefix}*)`, fn: () => deleteOwn(kafka, prefix) });
    }

    // 2. Store (chDB) as its own process, and the database
    const [storePort, processorPort] = await freePorts(2);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pospulse-bench-store-'));
    cleanups.push({
      what: 'remove the store data directory',
      fn: async () => rmSync(dataDir, { recursive: true, force: true }),
    });
    const storeUrl = `http://127.0.0.1:${storePort}`;
    progress(`starting the store (services/store/main.ts) on ${storeUrl}…`);
    // The processor's user, and one for this benchmark: its polls wait in a pool of their own.
    const {
      child: store,
      svcPassword,
      ownPassword: benchPassword,
      client,
    } = await startStoreChild({
      cwd: repoRoot,
      port: storePort as number,
      dataDir,
      own: 'bench',
      requestTimeoutMs: 120_000,
    });
    cleanups.push({ what: 'stop the store', fn: () => store.stop(15_000) });
    const bench = new Store(client);
    cleanups.push({ what: 'close the store client', fn: () => bench.close() });
    await runMigrations(bench, { database: db, rawTtlDays: 90 });
    progress(`store up (pid ${store.pid}); migrations applied to database ${db}`);

    // 3. Topics and the backlog
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push({ what: 'disconnect the admin client', fn: () => admin.disconnect() });
    if (cfg.outputMaxMessageBytes > 0) {
      // Every topic the processor writes (all but its two inputs), as ensureTopics would create it
      // plus the larger limit; ensureTopics then leaves them as they are.
      const outputs = (Object.keys(TOPICS) as TopicKey[]).filter(
        (k) => k !== 'transactions' && k !== 'heartbeats',
      );
      await admin.createTopics({
        topics: outputs.map((k) => {
          const spec: TopicSpec = TOPICS[k];
          return {
            topic: topics[k],
            numPartitions:
              spec.partitionShare === 'full' ? cfg.partitions : Math.max(1, Math.ceil(cfg.partitions / 3)),
            replicationFactor: 1,
            configEntries: [
              ...Object.entries(spec.config).map(([name, value]) => ({ name, value })),
              { name: 'max.message.bytes', value: String(cfg.outputMaxMessageBytes) },
            ],
          };
        }),
        waitForLeaders: true,
      });
    }
    // Just after createTopics the broker may not serve every new partition's metadata yet
    // (UNKNOWN_TOPIC_OR_PARTITION): ensureTopics then fails retryably, so ask again.
    for (let attempt = 1; ; attempt++) {
      try {
        await ensureTopics(admin, { prefix, partitions: cfg.partitions, replicationFactor: 1 });
        break;
      } catch (err) {
        if (attempt >= 10 || !(err as { retryable?: boolean }).retryable) throw err;
        await sleep(500);
      }
    }
    const logger = createLogger({ service: 'bench-processor', level: 'warn' });
    const codec = createAvroCodec(parseAvroCodecConfig({}));
    const producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
    progress(
      `pre-producing ${fmtInt(cfg.events)} transactions from ${fmtInt(cfg.terminals)} terminals ` +
        `over ${cfg.spanMs / 1000} s of event time, heartbeats every ${cfg.heartbeatMs / 1000} s…`,
    );
    const backlog = await produceBacklog(
      cfg,
      producer,
      async (ev) => (await codec.encode('TransactionEvent', ev, topics.transactions)).length,
      topics,
    );
    await producer.disconnect();
    const txEnds = await topicEnds(kafka, topics.transactions);
    const hbEnds = await topicEnds(kafka, topics.heartbeats);
    if (txEnds.total !== cfg.events)
      throw new Error(`${topics.transactions} holds ${txEnds.total} records, not ${cfg.events}`);
    progress(
      `backlog: ${fmtInt(txEnds.total)} transactions (${fmt(backlog.transactionBytes / cfg.events)} bytes of Avro ` +
        `each on average, ${fmtInt(backlog.offline)} queued offline) and ${fmtInt(hbEnds.total)} heartbeats ` +
        `in ${fmt(backlog.seconds)} s (${fmtInt(cfg.events / backlog.seconds)} transactions/s)`,
    );

    // 4. Kafka's consumer ceiling on the same records
    progress(`ConsumerPerformance: ${fmtInt(cfg.events)} records of ${topics.transactions}…`);
    const perfBroker0 = brokerPid === undefined ? NaN : (processCpuSeconds(brokerPid) ?? NaN);
    const perfMachine0 = machineCpuSeconds().busy;
    const perf = await runConsumerPerformance({
      repoRoot,
      brokers,
      topic: topics.transactions,
      records: cfg.events,
      group: `${prefix}perf-consumer`,
      timeoutMs: 300_000,
    });
    const perfBrokerCpu =
      (brokerPid === undefined ? NaN : (processCpuSeconds(brokerPid) ?? NaN)) - perfBroker0;
    const perfMachineCpu = machineCpuSeconds().busy - perfMachine0;
    if (perf.records !== cfg.events)
      throw new Error(
        `ConsumerPerformance read ${perf.records} records, not ${cfg.events}: ${perf.warning ?? ''}`,
      );
    progress(
      `perf tool: ${fmtInt(perf.fetchRecordsPerSec)} records/s (${fmt(perf.fetchMbPerSec, 2)} MB/s) after the ` +
        `group join; ${fmtInt(perf.recordsPerSec)} records/s with it`,
    );

    // 5. The processor
    const phase = await runProcessorPhase({
      cfg,
      kafka,
      admin,
      bench,
      db,
      topics,
      groupId,
      brokers,
      prefix,
      storeUrl,
      svcPassword,
      benchPassword,
      processorPort: processorPort!,
      store,
      brokerPid,
      txEnds: txEnds.byPartition,
      hbEnds: hbEnds.byPartition,
      cleanups,
    });
    if (!phase.stop.ok)
      stopFailure = new Error(
        `the processor did not exit 0 within 25 s of SIGTERM (code ${phase.stop.code})`,
      );

    numbers = report({
      cfg,
      brokers,
      external: external !== '',
      backlog,
      txRecords: txEnds.total,
      hbRecords: hbEnds.total,
      perf,
      perfBrokerCpu,
      perfMachineCpu,
      phase,
    });
    if (phase.outputs.transactions !== cfg.events || phase.outputs.distinctTransactions !== cfg.events)
      stopFailure ??= new Error(
        `the store holds ${phase.outputs.transactions} transaction rows (${phase.outputs.distinctTransactions} distinct), not ${cfg.events}`,
      );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp();
  }
  if (stopFailure !== undefined) throw stopFailure;
  return numbers;
}

async function deleteOwn(kafka: KafkaClient, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine });
    await admin.deleteGroups([`${prefix}processor`, `${prefix}perf-consumer`]).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

interface PhaseInput {
  cfg: BenchConfig;
  kafka: KafkaClient;
  admin: kafkajs.Admin;
  bench: Store;
  db: string;
  topics: TopicNames;
  groupId: string;
  brokers: string[];
  prefix: string;
  storeUrl: string;
  svcPassword: string;
  benchPassword: string;
  processorPort: number;
  store: ServiceChild;
  brokerPid: number | undefined;
  txEnds: Map<number, number>;
  hbEnds: Map<number, number>;
  cleanups: { what: string; fn: () => Promise<unknown> }[];
}

async function runProcessorPhase(p: PhaseInput): Promise<ProcessorPhase> {
  const { cfg, admin, bench, db, topics } = p;
  const metricsToken = randomBytes(16).toString('hex');
  const storeAuth = `Basic ${Buffer.from(`bench:${p.benchPassword}`).toString('base64')}`;
  const storeBefore = await scrape(new URL('/metrics', p.storeUrl), storeAuth);
  const count = async (table: string, final = false) => {
    const [row] = await bench.query<{ n: string }>(
      `SELECT count() AS n FROM ${db}.${table}${final ? ' FINAL' : ''}`,
    );
    return Number(row?.n ?? NaN);
  };

  // The service's own defaults (fetch sizes, lateness, tick) except what names this run.
  const defaults = parseProcessorConfig({ PROCESSOR_METRICS_TOKEN: metricsToken });
  progress(
    `starting the processor (node ${cfg.processorEntry}; fetch min ${fmtInt(defaults.fetchMinBytes)} bytes, ` +
      `max wait ${defaults.fetchMaxWaitMs} ms${Object.keys(cfg.processorEnv).length > 0 ? `, ${JSON.stringify(cfg.processorEnv)}` : ''})…`,
  );
  const stagesFile = cfg.stages
    ? path.join(mkdtempSync(path.join(tmpdir(), 'pospulse-bench-stages-')), 'stages.json')
    : undefined;
  const spawnedAt = performance.now();
  const proc = startServiceChild({
    name: 'processor',
    cwd: repoRoot,
    entry: cfg.processorEntry,
    nodeArgs: cfg.processorNodeArgs,
    preload:
      stagesFile === undefined
        ? []
        : [pathToFileURL(path.join(import.meta.dirname, '_processor-stages.ts')).href],
    env: childEnv({
      ...(stagesFile === undefined ? {} : { BENCH_PROC_STAGES_FILE: stagesFile }),
      KAFKA_BROKERS: p.brokers.join(','),
      KAFKA_TOPIC_PREFIX: p.prefix,
      KAFKA_TOPIC_PARTITIONS: String(cfg.partitions),
      KAFKA_CLIENT_ID: 'pospulse-bench-processor',
      CLICKHOUSE_URL: p.storeUrl,
      CLICKHOUSE_USER: 'svc',
      CLICKHOUSE_PASSWORD: p.svcPassword,
      CLICKHOUSE_DATABASE: db,
      PROCESSOR_HOST: '127.0.0.1',
      PROCESSOR_PORT: String(p.processorPort),
      PROCESSOR_METRICS_TOKEN: metricsToken,
      PROCESSOR_GROUP_ID: p.groupId,
      // info: the 'partitions assigned' line marks the start of the measured window.
      LOG_LEVEL: 'info',
      ...cfg.processorEnv,
    }),
  });
  let stopped = false;
  p.cleanups.push({
    what: 'stop the processor',
    fn: async () => {
      if (!stopped) await proc.stop(5_000);
    },
  });
  const at0 = snapshot(proc.pid, p.store.pid, p.brokerPid);
  let atAssign: Snapshot | undefined;
  let assignedAt = NaN;
  let rssAtAssign = NaN;
  let warnLines = 0;
  let fatal: string | undefined;
  proc.onLine = (line) => {
    let entry: { level?: number | string; msg?: string; partitions?: number[]; time?: number | string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      warnLines++;
      return;
    }
    // pino's numeric levels, or their names with the project's formatter.
    const level = typeof entry.level === 'string' ? (LEVELS[entry.level] ?? 0) : (entry.level ?? 0);
    if (level >= 40) {
      warnLines++;
      // The first few and then every 100th: a processor that keeps failing a batch says why.
      if (warnLines <= 5 || warnLines % 100 === 0)
        progress(`processor log #${warnLines}: ${line.slice(0, 600)}`);
      if (fatal === undefined && /larger than the max message size/.test(line))
        fatal =
          'the broker refused a produce request of the processor as larger than max.message.bytes ' +
          '(it retries the batch forever); BENCH_PROC_OUTPUT_MAX_MESSAGE_BYTES raises the limit of its output topics';
    }
    if (
      atAssign === undefined &&
      entry.msg === 'partitions assigned' &&
      (entry.partitions?.length ?? 0) > 0
    ) {
      atAssign = snapshot(proc.pid, p.store.pid, p.brokerPid);
      // The log line's own time: it was written a moment before this process read it.
      const loggedAt = typeof entry.time === 'string' ? Date.parse(entry.time) : (entry.time ?? NaN);
      assignedAt = atAssign.at - (Number.isFinite(loggedAt) ? Math.max(0, Date.now() - loggedAt) : 0);
      rssAtAssign = processMemory(proc.pid)?.rssMiB ?? NaN;
    }
  };

  let firstRowAt = NaN;
  let rssMax = 0;
  let lastProgress = performance.now();
  let lastCpu = {
    at: performance.now(),
    proc: processCpuSeconds(proc.pid) ?? 0,
    store: processCpuSeconds(p.store.pid) ?? 0,
  };
  const deadline = spawnedAt + cfg.timeoutMs;
  for (;;) {
    if (proc.exited !== undefined)
      throw new Error(
        `the processor exited (code ${proc.exited.code}, signal ${proc.exited.signal}):\n${proc.logTail.join('\n')}`,
      );
    if (fatal !== undefined) throw new Error(fatal);
    rssMax = Math.max(rssMax, processMemory(proc.pid)?.rssMiB ?? 0);
    const [tx, hb] = await Promise.all([
      committedNext(admin, p.groupId, topics.transactions, true),
      committedNext(admin, p.groupId, topics.heartbeats, false),
    ]);
    if (covers(tx, p.txEnds) && covers(hb, p.hbEnds)) break;
    const now = performance.now();
    if (Number.isNaN(firstRowAt) || now - lastProgress >= cfg.progressMs) {
      const rows = await count('transactions');
      if (Number.isNaN(firstRowAt) && rows > 0) firstRowAt = performance.now();
      if (now - lastProgress >= cfg.progressMs) {
        const procCpu = processCpuSeconds(proc.pid) ?? 0;
        const storeCpu = processCpuSeconds(p.store.pid) ?? 0;
        const secs = (now - lastCpu.at) / 1000;
        let committed = 0;
        for (const v of tx.values()) committed += Math.max(0, v);
        progress(
          `${fmtInt(rows)} transaction rows, ${fmtInt(committed)} committed; processor CPU ` +
            `${fmt(((procCpu - lastCpu.proc) / secs) * 100, 0)}%, store ${fmt(((storeCpu - lastCpu.store) / secs) * 100, 0)}%, ` +
            `RSS ${fmtInt(processMemory(proc.pid)?.rssMiB ?? NaN)} MiB`,
        );
        lastCpu = { at: now, proc: procCpu, store: storeCpu };
        lastProgress = now;
      }
    }
    if (now > deadline)
      throw new Error(
        `the processor did not finish within ${cfg.timeoutMs / 1000} s:\n${proc.logTail.slice(-10).join('\n')}`,
      );
    await sleep(100);
  }
  const atDone = snapshot(proc.pid, p.store.pid, p.brokerPid);
  const doneAt = atDone.at;
  const memEnd = processMemory(proc.pid);
  const storeMem = processMemory(p.store.pid);
  rssMax = Math.max(rssMax, memEnd?.rssMiB ?? 0);
  const stages = stagesFile === undefined ? undefined : await readStages(proc, stagesFile);
  const [metrics, storeAfter] = await Promise.all([
    scrape(new URL(`http://127.0.0.1:${p.processorPort}/metrics`), `Bearer ${metricsToken}`),
    scrape(new URL('/metrics', p.storeUrl), storeAuth),
  ]);
  if (atAssign === undefined)
    throw new Error(`no 'partitions assigned' line from the processor:\n${proc.logTail.join('\n')}`);
  progress(
    `processor done: ${fmtInt(cfg.events)} transactions committed ${fmt((doneAt - assignedAt) / 1000, 2)} s after ` +
      `its assignment (${fmt((doneAt - spawnedAt) / 1000, 2)} s after spawn)`,
  );

  // Outputs as of the moment the commits covered the backlog (the processor keeps running a few
  // seconds more, until stopped, so later ticks may add closed windows).
  const [kpiUpdates, statusRecords, deadLetters] = await Promise.all([
    topicEnds(p.kafka, topics.kpiUpdates),
    topicEnds(p.kafka, topics.terminalStatus),
    topicEnds(p.kafka, topics.deadLetter),
  ]);
  const [distinct] = await bench.query<{ n: string }>(
    `SELECT uniqExact(event_id) AS n FROM ${db}.transactions`,
  );
  // Whatever else the processor writes (tables and topics the rows above do not name).
  const named = new Set([
    'transactions',
    'terminal_heartbeats',
    'kpi_1m',
    'late_events',
    'terminal_status',
    'schema_migrations',
  ]);
  const parts = await bench.query<{ table: string; rows: string }>(
    `SELECT table, sum(rows) AS rows FROM system.parts WHERE database = {db:String} AND active GROUP BY table ORDER BY table`,
    { db },
  );
  const namedTopics = new Set<string>([
    topics.transactions,
    topics.heartbeats,
    topics.kpiUpdates,
    topics.terminalStatus,
    topics.deadLetter,
  ]);
  const otherTopics = await Promise.all(
    (await admin.listTopics())
      .filter((t) => t.startsWith(p.prefix) && !namedTopics.has(t))
      .sort()
      .map(async (t) => ({ name: t.slice(p.prefix.length), n: (await topicEnds(p.kafka, t)).total })),
  );
  const outputs: Outputs = {
    otherTables: parts.filter((r) => !named.has(r.table)).map((r) => ({ name: r.table, n: Number(r.rows) })),
    otherTopics,
    transactions: await count('transactions'),
    distinctTransactions: Number(distinct?.n ?? NaN),
    heartbeats: await count('terminal_heartbeats'),
    kpiRows: await count('kpi_1m'),
    kpiFinalRows: await count('kpi_1m', true),
    lateEvents: await count('late_events'),
    statusRows: await count('terminal_status'),
    kpiUpdates: kpiUpdates.total,
    statusRecords: statusRecords.total,
    deadLetters: deadLetters.total,
  };

  const s = await proc.stop(25_000);
  stopped = true;
  const stopOk = s.code === 0 && !s.killed;
  progress(
    stopOk
      ? `processor exited 0 ${fmt(s.ms / 1000, 2)} s after SIGTERM`
      : `processor did NOT exit cleanly: code ${s.code}, signal ${s.signal}${s.killed ? ', killed after 25 s' : ''}`,
  );
  return {
    spawnedAt,
    assignedAt,
    firstRowAt,
    doneAt,
    cpu: cpuWindow(proc.pid, p.store.pid, atAssign, atDone),
    cpuFromSpawn: cpuWindow(proc.pid, p.store.pid, at0, atDone),
    rssAtAssignMiB: rssAtAssign,
    rssMaxMiB: rssMax,
    rssEndMiB: memEnd?.rssMiB ?? NaN,
    peakMiB: memEnd?.peakMiB ?? NaN,
    storeRssEndMiB: storeMem?.rssMiB ?? NaN,
    storePeakMiB: storeMem?.peakMiB ?? NaN,
    metrics,
    stages,
    storeBefore,
    storeAfter,
    outputs,
    stop: { ...s, ok: stopOk },
    logTail: proc.logTail.filter((l) => !/"level":(30\b|"info")/.test(l)),
    warnLines,
  };
}

/** Asks the stage timer in the processor for its totals (SIGUSR2) and reads them. */
async function readStages(proc: ServiceChild, file: string): Promise<ProcessorPhase['stages']> {
  proc.process.kill('SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    if (existsSync(file)) {
      try {
        const stages = JSON.parse(readFileSync(file, 'utf8')) as ProcessorPhase['stages'];
        rmSync(path.dirname(file), { recursive: true, force: true });
        return stages;
      } catch {
        // written meanwhile: read again
      }
    }
  }
  progress('the processor wrote no stage timings within 5 s');
  rmSync(path.dirname(file), { recursive: true, force: true });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Report

interface ReportInput {
  cfg: BenchConfig;
  brokers: string[];
  external: boolean;
  backlog: Backlog;
  txRecords: number;
  hbRecords: number;
  perf: ConsumerPerfResult;
  perfBrokerCpu: number;
  perfMachineCpu: number;
  phase: ProcessorPhase;
}

function report(r: ReportInput): Record<string, number> {
  const { cfg, perf, phase } = r;
  const cores = cpus().length;
  const out: string[] = [];
  const line = (s = '') => out.push(s);
  const row = (label: string, value: string) => line(`  ${label.padEnd(50)} ${value}`);
  const secs = (phase.doneAt - phase.assignedAt) / 1000;
  const secsFromSpawn = (phase.doneAt - phase.spawnedAt) / 1000;
  const txPerSec = cfg.events / secs;
  const eventsPerSec = (cfg.events + r.hbRecords) / secs;
  const mbPerSec = r.backlog.transactionBytes / 2 ** 20 / secs;
  const ratio = txPerSec / perf.fetchRecordsPerSec;
  const c = phase.cpu;
  const pct = (cpuSeconds: number) => (cpuSeconds / c.seconds) * 100;
  const m = phase.metrics;
  const other =
    c.machine - c.processor.total - c.store.total - (Number.isFinite(c.broker) ? c.broker : 0) - c.driver;
  const batchCount = (topic: string) =>
    metric(m, 'pospulse_consumer_batch_seconds_count', `topic="${topic}"`);
  const batchSum = (topic: string) => metric(m, 'pospulse_consumer_batch_seconds_sum', `topic="${topic}"`);
  const d = (name: string, ...labels: string[]) =>
    metric(phase.storeAfter, name, ...labels) - metric(phase.storeBefore, name, ...labels);
  const inserts = d('pospulse_store_queries_total', 'kind="INSERT"', 'user="svc"');
  const insertSeconds = d('pospulse_store_query_seconds_sum', 'kind="INSERT"');
  const perfToolPct = (perf.cpuSeconds / perf.wallSeconds) * 100;
  const namedStore = [...c.store.named.entries()].sort((a, b) => b[1] - a[1]);
  const namedStoreSum = namedStore.reduce((s, [, v]) => s + v, 0);

  line('Machine');
  row('CPU', `${cores} x ${cpus()[0]?.model.trim() ?? 'unknown'}`);
  row('RAM', `${fmt(totalmem() / 2 ** 30)} GiB`);
  row('OS', `Linux ${release()}`);
  row('node / java', `${process.version} / ${javaVersion()}`);
  row(
    'Kafka (broker and perf tool)',
    `${kafkaVersion()}${r.external ? ' (tool); broker from KAFKA_BROKERS' : ''}`,
  );
  row('pospulse revision', revision());
  row('broker', `${r.external ? 'KAFKA_BROKERS' : 'private (infra/kafka/start.sh)'} ${r.brokers.join(',')}`);
  line();
  line('Backlog (pre-produced with EventProducer and the Avro codec)');
  row('transactions (BENCH_PROC_EVENTS)', `${fmtInt(r.txRecords)} in ${cfg.partitions} partitions`);
  row(
    'heartbeats (every BENCH_PROC_HEARTBEAT_S per terminal)',
    `${fmtInt(r.hbRecords)} (${cfg.heartbeatMs / 1000} s)`,
  );
  row(
    'fleet',
    `${fmtInt(cfg.terminals)} terminals, ${fmtInt(Math.ceil(cfg.terminals / cfg.perMerchant))} merchants, 8 regions, 4 acquirers, ${fmtInt(cfg.cards)} cards`,
  );
  row(
    'event time span',
    `${cfg.spanMs / 1000} s ending 5 s before the run; ${fmtInt(r.backlog.offline)} events queued offline 2.5-4 min`,
  );
  row(
    'max.message.bytes of the output topics',
    cfg.outputMaxMessageBytes > 0
      ? `${fmtInt(cfg.outputMaxMessageBytes)} (BENCH_PROC_OUTPUT_MAX_MESSAGE_BYTES; broker default 1 MiB)`
      : 'broker default (1 MiB)',
  );
  row(
    'transaction record',
    `${fmt(r.backlog.transactionBytes / r.txRecords)} bytes of Avro on average + key`,
  );
  row(
    'produced in',
    `${fmt(r.backlog.seconds)} s (${fmtInt(r.txRecords / r.backlog.seconds)} transactions/s, this process)`,
  );
  line();
  line('kafka-consumer-perf-test (ConsumerPerformance, defaults, own group, from the beginning)');
  row('records/s after the group join (fetch.nMsg.sec)', fmtInt(perf.fetchRecordsPerSec));
  row('MB/s after the group join (fetch.MB.sec)', fmt(perf.fetchMbPerSec, 2));
  row('records/s with the join (nMsg.sec)', `${fmtInt(perf.recordsPerSec)} (${fmt(perf.mbPerSec, 2)} MB/s)`);
  row('records, MB', `${fmtInt(perf.records)}, ${fmt(perf.mb, 2)} MB`);
  row('group join / fetching', `${fmtInt(perf.rebalanceMs)} ms / ${fmtInt(perf.fetchMs)} ms`);
  row(
    'tool CPU (JVM start-up and JIT included)',
    `${fmt(perf.cpuSeconds)} s over ${fmt(perf.wallSeconds)} s wall (${fmt(perfToolPct, 0)}% of one core)`,
  );
  row(
    'CPU during the tool (% of one core, whole wall time)',
    `machine ${fmt((r.perfMachineCpu / perf.wallSeconds) * 100, 0)}% of ${cores * 100}%: tool ${fmt(perfToolPct, 0)}, broker ${fmt((r.perfBrokerCpu / perf.wallSeconds) * 100, 0)}`,
  );
  line();
  line('Processor (services/processor/main.ts, service defaults; store = services/store/main.ts, chDB)');
  row('transactions/s (assignment -> commits cover all)', fmtInt(txPerSec));
  row('events/s incl. heartbeats', fmtInt(eventsPerSec));
  row('MB/s of transaction records', fmt(mbPerSec, 2));
  row(
    'time: spawn -> assignment -> first row -> done',
    `${fmt((phase.assignedAt - phase.spawnedAt) / 1000, 2)} s -> +${fmt((phase.firstRowAt - phase.assignedAt) / 1000, 2)} s -> ` +
      `done ${fmt(secs, 2)} s after the assignment (${fmt(secsFromSpawn, 2)} s after spawn: ${fmtInt(cfg.events / secsFromSpawn)} transactions/s)`,
  );
  row(
    'raw rows written: transactions / heartbeats',
    `${fmtInt(phase.outputs.transactions)} (${fmtInt(phase.outputs.distinctTransactions)} distinct) / ${fmtInt(phase.outputs.heartbeats)}`,
  );
  row(
    'kpi_1m rows (all versions / FINAL)',
    `${fmtInt(phase.outputs.kpiRows)} / ${fmtInt(phase.outputs.kpiFinalRows)}`,
  );
  row('KpiUpdates published (1m + rolling)', fmtInt(phase.outputs.kpiUpdates));
  row('late_events rows', fmtInt(phase.outputs.lateEvents));
  row(
    'terminal_status rows / TerminalStatus records',
    `${fmtInt(phase.outputs.statusRows)} / ${fmtInt(phase.outputs.statusRecords)}`,
  );
  row('dead letters', fmtInt(phase.outputs.deadLetters));
  const others = (list: { name: string; n: number }[]) =>
    list.length === 0 ? 'none' : list.map((o) => `${o.name} ${fmtInt(o.n)}`).join(', ');
  row('other tables: rows', others(phase.outputs.otherTables));
  row('other topics: records', others(phase.outputs.otherTopics));
  const topicsSeen = [...(m?.keys() ?? [])]
    .filter((k) => k.startsWith('pospulse_consumer_batch_seconds_count{'))
    .map((k) => /topic="([^"]+)"/.exec(k)?.[1] ?? '');
  for (const topic of topicsSeen) {
    const n = batchCount(topic);
    const sum = batchSum(topic);
    row(
      `batches of ${topic.slice(topic.lastIndexOf('.') + 1)}: count, avg time, busy`,
      `${fmtInt(n)}, ${fmt((sum / n) * 1000, 0)} ms, ${fmt(sum, 1)} s (${fmt((sum / secs) * 100, 0)}% of the window)`,
    );
  }
  row(
    'store INSERTs by the processor: count, time (summed)',
    `${fmtInt(inserts)}, ${fmt(insertSeconds, 1)} s (${fmt((insertSeconds / Math.max(1, inserts)) * 1000, 0)} ms avg; concurrent ones overlap)`,
  );
  row(
    'processor CPU',
    `${fmt(pct(c.processor.total), 0)}% of one core (${fmt((c.processor.total / cfg.events) * 1e6)} µs/transaction): ` +
      `main thread ${fmt(pct(c.processor.main), 0)}, other threads ${fmt(pct(c.processor.total - c.processor.main), 0)}`,
  );
  row(
    'store CPU',
    `${fmt(pct(c.store.total), 0)}% of one core (${fmt((c.store.total / cfg.events) * 1e6)} µs/transaction): ` +
      `JS main thread ${fmt(pct(c.store.main), 0)}, ClickHouse threads ${fmt(pct(namedStoreSum), 0)}, ` +
      `other (libuv running chDB calls, V8) ${fmt(pct(c.store.other), 0)}`,
  );
  row(
    '  ClickHouse threads by name (% of one core)',
    namedStore
      .filter(([, v]) => pct(v) >= 0.5)
      .map(([n, v]) => `${n} ${fmt(pct(v), 0)}`)
      .join(', ') || 'none above 0.5%',
  );
  row(
    'processor RSS at assignment / max / end (peak)',
    `${fmt(phase.rssAtAssignMiB, 0)} / ${fmt(phase.rssMaxMiB, 0)} / ${fmt(phase.rssEndMiB, 0)} MiB (${fmt(phase.peakMiB, 0)} MiB)`,
  );
  row(
    'store RSS at the end (peak)',
    `${fmt(phase.storeRssEndMiB, 0)} MiB (${fmt(phase.storePeakMiB, 0)} MiB)`,
  );
  row(
    'CPU in the window (% of one core)',
    `machine ${fmt(pct(c.machine), 0)}% of ${cores * 100}%: processor ${fmt(pct(c.processor.total), 0)}, ` +
      `store ${fmt(pct(c.store.total), 0)}, broker ${fmt(pct(c.broker), 0)}, this process ${fmt(pct(c.driver), 0)}, other ${fmt(pct(other), 0)}`,
  );
  row(
    'processor CPU from spawn (start-up included)',
    `${fmt(phase.cpuFromSpawn.processor.total, 1)} s over ${fmt(phase.cpuFromSpawn.seconds, 1)} s`,
  );
  if (pct(other) > 20)
    line(
      `  WARNING: other processes used ${fmt(pct(other), 0)}% of one core during the processor window: ` +
        'on a shared machine the numbers above are lower than on an idle one',
    );
  if (phase.stages !== undefined) {
    line();
    line(
      'Stages (BENCH_PROC_STAGES=1: wall time summed over calls; outer stages include inner ones, overlapping calls each count)',
    );
    for (const [name, t] of Object.entries(phase.stages)) {
      row(
        `  ${name}`,
        `${fmt(t.ms / 1000, 2).padStart(7)} s ${fmt((t.ms / 1000 / secs) * 100, 0).padStart(4)}% of the window, ` +
          `${fmtInt(t.calls)} calls, ${fmt(t.ms / t.calls, t.ms / t.calls < 1 ? 3 : 1)} ms each` +
          (t.bytes === undefined ? '' : `, ${fmt(t.bytes / t.calls, 0)} bytes each`),
      );
    }
  }
  line();
  line('Ratio');
  row(
    'processor transactions/s ÷ perf-tool records/s',
    `${fmt(ratio, 3)} (the tool reads ${fmt(1 / ratio, 1)}x faster; both after the group join)`,
  );
  row(
    'CPU per transaction: processor + store / tool',
    `${fmt(((c.processor.total + c.store.total) / cfg.events) * 1e6)} / ${fmt((perf.cpuSeconds / perf.records) * 1e6)} µs`,
  );
  line();
  row(
    'processor shutdown',
    phase.stop.ok
      ? `exit 0, ${fmt(phase.stop.ms / 1000, 2)} s after SIGTERM`
      : `FAILED: code ${phase.stop.code}, signal ${phase.stop.signal}${phase.stop.killed ? ', SIGKILLed' : ''}`,
  );
  row('processor log lines at warn or above', String(phase.warnLines));
  if (phase.warnLines > 0) for (const l of phase.logTail.slice(-5)) line(`    ${l.slice(0, 300)}`);
  process.stdout.write(`${out.join('\n')}\n`);

  return {
    cores,
    partitions: cfg.partitions,
    events: cfg.events,
    heartbeats: r.hbRecords,
    terminals: cfg.terminals,
    output_max_message_bytes: cfg.outputMaxMessageBytes,
    record_bytes: round(r.backlog.transactionBytes / r.txRecords, 1),
    perf_records_per_s: Math.round(perf.fetchRecordsPerSec),
    perf_mb_per_s: perf.fetchMbPerSec,
    perf_records_per_s_with_join: Math.round(perf.recordsPerSec),
    perf_tool_cpu_s: round(perf.cpuSeconds, 2),
    processor_tx_per_s: Math.round(txPerSec),
    processor_events_per_s: Math.round(eventsPerSec),
    processor_mb_per_s: round(mbPerSec, 2),
    processor_seconds: round(secs, 2),
    processor_seconds_from_spawn: round(secsFromSpawn, 2),
    processor_cpu_pct: round(pct(c.processor.total), 1),
    processor_main_thread_pct: round(pct(c.processor.main), 1),
    processor_cpu_us_per_tx: round((c.processor.total / cfg.events) * 1e6, 1),
    store_cpu_pct: round(pct(c.store.total), 1),
    store_main_thread_pct: round(pct(c.store.main), 1),
    store_clickhouse_threads_pct: round(pct(namedStoreSum), 1),
    store_cpu_us_per_tx: round((c.store.total / cfg.events) * 1e6, 1),
    broker_cpu_pct: round(pct(c.broker), 1),
    machine_cpu_pct: round(pct(c.machine), 1),
    other_cpu_pct: round(pct(other), 1),
    processor_rss_max_mib: round(phase.rssMaxMiB, 1),
    processor_rss_peak_mib: round(phase.peakMiB, 1),
    store_rss_peak_mib: round(phase.storePeakMiB, 1),
    store_inserts: inserts,
    store_insert_seconds: round(insertSeconds, 2),
    kpi_rows: phase.outputs.kpiRows,
    kpi_final_rows: phase.outputs.kpiFinalRows,
    kpi_updates: phase.outputs.kpiUpdates,
    late_events: phase.outputs.lateEvents,
    status_rows: phase.outputs.statusRows,
    status_records: phase.outputs.statusRecords,
    ratio_processor_to_perf: round(ratio, 4),
    processor_exit_ok: phase.stop.ok ? 1 : 0,
  };
}

// `npx tsx scripts/bench/processor.ts` runs it alone, as run.ts would.
if (process.argv[1] === import.meta.filename) {
  const numbers = await run();
  process.stdout.write(
    `${JSON.stringify({ bench: 'processor', date: new Date().toISOString(), results: numbers })}\n`,
  );
}
