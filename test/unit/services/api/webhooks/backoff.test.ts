import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../../../services/api/webhooks/backoff.ts';

describe('webhook retry backoff', () => {
  it('draws each delay from [0, min(max, base·2^(failures−1))): full jitter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, base, max, r) => {
          const ceiling = Math.min(max, base * 2 ** (failures - 1));
          const d = backoffDelay(failures, base, max, () => r);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThan(ceiling);
          expect(Number.isInteger(d)).toBe(true);
        },
      ),
    );
  });

  it('doubles its ceiling with each failure until the cap (1s base, 5m cap)', () => {
    const top = (n: number) => backoffDelay(n, 1_000, 300_000, () => 0.999_999);
    expect([1, 2, 3, 4, 8, 9, 10, 20].map(top)).toEqual([
      999, 1_999, 3_999, 7_999, 127_999, 255_999, 299_999, 299_999,
    ]);
    expect(backoffDelay(5, 1_000, 300_000, () => 0)).toBe(0);
  });
});
