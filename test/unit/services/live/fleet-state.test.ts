import { describe, expect, it } from 'vitest';
import { FleetState, compileFilter, relevance } from '../../../../services/live/fleet-state.ts';
import { status } from './statuses.ts';

describe('FleetState', () => {
  it('keeps the newest record per terminal by version, counting each change once', () => {
    const fleet = new FleetState('e1');
    expect(fleet.apply(status('T1', 'ONLINE', 10))?.seq).toBe(1);
    expect(fleet.apply(status('T2', 'OFFLINE', 10))?.seq).toBe(2);
    // A repeat and an older record (read again after a rebalance) change nothing.
    expect(fleet.apply(status('T1', 'ONLINE', 10))).toBeNull();
    expect(fleet.apply(status('T1', 'OFFLINE', 5))).toBeNull();
    const d = fleet.apply(status('T1', 'DEGRADED', 11));
    expect(d).toMatchObject({ seq: 3, previous: { status: 'ONLINE' }, status: { status: 'DEGRADED' } });
    expect(fleet.statusCounts()).toEqual({ ONLINE: 0, DEGRADED: 1, OFFLINE: 1, UNKNOWN: 0 });
    expect(fleet.size).toBe(2);
    expect(fleet.snapshot().map((s) => s.terminal_serial)).toEqual(['T1', 'T2']);
  });

  it('gives the changes after a sequence number, or null once they are no longer held', () => {
    const fleet = new FleetState('e1', 3);
    for (let v = 1; v <= 5; v++) fleet.apply(status(`T${v}`, 'ONLINE', v));
    expect(fleet.since(5)).toEqual([]);
    expect(fleet.since(2)?.map((d) => d.seq)).toEqual([3, 4, 5]);
    // Change 2 fell out of the 3 kept.
    expect(fleet.since(1)).toBeNull();
    // A number this state never gave out (another instance's, or from the future) needs a snapshot.
    expect(fleet.since(6)).toBeNull();
    expect(fleet.since(-1)).toBeNull();
    expect(fleet.since(2.5)).toBeNull();
  });

  it('filters by region, merchant, acquirer, status and serial, all of them together', () => {
    const fleet = new FleetState('e1');
    fleet.apply(status('T1', 'ONLINE', 1));
    fleet.apply(status('T2', 'OFFLINE', 1, { region: 'de-berlin', merchant_id: 'M2' }));
    fleet.apply(status('T3', 'OFFLINE', 1, { acquirer_id: 'ACQ-2' }));
    fleet.apply(status('T4', 'UNKNOWN', 1, { region: null, merchant_id: null, acquirer_id: null }));
    const serials = (f: Parameters<typeof compileFilter>[0]) =>
      fleet.snapshot(compileFilter(f)).map((s) => s.terminal_serial);
    expect(serials({})).toEqual(['T1', 'T2', 'T3', 'T4']);
    expect(serials({ regions: ['fr-paris'] })).toEqual(['T1', 'T3']);
    expect(serials({ merchants: ['M2'] })).toEqual(['T2']);
    expect(serials({ acquirers: ['ACQ-2'] })).toEqual(['T3']);
    expect(serials({ statuses: ['OFFLINE'] })).toEqual(['T2', 'T3']);
    expect(serials({ statuses: ['OFFLINE'], regions: ['fr-paris'] })).toEqual(['T3']);
    expect(serials({ terminals: ['T4', 'T9'] })).toEqual(['T4']);
    // A terminal not seen in a transaction yet has no region: a region filter leaves it out.
    expect(serials({ regions: ['fr-paris', 'de-berlin'] })).toEqual(['T1', 'T2', 'T3']);
    expect(serials({ regions: [] })).toEqual([]);
  });

  it('tells a subscription when a terminal leaves its view, and skips changes it never saw', () => {
    const fleet = new FleetState('e1');
    const offline = compileFilter({ statuses: ['OFFLINE'] });
    fleet.apply(status('T1', 'ONLINE', 1));
    const down = fleet.apply(status('T1', 'OFFLINE', 2))!;
    const back = fleet.apply(status('T1', 'ONLINE', 3))!;
    const again = fleet.apply(status('T1', 'DEGRADED', 4))!;
    expect([down, back, again].map((d) => relevance(d, offline))).toEqual(['update', 'leave', null]);
    expect(fleet.since(1, offline)?.map((d) => d.seq)).toEqual([2, 3]);
  });

  it('refuses a history size that is not a positive integer', () => {
    expect(() => new FleetState('e1', 0)).toThrow(/historySize/);
  });
});
