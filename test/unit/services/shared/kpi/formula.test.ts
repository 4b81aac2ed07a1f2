import { describe, expect, it } from 'vitest';
import {
  evaluateFormula,
  FormulaError,
  metricsOf,
  parseFormula,
  type BaseMetric,
} from '../../../../../services/shared/kpi/formula.ts';

const values: Partial<Record<BaseMetric, number | null>> = {
  count: 200,
  approved: 150,
  declined: 40,
  timeouts: 10,
  latency_p95_ms: null,
};
const value = (m: BaseMetric) => values[m] ?? null;
const run = (text: string) => evaluateFormula(parseFormula(text), value);

describe('KPI formulas', () => {
  it('computes ratios, sums and differences with the usual precedence', () => {
    expect(run('declined / count * 100')).toBe(20);
    expect(run('(declined + timeouts) / count')).toBe(0.25);
    expect(run('declined + timeouts / count')).toBe(40.05);
    expect(run('count - approved - declined')).toBe(10);
    expect(run('-declined + 50')).toBe(10);
    expect(run('approved / count * 1e2')).toBe(75);
  });

  it('has no value when a metric has none or it divides by zero', () => {
    expect(run('latency_p95_ms * 2')).toBeNull();
    expect(run('declined / (count - 200)')).toBeNull();
  });

  it('lists the metrics it reads', () => {
    expect([...metricsOf(parseFormula('(declined + timeouts) / count'))].sort()).toEqual([
      'count',
      'declined',
      'timeouts',
    ]);
  });

  it.each([
    ['', /is empty/],
    ['declined / ', /ends where a metric or number was expected/],
    ['declined // count', /unexpected "\/" at 10/],
    ['(declined / count', /missing "\)"/],
    ['declined / count)', /unexpected "\)" at 16/],
    ['vibes / count', /unknown metric "vibes"/],
    ['declined % count', /unexpected character "%" at 9/],
    ['2 * 50', /names no metric/],
    ['count' + ' + count'.repeat(100), /longer than 500/],
    ['('.repeat(40) + 'count' + ')'.repeat(40), /nested deeper than 32/],
  ])('refuses %j naming what is wrong', (text, message) => {
    expect(() => parseFormula(text)).toThrow(FormulaError);
    expect(() => parseFormula(text)).toThrow(message);
  });
});
