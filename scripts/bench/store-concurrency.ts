// How chDB serializes work, measured: small inserts while a long query runs, (a) on the same
// session, (b) on another session of the same data directory, (c) through the store, where the
// analyst's query and the service's inserts use different session pools.
// Run: npm run bench (or: tsx scripts/bench/store-concurrency.ts). Prints numbers, asserts nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'chdb';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { createLogger } from '../../services/shared/logger.ts';
import { startEmbeddedStore } from '../../services/store/embedded.ts';
import { parseUsers } from '../../services/store/users.ts';

const LONG_SECONDS = Number(process.env['BENCH_LONG_QUERY_SECONDS'] ?? 6);
const INSERTS = Number(process.env['BENCH_CONCURRENT_INSERTS'] ?? 20);
// Runs until max_execution_time stops it: a stand-in for a heavy analyst query.
const LONG_QUERY = `SELECT count() FROM numbers_mt(1e12) WHERE sipHash64(number) = 1 SETTINGS max_execution_time = ${LONG_SECONDS}, timeout_overflow_mode = 'break'`;

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;

async function timedInserts(insert: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < INSERTS; i++) {
    const t0 = process.hrtime.bigint();
    await insert(i);
    out.push(ms(t0));
  }
  return out;
}

export async function run(): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'pospulse-bench-conc-'));
  const a = new Session(dir);
  const b = new Session(dir);
  await a.queryAsync('CREATE TABLE t (i UInt32, s String) ENGINE = MergeTree ORDER BY i');
  const row = (i: number) => `INSERT INTO t VALUES (${i}, 'x')`;

  const idle = await timedInserts((i) => b.queryAsync(row(i)));

  const long1 = a.queryAsync(LONG_QUERY);
  await new Promise((r) => setTimeout(r, 200));
  const other = await timedInserts((i) => b.queryAsync(row(i)));
  await long1;

  const long2 = a.queryAsync(LONG_QUERY);
  await new Promise((r) => setTimeout(r, 200));
  const t0 = process.hrtime.bigint();
  await a.queryAsync(row(0));
  const same = ms(t0);
  await long2;
  a.close();
  b.close();
  rmSync(dir, { recursive: true, force: true });

  // Through the store: analyst (read-only pool) vs service (its own pool).
  const storeDir = mkdtempSync(join(tmpdir(), 'pospulse-bench-conc-store-'));
  const users = parseUsers(
    JSON.stringify([
      { name: 'svc', password: 'bench-password', role: 'service' },
      { name: 'ana', password: 'bench-password', role: 'analyst', max_execution_time: LONG_SECONDS * 2 },
    ]),
  );
  const store = await startEmbeddedStore({
    host: '127.0.0.1',
    port: 0,
    dataDir: storeDir,
    users,
    logger: createLogger({ service: 'bench', level: 'silent' }),
    maxQueryBytes: 1 << 24,
    maxInsertBytes: 1 << 30,
    maxQueued: 64,
    queueTimeoutMs: 60_000,
  });
  const url = store.url;
  const opts = { url, password: 'bench-password', log: { level: ClickHouseLogLevel.OFF } };
  const svc = createClient({ ...opts, username: 'svc' });
  const ana = createClient({ ...opts, username: 'ana' });
  await svc.command({ query: 'CREATE TABLE t (i UInt32, s String) ENGINE = MergeTree ORDER BY i' });
  const insert = (i: number) => svc.insert({ table: 't', values: [{ i, s: 'x' }], format: 'JSONEachRow' });
  const storeIdle = await timedInserts(insert);
  const analyst = ana
    .query({ query: LONG_QUERY.replace(/ SETTINGS .*$/, '') })
    .then((r) => r.text())
    .catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  const storeBusy = await timedInserts(insert);
  await analyst;
  await svc.close();
  await ana.close();
  await store.close();
  rmSync(storeDir, { recursive: true, force: true });

  const lines = [
    `chDB concurrency (${INSERTS} single-row inserts; a ${LONG_SECONDS}s query running elsewhere)`,
    `  inserts, nothing else running            ${fmt(idle)}`,
    `  inserts on a 2nd session, long query on 1st  ${fmt(other)}`,
    `  one insert on the SAME session as the long query  ${same.toFixed(0)} ms (waits for it)`,
    `  via store, idle                          ${fmt(storeIdle)}`,
    `  via store, analyst's long query running  ${fmt(storeBusy)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return {
    insert_idle_p50_ms: pct(idle, 50),
    insert_other_session_p50_ms: pct(other, 50),
    insert_other_session_max_ms: Math.max(...other),
    insert_same_session_ms: same,
    store_insert_idle_p50_ms: pct(storeIdle, 50),
    store_insert_during_analyst_query_p50_ms: pct(storeBusy, 50),
    store_insert_during_analyst_query_max_ms: Math.max(...storeBusy),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await run())}\n`);
}
