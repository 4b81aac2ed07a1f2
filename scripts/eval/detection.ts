import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseTokenKeys } from '../../services/gateway/card-data.ts';
import { cardCheckpointOf } from '../../services/processor/detection/card-checkpoint.ts';
import { checkpointOf } from '../../services/processor/kpi/checkpoint-metadata.ts';
import { RULE_DEFINITIONS } from '../../services/processor/detection/rules/index.ts';
import { createAvroCodec } from '../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../services/shared/avro/config.ts';
import { runMigrations } from '../../services/shared/clickhouse/migrations.ts';
import { Store } from '../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../services/shared/kafka/config.ts';
import { EventProducer } from '../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../../services/shared/kafka/topics.ts';
import { createLogger } from '../../services/shared/logger.ts';
import type { Fleet } from '../../services/simulator/fleet.ts';
import { INCIDENT_KINDS, KINDS, type IncidentSpec, type Label } from '../../services/simulator/incidents.ts';
import { KafkaSink, Simulator, runSimulation } from '../../services/simulator/simulator.ts';
import { freePorts, repoRoot, startPrivateBroker } from '../../test/integration/support/broker.ts';
import {
  childEnv,
  startServiceChild,
  startStoreChild,
  waitReady,
  type ServiceChild,
} from '../bench/_processor-children.ts';
import { envInt } from '../bench/_env.ts';
import { renderScores, scoreDetection, type EvalAlert, type ScopedIncident } from './_detection-score.ts';

/*
 * npm run eval:detection — the simulator's incidents through the real pipeline, scored.
 *
 * A fleet's history (EVAL_HISTORY_DAYS of clean traffic, so the rules that learn habits have
 * learnt them) and then an evening with every incident kind EVAL_ROUNDS times go straight to Kafka
 * (the simulator's Kafka sink, tokenized as the gateway does) as fast as the processor takes them.
 * The processor (services/processor/main.ts, its default rules) and the store (chDB) run as child
 * processes, on a Kafka broker of their own unless KAFKA_BROKERS is set. Then the alerts table is
 * compared with the label file: per rule, precision, recall and the delay from an incident's start
 * to its first alert, in event time (docs/DETECTION.md, "Evaluation").
 *
 * The simulated span is anchored on the last Wednesday 21:30 UTC before now, so every run sees the
 * same week days and hours (and, with the same seed, the same events).
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MIN = 60_000;

const cfg = {
  seed: process.env['EVAL_SEED'] ?? 'pospulse-eval-1',
  terminals: envInt('EVAL_TERMINALS', 80),
  regions: envInt('EVAL_REGIONS', 3),
  acquirers: envInt('EVAL_ACQUIRERS', 2),
  cards: envInt('EVAL_CARDS', 100_000),
  /** Fleet transactions per second (weekly average). */
  rateMilli: envInt('EVAL_RATE_MILLI', 800),
  historyDays: envInt('EVAL_HISTORY_DAYS', 15),
  rounds: envInt('EVAL_ROUNDS', 3),
  partitions: envInt('EVAL_PARTITIONS', 3),
  heartbeatMinutes: envInt('EVAL_HEARTBEAT_MINUTES', 1),
  graceMinutes: envInt('EVAL_GRACE_MINUTES', 15),
  out: process.env['EVAL_OUT'] ?? path.join(repoRoot, 'data/eval'),
};

/** The evening evaluated: [start, end), the last Wednesday 14:00–21:30 UTC that ended before now. */
function evaluatedSpan(now: number): { start: number; end: number } {
  const d = new Date(now);
  let end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 21, 30);
  while (new Date(end).getUTCDay() !== 3 || end > now - 10 * MIN) end -= DAY;
  return { start: end - 7.5 * HOUR, end };
}

/**
 * The schedule: `rounds` rounds of every kind (one start every 2 minutes within a round, rounds
 * 100 minutes apart from 15:30 UTC, so a region or acquirer is never in two incidents at once),
 * and the off-hours incidents from 20:15 UTC, when the shops that close at 20:00 local are shut.
 */
function schedule(span: { start: number; end: number }, rounds: number): IncidentSpec[] {
  const out: IncidentSpec[] = [];
  const kinds = INCIDENT_KINDS.filter((k) => k !== 'off_hours_activity');
  for (let r = 0; r < rounds; r++) {
    kinds.forEach((kind, k) => {
      const start = span.start + 90 * MIN + r * 100 * MIN + k * 2 * MIN;
      out.push({ kind, start, end: start + KINDS[kind].defaultDurationMs, id: `r${r + 1}-${kind}` });
    });
  }
  for (let r = 0; r < rounds; r++) {
    const start = span.start + 6.25 * HOUR + r * 10 * MIN;
    const kind = 'off_hours_activity';
    out.push({ kind, start, end: start + KINDS[kind].defaultDurationMs, id: `r${r + 1}-${kind}` });
  }
  return out;
}

/** A label's own entities and those related to them, as LEVEL:id keys (see ScopedIncident). */
function scope(label: Label, fleet: Fleet): ScopedIncident {
  const own = new Set(label.entity_ids.map((id) => `${label.entity_level}:${id}`));
  const related = new Set(own);
  const terminal = (serial: string) => {
    const t = fleet.terminalBySerial.get(serial);
    if (t === undefined) return;
    related.add(`TERMINAL:${t.serial}`);
    related.add(`MERCHANT:${t.merchant.id}`);
    related.add(`REGION:${t.merchant.region.id}`);
    related.add(`ACQUIRER:${t.merchant.acquirer.id}`);
    related.add('FLEET:*');
  };
  const p = label.params;
  if (label.entity_level === 'TERMINAL') label.entity_ids.forEach(terminal);
  for (const key of ['terminal', 'terminals']) {
    const v = p[key];
    if (typeof v === 'string') terminal(v);
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') terminal(s);
  }
  const merchantIds = [p['merchant_id'], ...(Array.isArray(p['merchants']) ? p['merchants'] : [])];
  for (const id of merchantIds) {
    const m = typeof id === 'string' ? fleet.merchantById.get(id) : undefined;
    if (m !== undefined) for (const t of m.terminals) terminal(t.serial);
  }
  if (label.entity_level === 'REGION' || label.entity_level === 'ACQUIRER') {
    for (const m of fleet.merchants) {
      const id = label.entity_level === 'REGION' ? m.region.id : m.acquirer.id;
      if (label.entity_ids.includes(id)) for (const t of m.terminals) terminal(t.serial);
    }
  }
  return {
    label,
    start: Date.parse(label.start),
    end: Date.parse(label.end),
    firstEvidence: Date.parse(label.first_evidence),
    own,
    related,
  };
}

interface Cleanup {
  what: string;
  fn: () => Promise<unknown>;
}

async function main(): Promise<void> {
  const cleanups: Cleanup[] = [];
  const logger = createLogger({ service: 'eval', level: 'warn' });
  const span = evaluatedSpan(Date.now());
  const from = span.start - cfg.historyDays * DAY;
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say(
    `eval:detection — seed ${cfg.seed}, ${cfg.terminals} terminals, ${cfg.rateMilli / 1000} tx/s, ` +
      `history ${new Date(from).toISOString()} …, evaluated ${new Date(span.start).toISOString()} – ${new Date(span.end).toISOString()}`,
  );
  try {
    // Kafka: the caller's, or a node of our own.
    let brokers = process.env['KAFKA_BROKERS']?.split(',').filter((b) => b !== '');
    if (brokers === undefined || brokers.length === 0) {
      say('starting a Kafka broker of its own …');
      const broker = await startPrivateBroker();
      cleanups.push({ what: 'stop the broker', fn: () => broker.destroy() });
      brokers = broker.brokers;
    }
    const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: brokers.join(',') }), logger);
    const prefix = `eval-${randomBytes(3).toString('hex')}.`;
    const topics = topicNames(prefix);
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push({ what: 'disconnect the admin', fn: () => admin.disconnect() });
    await ensureTopics(admin, { prefix, partitions: cfg.partitions, replicationFactor: 1 });
    // The history is weeks old: keep it whatever the topics' retention.
    await admin.alterConfigs({
      validateOnly: false,
      resources: Object.values(topics).map((name) => ({
        type: 2,
        name,
        configEntries: [{ name: 'retention.ms', value: '-1' }],
      })),
    });

    // The store (chDB) as a child process; the processor's user and ours.
    const [storePort, processorPort] = await freePorts(2);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pospulse-eval-store-'));
    cleanups.push({
      what: 'remove the store data',
      fn: async () => rmSync(dataDir, { recursive: true, force: true }),
    });
    const {
      child: store,
      url: storeUrl,
      svcPassword,
      ownPassword: evalPassword,
      client,
    } = await startStoreChild({
      cwd: repoRoot,
      port: storePort as number,
      dataDir,
      own: 'eval',
      requestTimeoutMs: 300_000,
    });
    cleanups.push({ what: 'stop the store', fn: () => store.stop(15_000) });
    cleanups.push({ what: 'close the store client', fn: () => client.close() });
    const db = 'pospulse_eval';
    const sql = new Store(client);
    await runMigrations(sql, { database: db, rawTtlDays: 365 });

    // The processor, as deployed, with the default rules. Its whole log goes to a file next to
    // the scores (closed after it stops); errors also to the console.
    mkdirSync(cfg.out, { recursive: true });
    const procLog = createWriteStream(path.join(cfg.out, 'processor.log'));
    cleanups.push({ what: 'close the processor log', fn: () => new Promise((r) => procLog.end(r)) });
    const proc: ServiceChild = startServiceChild({
      name: 'processor',
      cwd: repoRoot,
      entry: 'services/processor/main.ts',
      env: childEnv({
        KAFKA_BROKERS: brokers.join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_TOPIC_PARTITIONS: String(cfg.partitions),
        CLICKHOUSE_URL: storeUrl,
        CLICKHOUSE_USER: 'svc',
        CLICKHOUSE_PASSWORD: svcPassword,
        CLICKHOUSE_DATABASE: db,
        PROCESSOR_HOST: '127.0.0.1',
        PROCESSOR_PORT: String(processorPort),
        PROCESSOR_METRICS_TOKEN: randomBytes(12).toString('hex'),
        PROCESSOR_GROUP_ID: `${prefix}processor`,
        LOG_LEVEL: process.env['EVAL_LOG_LEVEL'] ?? 'info',
      }),
    });
    cleanups.push({ what: 'stop the processor', fn: () => proc.stop(10_000) });
    proc.onLine = (line) => {
      procLog.write(`${line}\n`);
      if (/"level":(50|60|"error"|"fatal")/.test(line)) say(`processor: ${line.slice(0, 400)}`);
    };
    await waitReady(proc, new URL(`http://127.0.0.1:${processorPort}/readyz`), 120_000);

    // The simulation, straight to Kafka.
    const tokenKeys = parseTokenKeys(`k1:${randomBytes(32).toString('base64')}`);
    const sim = new Simulator({
      seed: cfg.seed,
      fleet: { terminals: cfg.terminals, regions: cfg.regions, acquirers: cfg.acquirers, cards: cfg.cards },
      rate: cfg.rateMilli / 1000,
      heartbeatIntervalMs: cfg.heartbeatMinutes * MIN,
      start: from,
      end: span.end,
      incidents: schedule(span, cfg.rounds),
      tokenKeys,
      idSalt: cfg.seed,
    });
    const codec = createAvroCodec(parseAvroCodecConfig({}));
    const producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
    cleanups.push({ what: 'disconnect the producer', fn: () => producer.disconnect() });
    const sink = new KafkaSink({ producer, topics, tokenKeys });
    const t0 = performance.now();
    const report = await runSimulation(sim, sink, {
      pace: 'backfill',
      progressIntervalMs: 10_000,
      onProgress: (p) =>
        say(
          `  simulated up to ${new Date(p.simTime).toISOString()}: ${p.transactions} transactions, ` +
            `${p.heartbeats} heartbeats, ${Math.round(p.eventsPerSecond)} events/s`,
        ),
    });
    say(
      `sent ${report.transactions} transactions and ${report.heartbeats} heartbeats in ${Math.round(report.wallMs / 1000)} s; ` +
        `${report.labels.length} incidents`,
    );

    // Caught up: every transaction stored, and every topic read to its end twice in a row (the
    // last transactions still make KpiUpdates and card-activity records after they are stored).
    const group = `${prefix}processor`;
    let lastStored = -1;
    let quiet = 0;
    for (;;) {
      if (proc.exited !== undefined)
        throw new Error(`the processor exited: ${proc.logTail.slice(-5).join('\n')}`);
      const [row] = await sql.query<{ n: string }>(`SELECT uniqExact(event_id) AS n FROM ${db}.transactions`);
      const stored = Number(row?.n ?? 0);
      const lag = await readLag(admin, group, [topics.transactions, topics.cardActivity, topics.kpiUpdates]);
      if (stored !== lastStored || lag > 0)
        say(`  processor: ${stored} / ${report.transactions} transactions stored, ${lag} records behind`);
      lastStored = stored;
      quiet = stored >= report.transactions && lag === 0 ? quiet + 1 : 0;
      if (quiet >= 2) break;
      await sleep(5_000);
    }
    // A few ticks for the last windows and quiet-terminal judgements.
    await sleep(5_000);
    const processedS = (performance.now() - t0) / 1000;

    const alerts = (
      await sql.query<{
        rule: string;
        entity_level: string;
        entity_id: string;
        fired: string;
        summary: string;
      }>(
        `SELECT rule, entity_level, entity_id, toUnixTimestamp64Milli(fired_time) AS fired, summary
         FROM ${db}.alerts FINAL`,
      )
    ).map((a): EvalAlert => ({
      rule: a.rule,
      level: a.entity_level,
      entityId: a.entity_id,
      firedTime: Number(a.fired),
      summary: a.summary,
    }));
    const incidents = report.labels.map((l) => scope(l, sim.fleet));
    const scores = scoreDetection(incidents, alerts, {
      from: span.start,
      to: span.end,
      graceMs: cfg.graceMinutes * MIN,
      rules: RULE_DEFINITIONS.map((d) => d.name),
    });
    const table = renderScores(scores);
    say('');
    say(table);
    say('');
    for (const s of scores) {
      if (s.missed.length > 0) say(`${s.rule} missed: ${s.missed.join(', ')}`);
      for (const u of s.unexplained.slice(0, 10)) say(`${s.rule} unexplained: ${u}`);
    }
    say(`\nsimulation and processing took ${Math.round(processedS)} s`);
    mkdirSync(cfg.out, { recursive: true });
    writeFileSync(
      path.join(cfg.out, 'labels.jsonl'),
      report.labels.map((l) => `${JSON.stringify(l)}\n`).join(''),
    );
    writeFileSync(
      path.join(cfg.out, 'detection.json'),
      JSON.stringify({ config: cfg, span, from, transactions: report.transactions, scores, alerts }, null, 2),
    );
    writeFileSync(path.join(cfg.out, 'detection.md'), `${table}\n`);
    say(`labels, alerts and scores written to ${cfg.out}`);
    const keep = envInt('EVAL_KEEP_SECONDS', 0, 0);
    if (keep > 0) {
      say(
        `keeping the pipeline for ${keep} s: ${storeUrl} (user eval, password ${evalPassword}), database ${db}`,
      );
      await sleep(keep * 1000);
    }
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c.fn();
      } catch (err) {
        process.stderr.write(`could not ${c.what}: ${String(err)}\n`);
      }
    }
  }
}

/** Records of `topics` the group has not processed (by the checkpoints' next offsets where kept). */
async function readLag(
  admin: ReturnType<ReturnType<typeof createKafka>['admin']>,
  group: string,
  topics: readonly string[],
): Promise<number> {
  let lag = 0;
  for (const topic of topics) {
    const [high, [committed]] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId: group, topics: [topic] }),
    ]);
    for (const o of high) {
      const c = committed?.partitions.find((p) => p.partition === o.partition);
      const offset = c === undefined ? undefined : { offset: c.offset, metadata: c.metadata };
      const windows = checkpointOf(o.partition, offset);
      const cards = cardCheckpointOf(offset);
      const next =
        windows.kind === 'checkpoint'
          ? windows.checkpoint.nextOffset
          : cards.kind === 'checkpoint'
            ? cards.checkpoint.nextOffset
            : Math.max(0, Number(c?.offset ?? 0));
      lag += Math.max(0, Number(o.high) - next);
    }
  }
  return lag;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `eval:detection failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
