import { describe, expect, it } from 'vitest';
import {
  parseDate,
  periodContaining,
  previousPeriod,
  reportPeriod,
  seriesGranularity,
} from '../../../../services/api/report-period.ts';

const iso = (t: number) => new Date(t).toISOString();
const span = (p: { from: number; to: number; label: string }) => [iso(p.from), iso(p.to), p.label];

describe('report periods', () => {
  it('accepts real calendar dates only', () => {
    expect(parseDate('2026-12-03')).toBe(Date.UTC(2026, 11, 3));
    expect(parseDate('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    for (const bad of ['2025-02-29', '2026-02-30', '2026-13-01', '2026-00-10', '2026-1-01', '03/12/2026', ''])
      expect(parseDate(bad), bad).toBeUndefined();
  });

  it('makes a day the UTC calendar day, its last millisecond included', () => {
    const p = periodContaining('day', Date.UTC(2026, 11, 3, 23, 59, 59, 999));
    expect(span(p)).toEqual(['2026-12-03T00:00:00.000Z', '2026-12-04T00:00:00.000Z', '2026-12-03']);
    expect(span(previousPeriod(p))).toEqual([
      '2026-12-02T00:00:00.000Z',
      '2026-12-03T00:00:00.000Z',
      '2026-12-02',
    ]);
    expect(span(previousPeriod(periodContaining('day', Date.UTC(2024, 2, 1))))[2]).toBe('2024-02-29');
  });

  it('makes a week the ISO week, Monday to Sunday, labelled with its ISO week-year', () => {
    expect(span(periodContaining('week', Date.UTC(2026, 11, 3, 12)))).toEqual([
      '2026-11-30T00:00:00.000Z',
      '2026-12-07T00:00:00.000Z',
      '2026-W49',
    ]);
    // Sunday belongs to the week that began on the Monday before.
    expect(periodContaining('week', Date.UTC(2026, 11, 6, 23)).label).toBe('2026-W49');
    expect(periodContaining('week', Date.UTC(2026, 11, 7)).label).toBe('2026-W50');
    // Year ends: 1 January 2027 is in 2026-W53; 30 December 2024 starts 2025-W01.
    expect(span(periodContaining('week', Date.UTC(2027, 0, 1)))).toEqual([
      '2026-12-28T00:00:00.000Z',
      '2027-01-04T00:00:00.000Z',
      '2026-W53',
    ]);
    expect(periodContaining('week', Date.UTC(2024, 11, 30)).label).toBe('2025-W01');
    expect(periodContaining('week', Date.UTC(2021, 0, 3)).label).toBe('2020-W53');
    expect(span(previousPeriod(periodContaining('week', Date.UTC(2025, 0, 1))))).toEqual([
      '2024-12-23T00:00:00.000Z',
      '2024-12-30T00:00:00.000Z',
      '2024-W52',
    ]);
  });

  it('makes a month the calendar month, February as long as its year makes it', () => {
    const march2024 = periodContaining('month', Date.UTC(2024, 2, 15));
    expect(span(march2024)).toEqual(['2024-03-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z', '2024-03']);
    const feb2024 = previousPeriod(march2024);
    expect((feb2024.to - feb2024.from) / 86_400_000).toBe(29);
    const feb2025 = previousPeriod(periodContaining('month', Date.UTC(2025, 2, 1)));
    expect((feb2025.to - feb2025.from) / 86_400_000).toBe(28);
    expect(span(previousPeriod(periodContaining('month', Date.UTC(2026, 0, 31))))).toEqual([
      '2025-12-01T00:00:00.000Z',
      '2026-01-01T00:00:00.000Z',
      '2025-12',
    ]);
  });

  it('defaults to the last complete period, and otherwise takes the one containing the date', () => {
    const now = Date.UTC(2026, 11, 3, 10, 30);
    expect(reportPeriod('day', undefined, now).label).toBe('2026-12-02');
    expect(reportPeriod('week', undefined, now).label).toBe('2026-W48');
    expect(reportPeriod('month', undefined, now).label).toBe('2026-11');
    // At the first instant of a period, the one just ended is complete.
    expect(reportPeriod('month', undefined, Date.UTC(2026, 11, 1)).label).toBe('2026-11');
    expect(reportPeriod('week', Date.UTC(2026, 11, 3), now).label).toBe('2026-W49');
  });

  it('charts a day by the hour and longer periods by the day', () => {
    expect(seriesGranularity('day')).toBe('1h');
    expect(seriesGranularity('week')).toBe('1d');
    expect(seriesGranularity('month')).toBe('1d');
  });
});
