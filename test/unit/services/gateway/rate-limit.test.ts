import { describe, expect, it } from 'vitest';
import { EventRateLimiter } from '../../../../services/gateway/rate-limit.ts';

describe('EventRateLimiter', () => {
  it('grants a burst, then refills at the rate, per key', () => {
    let now = 0;
    const limiter = new EventRateLimiter(100, () => now);
    expect(limiter.take('a', 100, 10)).toBe(0);
    expect(limiter.take('a', 1, 10)).toBe(100);
    expect(limiter.take('b', 60, 10)).toBe(0);
    now = 500;
    expect(limiter.take('a', 5, 10)).toBe(0);
    expect(limiter.take('a', 5, 10)).toBe(500);
    now = 100_000;
    expect(limiter.take('a', 100, 10)).toBe(0);
  });

  it('takes nothing from a refused request', () => {
    let now = 0;
    const limiter = new EventRateLimiter(10, () => now);
    expect(limiter.take('a', 8, 1)).toBe(0);
    expect(limiter.take('a', 5, 1)).toBe(3000);
    expect(limiter.take('a', 2, 1)).toBe(0);
    now = 1000;
    expect(limiter.take('a', 1, 1)).toBe(0);
  });

  it('never grants a request larger than the burst', () => {
    const limiter = new EventRateLimiter(10, () => 0);
    expect(limiter.take('a', 11, 1000)).toBe(Number.POSITIVE_INFINITY);
  });
});
