/**
 * Token buckets per API key, counted in events rather than requests: one request of 5,000 events
 * costs what 5,000 single-event requests cost, which is what loads Kafka. A bucket refills at
 * `ratePerSecond` up to `burst`; a request takes all its events or none.
 */
export class EventRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Takes `events` tokens from `key`'s bucket. Returns 0 when granted, otherwise the milliseconds
   * until enough tokens will be there (the Retry-After hint); nothing is taken then.
   */
  take(key: string, events: number, ratePerSecond: number): number {
    const now = this.clock();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (events <= bucket.tokens) {
      bucket.tokens -= events;
      return 0;
    }
    if (events > this.burst) return Number.POSITIVE_INFINITY;
    return Math.ceil(((events - bucket.tokens) / ratePerSecond) * 1000);
  }
}
