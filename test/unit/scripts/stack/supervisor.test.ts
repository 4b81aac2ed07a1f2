import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supervisor } from '../../../../scripts/stack/supervisor.ts';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pospulse-supervisor-'));
  // Crashes until it has run `CRASHES` times (counted in a file), then stays up until SIGTERM.
  await writeFile(
    join(dir, 'flaky.ts'),
    `import { appendFileSync, readFileSync } from 'node:fs';
const f = process.env.COUNT_FILE as string;
appendFileSync(f, 'x');
const runs = readFileSync(f, 'utf8').length;
console.log(JSON.stringify({ level: 30, msg: 'run ' + runs }));
if (runs <= Number(process.env.CRASHES)) process.exit(3);
process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });
setInterval(() => {}, 1000);
`,
  );
  await writeFile(join(dir, 'done.ts'), `console.log('done'); process.exit(0);\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(20);
  }
}

describe('Supervisor', () => {
  it('restarts a crashing child with a doubling backoff, reports each restart, and stops it', async () => {
    const lines: [string, string][] = [];
    const sup = new Supervisor({
      cwd: process.cwd(),
      out: (name, line) => lines.push([name, line]),
      baseBackoffMs: 100,
      maxBackoffMs: 250,
    });
    sup.start({
      name: 'flaky',
      entry: join(dir, 'flaky.ts'),
      env: { ...process.env, COUNT_FILE: join(dir, 'count'), CRASHES: '3' },
    });
    await until(() => lines.some(([n, l]) => n === 'flaky' && l.includes('run 4')));
    const reports = lines.filter(([n]) => n === 'stack').map(([, l]) => l);
    expect(reports).toEqual([
      expect.stringMatching(/^flaky exited with code 3 after [\d.]+ s: restart 1 in 0\.1 s$/),
      expect.stringMatching(/restart 2 in 0\.2 s$/),
      // Capped at maxBackoffMs.
      expect.stringMatching(/restart 3 in 0\.3 s$/),
    ]);
    expect(sup.restarts('flaky')).toBe(3);
    const pid = sup.pids()['flaky'];
    expect(pid).toBeGreaterThan(0);
    await sup.stop();
    expect(lines.at(-1)).toEqual(['flaky', 'bye']);
    expect(() => process.kill(pid as number, 0)).toThrow();
  }, 30_000);

  it('leaves a child that finished (exit 0) alone', async () => {
    const lines: [string, string][] = [];
    const sup = new Supervisor({
      cwd: process.cwd(),
      out: (name, line) => lines.push([name, line]),
      baseBackoffMs: 50,
    });
    sup.start({ name: 'job', entry: join(dir, 'done.ts'), env: process.env });
    await until(() => lines.some(([, l]) => l === 'job finished (exit 0)'));
    await sleep(200);
    expect(sup.restarts('job')).toBe(0);
    await sup.stop();
  }, 30_000);
});
