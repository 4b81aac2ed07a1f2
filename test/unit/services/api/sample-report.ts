import type { Report } from '../../../../services/api/report-query.ts';
import { trend } from '../../../../services/api/report-query.ts';

/** A report as buildReport returns it, for the renderers' tests; `over` replaces top-level parts. */
export function sampleReport(over: Partial<Report> = {}): Report {
  const points = Array.from({ length: 24 }, (_, h) => ({
    start: new Date(Date.UTC(2026, 11, 2, h)).toISOString(),
    end: new Date(Date.UTC(2026, 11, 2, h + 1)).toISOString(),
    transactions: h < 6 ? 0 : 100 + h,
    declined: h < 6 ? 0 : 7,
    timeouts: h < 6 ? 0 : 1,
    approval_rate: h < 6 ? null : 0.92,
    latency_p95_ms: h < 6 ? null : 400 + h,
  }));
  return {
    entity: { level: 'MERCHANT', id: 'M-1' },
    period: {
      kind: 'day',
      label: '2026-12-02',
      from: '2026-12-02T00:00:00.000Z',
      to: '2026-12-03T00:00:00.000Z',
      complete: true,
    },
    previous_period: {
      kind: 'day',
      label: '2026-12-01',
      from: '2026-12-01T00:00:00.000Z',
      to: '2026-12-02T00:00:00.000Z',
    },
    generated_at: '2026-12-03T10:00:00.000Z',
    kpis: {
      transactions: trend(2_000, 1_600),
      approved: trend(1_840, 1_500),
      declined: trend(140, 90),
      timeouts: trend(20, 10),
      approval_rate: trend(0.92, 0.9375),
      decline_rate: trend(0.07, 0.05625),
      timeout_rate: trend(0.01, 0.00625),
      avg_tps: trend(2_000 / 86_400, 1_600 / 86_400),
      active_terminals: trend(12, 12),
      latency_p50_ms: trend(210, 200),
      latency_p95_ms: trend(480, 450),
      latency_p99_ms: trend(900, null),
    },
    amounts: [{ currency: 'EUR', ...trend(1_234_567, 1_000_000) }],
    series: { granularity: '1h', points },
    worst_terminals: {
      min_transactions: 20,
      by_approval_rate: [
        {
          terminal: 'T-9',
          transactions: 200,
          approved: 150,
          declined: 40,
          timeouts: 10,
          approval_rate: 0.75,
          timeout_rate: 0.05,
        },
      ],
      by_timeouts: [],
    },
    decline_reasons: [
      { code: '05', count: 100, share: 100 / 140, previous: 60 },
      { code: '51', count: 40, share: 40 / 140, previous: 0 },
    ],
    alerts: {
      total: 1,
      by_rule: [{ rule: 'card_testing', severity: 'CRITICAL', count: 1 }],
      items: [
        {
          alert_id: '0d7c1f9a-2b1e-4c55-8a4e-7f1f3f9b2c10',
          rule: 'card_testing',
          severity: 'CRITICAL',
          state: 'RESOLVED',
          entity_level: 'TERMINAL',
          entity_id: 'T-9',
          summary: '9 small declines, "quoted", on 7 cards',
          value: 9,
          threshold: 6,
          fired_time: '2026-12-02T14:03:00.000Z',
          resolved_time: '2026-12-02T14:20:00.000Z',
        },
      ],
    },
    warnings: [],
    ...over,
  };
}

/** An RFC 4180 parser, strict enough to fail on what the writer must not produce. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i += 1;
        if (![',', '\r', undefined].includes(text[i])) throw new Error(`text after a closing quote at ${i}`);
      } else {
        cell += c;
        i += 1;
      }
    } else if (c === '"') {
      if (cell !== '') throw new Error(`quote inside an unquoted cell at ${i}`);
      quoted = true;
      i += 1;
    } else if (c === ',') {
      row.push(cell);
      cell = '';
      i += 1;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i += 2;
    } else if (c === '\n' || c === '\r') {
      throw new Error(`bare line break at ${i}`);
    } else {
      cell += c;
      i += 1;
    }
  }
  if (quoted) throw new Error('unterminated quote');
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

/**
 * A store for buildReport: whole-period kpi_1m rows by period start, 3 active terminals now and 2
 * before, no terminal rankings nor alerts; `known` says whether the entity exists.
 */
export function fakeReportStore(whole: Record<number, Record<string, unknown>>, known = true) {
  const queries: { sql: string; params: Record<string, unknown> }[] = [];
  return {
    queries,
    async query<T>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
      queries.push({ sql, params });
      if (sql.includes('SELECT 1 AS one'))
        return (known && sql.includes('kpi_1m') ? [{ one: 1 }] : []) as T[];
      if (sql.includes('uniqExactIf')) return [{ current: 3, previous: 2 }] as T[];
      if (sql.includes('sumMap(declines_by_code)') && sql.includes('{from:Int64} AS bucket')) {
        const row = whole[params['from'] as number];
        return (row === undefined ? [] : [{ bucket: params['from'], ...row }]) as T[];
      }
      return [] as T[];
    },
  };
}

export const kpiBucketRow = (tx: number, approved: number, declines: Record<string, number>) => ({
  tx,
  approved,
  declined: Object.values(declines).reduce((a, b) => a + b, 0),
  timeouts: tx - approved - Object.values(declines).reduce((a, b) => a + b, 0),
  refunds: 0,
  reversals: 0,
  declines_by_code: declines,
  amount_sum: { EUR: approved * 100 },
  amount_count: { EUR: approved },
  latency_count: 0,
  latency_sum: 0,
  latency_max: null,
  all_final: 1,
  sketches: [],
});
