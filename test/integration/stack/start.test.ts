import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DemoFile } from '../../../scripts/stack/demo-secrets.ts';
import { isolatedStackEnv } from '../../../scripts/stack/isolated-env.ts';
import { repoRoot } from '../support/broker.ts';

/**
 * `npm start` as a new user runs it: its own Kafka broker and store in a fresh data directory,
 * every service and the simulator. Every printed URL must work; a killed child comes back; Ctrl-C
 * leaves no process behind; a second start keeps the first one's data and credentials.
 */

interface Run {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

function start(env: NodeJS.ProcessEnv, args: string[] = []): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', ...args], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const s of [child.stdout, child.stderr])
    s.on('data', (c: Buffer) => output.push(...c.toString().split('\n')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
  }
}

/** Pids whose parent is `ppid` (from /proc), with their command lines. */
function childrenOf(ppid: number): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const statLine = readFileSync(`/proc/${d}/stat`, 'utf8');
      const parent = Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === ppid)
        out.push({ pid: Number(d), cmd: readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Running (a zombie waiting for its parent to reap it has stopped). */
const alive = (pid: number) => {
  try {
    const statLine = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return statLine.slice(statLine.lastIndexOf(')') + 2, statLine.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};
const cmdOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '(gone)';
  }
};

describe('npm start', () => {
  let dataDir = '';
  const runs: Run[] = [];

  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode === null) r.child.kill('SIGINT');
    await Promise.all(runs.map((r) => r.exited));
    if (dataDir !== '') {
      // The broker stops with the stack; should a failed test leave one, stop it too.
      await new Promise((resolve) =>
        spawn('bash', [join(repoRoot, 'infra/kafka/stop.sh')], {
          env: { ...process.env, KAFKA_DATA_DIR: join(dataDir, 'kafka') },
          stdio: 'ignore',
        }).once('exit', resolve),
      );
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('brings up the pipeline, serves every printed URL, restarts a killed child, stops cleanly and resumes', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pospulse-start-'));
    // Free ports for every service and the broker, none of this shell's service variables.
    const env = await isolatedStackEnv(process.env, {
      POSPULSE_DATA_DIR: dataDir,
      SIMULATOR_TERMINALS: '40',
    });
    const first = start(env);
    runs.push(first);
    await until('the stack to be up', 240_000, () => {
      if (first.child.exitCode !== null) throw new Error(`npm start exited:\n${first.output.join('\n')}`);
      return first.output.some((l) => l.includes('pospulse is running')) ? true : undefined;
    });
    const demo = JSON.parse(await readFile(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
    expect((await stat(join(dataDir, 'demo.json'))).mode & 0o777).toBe(0o600);
    const c = demo.credentials;
    const printed = first.output.join('\n');
    for (const url of [demo.urls['wall'], demo.urls['api'], demo.urls['api_docs'], demo.urls['gateway']])
      expect(printed).toContain(url);

    // The wall: the page, and its WebSocket with the token from the URL's fragment.
    const wall = new URL(demo.urls['wall'] as string);
    expect(wall.hash).toBe(`#token=${c.liveToken}`);
    const page = await fetch(new URL('/', wall));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const ws = new WebSocket(`ws://${wall.host}/ws`, { origin: wall.origin });
    const welcome = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: c.liveToken })));
      ws.once('message', (m) => resolve(JSON.parse(String(m)) as { type: string }));
      ws.once('error', reject);
    });
    expect(welcome.type).toBe('welcome');
    ws.close();

    // The API with each demo key, its docs, and no answer without one.
    const kpis = demo.urls['api'] as string;
    expect((await fetch(kpis)).status).toBe(401);
    for (const key of Object.values(c.apiKeys))
      expect((await fetch(kpis, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    expect((await fetch(demo.urls['api_docs'] as string)).status).toBe(200);

    // The gateway (HTTP and ISO 8583), the processor's metrics, ClickHouse for analysts.
    expect((await fetch(new URL('/readyz', demo.urls['gateway']))).status).toBe(200);
    const isoUrl = new URL(demo.urls['gateway_iso8583'] as string);
    await new Promise<void>((resolve, reject) => {
      const s = connect(Number(isoUrl.port), isoUrl.hostname, () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
    const metrics = demo.urls['processor_metrics'] as string;
    expect((await fetch(metrics)).status).toBe(401);
    const m = await fetch(metrics, { headers: { authorization: `Bearer ${c.metricsToken}` } });
    expect(await m.text()).toContain('pospulse_processor_events_total');
    const analyst = createClient({
      url: demo.urls['clickhouse'],
      username: c.clickhouse.analyst.user,
      password: c.clickhouse.analyst.password,
      log: { level: ClickHouseLogLevel.OFF },
    });
    // The simulator's traffic goes all the way through: rows an analyst can count.
    const stored = await until('simulated transactions in ClickHouse', 120_000, async () => {
      const rs = await analyst.query({
        query: 'SELECT count() AS n FROM pospulse.transactions',
        format: 'JSONEachRow',
      });
      const n = Number(((await rs.json()) as { n: string }[])[0]?.n ?? 0);
      return n > 0 ? n : undefined;
    });
    await expect(analyst.command({ query: 'DROP TABLE pospulse.transactions' })).rejects.toThrow();
    await analyst.close();

    // A killed child is reported and restarted.
    const supervisor = first.child.pid as number;
    const proc = childrenOf(supervisor).find((p) => p.cmd.includes('services/processor/main.ts'));
    expect(proc).toBeDefined();
    process.kill(proc!.pid, 'SIGKILL');
    await until('the restart report', 30_000, () =>
      first.output.some((l) => /processor was killed by SIGKILL .*restart 1 in/.test(l)) ? true : undefined,
    );
    const again = await until('a new processor', 60_000, () =>
      childrenOf(supervisor).find((p) => p.cmd.includes('services/processor/main.ts') && p.pid !== proc!.pid),
    );
    await until('the new processor ready', 120_000, async () =>
      (await fetch(new URL('/readyz', metrics))
        .then((r) => r.status)
        .catch(() => 0)) === 200
        ? true
        : undefined,
    );

    // Ctrl-C: every child and the broker gone, exit 0.
    const pids = childrenOf(supervisor).map((p) => p.pid);
    expect(pids).toContain(again.pid);
    const brokerPid = Number((await readFile(join(dataDir, 'kafka', 'kafka.pid'), 'utf8')).trim());
    expect(alive(brokerPid)).toBe(true);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    for (const pid of [...pids, brokerPid]) expect(alive(pid), `pid ${pid}: ${cmdOf(pid)}`).toBe(false);

    // A second start resumes: the same credentials and the first run's rows.
    const second = start(env, ['--no-simulator']);
    runs.push(second);
    await until('the second stack to be up', 240_000, () => {
      if (second.child.exitCode !== null)
        throw new Error(`second npm start exited:\n${second.output.join('\n')}`);
      return second.output.some((l) => l.includes('pospulse is running')) ? true : undefined;
    });
    const demo2 = JSON.parse(await readFile(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
    expect(demo2.credentials).toEqual(c);
    expect(second.output.some((l) => /simulator/.test(l) && /starting/.test(l))).toBe(false);
    const reader = createClient({
      url: demo2.urls['clickhouse'],
      username: c.clickhouse.analyst.user,
      password: c.clickhouse.analyst.password,
      log: { level: ClickHouseLogLevel.OFF },
    });
    const rs = await reader.query({
      query: 'SELECT count() AS n FROM pospulse.transactions',
      format: 'JSONEachRow',
    });
    expect(Number(((await rs.json()) as { n: string }[])[0]?.n)).toBeGreaterThanOrEqual(stored);
    await reader.close();
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 600_000);
});
