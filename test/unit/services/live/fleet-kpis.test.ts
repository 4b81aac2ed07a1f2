import { describe, expect, it } from 'vitest';
import { FleetKpiTracker } from '../../../../services/live/fleet-kpis.ts';
import { T0, minuteUpdate } from '../processor/detection/kpi-rules/kpi-minutes.ts';

const MIN = 60_000;
const fleet = (m: number, tx: number, partition: number, declineShare = 0, latencyMs = 200) =>
  minuteUpdate('*', m, { tx, declineShare, latencyMs }, partition, 'FLEET');

describe('FleetKpiTracker', () => {
  it('adds up every partition’s newest partial of a minute and reports the last complete minute', () => {
    const k = new FleetKpiTracker();
    expect(k.current()).toBeNull();
    k.apply(fleet(0, 60, 0, 0.1), 0);
    k.apply(fleet(0, 120, 1, 0.1, 1_000), 1);
    // An older (smaller) version of partition 0's minute changes nothing.
    k.apply(fleet(0, 30, 0), 0);
    expect(k.current()).toMatchObject({ tps: 3, as_of: T0 });
    expect(k.current()!.approval_rate).toBeCloseTo(0.9, 10);
    // Minute 1 starts filling: minute 0 is still the one shown.
    k.apply(fleet(1, 6, 0), 0);
    expect(k.current()!.as_of).toBe(T0);
    // p95 of the merged sketches: two thirds of the answers took ~1 s.
    expect(k.current()!.latency_p95_ms).toBeGreaterThan(900);
    expect(k.series().map((m) => [m.minute - T0, m.tps])).toEqual([
      [0, 3],
      [MIN, 0.1],
    ]);
  });

  it('ignores other levels and window sizes, and forgets minutes past the ones it keeps', () => {
    const k = new FleetKpiTracker(3);
    k.apply(minuteUpdate('M1', 0, { tx: 60 }, 0, 'MERCHANT'), 0);
    k.apply({ ...fleet(0, 60, 0), window_size_ms: 5 * MIN }, 0);
    expect(k.current()).toBeNull();
    for (let m = 0; m < 6; m++) k.apply(fleet(m, 60, 0), 0);
    expect(k.series().map((m) => (m.minute - T0) / MIN)).toEqual([3, 4, 5]);
    // A late partial of a forgotten minute stays out.
    k.apply(fleet(1, 60, 1), 1);
    expect(k.series()).toHaveLength(3);
  });
});
