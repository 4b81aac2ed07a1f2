import { describe, expect, it } from 'vitest';
import { periodContaining } from '../../../../services/api/report-period.ts';
import { buildReport, trend, type ReportRequest } from '../../../../services/api/report-query.ts';
import { fakeReportStore, kpiBucketRow } from './sample-report.ts';

const NOW = Date.UTC(2026, 11, 3, 10, 30);
const DAY = 86_400_000;
const YESTERDAY = Date.UTC(2026, 11, 2);
const TABLES = { kpi1m: 'db.kpi_1m', terminalStatusLatest: 'db.terminal_status_latest', alerts: 'db.alerts' };

function request(over: Partial<ReportRequest> = {}): ReportRequest {
  return {
    level: 'MERCHANT',
    entityId: 'M1',
    period: periodContaining('day', YESTERDAY),
    top: 10,
    minTransactions: 20,
    ...over,
  };
}

describe('buildReport', () => {
  it('computes a trend as the change and the change relative to the previous value', () => {
    expect(trend(110, 100)).toEqual({ value: 110, previous: 100, change: 10, relative_change: 0.1 });
    expect(trend(0.9, 0.95).change).toBeCloseTo(-0.05, 12);
    expect(trend(5, 0)).toEqual({ value: 5, previous: 0, change: 5, relative_change: null });
    expect(trend(5, null)).toEqual({ value: 5, previous: null, change: null, relative_change: null });
    expect(trend(null, 3)).toEqual({ value: null, previous: 3, change: null, relative_change: null });
  });

  it('gives each KPI, amount and decline reason with its trend against the period before', async () => {
    const store = fakeReportStore({
      [YESTERDAY]: kpiBucketRow(40, 30, { '05': 6, '51': 2 }),
      [YESTERDAY - DAY]: kpiBucketRow(20, 18, { '05': 1 }),
    });
    const r = await buildReport(store, TABLES, request(), NOW);
    expect(r.period).toMatchObject({ label: '2026-12-02', complete: true });
    expect(r.previous_period.label).toBe('2026-12-01');
    expect(r.kpis.transactions).toEqual({ value: 40, previous: 20, change: 20, relative_change: 1 });
    expect(r.kpis.approval_rate.change).toBeCloseTo(0.75 - 0.9, 12);
    expect(r.kpis.active_terminals).toEqual({ value: 3, previous: 2, change: 1, relative_change: 0.5 });
    expect(r.kpis.avg_tps.value).toBeCloseTo(40 / 86_400, 12);
    // No latency in the fake rows: null, not 0.
    expect(r.kpis.latency_p95_ms).toEqual({
      value: null,
      previous: null,
      change: null,
      relative_change: null,
    });
    expect(r.amounts).toEqual([
      { currency: 'EUR', value: 3000, previous: 1800, change: 1200, relative_change: 2 / 3 },
    ]);
    expect(r.decline_reasons).toEqual([
      { code: '05', count: 6, share: 0.75, previous: 1 },
      { code: '51', count: 2, share: 0.25, previous: 0 },
    ]);
    expect(r.series.points).toHaveLength(24);
    expect(r.warnings).toEqual([]);
    // The entity's terminals are those terminal_status_latest assigns to it, as /v1/terminals has it.
    expect(store.queries.some((q) => q.sql.includes('merchant_id = {id:String}'))).toBe(true);
  });

  it('leaves the trend empty, and says so, when the previous period had no transactions', async () => {
    const store = fakeReportStore({ [YESTERDAY]: kpiBucketRow(10, 10, {}) });
    const r = await buildReport(store, TABLES, request({ level: 'REGION', entityId: 'north' }), NOW);
    expect(r.kpis.transactions).toEqual({ value: 10, previous: null, change: null, relative_change: null });
    expect(r.kpis.active_terminals.previous).toBeNull();
    expect(r.amounts[0]?.previous).toBeNull();
    expect(r.warnings.map((w) => w.code)).toEqual(['no_previous_data']);
    expect(store.queries.some((q) => q.sql.includes('region = {id:String}'))).toBe(true);
  });

  it('gives zeros and null rates for a period without traffic, and reads every terminal for the fleet', async () => {
    const store = fakeReportStore({ [YESTERDAY - DAY]: kpiBucketRow(20, 18, {}) });
    const r = await buildReport(store, TABLES, request({ level: 'FLEET', entityId: '*' }), NOW);
    expect(r.kpis.transactions).toEqual({ value: 0, previous: 20, change: -20, relative_change: -1 });
    expect(r.kpis.approval_rate.value).toBeNull();
    expect(r.amounts).toEqual([
      { currency: 'EUR', value: 0, previous: 1800, change: -1800, relative_change: -1 },
    ]);
    expect(r.series.points.every((p) => p.transactions === 0 && p.approval_rate === null)).toBe(true);
    expect(r.warnings.map((w) => w.code)).toEqual(['no_data']);
    expect(store.queries.some((q) => q.sql.includes('terminal_status_latest'))).toBe(false);
  });

  it('marks a period that is not over as open', async () => {
    const today = periodContaining('day', NOW);
    const r = await buildReport(fakeReportStore({}), TABLES, request({ period: today }), NOW);
    expect(r.period.complete).toBe(false);
    expect(r.warnings.map((w) => w.code)).toContain('period_open');
  });
});
