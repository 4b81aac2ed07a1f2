import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachLine } from './processes.ts';

/** One service the supervisor runs: `node --import tsx <entry>` with `env`. */
export interface ChildSpec {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  /** `/readyz` (or another URL answering 200 once the service serves). */
  readyUrl?: URL;
  /** A child that exits 0 has finished its job (the simulator's fixed run) and is not restarted. */
  restartOnSuccess?: boolean;
}

export interface SupervisorOptions {
  cwd: string;
  /** Where every line goes (the child's lines prefixed, the supervisor's own reports). */
  out: (name: string, line: string) => void;
  /** First restart delay; doubles per crash in a row up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** A child up this long counts as healthy again: its next crash restarts after `baseBackoffMs`. */
  stableAfterMs?: number;
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs?: number;
}

interface Supervised {
  spec: ChildSpec;
  process: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  crashesInRow: number;
  exited: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Runs the services as child processes: their output line by line to `out`, a crashed child
 * (non-zero exit or a signal) restarted after an exponential backoff and reported, and on `stop`
 * every child SIGTERMed in reverse start order (SIGKILL past the timeout), so nothing is left
 * behind.
 */
export class Supervisor {
  private readonly children = new Map<string, Supervised>();
  private stopping = false;
  private readonly o: Required<SupervisorOptions>;

  constructor(options: SupervisorOptions) {
    this.o = {
      baseBackoffMs: 1_000,
      maxBackoffMs: 30_000,
      stableAfterMs: 60_000,
      stopTimeoutMs: 20_000,
      ...options,
    };
    // If the supervisor itself exits without stop() (an uncaught error), the children, in process
    // groups of their own, would live on: take them along.
    process.once('exit', () => {
      for (const s of this.children.values()) if (s.process?.exitCode === null) s.process.kill('SIGTERM');
    });
  }

  /** Starts a child (and keeps it running). */
  start(spec: ChildSpec): void {
    if (this.children.has(spec.name)) throw new Error(`${spec.name} is already supervised`);
    const s: Supervised = {
      spec,
      process: undefined,
      startedAt: 0,
      restarts: 0,
      crashesInRow: 0,
      exited: Promise.resolve(),
      timer: undefined,
    };
    this.children.set(spec.name, s);
    this.spawn(s);
  }

  /** Pids of the running children, by name. */
  pids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, s] of this.children) if (s.process?.pid !== undefined) out[name] = s.process.pid;
    return out;
  }

  restarts(name: string): number {
    return this.children.get(name)?.restarts ?? 0;
  }

  /** Waits until the child's readyUrl answers 200 (across restarts), or throws after `timeoutMs`. */
  async waitReady(name: string, timeoutMs: number): Promise<void> {
    const s = this.children.get(name);
    const url = s?.spec.readyUrl;
    if (s === undefined || url === undefined) throw new Error(`${name} has no readiness URL`);
    const deadline = Date.now() + timeoutMs;
    while (!this.stopping) {
      const ok = await fetch(url, { signal: AbortSignal.timeout(5_000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline)
        throw new Error(`${name} was not ready at ${url.href} within ${timeoutMs} ms`);
      await sleep(250);
    }
    throw new Error(`stopping before ${name} was ready`);
  }

  /** Stops every child, the last started first. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of [...this.children.values()].reverse()) {
      clearTimeout(s.timer);
      const p = s.process;
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) continue;
      p.kill('SIGTERM');
      const killed = await Promise.race([
        s.exited.then(() => false),
        sleep(this.o.stopTimeoutMs).then(() => true),
      ]);
      if (killed) {
        this.o.out('stack', `${s.spec.name} did not stop within ${this.o.stopTimeoutMs} ms: killed`);
        p.kill('SIGKILL');
        await s.exited;
      }
    }
  }

  private spawn(s: Supervised): void {
    // A process group of its own: Ctrl-C reaches the supervisor only, which stops the children in
    // order (the processor finishes its batch while the store still runs).
    const child = spawn(process.execPath, ['--import', 'tsx', s.spec.entry], {
      cwd: this.o.cwd,
      env: s.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    s.process = child;
    s.startedAt = Date.now();
    s.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    forEachLine(child, (line) => this.o.out(s.spec.name, line));
    child.once('error', (err) => this.o.out('stack', `${s.spec.name} could not be started: ${err.message}`));
    child.once('exit', (code, signal) => this.onExit(s, code, signal));
  }

  private onExit(s: Supervised, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    if (code === 0 && s.spec.restartOnSuccess !== true) {
      this.o.out('stack', `${s.spec.name} finished (exit 0)`);
      return;
    }
    const upMs = Date.now() - s.startedAt;
    s.crashesInRow = upMs >= this.o.stableAfterMs ? 1 : s.crashesInRow + 1;
    const delay = Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** (s.crashesInRow - 1));
    s.restarts += 1;
    this.o.out(
      'stack',
      `${s.spec.name} ${signal === null ? `exited with code ${code}` : `was killed by ${signal}`} after ${(upMs / 1000).toFixed(1)} s: restart ${s.restarts} in ${(delay / 1000).toFixed(1)} s`,
    );
    s.timer = setTimeout(() => {
      if (!this.stopping) this.spawn(s);
    }, delay);
  }
}
