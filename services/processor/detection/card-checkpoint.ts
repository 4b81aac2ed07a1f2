import type { CommitPoint, CommittedOffset } from '../../shared/kafka/consumer.ts';

/**
 * The card stage's restart point, kept in the offset commit of a `card-activity` partition the way
 * the KPI windows keep theirs (kpi/checkpoint-metadata.ts): the committed offset is the oldest
 * record the rules' state still depends on, the metadata says where processing ended and from which
 * receive time a rebuild from that offset sees every event. A new owner reads the partition from the
 * committed offset, folds the records before `next` into the rules silently, and processes the
 * rest as usual.
 */
export interface CardCheckpoint {
  /** First offset to read again on restart (the committed offset). */
  readonly restartOffset: number;
  /** Offsets below this were processed: replaying them only rebuilds state. */
  readonly nextOffset: number;
  /**
   * Events received (gateway_received_time) from this time on are all at or after restartOffset,
   * so a rebuild holds them all; null when no event was seen yet.
   */
  readonly historyFrom: number | null;
}

const VERSION = 1;
const KIND = 'card';

interface Encoded {
  v: number;
  kind: string;
  next: number;
  from: number | null;
}

export function cardCommitPoint(cp: CardCheckpoint): CommitPoint {
  const body: Encoded = { v: VERSION, kind: KIND, next: cp.nextOffset, from: cp.historyFrom };
  return { offset: String(cp.restartOffset), metadata: JSON.stringify(body) };
}

export type CardCheckpointReading =
  | { kind: 'checkpoint'; checkpoint: CardCheckpoint }
  /** Nothing committed yet, or committed without a checkpoint. */
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string };

export function cardCheckpointOf(committed: CommittedOffset | undefined): CardCheckpointReading {
  if (committed === undefined || committed.metadata === null || committed.metadata === '')
    return { kind: 'none' };
  const restart = Number(committed.offset);
  if (!Number.isSafeInteger(restart) || restart < 0) return { kind: 'none' };
  let body: unknown;
  try {
    body = JSON.parse(committed.metadata);
  } catch {
    return { kind: 'invalid', reason: 'metadata is not JSON' };
  }
  const b = body as Partial<Encoded> | null;
  if (typeof b !== 'object' || b === null || b.v !== VERSION || b.kind !== KIND) {
    return { kind: 'invalid', reason: `metadata is not a card checkpoint v${VERSION}` };
  }
  if (!Number.isSafeInteger(b.next) || (b.next as number) < restart) {
    return {
      kind: 'invalid',
      reason: `next offset ${String(b.next)} is not an offset at or after ${restart}`,
    };
  }
  if (b.from !== null && !Number.isFinite(b.from)) {
    return { kind: 'invalid', reason: `history start ${String(b.from)} is not a time` };
  }
  return {
    kind: 'checkpoint',
    checkpoint: { restartOffset: restart, nextOffset: b.next as number, historyFrom: b.from ?? null },
  };
}

/** One batch as the restart point needs it: where it began, and the newest receive time in it. */
interface BatchMark {
  readonly offset: number;
  readonly maxReceived: number;
}

/**
 * Tracks the batches a partition's card state was built from, to find the oldest offset a rebuild
 * of the last `span` (receive time) must read: every batch before it holds only older events.
 * Arrival order is not receive order (many producers publish into one partition), so a batch is
 * released only once its newest event left the span.
 */
export class CardReplayMarks {
  private readonly marks: BatchMark[] = [];
  private newest = -Infinity;

  constructor(
    /** Receive time from which the state holds every event; null: from its first batch on. */
    private historyFrom: number | null,
  ) {}

  /** The newest receive time seen, or null before any event. */
  get newestReceived(): number | null {
    return this.newest === -Infinity ? null : this.newest;
  }

  get from(): number | null {
    return this.historyFrom;
  }

  /** Notes a batch (its records' offsets and receive times, in offset order). */
  note(records: readonly { offset: number; received: number }[]): void {
    if (records.length === 0) return;
    let max = -Infinity;
    for (const r of records) if (r.received > max) max = r.received;
    this.marks.push({ offset: records[0]!.offset, maxReceived: max });
    if (max > this.newest) this.newest = max;
    // A state started without a checkpoint is complete from its first batch on.
    this.historyFrom ??= max;
  }

  /** The checkpoint after processing up to `nextOffset`, keeping `span` of receive time rebuildable. */
  checkpoint(nextOffset: number, span: number): CardCheckpoint {
    const horizon = this.newest - span;
    while (this.marks.length > 0 && this.marks[0]!.maxReceived < horizon) this.marks.shift();
    const restartOffset = Math.min(this.marks[0]?.offset ?? nextOffset, nextOffset);
    const from =
      this.historyFrom === null
        ? null
        : this.newest === -Infinity
          ? this.historyFrom
          : Math.max(this.historyFrom, horizon);
    return { restartOffset, nextOffset, historyFrom: from };
  }
}
