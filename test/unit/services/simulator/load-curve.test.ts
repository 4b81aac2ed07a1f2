import { describe, expect, it } from 'vitest';
import { buildFleet } from '../../../../services/simulator/fleet.ts';
import { LoadCurve } from '../../../../services/simulator/load-curve.ts';

describe('LoadCurve', () => {
  const fleet = buildFleet({ seed: 'curve', terminals: 400, regions: 3 });
  const curve = new LoadCurve(fleet, 50);

  it('averages the configured rate over a week', () => {
    const start = Date.UTC(2026, 2, 2); // a Monday
    let sum = 0;
    let n = 0;
    for (let t = start; t < start + 7 * 86_400_000; t += 60_000) {
      sum += curve.rateAt(t);
      n++;
    }
    expect(sum / n).toBeGreaterThan(49);
    expect(sum / n).toBeLessThan(51);
  });

  it('is busy at midday, quiet at night, and quieter on Sunday than on Saturday', () => {
    const tuesday = Date.UTC(2026, 2, 3);
    const at = (day: number, hourUtc: number) => curve.rateAt(day + hourUtc * 3_600_000);
    expect(at(tuesday, 11)).toBeGreaterThan(5 * at(tuesday, 2));
    expect(at(tuesday, 2)).toBeLessThan(10);
    const saturday = Date.UTC(2026, 2, 7);
    const sunday = Date.UTC(2026, 2, 8);
    expect(at(sunday, 11)).toBeLessThan(at(saturday, 11));
  });

  it('splits the rate between cohorts that add up to the fleet rate', () => {
    const t = Date.UTC(2026, 2, 3, 10);
    const out = new Float64Array(curve.cohorts.length);
    expect(curve.cohortRates(t, out)).toBeCloseTo(curve.rateAt(t), 6);
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(curve.rateAt(t), 6);
  });
});
