/** What the rate rules need to know about one transaction's outcome. */
export const Outcome = { OTHER: 0, DECLINED: 1, TIMEOUT: 2 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

const STRIDE = 3;

/**
 * The last `capacity` transactions of one terminal, ordered by request_time, in one Float64Array
 * (3 doubles per slot: request time, gateway received time, id hash × 4 + outcome), so a terminal
 * costs 24 bytes per slot plus one array header whatever its traffic.
 *
 * Order is by request_time so that a transaction delivered late still lands where it belongs, and
 * one older than a full window is dropped instead of pushing out a newer one. Ageing is by the
 * gateway's received time, which shares a clock with the processor (terminal clocks drift).
 */
export class RecentTransactions {
  private readonly slots: Float64Array;
  private n = 0;

  constructor(readonly capacity: number) {
    this.slots = new Float64Array(capacity * STRIDE);
  }

  get size(): number {
    return this.n;
  }

  /**
   * Adds one transaction; false when it was not kept: a duplicate delivery (same id hash already in
   * the window) or older than every transaction of a full window. `idHash` < 0 never matches.
   */
  add(requestTime: number, receivedTime: number, idHash: number, outcome: Outcome): boolean {
    const s = this.slots;
    if (idHash >= 0) {
      for (let i = 0; i < this.n; i++) {
        if (Math.floor(s[i * STRIDE + 2]! / 4) === idHash) return false;
      }
    }
    if (this.n === this.capacity) {
      if (requestTime < s[0]!) return false;
      s.copyWithin(0, STRIDE, this.n * STRIDE);
      this.n -= 1;
    }
    let at = this.n;
    while (at > 0 && s[(at - 1) * STRIDE]! > requestTime) at -= 1;
    s.copyWithin((at + 1) * STRIDE, at * STRIDE, this.n * STRIDE);
    s[at * STRIDE] = requestTime;
    s[at * STRIDE + 1] = receivedTime;
    s[at * STRIDE + 2] = idHash * 4 + outcome;
    this.n += 1;
    return true;
  }

  /** Forgets every transaction the gateway received before `t`. */
  dropReceivedBefore(t: number): void {
    const s = this.slots;
    let kept = 0;
    for (let i = 0; i < this.n; i++) {
      if (s[i * STRIDE + 1]! < t) continue;
      if (kept !== i) s.copyWithin(kept * STRIDE, i * STRIDE, (i + 1) * STRIDE);
      kept += 1;
    }
    this.n = kept;
  }

  counts(): { count: number; declined: number; timedOut: number } {
    let declined = 0;
    let timedOut = 0;
    for (let i = 0; i < this.n; i++) {
      const packed = this.slots[i * STRIDE + 2]!;
      const outcome = packed - Math.floor(packed / 4) * 4;
      if (outcome === Outcome.DECLINED) declined += 1;
      else if (outcome === Outcome.TIMEOUT) timedOut += 1;
    }
    return { count: this.n, declined, timedOut };
  }
}

/**
 * 32-bit FNV-1a of an event id: enough to spot a re-delivered event among a few dozen (a false
 * match needs two ids of one terminal's window to collide: about 1 in 10^8 windows).
 */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Sliding minimum of the offline queue length over the heartbeats of the last `windowMs` (by
 * heartbeat event_time): a deque of (time, length) with lengths strictly increasing, so the front is
 * the minimum. Samples must come in time order (the tracker ignores older heartbeats).
 *
 * At most `capacity` entries are kept, dropping the front. Entries are strictly increasing, so a
 * full deque already spans a growth of at least capacity − 1: with capacity above the growth
 * threshold, dropping never changes the verdict.
 */
export class QueueMinimum {
  private readonly times: number[] = [];
  private readonly lengths: number[] = [];

  constructor(
    readonly windowMs: number,
    readonly capacity: number,
  ) {}

  add(time: number, length: number): void {
    while (this.lengths.length > 0 && this.lengths[this.lengths.length - 1]! >= length) {
      this.lengths.pop();
      this.times.pop();
    }
    this.times.push(time);
    this.lengths.push(length);
    while (this.times.length > this.capacity || this.times[0]! < time - this.windowMs) {
      this.times.shift();
      this.lengths.shift();
    }
  }

  /** Smallest length of the window; undefined before the first sample. */
  min(): number | undefined {
    return this.lengths[0];
  }
}
