import type { TerminalStatus } from '../shared/avro/types.generated.ts';

export type Status = TerminalStatus['status'];

export const STATUSES: readonly Status[] = ['ONLINE', 'DEGRADED', 'OFFLINE', 'UNKNOWN'];

/** One terminal's change, numbered: the fleet's sequence number after it was applied. */
export interface Delta {
  seq: number;
  status: TerminalStatus;
  /** What it replaced (undefined for a terminal seen for the first time). */
  previous: TerminalStatus | undefined;
}

/**
 * What a change means to a subscription: `update` of a terminal it shows, `leave` when the terminal
 * no longer matches (a client watching OFFLINE terminals must learn one came back), or nothing.
 */
export function relevance(d: Delta, predicate: TerminalPredicate): 'update' | 'leave' | null {
  if (predicate(d.status)) return 'update';
  return d.previous !== undefined && predicate(d.previous) ? 'leave' : null;
}

/** Which terminals a subscription wants; an absent field does not narrow. */
export interface TerminalFilter {
  regions?: readonly string[];
  merchants?: readonly string[];
  acquirers?: readonly string[];
  statuses?: readonly Status[];
  terminals?: readonly string[];
}

/** A filter compiled to sets, tested once per terminal change. */
export type TerminalPredicate = (s: TerminalStatus) => boolean;

export function compileFilter(f: TerminalFilter): TerminalPredicate {
  const set = (xs: readonly string[] | undefined) => (xs === undefined ? undefined : new Set(xs));
  const [regions, merchants, acquirers, statuses, terminals] = [
    set(f.regions),
    set(f.merchants),
    set(f.acquirers),
    set(f.statuses),
    set(f.terminals),
  ];
  const within = (s: Set<string> | undefined, v: string | null) =>
    s === undefined || (v !== null && s.has(v));
  return (s) =>
    within(regions, s.region) &&
    within(merchants, s.merchant_id) &&
    within(acquirers, s.acquirer_id) &&
    within(statuses, s.status) &&
    within(terminals, s.terminal_serial);
}

/**
 * The fleet as the compacted terminal-status topic says it is: the newest record per terminal (by
 * `version`, so a record read twice or out of order changes nothing), a sequence number counting
 * the changes, and the last `historySize` changes for clients that resume.
 *
 * The sequence number belongs to this instance: instances behind a load balancer each count their
 * own, so a client resuming on another instance gets a fresh snapshot (its epoch differs).
 */
export class FleetState {
  private readonly terminals = new Map<string, TerminalStatus>();
  private readonly counts = new Map<Status, number>(STATUSES.map((s) => [s, 0]));
  /** Ring of the last changes: history[(seq - 1) % size] holds change `seq`. */
  private readonly history: (Delta | undefined)[];
  private seqNo = 0;

  constructor(
    readonly epoch: string,
    private readonly historySize = 100_000,
  ) {
    if (!Number.isInteger(historySize) || historySize < 1)
      throw new RangeError(`historySize must be a positive integer, got ${historySize}`);
    this.history = new Array<Delta | undefined>(historySize);
  }

  get seq(): number {
    return this.seqNo;
  }

  get size(): number {
    return this.terminals.size;
  }

  /** Terminals per status. */
  statusCounts(): Record<Status, number> {
    return Object.fromEntries(STATUSES.map((s) => [s, this.counts.get(s) ?? 0])) as Record<Status, number>;
  }

  /** Applies one record; the change, or null when it was not newer than the one held. */
  apply(status: TerminalStatus): Delta | null {
    const known = this.terminals.get(status.terminal_serial);
    if (known !== undefined && known.version >= status.version) return null;
    if (known !== undefined) this.counts.set(known.status, (this.counts.get(known.status) ?? 0) - 1);
    this.counts.set(status.status, (this.counts.get(status.status) ?? 0) + 1);
    this.terminals.set(status.terminal_serial, status);
    this.seqNo += 1;
    const delta = { seq: this.seqNo, status, previous: known };
    this.history[(this.seqNo - 1) % this.historySize] = delta;
    return delta;
  }

  /** The terminals `predicate` selects, by serial. */
  snapshot(predicate: TerminalPredicate = () => true): TerminalStatus[] {
    const out: TerminalStatus[] = [];
    for (const s of this.terminals.values()) if (predicate(s)) out.push(s);
    return out.sort((a, b) => (a.terminal_serial < b.terminal_serial ? -1 : 1));
  }

  /**
   * The changes after `seq` that matter to `predicate` (see relevance), oldest first; null when
   * some of them are no longer held (or `seq` is not one this state gave out): a snapshot is due.
   */
  since(seq: number, predicate: TerminalPredicate = () => true): Delta[] | null {
    if (!Number.isInteger(seq) || seq < 0 || seq > this.seqNo) return null;
    if (this.seqNo - seq > this.historySize) return null;
    const out: Delta[] = [];
    for (let n = seq + 1; n <= this.seqNo; n++) {
      const d = this.history[(n - 1) % this.historySize] as Delta;
      if (relevance(d, predicate) !== null) out.push(d);
    }
    return out;
  }
}
