import { Session, drainPending } from 'chdb';
import { CH, ClickHouseHttpError } from './clickhouse-error.ts';

/** Limits the engine enforces on every query of a connection (server-side, not by inspecting SQL). */
export interface Profile {
  /** 0 read-write; 1 read-only, settings frozen; 2 read-only, settings may change. */
  readonly readonly: 0 | 1 | 2;
  /** Seconds; 0 = unlimited. */
  readonly maxExecutionTime: number;
  /** 0 = unlimited. */
  readonly maxResultRows: number;
  /** 0 = unlimited. */
  readonly maxResultBytes: number;
  /** 0 = the engine's choice (one per core). */
  readonly maxThreads: number;
}

/** The engine settings a profile pins, as `clickhouse local` command-line arguments. */
export function profileSettings(p: Profile): Record<string, string> {
  const s: Record<string, string> = {
    // A ClickHouse server quotes 64-bit integers in JSON by default; chDB does not. Match the server.
    output_format_json_quote_64bit_integers: '1',
    max_execution_time: String(p.maxExecutionTime),
    max_result_rows: String(p.maxResultRows),
    max_result_bytes: String(p.maxResultBytes),
    result_overflow_mode: 'throw',
  };
  if (p.maxThreads > 0) s['max_threads'] = String(p.maxThreads);
  // readonly goes last: once set to 1, nothing after it could be set.
  if (p.readonly > 0) s['readonly'] = String(p.readonly);
  return s;
}

export interface Lease {
  readonly session: Session;
  /** Database the session is in (`USE` changes it for later queries on the same session). */
  database: string;
  /** Set when the session's state can no longer be trusted; it is closed instead of reused. */
  retire: boolean;
  /** Settings this session carries beyond its profile (from earlier requests' URL parameters). */
  applied: Map<string, string>;
  /** Give the session back; `broken` closes it instead (its state is unknown). */
  release(broken?: boolean): void;
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Up to `size` sessions on the data directory, all opened with one profile. chDB runs one query
 * at a time per session but several sessions concurrently, so a pool's size is the number of
 * queries its users can run at once; the rest wait in a bounded queue.
 */
export class SessionPool {
  private readonly idle: Lease[] = [];
  private readonly waiting: Waiter[] = [];
  private open = 0;
  private closed = false;
  readonly settings: Readonly<Record<string, string>>;

  constructor(
    private readonly path: string,
    profile: Profile,
    private readonly size: number,
    private readonly maxQueued: number,
    private readonly queueTimeoutMs: number,
  ) {
    this.settings = profileSettings(profile);
  }

  get busy(): number {
    return this.open - this.idle.length;
  }

  get queued(): number {
    return this.waiting.length;
  }

  acquire(): Promise<Lease> {
    if (this.closed) return Promise.reject(ClickHouseHttpError.of(CH.ABORTED, 'the store is shutting down'));
    const free = this.idle.pop();
    if (free) return Promise.resolve(free);
    if (this.open < this.size) return Promise.resolve(this.create());
    if (this.waiting.length >= this.maxQueued) {
      return Promise.reject(
        ClickHouseHttpError.of(
          CH.TOO_MANY_SIMULTANEOUS_QUERIES,
          `too many simultaneous queries: ${this.size} running and ${this.waiting.length} queued for this user`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(
            ClickHouseHttpError.of(
              CH.TOO_MANY_SIMULTANEOUS_QUERIES,
              `no free connection for this user within ${this.queueTimeoutMs} ms (${this.size} queries running)`,
            ),
          );
        }, this.queueTimeoutMs),
      };
      this.waiting.push(waiter);
    });
  }

  private create(): Lease {
    const args = Object.entries(this.settings).map(([k, v]) => `--${k}=${v}`);
    const session = new Session(this.path, { connectionArgs: args });
    this.open++;
    const lease: Lease = {
      session,
      database: 'default',
      retire: false,
      applied: new Map(),
      release: (broken = false) => this.release(lease, broken || lease.retire),
    };
    return lease;
  }

  private release(lease: Lease, broken: boolean): void {
    if (broken || this.closed) {
      lease.session.close();
      this.open--;
      if (!this.closed && this.waiting.length > 0 && this.open < this.size) this.handOver(this.create());
      return;
    }
    if (this.waiting.length > 0) this.handOver(lease);
    else this.idle.push(lease);
  }

  private handOver(lease: Lease): void {
    const w = this.waiting.shift()!;
    clearTimeout(w.timer);
    w.resolve(lease);
  }

  /** Refuses new work, fails the queue, closes idle sessions; busy ones close on release. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      clearTimeout(w.timer);
      w.reject(ClickHouseHttpError.of(CH.ABORTED, 'the store is shutting down'));
    }
    for (const lease of this.idle.splice(0)) {
      lease.session.close();
      this.open--;
    }
  }
}

/**
 * The ClickHouse engine on one data directory. The first session loads the databases
 * synchronously, so tables are there before the first request is served.
 */
export class Engine {
  private readonly pools = new Map<string, SessionPool>();
  private admin: Session | undefined;
  private engineVersion = 'unknown';

  constructor(readonly path: string) {}

  open(): void {
    this.admin = new Session(this.path, {
      connectionArgs: ['--async_load_databases=0', '--async_load_system_database=0'],
    });
  }

  /** The engine's version, known once `ready()` has answered (error bodies carry it). */
  get version(): string {
    return this.engineVersion;
  }

  async ready(): Promise<boolean> {
    if (!this.admin) return false;
    try {
      const r = await this.admin.queryAsync('SELECT version()', { format: 'TSV' });
      this.engineVersion = r.text().trim();
      return true;
    } catch {
      return false;
    }
  }

  pool(key: string, create: () => SessionPool): SessionPool {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = create();
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes and forgets a pool (a dropped user's); its queries in flight finish first. */
  closePool(key: string): void {
    this.pools.get(key)?.close();
    this.pools.delete(key);
  }

  get poolStats(): { key: string; busy: number; queued: number }[] {
    return [...this.pools.entries()].map(([key, p]) => ({ key, busy: p.busy, queued: p.queued }));
  }

  /** Waits until no query runs, then releases the data directory. */
  async close(): Promise<void> {
    for (const pool of this.pools.values()) pool.close();
    while ([...this.pools.values()].some((p) => p.busy > 0)) await new Promise((r) => setTimeout(r, 20));
    this.admin?.close();
    this.admin = undefined;
    await drainPending();
  }
}
