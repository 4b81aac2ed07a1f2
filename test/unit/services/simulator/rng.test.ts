import { describe, expect, it } from 'vitest';
import { Rng, WeightedTable, tableOf } from '../../../../services/simulator/rng.ts';

describe('Rng', () => {
  it('gives the same sequence for the same seed and labels, and another for other labels', () => {
    const a = Rng.from('seed', 'x');
    const b = Rng.from('seed', 'x');
    const c = Rng.from('seed', 'y');
    const seqA = Array.from({ length: 20 }, () => a.uint32());
    expect(Array.from({ length: 20 }, () => b.uint32())).toEqual(seqA);
    expect(Array.from({ length: 20 }, () => c.uint32())).not.toEqual(seqA);
  });

  it('derives forks from the stream name, not from how far the parent has advanced', () => {
    const a = Rng.from('s');
    const b = Rng.from('s');
    for (let i = 0; i < 100; i++) b.next();
    expect(a.fork('child').next()).toBe(b.fork('child').next());
  });

  it('stays within its ranges', () => {
    const rng = Rng.from(7);
    for (let i = 0; i < 10_000; i++) {
      const x = rng.next();
      expect(x >= 0 && x < 1).toBe(true);
      const n = rng.int(3, 5);
      expect(n >= 3 && n <= 5 && Number.isInteger(n)).toBe(true);
    }
  });

  it('draws Poisson counts and normals with about the right mean', () => {
    const rng = Rng.from('stats');
    const n = 20_000;
    let small = 0;
    let large = 0;
    let normal = 0;
    for (let i = 0; i < n; i++) {
      small += rng.poisson(2.5);
      large += rng.poisson(120);
      normal += rng.normal(10, 2);
    }
    expect(small / n).toBeCloseTo(2.5, 1);
    expect(large / n).toBeGreaterThan(119);
    expect(large / n).toBeLessThan(121);
    expect(normal / n).toBeCloseTo(10, 1);
    expect(rng.poisson(0)).toBe(0);
  });

  it('makes version-4 UUIDs', () => {
    const rng = Rng.from('ids');
    const ids = new Set(Array.from({ length: 1000 }, () => rng.uuid()));
    expect(ids.size).toBe(1000);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('WeightedTable', () => {
  it('picks in proportion to the weights and never a zero weight', () => {
    const table = tableOf({ a: 1, b: 3, never: 0 });
    const rng = Rng.from('w');
    const counts: Record<string, number> = { a: 0, b: 0, never: 0 };
    for (let i = 0; i < 40_000; i++) counts[table.pick(rng)]!++;
    expect(counts['never']).toBe(0);
    expect(counts['b']! / counts['a']!).toBeGreaterThan(2.8);
    expect(counts['b']! / counts['a']!).toBeLessThan(3.2);
  });

  it('refuses a table without a positive weight, or a negative weight', () => {
    expect(() => new WeightedTable([['a', 0]])).toThrow(/at least one positive weight/);
    expect(() => new WeightedTable([['a', -1]])).toThrow(/not >= 0/);
  });
});
