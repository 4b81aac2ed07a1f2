import { describe, expect, it } from 'vitest';
import { WallState } from '../../../../../../services/live/wall/client/state.ts';
import { status } from '../../statuses.ts';

const welcome = (epoch: string, alerts: unknown[] = []) => ({
  type: 'welcome',
  v: 1,
  epoch,
  seq: 0,
  alerts,
  kpi_series: [{ minute: 0, tps: 1, approval_rate: 0.9, latency_p95_ms: 300 }],
});
const alert = (id: string, state: 'FIRING' | 'RESOLVED') => ({
  alert_id: id,
  rule: 'terminal_silent',
  severity: 'WARNING',
  state,
  entity_level: 'TERMINAL',
  entity_id: 'T1',
  summary: 's',
  fired_time: 0,
  resolved_time: null,
});

describe('WallState', () => {
  it('folds snapshot and deltas into the terminals shown, dropping those that left', () => {
    const w = new WallState();
    w.apply(welcome('e1'), 0);
    w.apply(
      {
        type: 'snapshot',
        sub: 'wall',
        seq: 2,
        terminals: [status('T1', 'ONLINE', 1), status('T2', 'ONLINE', 1)],
      },
      0,
    );
    w.apply(
      { type: 'delta', seq: 4, changes: [status('T2', 'OFFLINE', 2), { terminal_serial: 'T1', left: true }] },
      0,
    );
    expect([...w.terminals.keys()]).toEqual(['T2']);
    expect(w.seq).toBe(4);
    // A welcome from another instance (epoch) starts from nothing; the same epoch keeps the fleet.
    w.apply(welcome('e1'), 0);
    expect(w.terminals.size).toBe(1);
    w.apply(welcome('e2'), 0);
    expect(w.terminals.size).toBe(0);
  });

  it('says the data is stale when no summary came for 3 s', () => {
    const w = new WallState();
    w.apply(welcome('e1'), 1_000);
    w.apply(
      {
        type: 'summary',
        time: 0,
        terminals: 0,
        statuses: { ONLINE: 0, DEGRADED: 0, OFFLINE: 0, UNKNOWN: 0 },
        kpis: null,
      },
      2_000,
    );
    expect(w.stale(4_500)).toBe(false);
    expect(w.stale(5_001)).toBe(true);
  });

  it('adds a point per new minute of the fleet KPIs, replacing the minute still filling', () => {
    const w = new WallState();
    w.apply(welcome('e1'), 0);
    const summary = (asOf: number, tps: number) => ({
      type: 'summary',
      time: 0,
      terminals: 0,
      statuses: { ONLINE: 0, DEGRADED: 0, OFFLINE: 0, UNKNOWN: 0 },
      kpis: { tps, approval_rate: 1, latency_p95_ms: 1, as_of: asOf },
    });
    w.apply(summary(60_000, 2), 0);
    w.apply(summary(60_000, 3), 0);
    w.apply(summary(120_000, 4), 0);
    expect(w.series.map((m) => [m.minute, m.tps])).toEqual([
      [0, 1],
      [60_000, 3],
      [120_000, 4],
    ]);
  });

  it('keeps the newest alerts first, a resolution replacing its firing', () => {
    const w = new WallState();
    w.apply(welcome('e1', [alert('a1', 'FIRING'), alert('a2', 'FIRING')]), 0);
    expect(w.alerts.map((a) => a.alert_id)).toEqual(['a2', 'a1']);
    w.apply({ type: 'alert', alert: alert('a1', 'RESOLVED') }, 0);
    expect(w.alerts.map((a) => `${a.alert_id}:${a.state}`)).toEqual(['a1:RESOLVED', 'a2:FIRING']);
  });

  it('ranks problem terminals (offline first, longest first) and merchants by terminals down', () => {
    const w = new WallState();
    w.apply(
      {
        type: 'snapshot',
        seq: 1,
        terminals: [
          status('T1', 'DEGRADED', 1, { since: 100 }),
          status('T2', 'OFFLINE', 1, { since: 300, merchant_id: 'M2' }),
          status('T3', 'OFFLINE', 1, { since: 200, merchant_id: 'M2' }),
          status('T4', 'ONLINE', 1, { region: null }),
        ],
      },
      0,
    );
    expect(w.problemTerminals().map((t) => t.terminal_serial)).toEqual(['T3', 'T2', 'T1']);
    expect(w.problemMerchants()).toEqual([
      { merchant: 'M2', name: 'Shop', down: 2, of: 2 },
      { merchant: 'M1', name: 'Shop', down: 1, of: 2 },
    ]);
    expect(w.byRegion().map(([r, ts]) => [r, ts.length])).toEqual([
      ['fr-paris', 3],
      ['—', 1],
    ]);
  });
});
