import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { Admin } from 'kafkajs';
import { checkpointOf } from '../../services/processor/kpi/checkpoint-metadata.ts';
import { createKafka } from '../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../services/shared/kafka/config.ts';
import { topicNames } from '../../services/shared/kafka/topics.ts';
import { createLogger } from '../../services/shared/logger.ts';
import { repoRoot } from '../../test/integration/support/broker.ts';
import { isolatedStackEnv } from '../stack/isolated-env.ts';
import { startStack, type RunningStack } from '../stack/stack.ts';
import { envInt } from './_env.ts';
import { benchEvent } from './_gateway-events.ts';
import { percentile } from './_gateway-load.ts';
import { machineCpuSeconds, processCpuSeconds, processMemory } from './_gateway-proc.ts';
import { MARKER_REGION, MarkerProbe } from './_pipeline-markers.ts';
import { RateLoad } from './_pipeline-load.ts';
import { runProducerPerformance, type PerfToolResult } from './_gateway-perf.ts';
import { runConsumerPerformance, type ConsumerPerfResult } from './_processor-perf.ts';

/*
 * `npm run bench`: the whole pipeline as `npm start` runs it (scripts/stack/stack.ts: broker,
 * store, processor, gateway, live, api, each a process of its own), fed over the gateway's HTTP
 * API at a fixed offered rate and then at rising rates until it no longer keeps up; timed end to
 * end with marker transactions (scripts/bench/_pipeline-markers.ts) from the gateway's reply to a
 * wall's WebSocket and to ClickHouse; then Kafka's own producer and consumer perf tools on the same
 * broker, as ceilings. docs/BENCHMARKS.md#end-to-end explains the numbers.
 */

const cfg = {
  rate: envInt('BENCH_RATE', 500),
  seconds: envInt('BENCH_SECONDS', 60),
  warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 15, 0),
  stepSeconds: envInt('BENCH_STEP_SECONDS', 30),
  /** Each step offers this many % of the previous one's rate. */
  stepPct: envInt('BENCH_STEP_PCT', 150, 101),
  maxSteps: envInt('BENCH_MAX_STEPS', 8),
  /** Steps between the highest rate kept up and the lowest not, once one was not (0: none). */
  refineSteps: envInt('BENCH_REFINE_STEPS', 1, 0),
  terminals: envInt('BENCH_TERMINALS', 2_000),
  eventsPerRequest: envInt('BENCH_EVENTS_PER_REQUEST', 10),
  maxInFlight: envInt('BENCH_MAX_IN_FLIGHT', 64),
  markerMs: envInt('BENCH_MARKER_MS', 100, 10),
  /** A step whose p99 to the wall or to ClickHouse is above this is not sustained. */
  maxDelayMs: envInt('BENCH_MAX_DELAY_MS', 10_000),
  perfRecords: envInt('BENCH_PERF_RECORDS', 300_000),
  progressMs: envInt('BENCH_PROGRESS_SECONDS', 5) * 1000,
};

/** BENCH_SET_PROCESSOR_FETCH_MAX_WAIT=200ms runs the stack with PROCESSOR_FETCH_MAX_WAIT=200ms. */
const stackOverrides: Record<string, string> = Object.fromEntries(
  Object.entries(process.env)
    .filter((e): e is [string, string] => e[0].startsWith('BENCH_SET_') && e[1] !== undefined)
    .map(([k, v]) => [k.slice('BENCH_SET_'.length), v]),
);

const say = (s: string) => process.stdout.write(`${s}\n`);
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
const secs = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : 'n/a');

interface Usage {
  cpuPct: number;
  cpuSeconds: number;
  rssMiB: number;
  peakMiB: number;
}

interface StepResult {
  name: string;
  offeredPerSec: number;
  seconds: number;
  acceptedPerSec: number;
  /** Rows of the step's window in `transactions` per second, counted after the run. */
  storedPerSec: number;
  notAccepted: number;
  gatewayP50: number;
  gatewayP99: number;
  liveP50: number;
  liveP99: number;
  queryableP50: number;
  queryableP99: number;
  markers: number;
  lagEnd: number;
  usage: Record<string, Usage>;
  machinePct: number;
  sustained: boolean;
  why: string;
  from: number;
  to: number;
}

/** CPU and memory of the pipeline's processes between two readings. */
class UsageMeter {
  private last = new Map<string, number>();
  private lastAt = performance.now();
  private lastMachine = machineCpuSeconds().busy;

  constructor(private readonly pids: () => Record<string, number>) {
    this.reset();
  }

  reset(): void {
    this.last = new Map(Object.entries(this.pids()).map(([n, pid]) => [n, processCpuSeconds(pid) ?? NaN]));
    this.lastAt = performance.now();
    this.lastMachine = machineCpuSeconds().busy;
  }

  read(): { usage: Record<string, Usage>; machinePct: number } {
    const wall = (performance.now() - this.lastAt) / 1000;
    const usage: Record<string, Usage> = {};
    for (const [name, pid] of Object.entries(this.pids())) {
      const cpu = (processCpuSeconds(pid) ?? NaN) - (this.last.get(name) ?? NaN);
      const mem = processMemory(pid);
      usage[name] = {
        cpuSeconds: cpu,
        cpuPct: (cpu / wall) * 100,
        rssMiB: mem?.rssMiB ?? NaN,
        peakMiB: mem?.peakMiB ?? NaN,
      };
    }
    const machinePct = ((machineCpuSeconds().busy - this.lastMachine) / wall) * 100;
    this.reset();
    return { usage, machinePct };
  }
}

/**
 * Records of `topic` the processor group has not processed: the high watermarks minus, per
 * partition, the `next` of the window checkpoint it commits (docs/PROCESSOR.md).
 */
async function processorLag(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, [entry]] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  let lag = 0;
  for (const end of ends) {
    const c = entry?.partitions.find((p) => p.partition === end.partition);
    const r = checkpointOf(
      end.partition,
      c === undefined ? undefined : { offset: c.offset, metadata: c.metadata },
    );
    const next = r.kind === 'checkpoint' ? r.checkpoint.nextOffset : Number(end.low);
    lag += Math.max(0, Number(end.high) - Math.max(next, Number(end.low)));
  }
  return lag;
}

function machineFacts(): Record<string, string> {
  const lib = join(repoRoot, 'infra/kafka/lib');
  const jar = existsSync(lib) ? readdirSync(lib).find((f) => /^kafka-clients-.*\.jar$/.test(f)) : undefined;
  return {
    cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `Linux ${release()}`,
    node: process.version,
    kafka: jar?.slice('kafka-clients-'.length, -'.jar'.length) ?? 'unknown',
    load_before: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

export async function main(): Promise<void> {
  const abort = new AbortController();
  const onSignal = (signal: string) => {
    if (abort.signal.aborted) {
      say(`${signal} again: still stopping cleanly, please wait`);
      return;
    }
    say(`${signal}: stopping the load and the stack`);
    abort.abort();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const wait = (ms: number) => sleep(ms, undefined, { signal: abort.signal });

  const facts = machineFacts();
  const runId = randomBytes(3).toString('hex');
  const dataDir = await mkdtemp(join(tmpdir(), 'pospulse-bench-'));
  const external = process.env['KAFKA_BROKERS'] || undefined;
  // On a shared broker the run's topics and group are its own; its own broker uses the defaults.
  const prefix = external === undefined ? 'pospulse.' : `bench-${runId}.`;
  const groupId = external === undefined ? 'pospulse-processor' : `bench-${runId}-processor`;
  const logTail: string[] = [];
  let printedLogLines = 0;
  const out = (name: string, line: string) => {
    logTail.push(`${name}: ${line}`);
    if (logTail.length > 200) logTail.shift();
    // Start-up steps as they happen; of the services (at LOG_LEVEL=warn) the first few warnings.
    if (name === 'stack' || name === 'kafka' || name === 'migrate' || name === 'topics')
      say(`  [${name}] ${line}`);
    else if (printedLogLines++ < 20) say(`  [${name}] ${line.slice(0, 1000)}`);
    else if (printedLogLines === 21) say('  (further service log lines are kept for the end)');
  };
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dataDir, { recursive: true, force: true })];
  let failed = false;
  try {
    const env = await isolatedStackEnv(process.env, {
      ...(external === undefined
        ? {}
        : { KAFKA_BROKERS: external, KAFKA_TOPIC_PREFIX: prefix, PROCESSOR_GROUP_ID: groupId }),
      // Warnings and errors only: the services' info lines would bury the progress lines.
      LOG_LEVEL: 'warn',
      ...stackOverrides,
    });
    say(
      `pipeline benchmark: ${cfg.rate} events/s for ${cfg.seconds} s (after ${cfg.warmupSeconds} s warm-up), then ` +
        `x${cfg.stepPct / 100} every ${cfg.stepSeconds} s until it does not keep up (at most ${cfg.maxSteps} steps), ` +
        `${cfg.refineSteps} step(s) in between; ` +
        `${cfg.terminals} terminals, ${cfg.eventsPerRequest} events per request, a marker every ${cfg.markerMs} ms`,
    );
    if (Object.keys(stackOverrides).length > 0)
      say(
        `stack settings: ${Object.entries(stackOverrides)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
    say(
      `machine: ${Object.entries(facts)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    const t0 = performance.now();
    const stack: RunningStack = await startStack({ root: repoRoot, dataDir, simulator: false, env, out });
    let stopped: Promise<void> | undefined;
    const stopStack = () => (stopped ??= stack.stop());
    cleanups.push(stopStack);
    if (abort.signal.aborted) return;
    say(`stack up in ${((performance.now() - t0) / 1000).toFixed(0)} s (data in ${dataDir})`);

    const brokers = stack.urls['kafka'] as string;
    const kafkaClient = createKafka(
      parseKafkaConfig({ KAFKA_BROKERS: brokers }),
      createLogger({ service: 'bench-pipeline', level: 'error' }),
    );
    const admin = kafkaClient.admin();
    await admin.connect();
    cleanups.push(async () => {
      // The services first, so that none still reads a topic being deleted.
      await stopStack();
      if (external !== undefined) {
        const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
        await admin.deleteTopics({ topics: mine });
      }
      await admin.disconnect();
    });
    const topics = topicNames(prefix);

    // A broker from KAFKA_BROKERS is not this run's: its CPU is not reported.
    const brokerPid =
      external === undefined
        ? Number(readFileSync(join(dataDir, 'kafka', 'kafka.pid'), 'utf8').trim()) || undefined
        : undefined;
    const pids = () => ({
      ...stack.supervisor.pids(),
      ...(brokerPid === undefined ? {} : { broker: brokerPid }),
      'load generator': process.pid,
    });

    const gatewayUrl = new URL('/v1/transactions', stack.urls['gateway']);
    const authorization = `Bearer ${stack.secrets.gatewayKey}`;
    // Times fresh at send: request_time up to a second back, the response 80-480 ms later.
    const freshEvent = (i: number): Record<string, unknown> => {
      const e = benchEvent(i, cfg.terminals, Date.now());
      const requestTime = Date.now() - (i % 20) * 50;
      e['request_time'] = requestTime;
      if (e['response_time'] !== undefined) e['response_time'] = requestTime + 80 + (i % 400);
      return e;
    };
    const load = new RateLoad({
      url: gatewayUrl,
      authorization,
      eventsPerRequest: cfg.eventsPerRequest,
      maxInFlight: cfg.maxInFlight,
      makeEvent: freshEvent,
    });
    cleanups.push(() => load.stop());
    const merchantId = `MBENCH${runId}`;
    const wall = new URL(stack.urls['wall'] as string);
    const markers = new MarkerProbe({
      gatewayUrl,
      authorization,
      liveWsUrl: `ws://${wall.host}/ws`,
      liveToken: stack.secrets.liveToken,
      clickhouse: {
        url: stack.urls['clickhouse'] as string,
        user: stack.secrets.clickhouse.analyst.user,
        password: stack.secrets.clickhouse.analyst.password,
        database: 'pospulse',
      },
      merchantId,
      makeMarker: (n) => ({
        ...freshEvent(1_000_000_000 + n),
        terminal_serial: `MRK-${runId}-${String(n).padStart(6, '0')}`,
        merchant_id: merchantId,
        region: MARKER_REGION,
      }),
      everyMs: cfg.markerMs,
      pollMs: 200,
    });
    await markers.start();
    cleanups.push(() => markers.stop());

    const meter = new UsageMeter(pids);
    const transactionsTopic = topics.transactions;
    let lag = NaN;
    const lagTimer = setInterval(() => {
      void processorLag(admin, groupId, transactionsTopic).then(
        (l) => (lag = l),
        () => undefined,
      );
    }, 1_000);
    cleanups.push(async () => clearInterval(lagTimer));

    // Progress: the interval's numbers every few seconds.
    let progressCounts = { ...load.counts };
    let progressAt = Date.now();
    let progressMark = 0;
    let label = 'warm-up';
    let offeredNow = cfg.rate;
    const progressTimer = setInterval(() => {
      const now = Date.now();
      if (now - progressAt < 1_000) return; // a step just began
      const c = load.counts;
      const accepted = ((c.accepted - progressCounts.accepted) / (now - progressAt)) * 1000;
      const lat = load.latenciesSince(progressMark);
      progressMark = load.latencyMark();
      const d = markers.delays(progressAt, now, now);
      const pending = markers.pending();
      say(
        `  ${label.padEnd(9)} offered ${fmt(offeredNow)}/s  accepted ${fmt(accepted)}/s  ` +
          `not accepted ${fmt(c.refused + c.failed + c.skipped - progressCounts.refused - progressCounts.failed - progressCounts.skipped)}  ` +
          `in flight ${c.inFlight}  gateway p50 ${fmt(percentile(lat, 50), 1)} ms  processor lag ${fmt(lag)} rec  ` +
          `p50 to wall ${secs(percentile(d.live, 50))}, to ClickHouse ${secs(percentile(d.queryable, 50))}  ` +
          `markers pending ${pending.queryable}`,
      );
      progressCounts = { ...c };
      progressAt = now;
    }, cfg.progressMs);
    cleanups.push(async () => clearInterval(progressTimer));

    // Warm-up at the fixed rate (JIT, connections, the processor's first windows): not counted.
    load.setRate(cfg.rate);
    if (cfg.warmupSeconds > 0) await wait(cfg.warmupSeconds * 1000);

    /** After a step that did not keep up: no load until the processor has caught up (at most 90 s). */
    const recover = async () => {
      label = 'recover';
      offeredNow = 0;
      load.setRate(0);
      say('recovering: no load until the processor has caught up');
      const until = Date.now() + 90_000;
      // Markers keep coming while it recovers: caught up is when none older than 3 s is still unseen.
      while (Date.now() < until && !(lag < 1_000 && markers.pending(3_000).queryable === 0))
        await wait(1_000);
    };

    const steps: StepResult[] = [];
    let rate = cfg.rate;
    let good: number | undefined;
    let bad: number | undefined;
    let refined = 0;
    for (let step = 0; bad !== undefined || step < cfg.maxSteps; step++) {
      const seconds = step === 0 ? cfg.seconds : cfg.stepSeconds;
      label = step === 0 ? 'fixed' : bad === undefined ? `step ${step}` : `refine ${refined}`;
      offeredNow = rate;
      load.setRate(rate);
      load.clearLatencies();
      // The progress lines' intervals restart with the step, so none mixes two rates.
      progressMark = 0;
      progressAt = Date.now();
      progressCounts = { ...load.counts };
      meter.reset();
      const before = { ...load.counts };
      const from = Date.now();
      say(`${label}: offering ${fmt(rate)} events/s for ${seconds} s`);
      await wait(seconds * 1000);
      const to = Date.now();
      const c = { ...load.counts };
      const lat = load.latenciesSince();
      const { usage, machinePct } = meter.read();
      // The load goes on at the same rate (not counted) until the step's markers arrived or are
      // older than the limit, so the verdict sees their delays rather than lower bounds.
      while (markers.delays(from, to, Date.now()).unseen > 0 && Date.now() - to < cfg.maxDelayMs)
        await wait(250);
      const judged = Date.now();
      const d = markers.delays(from, to, judged);
      const notAccepted = c.refused + c.failed + c.skipped - before.refused - before.failed - before.skipped;
      const offered = c.offered - before.offered;
      const half = from + (to - from) / 2;
      const early = markers.delays(from, half, judged);
      const late = markers.delays(half, to, judged);
      const r: StepResult = {
        name: label,
        offeredPerSec: rate,
        seconds: (to - from) / 1000,
        acceptedPerSec: ((c.accepted - before.accepted) / (to - from)) * 1000,
        storedPerSec: NaN,
        notAccepted,
        gatewayP50: percentile(lat, 50),
        gatewayP99: percentile(lat, 99),
        liveP50: percentile(d.live, 50),
        liveP99: percentile(d.live, 99),
        queryableP50: percentile(d.queryable, 50),
        queryableP99: percentile(d.queryable, 99),
        markers: d.count,
        lagEnd: lag,
        usage,
        machinePct,
        sustained: true,
        why: 'kept up',
        from,
        to,
      };
      // A marker still unseen counts with its age, above the limit.
      const reasons: string[] = [];
      if (notAccepted > offered * 0.02)
        reasons.push(`gateway accepted ${fmt((1 - notAccepted / offered) * 100, 1)}% of the offered events`);
      if (r.liveP99 > cfg.maxDelayMs) reasons.push(`p99 to the wall ${secs(r.liveP99)}`);
      if (r.queryableP99 > cfg.maxDelayMs) reasons.push(`p99 to ClickHouse ${secs(r.queryableP99)}`);
      const growth = percentile(late.queryable, 50) - percentile(early.queryable, 50);
      if (growth > cfg.maxDelayMs / 4)
        reasons.push(`delay to ClickHouse grew by ${secs(growth)} within the step`);
      if (lag > (rate * cfg.maxDelayMs) / 1000) reasons.push(`processor lag ${fmt(lag)} records at the end`);
      if (reasons.length > 0) {
        r.sustained = false;
        r.why = reasons.join('; ');
      }
      steps.push(r);
      say(`${label}: ${r.sustained ? 'kept up' : `did not keep up: ${r.why}`}`);
      if (r.sustained) good = rate;
      else bad = Math.min(bad ?? rate, rate);
      if (bad === undefined) {
        rate = Math.round((rate * cfg.stepPct) / 100);
        continue;
      }
      // Between the highest rate kept up and the lowest not: the geometric mean, while it is
      // more than 5% from either end (finer than that, the machine's noise decides).
      const next = good === undefined ? 0 : Math.round(Math.sqrt(good * bad));
      if (good === undefined || refined >= cfg.refineSteps || next < good * 1.05 || next > bad / 1.05) break;
      refined++;
      rate = next;
      if (!r.sustained) await recover();
    }

    // Drain: the markers still under way settle their delays (those of a failed step may never).
    label = 'drain';
    offeredNow = 0;
    await load.stop();
    await markers.stopSending();
    say('load stopped; waiting up to 30 s for the markers under way');
    const drainUntil = Date.now() + 30_000;
    while (Date.now() < drainUntil && markers.pending().queryable + markers.pending().live > 0)
      await wait(500);
    clearInterval(progressTimer);
    const end = Date.now();
    for (const s of steps) {
      const d = markers.delays(s.from, s.to, end);
      s.liveP50 = percentile(d.live, 50);
      s.liveP99 = percentile(d.live, 99);
      s.queryableP50 = percentile(d.queryable, 50);
      s.queryableP99 = percentile(d.queryable, 99);
    }
    const unseen = markers.pending();

    // Rows per step actually in ClickHouse, by the gateway's clock (markers left out, as in accepted/s).
    const ch = createClient({
      url: stack.urls['clickhouse'] as string,
      username: stack.secrets.clickhouse.analyst.user,
      password: stack.secrets.clickhouse.analyst.password,
      database: 'pospulse',
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      for (const s of steps) {
        const rs = await ch.query({
          query:
            'SELECT uniqExact(event_id) AS n FROM transactions WHERE gateway_received_time >= fromUnixTimestamp64Milli({f:Int64}) AND gateway_received_time < fromUnixTimestamp64Milli({t:Int64}) AND merchant_id != {m:String}',
          query_params: { f: s.from, t: s.to, m: merchantId },
          format: 'JSONEachRow',
        });
        const [row] = await rs.json<{ n: string }>();
        s.storedPerSec = (Number(row?.n) / (s.to - s.from)) * 1000;
      }
    } finally {
      await ch.close();
    }

    // Kafka's own tools on the same broker, the pipeline idle: the consumer over the pipeline's own
    // transactions topic (so the record size is the pipeline's), the producer with that size.
    const ends = await admin.fetchTopicOffsets(transactionsTopic);
    const records = ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0);
    say(`kafka-consumer-perf-test over ${transactionsTopic} (${fmt(records)} records)`);
    const consumer: ConsumerPerfResult = await runConsumerPerformance({
      repoRoot,
      brokers: [brokers],
      topic: transactionsTopic,
      records,
      group: `bench-${runId}-consumer-perf`,
      timeoutMs: 180_000,
    });
    const recordSize = Math.max(1, Math.round((consumer.mb * 2 ** 20) / consumer.records));
    const perfTopic = `${prefix}bench-producer-perf-${runId}`;
    await admin.createTopics({
      topics: [{ topic: perfTopic, numPartitions: ends.length }],
      waitForLeaders: true,
    });
    say(`kafka-producer-perf-test: ${fmt(cfg.perfRecords)} records of ${recordSize} bytes to ${perfTopic}`);
    const producer: PerfToolResult = await runProducerPerformance({
      repoRoot,
      brokers: [brokers],
      topic: perfTopic,
      records: cfg.perfRecords,
      recordSize,
      timeoutMs: 180_000,
    });

    report(steps, {
      facts,
      consumer,
      producer,
      recordSize,
      unseen,
      markerFailures: markers.sendFailures,
      external,
    });
  } catch (err) {
    failed = true;
    if (abort.signal.aborted) say('stopped before the end: no report');
    else {
      say(`pipeline benchmark failed: ${(err as Error).stack ?? String(err)}`);
      say(`last log lines:\n${logTail.slice(-40).join('\n')}`);
    }
  } finally {
    for (const c of cleanups.reverse())
      await c().catch((err: unknown) => say(`cleanup: ${(err as Error).message ?? String(err)}`));
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  if (failed) process.exitCode = 1;
}

function report(
  steps: StepResult[],
  x: {
    facts: Record<string, string>;
    consumer: ConsumerPerfResult;
    producer: PerfToolResult;
    recordSize: number;
    unseen: { queryable: number; live: number };
    markerFailures: number;
    external: string | undefined;
  },
): void {
  const best = steps
    .filter((s) => s.sustained)
    .reduce<StepResult | undefined>(
      (b, s) => (b === undefined || s.offeredPerSec > b.offeredPerSec ? s : b),
      undefined,
    );
  const fixed = steps[0];
  say('');
  say('End to end (gateway HTTP -> Kafka -> processor -> ClickHouse and live WebSocket)');
  const rows: string[][] = [
    [
      'step',
      'offered/s',
      'accepted/s',
      'stored/s',
      'gateway p50/p99',
      'wall p50/p99',
      'queryable p50/p99',
      'lag end',
      'machine CPU (others)',
      'verdict',
    ],
    ...steps.map((s) => [
      s.name,
      fmt(s.offeredPerSec),
      fmt(s.acceptedPerSec),
      fmt(s.storedPerSec),
      `${fmt(s.gatewayP50, 1)} / ${fmt(s.gatewayP99, 1)} ms`,
      `${secs(s.liveP50)} / ${secs(s.liveP99)}`,
      `${secs(s.queryableP50)} / ${secs(s.queryableP99)}`,
      fmt(s.lagEnd),
      `${fmt(s.machinePct)}% (${fmt(otherPct(s))}%)`,
      s.sustained ? 'kept up' : `no: ${s.why}`,
    ]),
  ];
  printTable(rows);
  say('');
  const shown = [fixed, best].filter((s, i, a): s is StepResult => s !== undefined && a.indexOf(s) === i);
  say('CPU (% of one core) and memory (RSS now / peak, MiB) per process');
  const names = Object.keys(shown[0]?.usage ?? {});
  printTable([
    ['process', ...shown.map((s) => `${s.name} (${fmt(s.offeredPerSec)}/s)`)],
    ...names.map((n) => [
      n,
      ...shown.map((s) => {
        const u = s.usage[n];
        return u === undefined ? 'n/a' : `${fmt(u.cpuPct)}%  ${fmt(u.rssMiB)} / ${fmt(u.peakMiB)}`;
      }),
    ]),
  ]);
  say('');
  const sustained = best?.storedPerSec ?? 0;
  say(
    `highest sustained: ${best === undefined ? 'none (the fixed rate was not sustained)' : `${best.name}, ${fmt(sustained)} events/s stored end to end`}`,
  );
  say(
    `kafka-producer-perf-test: ${fmt(x.producer.recordsPerSec)} records/s of ${x.recordSize} bytes (acks=all, idempotent); ` +
      `pipeline / producer tool = ${fmt(sustained / x.producer.recordsPerSec, 3)}`,
  );
  say(
    `kafka-consumer-perf-test: ${fmt(x.consumer.fetchRecordsPerSec)} records/s (fetch time) over the pipeline's transactions; ` +
      `pipeline / consumer tool = ${fmt(sustained / x.consumer.fetchRecordsPerSec, 3)}`,
  );
  const others = Math.max(...steps.map(otherPct));
  if (others > 30)
    say(
      `warning: other processes used up to ${fmt(others)}% of a core during a step (load before the run ${x.facts['load_before']}): ` +
        'on a shared machine the pipeline gets less CPU and these numbers are lower than on an idle one',
    );
  if (x.unseen.queryable + x.unseen.live > 0 || x.markerFailures > 0)
    say(
      `markers: ${x.unseen.live} never reached the wall and ${x.unseen.queryable} never became queryable within 30 s of the end; ` +
        `${x.markerFailures} were not accepted (counted with their age at the end)`,
    );
  const round = (n: number, d = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : null);
  const results: Record<string, unknown> = {
    sustained_events_per_sec: round(sustained),
    sustained_step: best?.name ?? null,
    producer_perf_records_per_sec: round(x.producer.recordsPerSec),
    consumer_perf_records_per_sec: round(x.consumer.fetchRecordsPerSec),
    ratio_to_producer_perf: round(sustained / x.producer.recordsPerSec, 4),
    ratio_to_consumer_perf: round(sustained / x.consumer.fetchRecordsPerSec, 4),
    record_bytes: x.recordSize,
    external_broker: x.external !== undefined,
    steps: steps.map((s) => ({
      step: s.name,
      offered: s.offeredPerSec,
      accepted: round(s.acceptedPerSec),
      stored: round(s.storedPerSec),
      gateway_p50_ms: round(s.gatewayP50),
      gateway_p99_ms: round(s.gatewayP99),
      wall_p50_ms: round(s.liveP50, 0),
      wall_p99_ms: round(s.liveP99, 0),
      queryable_p50_ms: round(s.queryableP50, 0),
      queryable_p99_ms: round(s.queryableP99, 0),
      markers: s.markers,
      lag_end: s.lagEnd,
      machine_cpu_pct: round(s.machinePct, 0),
      other_processes_cpu_pct: round(otherPct(s), 0),
      cpu_pct: Object.fromEntries(Object.entries(s.usage).map(([n, u]) => [n, round(u.cpuPct, 0)])),
      rss_mib: Object.fromEntries(Object.entries(s.usage).map(([n, u]) => [n, round(u.rssMiB, 0)])),
      sustained: s.sustained,
      why: s.why,
    })),
  };
  say(
    JSON.stringify({
      bench: 'pipeline',
      date: new Date().toISOString(),
      machine: x.facts,
      config: { ...cfg, stack_env: stackOverrides },
      results,
    }),
  );
}

/** CPU of the machine not used by the pipeline's processes (other people's work, the kernel). */
function otherPct(s: StepResult): number {
  return s.machinePct - Object.values(s.usage).reduce((sum, u) => sum + u.cpuPct, 0);
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows)
    say(
      `  ${r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`.trimEnd(),
    );
}

// `npx tsx scripts/bench/pipeline.ts` runs it alone, as `npm run bench` does through run.ts.
if (process.argv[1] === import.meta.filename) await main();
