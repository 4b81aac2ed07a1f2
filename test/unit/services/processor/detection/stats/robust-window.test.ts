import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RobustWindow } from '../../../../../../services/processor/detection/stats/robust-window.ts';

function naiveMedian(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function naiveMad(xs: readonly number[], f: (x: number) => number = (x) => x): number {
  const c = naiveMedian(xs.map(f));
  return naiveMedian(xs.map((x) => Math.abs(f(x) - c)));
}

describe('RobustWindow', () => {
  it('has the median and MAD of its newest `capacity` values, for any sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 200 }),
        (capacity, xs) => {
          const w = new RobustWindow(capacity);
          for (const x of xs) w.add(x);
          const kept = xs.slice(-capacity);
          expect(w.count).toBe(kept.length);
          expect(w.values()).toEqual(kept);
          expect(w.median()).toBe(naiveMedian(kept));
          expect(w.mad()).toBe(naiveMad(kept));
          expect(w.median(Math.log)).toBeCloseTo(naiveMedian(kept.map(Math.log)), 12);
          expect(w.mad(Math.log)).toBeCloseTo(naiveMad(kept, Math.log), 12);
        },
      ),
    );
  });

  it('gives the textbook values of a small sample', () => {
    const w = new RobustWindow(10);
    for (const x of [1, 1, 2, 2, 4, 6, 9]) w.add(x);
    expect(w.median()).toBe(2);
    expect(w.mad()).toBe(1);
  });

  it('is NaN when empty, 0-spread for equal values, and refuses NaN', () => {
    const w = new RobustWindow(3);
    expect(w.median()).toBeNaN();
    expect(w.mad()).toBeNaN();
    for (let i = 0; i < 5; i++) w.add(500);
    expect(w.mad()).toBe(0);
    expect(() => w.add(Number.NaN)).toThrow(RangeError);
    expect(() => new RobustWindow(0)).toThrow(RangeError);
  });

  it('keeps the newest values when resized', () => {
    const w = new RobustWindow(5);
    for (let i = 1; i <= 7; i++) w.add(i);
    expect(w.resized(3).values()).toEqual([5, 6, 7]);
    expect(w.resized(10).values()).toEqual([3, 4, 5, 6, 7]);
  });
});
