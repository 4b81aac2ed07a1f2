import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const USERS = JSON.stringify([{ name: 'svc', password: 'svc-password-1', role: 'service' }]);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

interface StoreProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The store as operators run it: its own process, `main.ts`, configured by env. */
async function startStore(dataDir: string): Promise<StoreProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'services/store/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      STORE_DATA_DIR: dataDir,
      STORE_PORT: String(port),
      STORE_USERS: USERS,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`store exited early:\n${out}`);
    const ok = await fetch(`${url}/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`store did not answer /ping:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, output: () => out, exited };
}

function client(url: string): ClickHouseClient {
  return createClient({
    url,
    username: 'svc',
    password: 'svc-password-1',
    log: { level: ClickHouseLogLevel.OFF },
  });
}

describe('store process lifecycle', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps every acknowledged insert when killed with SIGKILL mid-insert and restarted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pospulse-store-kill-'));
    dirs.push(dir);
    const first = await startStore(dir);
    children.push(first.child);
    const c1 = client(first.url);
    await c1.command({
      query:
        'CREATE TABLE batches (batch UInt32, i UInt32, payload String) ENGINE = MergeTree ORDER BY (batch, i)',
    });

    const BATCH = 2_000;
    const acknowledged: number[] = [];
    let inFlight = -1;
    const writer = (async () => {
      for (let b = 0; ; b++) {
        inFlight = b;
        const rows = Array.from({ length: BATCH }, (_, i) => ({
          batch: b,
          i,
          payload: `row ${i} of batch ${b}`,
        }));
        try {
          await c1.insert({ table: 'batches', values: rows, format: 'JSONEachRow' });
        } catch {
          return; // the store died under this insert: it was never acknowledged
        }
        acknowledged.push(b);
      }
    })();
    // Let a good number of inserts land, then kill while the next one is on its way.
    while (acknowledged.length < 25) await new Promise((r) => setTimeout(r, 10));
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await writer;
    await c1.close();

    const second = await startStore(dir);
    children.push(second.child);
    const c2 = client(second.url);
    const counts = await (
      await c2.query({
        query: 'SELECT batch, count() AS n, uniqExact(i) AS u FROM batches GROUP BY batch ORDER BY batch',
        format: 'JSONEachRow',
      })
    ).json<{ batch: number; n: string; u: string }>();
    const byBatch = new Map(counts.map((r) => [Number(r.batch), Number(r.n)]));
    for (const b of acknowledged) expect(byBatch.get(b), `batch ${b}`).toBe(BATCH);
    // The insert cut off by the kill is all or nothing; nothing else exists.
    for (const [b, n] of byBatch) {
      if (!acknowledged.includes(b)) {
        expect(b).toBe(inFlight);
        expect(n).toBe(BATCH);
      }
    }
    await c2.close();
    second.child.kill('SIGTERM');
    await second.exited;
  });

  it('stops cleanly on SIGTERM, finishing the query in flight, and reopens with its data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pospulse-store-term-'));
    dirs.push(dir);
    const first = await startStore(dir);
    children.push(first.child);
    const c1 = client(first.url);
    await c1.command({ query: 'CREATE TABLE kept (x UInt64) ENGINE = MergeTree ORDER BY x' });
    await c1.insert({ table: 'kept', values: [{ x: 1 }, { x: 2 }, { x: 3 }], format: 'JSONEachRow' });
    // A query that takes a moment is running when SIGTERM arrives; it still gets its answer.
    const slow = c1
      .query({ query: 'SELECT sleepEachRow(0.5), count() FROM numbers(3) GROUP BY 1', format: 'JSONEachRow' })
      .then((r) => r.json());
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill('SIGTERM');
    await expect(slow).resolves.toHaveLength(1);
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(first.output()).toContain('store stopped');
    await c1.close();

    const second = await startStore(dir);
    children.push(second.child);
    const c2 = client(second.url);
    const [row] = await (
      await c2.query({ query: 'SELECT sum(x) AS s FROM kept', format: 'JSONEachRow' })
    ).json<{ s: string }>();
    expect(row?.s).toBe('6');
    await c2.close();
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});
