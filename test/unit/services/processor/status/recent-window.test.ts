import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Outcome,
  QueueMinimum,
  RecentTransactions,
  idHash,
} from '../../../../../services/processor/status/recent-window.ts';

describe('RecentTransactions', () => {
  it('keeps the last `capacity` transactions by request time, whatever the arrival order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(
          fc.record({ time: fc.nat(1000), outcome: fc.constantFrom(0, 1, 2) as fc.Arbitrary<Outcome> }),
          {
            maxLength: 40,
          },
        ),
        (capacity, txs) => {
          const w = new RecentTransactions(capacity);
          txs.forEach((t, i) => w.add(t.time, 0, i, t.outcome));
          // Expected: the `capacity` latest by time; among equal times the later arrival survives.
          const kept = txs
            .map((t, i) => ({ ...t, i }))
            .reduce<{ time: number; outcome: Outcome; i: number }[]>((acc, t) => {
              if (acc.length === capacity && t.time < acc[0]!.time) return acc;
              const next = [...acc, t].sort((a, b) => a.time - b.time || a.i - b.i);
              return next.length > capacity ? next.slice(1) : next;
            }, []);
          expect(w.counts()).toEqual({
            count: kept.length,
            declined: kept.filter((t) => t.outcome === Outcome.DECLINED).length,
            timedOut: kept.filter((t) => t.outcome === Outcome.TIMEOUT).length,
          });
        },
      ),
    );
  });

  it('ignores a re-delivered id and drops what the gateway received before a time', () => {
    const w = new RecentTransactions(10);
    expect(w.add(1, 100, 7, Outcome.DECLINED)).toBe(true);
    expect(w.add(1, 100, 7, Outcome.DECLINED)).toBe(false);
    expect(w.add(2, 200, -1, Outcome.TIMEOUT)).toBe(true);
    expect(w.add(3, 150, -1, Outcome.TIMEOUT)).toBe(true); // negative ids never match
    expect(w.add(4, 300, 2 ** 32 - 1, Outcome.OTHER)).toBe(true);
    expect(w.counts()).toEqual({ count: 4, declined: 1, timedOut: 2 });
    w.dropReceivedBefore(150);
    expect(w.counts()).toEqual({ count: 3, declined: 0, timedOut: 2 });
    w.dropReceivedBefore(1000);
    expect(w.size).toBe(0);
  });

  it('hashes event ids to 32 bits, differently for different ids', () => {
    const a = idHash('6f1c0000-0000-4000-8000-000000000001');
    const b = idHash('6f1c0000-0000-4000-8000-000000000002');
    expect(a).not.toBe(b);
    for (const h of [a, b]) expect(h >>> 0).toBe(h);
  });
});

describe('QueueMinimum', () => {
  it('gives the smallest length among the samples of the last windowMs, like a scan would', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.record({ dt: fc.nat(30), length: fc.nat(50) }), { minLength: 1, maxLength: 60 }),
        (windowMs, samples) => {
          const q = new QueueMinimum(windowMs, 1000);
          let time = 0;
          const seen: { time: number; length: number }[] = [];
          for (const s of samples) {
            time += s.dt;
            q.add(time, s.length);
            seen.push({ time, length: s.length });
            const inWindow = seen.filter((x) => x.time >= time - windowMs).map((x) => x.length);
            expect(q.min()).toBe(Math.min(...inWindow));
          }
        },
      ),
    );
  });

  it('bounded to `capacity` entries, still sees a growth of capacity - 1 or more', () => {
    const q = new QueueMinimum(1_000_000, 6);
    for (let i = 0; i < 100; i++) q.add(i, i);
    expect(99 - q.min()!).toBeGreaterThanOrEqual(5);
    expect(new QueueMinimum(10, 3).min()).toBeUndefined();
  });
});
