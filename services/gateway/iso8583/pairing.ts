import { ValidationError } from '../../shared/errors.ts';
import type { Iso8583Message } from './codec.ts';
import { requestKey, type PairingKeys } from './mapping.ts';

/** A request waiting for its response, with whatever the caller attached to it (`data`). */
export interface PendingRequest<T> {
  message: Iso8583Message;
  keys: PairingKeys;
  /** When the request was read (the table's clock). */
  receivedAt: number;
  data: T;
}

/**
 * Why a request left the table without a response: it waited `timeoutMs` (`timeout`), or the
 * table was full and it was the oldest (`overflow`). `drain()` returns the rest on shutdown.
 */
export type ExpiryCause = 'timeout' | 'overflow';

export type AddResult = 'pending' | 'duplicate' | 'unkeyed';

export interface PairingTableOptions<T> {
  /** How long a request waits for its response. */
  timeoutMs: number;
  /** Requests held at most; adding one more first expires the oldest (`overflow`). */
  maxPending: number;
  /**
   * Called for each request that leaves without a response, synchronously from `add` (overflow)
   * or from the sweep (timeout). Must not throw: it runs on a timer, where a throw would end the
   * process.
   */
  onExpire: (request: PendingRequest<T>, cause: ExpiryCause) => void;
  /** @default Date.now */
  clock?: () => number;
  /**
   * How often the sweep timer looks for expired requests; a request times out between `timeoutMs`
   * and `timeoutMs + sweepIntervalMs` after it was read.
   * @default timeoutMs / 4, between 10 ms and 1 s
   */
  sweepIntervalMs?: number;
}

/**
 * The pending-request table of docs/ISO8583.md "Pairing and the timeout rule": requests by their
 * STAN key and their RRN key, in arrival order. One table serves every connection, because a
 * switch may send a request on one connection and its response on another.
 *
 * Entries are kept in insertion order, which is arrival order, so both the sweep and the overflow
 * look only at the head: O(1) amortized per request, however many are pending.
 */
export class PairingTable<T> {
  readonly timeoutMs: number;
  readonly maxPending: number;
  readonly sweepIntervalMs: number;
  private readonly onExpire: (request: PendingRequest<T>, cause: ExpiryCause) => void;
  private readonly clock: () => number;
  /** Every pending request, oldest first (a Set iterates in insertion order). */
  private readonly order = new Set<PendingRequest<T>>();
  private readonly byStan = new Map<string, PendingRequest<T>>();
  private readonly byRrn = new Map<string, PendingRequest<T>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: PairingTableOptions<T>) {
    if (!(options.timeoutMs > 0)) throw new ValidationError('timeoutMs must be positive', 'timeoutMs');
    if (!Number.isInteger(options.maxPending) || options.maxPending < 1) {
      throw new ValidationError('maxPending must be a positive integer', 'maxPending');
    }
    this.timeoutMs = options.timeoutMs;
    this.maxPending = options.maxPending;
    this.onExpire = options.onExpire;
    this.clock = options.clock ?? Date.now;
    this.sweepIntervalMs =
      options.sweepIntervalMs ?? Math.min(1000, Math.max(10, Math.floor(options.timeoutMs / 4)));
  }

  get size(): number {
    return this.order.size;
  }

  /**
   * Stores a request under its keys. `duplicate` when either key is already pending (the first
   * request stays, this one is not stored); `unkeyed` when it has neither key, so no response
   * could ever be paired with it. `receivedAt` is when the request was read (default: now).
   */
  add(message: Iso8583Message, data: T, receivedAt: number = this.clock()): AddResult {
    const keys = requestKey(message);
    if (keys.byStan === undefined && keys.byRrn === undefined) return 'unkeyed';
    if (
      (keys.byStan !== undefined && this.byStan.has(keys.byStan)) ||
      (keys.byRrn !== undefined && this.byRrn.has(keys.byRrn))
    ) {
      return 'duplicate';
    }
    while (this.order.size >= this.maxPending) {
      const oldest = this.order.values().next().value!;
      this.remove(oldest);
      this.onExpire(oldest, 'overflow');
    }
    const entry: PendingRequest<T> = { message, keys, receivedAt, data };
    this.order.add(entry);
    if (keys.byStan !== undefined) this.byStan.set(keys.byStan, entry);
    if (keys.byRrn !== undefined) this.byRrn.set(keys.byRrn, entry);
    return 'pending';
  }

  /** The pending request `response` answers (by STAN key, else RRN key), removed; undefined if none. */
  match(response: Iso8583Message): PendingRequest<T> | undefined {
    const keys = requestKey(response);
    const entry =
      (keys.byStan === undefined ? undefined : this.byStan.get(keys.byStan)) ??
      (keys.byRrn === undefined ? undefined : this.byRrn.get(keys.byRrn));
    if (entry !== undefined) this.remove(entry);
    return entry;
  }

  /** Expires every request older than `timeoutMs`; returns how many. The timer calls this. */
  sweep(): number {
    const cutoff = this.clock() - this.timeoutMs;
    let expired = 0;
    for (const entry of this.order) {
      // Arrival order: the first one still in time means all later ones are too (a clock stepping
      // back only delays their expiry until the clock passes them again).
      if (entry.receivedAt > cutoff) break;
      this.remove(entry);
      this.onExpire(entry, 'timeout');
      expired++;
    }
    return expired;
  }

  /** Removes and returns every pending request, oldest first (shutdown: they become timeouts now). */
  drain(): PendingRequest<T>[] {
    const all = [...this.order];
    this.order.clear();
    this.byStan.clear();
    this.byRrn.clear();
    return all;
  }

  /** Starts the sweep timer; unref'd, so a pending request never keeps the process alive. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private remove(entry: PendingRequest<T>): void {
    this.order.delete(entry);
    if (entry.keys.byStan !== undefined) this.byStan.delete(entry.keys.byStan);
    if (entry.keys.byRrn !== undefined) this.byRrn.delete(entry.keys.byRrn);
  }
}
