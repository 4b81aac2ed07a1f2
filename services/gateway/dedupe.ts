/**
 * Event ids put on Kafka within the last `windowMs`, so a client's retry is answered `duplicate`
 * instead of being published twice. Entries are appended in time order, so expiry only ever looks at
 * the head: O(1) amortized per event. `maxEntries` bounds memory when the window is long and traffic
 * high; the oldest ids are forgotten first (counted by the caller through `evicted`).
 */
export class DedupeWindow {
  private readonly seen = new Map<string, number>();
  evicted = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly clock: () => number = Date.now,
  ) {}

  has(eventId: string): boolean {
    const at = this.seen.get(eventId);
    if (at === undefined) return false;
    if (this.clock() - at >= this.windowMs) {
      this.prune();
      return this.seen.has(eventId);
    }
    return true;
  }

  add(eventId: string): void {
    // Re-adding moves the id to the tail, keeping the map in time order.
    this.seen.delete(eventId);
    this.seen.set(eventId, this.clock());
    this.prune();
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(): void {
    const cutoff = this.clock() - this.windowMs;
    for (const [id, at] of this.seen) {
      if (at > cutoff && this.seen.size <= this.maxEntries) break;
      if (at > cutoff) this.evicted++;
      this.seen.delete(id);
    }
  }
}
