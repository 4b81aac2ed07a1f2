import { describe, expect, it } from 'vitest';
import { binomialTail, poissonTail } from '../../../../../../services/processor/detection/stats/tails.ts';

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

describe('binomialTail', () => {
  it('equals the sum of the exact probabilities for small n', () => {
    for (const [n, p] of [
      [10, 0.1],
      [20, 0.05],
      [30, 0.5],
    ] as const) {
      for (let k = 0; k <= n; k++) {
        let exact = 0;
        for (let i = k; i <= n; i++) exact += choose(n, i) * p ** i * (1 - p) ** (n - i);
        expect(binomialTail(n, k, p)).toBeCloseTo(exact, 12);
      }
    }
  });

  it('handles the edges and stays finite for large n', () => {
    expect(binomialTail(10, 0, 0.3)).toBe(1);
    expect(binomialTail(10, 11, 0.3)).toBe(0);
    expect(binomialTail(10, 3, 0)).toBe(0);
    expect(binomialTail(10, 3, 1)).toBe(1);
    const tiny = binomialTail(5_000, 4_000, 0.05);
    expect(tiny).toBeGreaterThanOrEqual(0);
    expect(tiny).toBeLessThan(1e-300);
    expect(binomialTail(5_000, 200, 0.05)).toBeGreaterThan(0.9);
  });
});

describe('poissonTail', () => {
  it('matches known values', () => {
    expect(poissonTail(2, 0)).toBe(1);
    expect(poissonTail(0, 1)).toBe(0);
    expect(poissonTail(1, 1)).toBeCloseTo(1 - Math.exp(-1), 12);
    expect(poissonTail(2, 3)).toBeCloseTo(1 - Math.exp(-2) * (1 + 2 + 2), 12);
    expect(poissonTail(0.5, 3)).toBeCloseTo(0.01438767796, 9);
  });
});
