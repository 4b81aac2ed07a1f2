import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { processCpuSeconds } from './_gateway-proc.ts';

/*
 * The services scripts/bench/processor.ts runs as child processes, as in production: the store
 * (services/store/main.ts, chDB behind the ClickHouse HTTP interface) and the processor
 * (services/processor/main.ts). Plus per-thread CPU readers, to split a process's CPU between its
 * JavaScript main thread, ClickHouse's named engine threads and the rest.
 */

export interface ServiceChild {
  name: string;
  process: ChildProcess;
  pid: number;
  /** Output lines (pino JSON), most recent last. */
  logTail: string[];
  /** Every output line is passed here as it arrives. */
  onLine: ((line: string) => void) | undefined;
  /** Set once the process exited. */
  exited: { code: number | null; signal: string | null } | undefined;
  /** SIGTERM, then wait for the exit; SIGKILL after `timeoutMs`. */
  stop(
    timeoutMs: number,
  ): Promise<{ code: number | null; signal: string | null; ms: number; killed: boolean }>;
}

/**
 * The environment a service child gets: the caller's basics (PATH, HOME, …) without any service
 * or benchmark variable of the caller's shell, plus `env`.
 */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      /^(KAFKA_|KAFKAJS_|CLICKHOUSE_|STORE_|PROCESSOR_|GATEWAY_|SCHEMA_REGISTRY_|LOG_|BENCH_)/.test(k) ||
      k === 'UV_THREADPOOL_SIZE' ||
      k === 'NODE_OPTIONS'
    )
      continue;
    out[k] = v;
  }
  return { ...out, ...env };
}

/** Starts `node [nodeArgs] --import tsx <entry>` in `cwd`. */
export function startServiceChild(opts: {
  name: string;
  cwd: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  nodeArgs?: readonly string[];
  /** Modules loaded with `--import` after tsx (so they may be TypeScript). */
  preload?: readonly string[];
}): ServiceChild {
  const tsx = /\.[cm]?ts$/.test(opts.entry) ? ['--import', 'tsx'] : [];
  const preload = (opts.preload ?? []).flatMap((m) => ['--import', m]);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...tsx, ...preload, opts.entry], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start the ${opts.name} process`);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const svc: ServiceChild = {
    name: opts.name,
    process: child,
    pid: child.pid,
    logTail: [],
    onLine: undefined,
    exited: undefined,
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
  void exited.then((e) => (svc.exited = e));
  let partial = '';
  const collect = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      svc.logTail.push(line);
      if (svc.logTail.length > 60) svc.logTail.shift();
      svc.onLine?.(line);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return svc;
}

/** Waits until `url` answers 200; fails at once if the child exits first. */
export async function waitReady(svc: ServiceChild, url: URL, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let status = 0;
  for (;;) {
    if (svc.exited !== undefined) {
      throw new Error(
        `the ${svc.name} exited during start-up (code ${svc.exited.code}, signal ${svc.exited.signal}):\n` +
          svc.logTail.join('\n'),
      );
    }
    status = await fetch(url, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.status)
      .catch(() => 0);
    if (status === 200) return;
    if (performance.now() > deadline) {
      throw new Error(
        `the ${svc.name} was not ready within ${timeoutMs / 1000} s (${url.pathname} ${status}):\n` +
          svc.logTail.join('\n'),
      );
    }
    await sleep(200);
  }
}

// ---------------------------------------------------------------------------------------------
// CPU per thread

/** CPU seconds of each live thread of `pid`, with its name (`comm`). */
export function threadCpu(pid: number): Map<number, { name: string; seconds: number }> {
  const out = new Map<number, { name: string; seconds: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime in clock ticks (USER_HZ, 100 on nearly every Linux).
      out.set(Number(tid), { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

export interface ThreadSnapshot {
  total: number;
  threads: Map<number, { name: string; seconds: number }>;
}

export function threadSnapshot(pid: number): ThreadSnapshot {
  return { total: processCpuSeconds(pid) ?? NaN, threads: threadCpu(pid) };
}

/**
 * CPU seconds between two snapshots of one process: its main thread (tid = pid, where JavaScript
 * runs), its threads grouped by name other than `node` (ClickHouse names its pools: MergeMutate,
 * BgSchPool, QueryPipelineEx …), and `other`: the `node`-named threads (libuv pool, V8 platform
 * workers for GC and compilation) and threads that ended in between.
 */
export function threadBreakdown(
  pid: number,
  a: ThreadSnapshot,
  b: ThreadSnapshot,
): { total: number; main: number; named: Map<string, number>; other: number } {
  const total = b.total - a.total;
  let main = 0;
  const named = new Map<string, number>();
  for (const [tid, t] of b.threads) {
    const d = t.seconds - (a.threads.get(tid)?.seconds ?? 0);
    if (tid === pid) main = d;
    else if (t.name !== 'node') named.set(t.name, (named.get(t.name) ?? 0) + d);
  }
  let namedSum = 0;
  for (const v of named.values()) namedSum += v;
  return { total, main, named, other: total - main - namedSum };
}

/** A store child (chDB) with two service users: `svc` for the services, `own` for the caller. */
export interface StoreChild {
  child: ServiceChild;
  url: string;
  svcPassword: string;
  ownPassword: string;
  client: ClickHouseClient;
}

/**
 * Starts services/store/main.ts on `port` over `dataDir`, waits until it is ready, and connects as
 * `own` (whose queries wait in a pool of their own, apart from the services').
 */
export async function startStoreChild(opts: {
  cwd: string;
  port: number;
  dataDir: string;
  own: string;
  requestTimeoutMs: number;
}): Promise<StoreChild> {
  const svcPassword = randomBytes(12).toString('hex');
  const ownPassword = randomBytes(12).toString('hex');
  const url = `http://127.0.0.1:${opts.port}`;
  const child = startServiceChild({
    name: 'store',
    cwd: opts.cwd,
    entry: 'services/store/main.ts',
    env: childEnv({
      STORE_HOST: '127.0.0.1',
      STORE_PORT: String(opts.port),
      STORE_DATA_DIR: opts.dataDir,
      STORE_USERS: JSON.stringify([
        { name: 'svc', password: svcPassword, role: 'service' },
        { name: opts.own, password: ownPassword, role: 'service' },
      ]),
      LOG_LEVEL: 'warn',
    }),
  });
  try {
    await waitReady(child, new URL('/readyz', url), 120_000);
  } catch (err) {
    await child.stop(15_000);
    throw err;
  }
  const client = createClient({
    url,
    username: opts.own,
    password: ownPassword,
    request_timeout: opts.requestTimeoutMs,
    log: { level: ClickHouseLogLevel.OFF },
  });
  return { child, url, svcPassword, ownPassword, client };
}
