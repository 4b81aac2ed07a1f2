import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Session, version as chdbVersion } from 'chdb';
import { createLogger } from '../../services/shared/logger.ts';
import { startEmbeddedStore } from '../../services/store/embedded.ts';
import { profileSettings } from '../../services/store/engine.ts';
import { parseUsers } from '../../services/store/users.ts';
import { envInt } from './_env.ts';

/*
 * The store over HTTP (@clickhouse/client -> fastify -> HttpInterface -> chDB) against chDB called
 * in-process (a Session on its own data directory): the same table, the same rows, the same
 * machine, in the same run. docs/BENCHMARKS.md says what every number means.
 *
 * chDB allows one active data directory per process, so each side is a child process of its own
 * (this file, forked with POSPULSE_BENCH_SIDE=inprocess|store). Both stay up for the whole run and
 * the parent drives them one phase at a time, each phase on both sides back to back, so a change
 * in background load lands on both sides rather than on whichever would have run second. The
 * store side runs the server and its clients in one process, started as the integration tests
 * start it. Run with `npm run bench` (scripts/bench/run.ts) or `npx tsx scripts/bench/store.ts`.
 */

// ---------------------------------------------------------------------------------------------
// Configuration

function envList(name: string, dflt: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return dflt;
  return raw.split(',').map((p, i) => {
    const v = Number(p.trim().replace(/_/g, ''));
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name}[${i}] must be an integer >= 1, got ${p}`);
    return v;
  });
}

interface BenchConfig {
  /**
   * Rows each insert scenario writes. The table the queries read holds the rows of the scenarios
   * both sides run: 2 x batches.length x rows.
   */
  rows: number;
  /** Rows per INSERT, one scenario per size. */
  batches: number[];
  /** Timed runs of each latency query. */
  runs: number;
  /** Untimed runs before each latency query (and one small untimed stream / insert). */
  warmup: number;
  /** Untimed small queries, once, before the first latency query. */
  pathWarmup: number;
  /** Rows of the streamed result (at most the table's rows). */
  streamRows: number;
  /** Timed runs of the streamed query (the fastest run is reported). */
  streamRuns: number;
  /** Distinct terminal serials in the data (the aggregate filters on one). */
  terminals: number;
}

function benchConfig(): BenchConfig {
  const rows = envInt('BENCH_ROWS', 300_000);
  return {
    rows,
    batches: envList('BENCH_BATCHES', [10_000, 100_000]),
    runs: envInt('BENCH_RUNS', 200),
    warmup: envInt('BENCH_WARMUP', 20, 0),
    pathWarmup: envInt('BENCH_PATH_WARMUP', 500, 0),
    streamRows: envInt('BENCH_STREAM_ROWS', 1_000_000),
    streamRuns: envInt('BENCH_STREAM_RUNS', 2),
    terminals: envInt('BENCH_TERMINALS', 2_000),
  };
}

// ---------------------------------------------------------------------------------------------
// Data: a TransactionEvent-like table and deterministic rows (both sides generate the same ones)

const DDL = (table: string) => `
CREATE TABLE ${table}
(
    event_id UUID,
    terminal_serial String,
    merchant_id LowCardinality(String),
    region LowCardinality(String),
    mcc LowCardinality(String),
    transaction_type LowCardinality(String),
    payment_method LowCardinality(String),
    status LowCardinality(String),
    amount_minor Int64,
    currency LowCardinality(String),
    request_time DateTime64(3, 'UTC'),
    INDEX idx_terminal_serial terminal_serial TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
ORDER BY (merchant_id, terminal_serial, request_time)`;

interface Row {
  event_id: string;
  terminal_serial: string;
  merchant_id: string;
  region: string;
  mcc: string;
  transaction_type: string;
  payment_method: string;
  status: string;
  amount_minor: number;
  currency: string;
  request_time: string;
}

const REGIONS = ['north', 'south', 'east', 'west', 'central', 'coast', 'capital', 'islands'];
const MCCS = ['5411', '5812', '5541', '5912', '5311', '5999', '4111', '5732', '5651', '7011'];
const TX_TYPES = ['SALE', 'SALE', 'SALE', 'SALE', 'SALE', 'SALE', 'REFUND', 'VOID'];
const METHODS = ['CHIP', 'CONTACTLESS', 'CONTACTLESS', 'WALLET', 'MAGSTRIPE'];
const STATUSES = [
  'APPROVED',
  'APPROVED',
  'APPROVED',
  'APPROVED',
  'APPROVED',
  'APPROVED',
  'DECLINED',
  'ERROR',
];
const CURRENCIES = ['EUR', 'EUR', 'EUR', 'USD', 'GBP'];
const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);

/** mulberry32 step: a tiny seeded PRNG, so both child processes build identical rows. */
function next32(state: { a: number }): number {
  state.a = (state.a + 0x6d2b79f5) >>> 0;
  let t = state.a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

function hex8(w: number): string {
  return w.toString(16).padStart(8, '0');
}

/** A version-4 UUID from four random 32-bit words. */
function uuidOf(w0: number, w1: number, w2: number, w3: number): string {
  const b = hex8(w1);
  const c = hex8(((w2 & 0x3fffffff) | 0x80000000) >>> 0);
  return `${hex8(w0)}-${b.slice(0, 4)}-4${b.slice(5)}-${c.slice(0, 4)}-${c.slice(4)}${hex8(w3)}`;
}

function pick<T>(list: readonly T[], r: number): T {
  return list[r % list.length]!;
}

function terminalSerial(n: number): string {
  return `PT-${String(n).padStart(6, '0')}`;
}

const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const days = new Map<number, string>();

/** `YYYY-MM-DD hh:mm:ss.sss` (UTC) without a Date per row: row generation is not what is measured. */
function clickhouseTime(ms: number): string {
  const day = Math.floor(ms / 86_400_000);
  let date = days.get(day);
  if (date === undefined) {
    date = new Date(day * 86_400_000).toISOString().slice(0, 10);
    days.set(day, date);
  }
  let rest = ms - day * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const sec = Math.floor(rest / 1000);
  return `${date} ${PAD2[h]}:${PAD2[m]}:${PAD2[sec]}.${PAD3[rest - sec * 1000]}`;
}

let lookups: { terminals: number; serials: string[]; merchants: string[] } | undefined;

/** Rows `start .. start+count-1`; row i is the same whichever batch produces it. */
function makeRows(start: number, count: number, terminals: number): Row[] {
  if (lookups?.terminals !== terminals) {
    const serials = Array.from({ length: terminals }, (_, t) => terminalSerial(t));
    const merchants = Array.from({ length: terminals }, (_, t) => `M-${String(t % 250).padStart(4, '0')}`);
    lookups = { terminals, serials, merchants };
  }
  const { serials, merchants } = lookups;
  const rows: Row[] = new Array<Row>(count);
  const state = { a: 0 };
  for (let k = 0; k < count; k++) {
    const i = start + k;
    state.a = Math.imul(i, 2654435761) >>> 0;
    const uuid = uuidOf(next32(state), next32(state), next32(state), next32(state));
    const r = next32(state);
    const terminal = r % terminals;
    const r2 = next32(state);
    rows[k] = {
      event_id: uuid,
      terminal_serial: serials[terminal]!,
      merchant_id: merchants[terminal]!,
      region: pick(REGIONS, terminal),
      mcc: pick(MCCS, terminal),
      transaction_type: pick(TX_TYPES, r2 & 0xff),
      payment_method: pick(METHODS, (r2 >>> 8) & 0xff),
      status: pick(STATUSES, (r2 >>> 16) & 0xff),
      currency: pick(CURRENCIES, r2 >>> 24),
      amount_minor: 50 + (next32(state) % 250_000),
      request_time: clickhouseTime(T0 + i * 80 + ((r >>> 24) % 80)),
    };
  }
  return rows;
}

/** What @clickhouse/client sends for JSONEachRow: one JSON.stringify per row, newline-terminated. */
function ndjson(rows: readonly Row[]): Buffer {
  return Buffer.from(rows.map((row) => JSON.stringify(row) + '\n').join(''));
}

// ---------------------------------------------------------------------------------------------
// Measuring

type Unit = 'rows/s' | 'ms';

interface Measurement {
  id: string;
  label: string;
  unit: Unit;
  value: number;
}

type Side = 'inprocess' | 'store';

const now = () => process.hrtime.bigint();
const msSince = (t: bigint) => Number(now() - t) / 1e6;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function percentile(sorted: readonly number[], p: number): number {
  // Nearest rank: the smallest sample with at least p% of samples at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

const sideStarted = now();

function progress(side: Side, text: string): void {
  process.stderr.write(`  [${side} +${(Number(now() - sideStarted) / 1e9).toFixed(1)}s] ${text}\n`);
}

/** What one side has to provide; everything else (rows, timing, warm-up) is shared. */
interface Driver {
  readonly side: Side;
  engineVersion(): Promise<string>;
  command(sql: string): Promise<void>;
  count(table: string): Promise<number>;
  /**
   * Inserts rows given as objects: JSON serialization is part of the timed call. `services`:
   * with the client options of createStore (services/shared/clickhouse/store.ts); store only.
   */
  insertObjects(table: string, rows: readonly Row[], profile?: ClientProfile): Promise<void>;
  /** Inserts rows already serialized as NDJSON bytes. */
  insertBytes(table: string, body: Buffer): Promise<void>;
  /**
   * In-process only: what the store does with an INSERT body (write it to a temp file, then
   * `INSERT … FROM INFILE`), without HTTP.
   */
  insertViaFile?(table: string, body: Buffer): Promise<void>;
  /** Runs a small query and parses its JSONEachRow result; `profile` as for insertObjects. */
  query(sql: string, params: Record<string, string> | undefined, profile?: ClientProfile): Promise<unknown[]>;
  /** Streams a JSONEachRow result and counts rows without parsing them. */
  stream(sql: string, variant: StreamVariant): Promise<number>;
  /**
   * Store only: the same small query over a bare node:http keep-alive request, without
   * @clickhouse/client, to tell the client's share of the overhead from the store's.
   */
  bareQuery?(sql: string): Promise<unknown[]>;
  close(): Promise<void>;
}

type StreamVariant = 'plain' | 'gzip';

/**
 * How the store is called. `default`: @clickhouse/client's defaults. `setting`: the defaults plus
 * one engine setting in the URL. `services`: what createStore configures for pospulse's services
 * (gzip both ways, wait_end_of_query=1, date_time_input_format=best_effort).
 */
type ClientProfile = 'default' | 'setting' | 'services';

/**
 * Rows one side measures alone are compared with the other side's baseline row (measured once):
 * in-process there is no client to leave out and nothing to compress; the store has no
 * in-process temp-file path.
 */
function baselineOf(id: string): string | undefined {
  let m = /^select1_(?:bare|setting|services)(_p\d+)$/.exec(id);
  if (m) return `select1${m[1]}`;
  if (id === 'stream_gzip') return 'stream_plain';
  m = /^insert_infile_(\d+)$/.exec(id);
  if (m) return `insert_bytes_${m[1]}`;
  m = /^insert_services_(\d+)$/.exec(id);
  if (m) return `insert_objects_${m[1]}`;
  return undefined;
}

type InsertMode = 'objects' | 'bytes' | 'infile' | 'services';

const INSERT_LABEL: Record<InsertMode, string> = {
  objects: 'insert objects',
  bytes: 'insert NDJSON bytes',
  infile: 'insert NDJSON bytes, temp file + FROM INFILE',
  services: "insert objects, services' client options",
};

/** Inserts rows `first .. first+cfg.rows-1` into `table` in batches; times only the insert calls. */
async function measureInsert(
  d: Driver,
  cfg: BenchConfig,
  mode: InsertMode,
  batch: number,
  table: string,
  first: number,
): Promise<Measurement> {
  await d.command(DDL(table));
  const insertFile = d.insertViaFile?.bind(d);
  let timedNs = 0n;
  for (let done = 0; done < cfg.rows; done += batch) {
    // Building the rows (and, for the byte modes, serializing them) is outside the timed call.
    const rows = makeRows(first + done, Math.min(batch, cfg.rows - done), cfg.terminals);
    const body = mode === 'bytes' || mode === 'infile' ? ndjson(rows) : undefined;
    gc();
    const t = now();
    if (!body) await d.insertObjects(table, rows, mode === 'services' ? 'services' : 'default');
    else if (mode === 'infile' && insertFile) await insertFile(table, body);
    else await d.insertBytes(table, body);
    timedNs += now() - t;
  }
  const seconds = Number(timedNs) / 1e9;
  const rowsPerSec = cfg.rows / seconds;
  const written = await d.count(table);
  if (written !== cfg.rows) progress(d.side, `WARNING: ${table} holds ${written} rows, expected ${cfg.rows}`);
  progress(d.side, `insert ${mode} ${batch}/batch: ${Math.round(rowsPerSec).toLocaleString('en-US')} rows/s`);
  return {
    id: `insert_${mode}_${batch}`,
    label: `${INSERT_LABEL[mode]}, ${short(batch)} rows/INSERT`,
    unit: 'rows/s',
    value: rowsPerSec,
  };
}

function short(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

async function measureLatency(
  d: Driver,
  cfg: BenchConfig,
  id: string,
  label: string,
  run: (i: number) => Promise<unknown[]>,
): Promise<Measurement[]> {
  for (let i = 0; i < cfg.warmup; i++) await run(i);
  gc();
  const samples: number[] = [];
  for (let i = 0; i < cfg.runs; i++) {
    const t = now();
    await run(i);
    samples.push(msSince(t));
  }
  samples.sort((a, b) => a - b);
  const [p50, p95, p99] = [50, 95, 99].map((p) => percentile(samples, p)) as [number, number, number];
  progress(d.side, `${label}: p50 ${p50.toFixed(3)} ms, p95 ${p95.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms`);
  return [
    { id: `${id}_p50`, label: `${label} p50`, unit: 'ms', value: p50 },
    { id: `${id}_p95`, label: `${label} p95`, unit: 'ms', value: p95 },
    { id: `${id}_p99`, label: `${label} p99`, unit: 'ms', value: p99 },
  ];
}

async function measureStream(
  d: Driver,
  cfg: BenchConfig,
  variant: StreamVariant,
  tableRows: number,
  runCount: number,
): Promise<Measurement> {
  const limit = Math.min(cfg.streamRows, tableRows);
  const sql = `SELECT * FROM tx LIMIT ${limit}`;
  await d.stream(`SELECT * FROM tx LIMIT ${Math.min(limit, 100_000)}`, variant);
  let best = 0;
  for (let i = 0; i < runCount; i++) {
    gc();
    const t = now();
    const rows = await d.stream(sql, variant);
    best = Math.max(best, rows / (msSince(t) / 1000));
  }
  const label = `stream ${short(limit)} rows${variant === 'gzip' ? ', gzip response' : ''}`;
  progress(d.side, `${label}: ${Math.round(best).toLocaleString('en-US')} rows/s (best of ${runCount})`);
  return { id: `stream_${variant}`, label, unit: 'rows/s', value: best };
}

/** Per-child state the phases share. */
interface SideState {
  /** Tables of the scenarios both sides run, copied into `tx` by the `prepare` phase. */
  common: string[];
  tableRows: number;
}

/**
 * One step of the benchmark. The parent runs the phases in order and each phase on both sides
 * back to back (alternating which goes first), so a change in background load on the machine
 * lands on both sides instead of on whichever ran second.
 */
interface Phase {
  name: string;
  sides: readonly Side[];
  run(d: Driver, cfg: BenchConfig, state: SideState): Promise<Measurement[]>;
}

const BOTH: readonly Side[] = ['inprocess', 'store'];

function phases(cfg: BenchConfig): Phase[] {
  const list: Phase[] = [];
  list.push({
    name: 'warm-up',
    sides: BOTH,
    async run(d) {
      // The code paths of every insert kind, on a scratch table.
      await d.command(DDL('warm'));
      const warmRows = makeRows(0, 1_000, cfg.terminals);
      await d.insertObjects('warm', warmRows);
      if (d.side === 'store') await d.insertObjects('warm', warmRows, 'services');
      await d.insertBytes('warm', ndjson(warmRows));
      await d.insertViaFile?.('warm', ndjson(warmRows));
      await d.command('DROP TABLE warm');
      // No background merges while inserts are timed: they are the same engine work on both
      // sides, but they land on whichever side runs next. `prepare` turns them back on.
      await d.command('SYSTEM STOP MERGES');
      return [];
    },
  });

  // Every scenario writes its own rows (a disjoint range) to its own table.
  let first = 0;
  for (const [i, batch] of cfg.batches.entries()) {
    const scenarios: { mode: InsertMode; sides: readonly Side[] }[] = [
      { mode: 'objects', sides: BOTH },
      { mode: 'bytes', sides: BOTH },
      { mode: 'infile', sides: ['inprocess'] },
    ];
    // The services' options only at the smallest batch size: a streaming writer's case.
    if (i === 0) scenarios.push({ mode: 'services', sides: ['store'] });
    for (const { mode, sides } of scenarios) {
      const common = sides.length === 2;
      const start = common ? first : 0;
      if (common) first += cfg.rows;
      list.push({
        name: `insert_${mode}_${batch}`,
        sides,
        async run(d, c, state) {
          const table = `tx_${mode}_${batch}`;
          const m = await measureInsert(d, c, mode, batch, table, start);
          if (common) state.common.push(table);
          else await d.command(`DROP TABLE ${table}`);
          return [m];
        },
      });
    }
  }

  const select1 = 'SELECT 1 AS x';
  list.push({
    name: 'prepare',
    sides: BOTH,
    async run(d, c, state) {
      // The queried table in one part, so both sides scan the same layout; then a moment for
      // the engine to finish removing old parts before latencies are taken.
      await d.command('SYSTEM START MERGES');
      await d.command(DDL('tx'));
      await d.command(`INSERT INTO tx ${state.common.map((t) => `SELECT * FROM ${t}`).join(' UNION ALL ')}`);
      for (const t of state.common) await d.command(`DROP TABLE ${t}`);
      await d.command('OPTIMIZE TABLE tx FINAL');
      state.tableRows = await d.count('tx');
      await settle(d);
      // The request path gets faster over its first thousands of calls (V8 optimizes the HTTP
      // stack, the client and the store in tiers); a long-running store is measured warm.
      const profiles: ClientProfile[] = ['default', 'setting', 'services'];
      for (let i = 0; i < c.pathWarmup; i++) {
        if (d.bareQuery && i % 4 === 3) await d.bareQuery(select1);
        else await d.query(select1, undefined, profiles[i % 4]);
      }
      return [];
    },
  });

  list.push({
    name: 'select1',
    sides: BOTH,
    run: (d, c) => measureLatency(d, c, 'select1', 'SELECT 1', () => d.query(select1, undefined)),
  });
  list.push({
    name: 'select1_bare',
    sides: ['store'],
    run: (d, c) =>
      measureLatency(d, c, 'select1_bare', 'SELECT 1, bare node:http', () => d.bareQuery!(select1)),
  });
  list.push({
    name: 'select1_setting',
    sides: ['store'],
    run: (d, c) =>
      measureLatency(d, c, 'select1_setting', 'SELECT 1, one setting in the URL', () =>
        d.query(select1, undefined, 'setting'),
      ),
  });
  list.push({
    name: 'select1_services',
    sides: ['store'],
    run: (d, c) =>
      measureLatency(d, c, 'select1_services', "SELECT 1, services' client options", () =>
        d.query(select1, undefined, 'services'),
      ),
  });
  const aggregate =
    'SELECT count() AS n, sum(amount_minor) AS total, avg(amount_minor) AS mean, ' +
    "countIf(status = 'DECLINED') AS declined FROM tx WHERE terminal_serial = {t:String}";
  list.push({
    name: 'aggregate',
    sides: BOTH,
    run: (d, c) =>
      measureLatency(d, c, 'aggregate', 'aggregate by terminal', (i) =>
        d.query(aggregate, { t: terminalSerial((i * 7919) % c.terminals) }),
      ),
  });
  list.push({
    name: 'stream_plain',
    sides: BOTH,
    run: async (d, c, state) => [await measureStream(d, c, 'plain', state.tableRows, c.streamRuns)],
  });
  list.push({
    name: 'stream_gzip',
    sides: ['store'],
    // One run: gzip makes it the slowest phase, and the point is its order of magnitude.
    run: async (d, c, state) => [await measureStream(d, c, 'gzip', state.tableRows, 1)],
  });
  return list;
}

/** Waits (up to 10 s) until no merge or mutation runs, then half a second more. */
async function settle(d: Driver): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const busy = await d.count('system.merges WHERE database = currentDatabase()');
    if (busy === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
}

function parseNdjson(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) if (line !== '') out.push(JSON.parse(line));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The two sides

const SERVICE_USER = { username: 'bench', password: 'bench-password-1' } as const;

/** The engine settings the store pins on a service user's sessions; the in-process side uses the same. */
function serviceProfileArgs(): string[] {
  const [user] = parseUsers(
    JSON.stringify([{ name: SERVICE_USER.username, password: SERVICE_USER.password, role: 'service' }]),
  );
  return Object.entries(profileSettings(user!.profile)).map(([k, v]) => `--${k}=${v}`);
}

async function inProcessDriver(dataDir: string, scratchDir: string): Promise<Driver> {
  const session = new Session(dataDir, { connectionArgs: serviceProfileArgs() });
  let files = 0;
  return {
    side: 'inprocess',
    async engineVersion() {
      return (await session.queryAsync('SELECT version()', { format: 'TSV' })).text().trim();
    },
    async command(sql) {
      await session.queryAsync(sql);
    },
    async count(table) {
      return Number(
        (await session.queryAsync(`SELECT count() FROM ${table}`, { format: 'TSV' })).text().trim(),
      );
    },
    async insertObjects(table, rows) {
      await session.insert({ table, values: ndjson(rows), format: 'JSONEachRow' });
    },
    async insertBytes(table, body) {
      await session.insert({ table, values: body, format: 'JSONEachRow' });
    },
    async insertViaFile(table, body) {
      const file = join(scratchDir, `body-${files++}`);
      try {
        await writeFile(file, body);
        await session.queryAsync(`INSERT INTO ${table} FROM INFILE '${file}' FORMAT JSONEachRow`);
      } finally {
        await rm(file, { force: true });
      }
    },
    async query(sql, params) {
      const r = params
        ? await session.queryBindAsync(sql, params, { format: 'JSONEachRow' })
        : await session.queryAsync(sql, { format: 'JSONEachRow' });
      return parseNdjson(r.text());
    },
    async stream(sql) {
      let rows = 0;
      for await (const chunk of session.queryStream(sql, { format: 'JSONEachRow' })) rows += chunk.numRows;
      return rows;
    },
    async close() {
      session.close();
    },
  };
}

/** The store on 127.0.0.1, port 0, started as test/integration/support/store-server.ts starts it. */
async function storeDriver(dataDir: string): Promise<Driver> {
  const users = parseUsers(
    JSON.stringify([{ name: SERVICE_USER.username, password: SERVICE_USER.password, role: 'service' }]),
  );
  const store = await startEmbeddedStore({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    users,
    logger: createLogger({ service: 'store-bench', level: 'silent' }),
    maxQueryBytes: 16 * 1024 * 1024,
    maxInsertBytes: 1024 ** 3,
    maxQueued: 64,
    queueTimeoutMs: 30_000,
  });
  const url = store.url;
  const options = {
    url,
    ...SERVICE_USER,
    request_timeout: 300_000,
    log: { level: ClickHouseLogLevel.OFF },
  };
  const agent = new http.Agent({ keepAlive: true });
  const authorization = `Basic ${Buffer.from(`${SERVICE_USER.username}:${SERVICE_USER.password}`).toString('base64')}`;
  // The client's defaults: keep-alive, no request or response compression.
  const client: ClickHouseClient = createClient(options);
  const gzipClient: ClickHouseClient = createClient({ ...options, compression: { response: true } });
  const settingClient: ClickHouseClient = createClient({
    ...options,
    clickhouse_settings: { max_threads: 1 },
  });
  // As createStore (services/shared/clickhouse/store.ts) configures it with the default config.
  const servicesClient: ClickHouseClient = createClient({
    ...options,
    compression: { request: true, response: true },
    clickhouse_settings: { wait_end_of_query: 1, date_time_input_format: 'best_effort' },
  });
  const clients: Record<ClientProfile, ClickHouseClient> = {
    default: client,
    setting: settingClient,
    services: servicesClient,
  };
  return {
    side: 'store',
    async engineVersion() {
      return (
        await (await client.query({ query: 'SELECT version()', format: 'TabSeparated' })).text()
      ).trim();
    },
    async command(sql) {
      await client.command({ query: sql });
    },
    async count(table) {
      const rs = await client.query({ query: `SELECT count() FROM ${table}`, format: 'TabSeparated' });
      return Number((await rs.text()).trim());
    },
    async insertObjects(table, rows, profile = 'default') {
      await clients[profile].insert({ table, values: rows as Row[], format: 'JSONEachRow' });
    },
    async insertBytes(table, body) {
      // client.insert wants objects for JSON formats (an object-mode stream at best, still
      // serialized row by row); exec sends a byte stream as the body of the INSERT as it is.
      const r = await client.exec({
        query: `INSERT INTO ${table} FORMAT JSONEachRow`,
        values: Readable.from([body], { objectMode: false }),
      });
      for await (const _ of r.stream) void _;
    },
    async query(sql, params, profile = 'default') {
      const rs = await clients[profile].query({
        query: sql,
        format: 'JSONEachRow',
        ...(params ? { query_params: params } : {}),
      });
      return rs.json<unknown>();
    },
    async stream(sql, variant) {
      const rs = await (variant === 'gzip' ? gzipClient : client).query({
        query: sql,
        format: 'JSONEachRow',
      });
      // Rows as the client splits them off the response, not parsed: as in-process, only counted.
      let rows = 0;
      for await (const batch of rs.stream()) rows += batch.length;
      return rows;
    },
    bareQuery(sql) {
      return new Promise((resolve, reject) => {
        const req = http.request(url, { method: 'POST', agent, headers: { authorization } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(parseNdjson(text))
              : reject(new Error(`HTTP ${res.statusCode}: ${text}`)),
          );
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(`${sql} FORMAT JSONEachRow`);
      });
    },
    async close() {
      agent.destroy();
      for (const c of [client, gzipClient, settingClient, servicesClient]) await c.close();
      await store.close();
    },
  };
}

/** Messages between the parent and a side's process. */
type ToChild = { type: 'phase'; index: number } | { type: 'exit' };
type FromChild =
  | { type: 'ready'; engine: string }
  | { type: 'done'; index: number; measurements: Measurement[]; tableRows: number; cpuSeconds: number }
  | { type: 'error'; message: string };

async function child(side: Side): Promise<void> {
  const cfg = benchConfig();
  const list = phases(cfg);
  const root = mkdtempSync(join(tmpdir(), `pospulse-bench-${side}-`));
  const dataDir = join(root, 'data');
  const scratchDir = join(root, 'scratch');
  mkdirSync(dataDir);
  mkdirSync(scratchDir);
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  const send = (m: FromChild) => new Promise<void>((resolve) => process.send!(m, () => resolve()));
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The parent going away (Ctrl-C, a crash) must not leave a child holding a data directory.
  process.once('disconnect', onSignal);
  let d: Driver | undefined;
  try {
    d = side === 'inprocess' ? await inProcessDriver(dataDir, scratchDir) : await storeDriver(dataDir);
    const driver = d;
    const state: SideState = { common: [], tableRows: 0 };
    await send({ type: 'ready', engine: await driver.engineVersion() });
    for (;;) {
      const msg = await new Promise<ToChild>((resolve) =>
        process.once('message', (m) => resolve(m as ToChild)),
      );
      if (msg.type === 'exit') break;
      const phase = list[msg.index]!;
      const measurements = await phase.run(driver, cfg, state);
      const cpu = process.cpuUsage();
      await send({
        type: 'done',
        index: msg.index,
        measurements,
        tableRows: state.tableRows,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      });
    }
  } catch (err) {
    await send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exitCode = 1;
  } finally {
    process.off('disconnect', onSignal);
    await d?.close();
    cleanup();
  }
  process.disconnect();
}

// ---------------------------------------------------------------------------------------------
// The parent: runs the phases on both sides, prints the table and one JSON line

/** A side's process, driven one phase at a time. */
class SideProcess {
  private readonly proc;
  private readonly inbox: FromChild[] = [];
  private wake: (() => void) | undefined;
  private exited: string | undefined;

  constructor(readonly side: Side) {
    this.proc = fork(import.meta.filename, [], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      env: {
        ...process.env,
        POSPULSE_BENCH_SIDE: side,
        // chDB runs every query on a libuv worker; the pool is sized before the child starts.
        UV_THREADPOOL_SIZE: process.env['UV_THREADPOOL_SIZE'] ?? '64',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.proc.on('message', (m) => {
      this.inbox.push(m as FromChild);
      this.wake?.();
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = signal ?? `code ${code}`;
      this.wake?.();
    });
  }

  private async receive(): Promise<FromChild> {
    for (;;) {
      const m = this.inbox.shift();
      if (m?.type === 'error') throw new Error(`the ${this.side} benchmark failed: ${m.message}`);
      if (m) return m;
      if (this.exited !== undefined)
        throw new Error(`the ${this.side} benchmark process exited with ${this.exited}`);
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  async ready(): Promise<string> {
    const m = await this.receive();
    if (m.type !== 'ready') throw new Error(`unexpected message from ${this.side}: ${m.type}`);
    return m.engine;
  }

  async phase(
    index: number,
  ): Promise<{ measurements: Measurement[]; tableRows: number; cpuSeconds: number }> {
    this.proc.send({ type: 'phase', index } satisfies ToChild);
    const m = await this.receive();
    if (m.type !== 'done' || m.index !== index)
      throw new Error(`unexpected message from ${this.side}: ${m.type}`);
    return m;
  }

  async exit(): Promise<void> {
    if (this.exited === undefined) {
      const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
      if (this.proc.connected) this.proc.send({ type: 'exit' } satisfies ToChild);
      await gone;
    }
  }

  kill(): void {
    if (this.exited === undefined) this.proc.kill('SIGTERM');
  }
}

/** Busy and total CPU seconds of the whole machine so far (Linux /proc/stat), or undefined. */
function machineCpuSeconds(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (in USER_HZ = 1/100 s)
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
    const total = f.reduce((a, b) => a + b, 0) / 100;
    const idle = (f[3]! + f[4]!) / 100;
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function fmt(m: Measurement | undefined): string {
  if (!m) return '-';
  if (m.unit === 'ms') return m.value < 10 ? m.value.toFixed(3) : m.value.toFixed(1);
  return Math.round(m.value).toLocaleString('en-US');
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export async function main(): Promise<void> {
  const cfg = benchConfig();
  const out = (s = '') => process.stdout.write(`${s}\n`);
  const cpu = cpus();
  const clientPackage = createRequire(import.meta.url)('@clickhouse/client/package.json') as {
    version: string;
  };
  const machine = {
    cores: cpu.length,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    os: `${platform()} ${release()}`,
    node: process.version,
    chdb: chdbVersion().chdb,
    client: clientPackage.version,
    uvThreadpool: Number(process.env['UV_THREADPOOL_SIZE'] ?? '64'),
  };
  out(`store benchmark: in-process chDB vs the store over HTTP (${new Date().toISOString()})`);
  out(
    `rows=${cfg.rows} batches=${cfg.batches.join(',')} runs=${cfg.runs} warmup=${cfg.warmup} path_warmup=${cfg.pathWarmup} ` +
      `stream_rows=${cfg.streamRows} stream_runs=${cfg.streamRuns} terminals=${cfg.terminals}`,
  );
  const started = now();
  const machineBefore = machineCpuSeconds();
  const list = phases(cfg);
  const procs = { inprocess: new SideProcess('inprocess'), store: new SideProcess('store') };
  const inproc = { measurements: [] as Measurement[], tableRows: 0, engine: '', cpuSeconds: 0 };
  const store = { measurements: [] as Measurement[], tableRows: 0, engine: '', cpuSeconds: 0 };
  const bySide = { inprocess: inproc, store };
  try {
    inproc.engine = await procs.inprocess.ready();
    store.engine = await procs.store.ready();
    for (const [index, phase] of list.entries()) {
      const order = index % 2 === 0 ? phase.sides : [...phase.sides].reverse();
      for (const side of order) {
        const r = await procs[side].phase(index);
        bySide[side].measurements.push(...r.measurements);
        bySide[side].tableRows = r.tableRows;
        bySide[side].cpuSeconds = r.cpuSeconds;
      }
    }
    await procs.inprocess.exit();
    await procs.store.exit();
  } finally {
    procs.inprocess.kill();
    procs.store.kill();
  }
  const wall = Number(now() - started) / 1e9;
  // CPU the machine spent on anything but this benchmark while it ran: noise in every number.
  const machineAfter = machineCpuSeconds();
  const own =
    inproc.cpuSeconds + store.cpuSeconds + (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
  const otherShare =
    machineBefore && machineAfter
      ? Math.max(0, machineAfter.busy - machineBefore.busy - own) / (machineAfter.total - machineBefore.total)
      : undefined;
  const interference = {
    wallSeconds: Number(wall.toFixed(1)),
    benchCpuSeconds: Number(own.toFixed(1)),
    otherCpuShare: otherShare === undefined ? null : Number(otherShare.toFixed(3)),
  };
  out('');
  out(
    `machine: ${machine.cores} cores (${machine.cpu}), ${machine.memGiB} GiB, ${machine.os}, Node ${machine.node}, ` +
      `chdb ${machine.chdb} (engine ${inproc.engine}), @clickhouse/client ${machine.client}, UV_THREADPOOL_SIZE=${machine.uvThreadpool}, ` +
      `CPU used by other processes during the run: ${otherShare === undefined ? 'unknown' : `${(otherShare * 100).toFixed(0)}% of the machine`}`,
  );
  if (otherShare !== undefined && otherShare > 0.1)
    out('WARNING: other processes used more than 10% of the CPU during the run: numbers are noisy');
  out(
    'ratio = how many times slower via the store: store/in-process for latency, in-process/store for throughput',
  );
  out('');
  const width = Math.max(
    ...[...inproc.measurements, ...store.measurements].map((m) => m.label.length + m.unit.length + 3),
  );
  const header = `${pad('metric', width)}  ${pad('in-process ', 13, true)}  ${pad('via store ', 13, true)}  ${pad('ratio', 7, true)}`;
  out(header);
  out('-'.repeat(header.length));
  // The store's order, with each in-process-only row after the row it is compared with.
  const ids: string[] = [];
  for (const m of store.measurements) {
    ids.push(m.id);
    for (const x of inproc.measurements) if (baselineOf(x.id) === m.id) ids.push(x.id);
  }
  for (const m of inproc.measurements) if (!ids.includes(m.id)) ids.push(m.id);
  const find = (list: Measurement[], id: string) => {
    const base = baselineOf(id);
    return (
      list.find((m) => m.id === id) ?? (base === undefined ? undefined : list.find((m) => m.id === base))
    );
  };
  const results = ids.map((id) => {
    const a = find(inproc.measurements, id);
    const b = find(store.measurements, id);
    const unit = (a ?? b)!.unit;
    const ratio = a && b ? (unit === 'ms' ? b.value / a.value : a.value / b.value) : NaN;
    const label = (inproc.measurements.find((m) => m.id === id) ??
      store.measurements.find((m) => m.id === id))!.label;
    // `*`: this side has no such variant; the value is its baseline row's, repeated.
    const cell = (m: Measurement | undefined) => `${fmt(m)}${m && m.id !== id ? '*' : ' '}`;
    out(
      `${pad(`${label} (${unit})`, width)}  ${pad(cell(a), 13, true)}  ${pad(cell(b), 13, true)}  ${pad(
        Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-',
        7,
        true,
      )}`,
    );
    const round = (v: number) => Number(v.toPrecision(6));
    return {
      id,
      unit,
      inprocess: a ? round(a.value) : null,
      store: b ? round(b.value) : null,
      ratio: Number.isFinite(ratio) ? round(ratio) : null,
    };
  });
  out('');
  out(
    '* a variant that exists on one side only (bare HTTP, client options, gzip, temp-file insert): ' +
      "the other side's value is that of its plain row, measured once",
  );
  out(
    `table rows: in-process ${inproc.tableRows}, store ${store.tableRows}; wall time ${wall.toFixed(1)} s, ` +
      `benchmark CPU ${own.toFixed(1)} s`,
  );
  out(
    JSON.stringify({
      bench: 'store',
      date: new Date().toISOString(),
      machine: { ...machine, engine: inproc.engine },
      interference,
      config: cfg,
      results,
    }),
  );
}

const side = process.env['POSPULSE_BENCH_SIDE'];
if (side === 'inprocess' || side === 'store') await child(side);
else if (process.argv[1] === import.meta.filename) await main();
