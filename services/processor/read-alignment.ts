/** Pauses and resumes the fetching of one topic partition (the consumer's). */
export interface FetchControl {
  pause(topic: string, partition: number): void;
  resume(topic: string, partition: number): void;
}

interface Reading {
  /** Newest event time read. */
  time: number;
  /** Records were left to read after the last batch. */
  lagging: boolean;
}

/**
 * Keeps the partitions of the event topics this instance reads (transactions and heartbeats)
 * within `aheadMs` of event time of the slowest one that still has records to read, by pausing
 * the fetching of those ahead until it catches up.
 *
 * Live, every partition is current and nothing is paused. While a backlog is read, the broker
 * fills each fetch partition by partition, so without this one partition can run a day ahead of
 * another: every judgement that needs all partitions' view of a moment (a merchant's minute made
 * of partials from several partitions, a refund's sale, a silent terminal's heartbeats) would wait
 * for the slowest while holding everything the fast ones produced in memory.
 *
 * A partition with nothing left to read does not hold the others back (a quiet partition's newest
 * event is old). The slowest is never ahead of itself, so it always fetches.
 */
export class ReadAlignment {
  private readonly readings = new Map<string, Reading & { topic: string; partition: number }>();
  private readonly paused = new Set<string>();

  constructor(
    private readonly aheadMs: number,
    private readonly control: FetchControl,
  ) {}

  /** Pauses currently in force (for metrics and tests). */
  get pausedCount(): number {
    return this.paused.size;
  }

  isPaused(topic: string, partition: number): boolean {
    return this.paused.has(keyOf(topic, partition));
  }

  /** After a batch of `topic`/`partition`: its newest event time (if any) and whether records are left. */
  note(topic: string, partition: number, time: number | undefined, lagging: boolean): void {
    const key = keyOf(topic, partition);
    const known = this.readings.get(key);
    const newest = Math.max(time ?? -Infinity, known?.time ?? -Infinity);
    if (Number.isFinite(newest)) this.readings.set(key, { topic, partition, time: newest, lagging });
    this.balance();
  }

  /** The partition left this instance (or failed): it is resumed and no longer weighs. */
  forget(topic: string, partition: number): void {
    const key = keyOf(topic, partition);
    this.readings.delete(key);
    if (this.paused.delete(key)) this.control.resume(topic, partition);
    this.balance();
  }

  private balance(): void {
    let floor = Infinity;
    for (const r of this.readings.values()) if (r.lagging) floor = Math.min(floor, r.time);
    for (const [key, r] of this.readings) {
      const ahead = floor !== Infinity && r.time > floor + this.aheadMs;
      if (ahead && !this.paused.has(key)) {
        this.paused.add(key);
        this.control.pause(r.topic, r.partition);
      } else if (!ahead && this.paused.delete(key)) {
        this.control.resume(r.topic, r.partition);
      }
    }
  }
}

function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
