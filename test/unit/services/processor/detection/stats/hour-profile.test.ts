import { describe, expect, it } from 'vitest';
import {
  HALVE_AT,
  HourProfile,
  hourLabel,
  hourOfWeek,
  isTimeZone,
} from '../../../../../../services/processor/detection/stats/hour-profile.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONDAY = Date.UTC(2026, 10, 2);

describe('hourOfWeek', () => {
  it('counts from Monday 00:00 in UTC', () => {
    expect(hourOfWeek(MONDAY, 'UTC')).toBe(0);
    expect(hourOfWeek(MONDAY + 13 * HOUR + 59 * 60_000, 'UTC')).toBe(13);
    expect(hourOfWeek(MONDAY + 6 * DAY + 23 * HOUR, 'UTC')).toBe(167);
    expect(hourOfWeek(MONDAY + 7 * DAY, 'UTC')).toBe(0);
    expect(hourOfWeek(Date.UTC(1969, 11, 29, 5), 'UTC')).toBe(5); // a Monday before the epoch
  });

  it('reads local time in a zone, daylight saving included', () => {
    // Berlin: UTC+1 in November, UTC+2 in July.
    expect(hourOfWeek(MONDAY, 'Europe/Berlin')).toBe(1);
    expect(hourOfWeek(Date.UTC(2026, 6, 6, 0), 'Europe/Berlin')).toBe(2); // Monday 6 July
    // Sunday 29 March 2026 01:00 UTC: clocks jump from 02:00 to 03:00 local.
    expect(hourOfWeek(Date.UTC(2026, 2, 29, 0, 30), 'Europe/Berlin')).toBe(6 * 24 + 1);
    expect(hourOfWeek(Date.UTC(2026, 2, 29, 1, 30), 'Europe/Berlin')).toBe(6 * 24 + 3);
    // New York on Monday 00:00 UTC is Sunday 19:00.
    expect(hourOfWeek(MONDAY, 'America/New_York')).toBe(6 * 24 + 19);
    expect(hourOfWeek(MONDAY, 'Asia/Kolkata')).toBe(5); // 05:30
  });

  it('knows which zones exist', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });

  it('labels hours of the week and of the day', () => {
    expect(hourLabel(6 * 24 + 3, 'hour_of_week')).toBe('Sun 03:00');
    expect(hourLabel(6 * 24 + 3, 'hour_of_day')).toBe('03:00');
  });
});

/** A profile of `weeks` weeks with `perHour(h)` events in every hour h of the week. */
function profileOf(weeks: number, perHour: (h: number) => number): HourProfile {
  const p = new HourProfile(MONDAY);
  for (let w = 0; w < weeks; w++) {
    for (let h = 0; h < 168; h++) {
      const n = perHour(h);
      for (let i = 0; i < n; i++) p.add(h, MONDAY + w * 7 * DAY + h * HOUR + ((i + 1) * HOUR) / (n + 1));
    }
  }
  return p;
}

const shop = (h: number): number => (h < 6 * 24 && h % 24 >= 9 && h % 24 < 18 ? 10 : 0);

describe('HourProfile', () => {
  it('reads activity relative to an average hour, by week or by day, with neighbours', () => {
    const p = profileOf(2, shop);
    // 54 open hours of 168: an open hour is 168/54 of an average one.
    expect(p.activity(10, 'hour_of_week', 0)).toBeCloseTo(168 / 54, 6);
    expect(p.activity(3, 'hour_of_week', 0)).toBe(0);
    expect(p.activity(8, 'hour_of_week', 0)).toBe(0);
    expect(p.activity(8, 'hour_of_week', 1)).toBeCloseTo(168 / 54, 6);
    // Sunday noon: closed by the week, open by the day.
    expect(p.activity(6 * 24 + 12, 'hour_of_week', 0)).toBe(0);
    expect(p.activity(6 * 24 + 12, 'hour_of_day', 0)).toBeCloseTo(24 / 9, 6);
  });

  it('knows when it is trained: from its first to its latest event, and by count', () => {
    const p = profileOf(2, shop); // Monday 00:00 to the second Saturday 17:5x, 1 080 events
    expect(p.spanMs).toBeGreaterThan(12.7 * DAY);
    expect(p.spanMs).toBeLessThan(12.8 * DAY);
    expect(p.trained(12, 1_080)).toBe(true);
    expect(p.trained(13, 1_080)).toBe(false);
    expect(p.trained(12, 1_081)).toBe(false);
  });

  it('estimates rates per hour and the events expected over a span', () => {
    const p = profileOf(4, shop);
    // The span it covers ends at its latest event (Saturday evening), so a bucket is seen a bit
    // less often than four times and the rate comes out a few per cent high.
    const seen = (p.lastAt - p.since) / HOUR / 168;
    expect(seen).toBeCloseTo(3.8, 1);
    expect(p.ratePerHour(10, 'hour_of_week')).toBeCloseTo(40 / seen, 6);
    expect(p.ratePerHour(10, 'hour_of_day')).toBeCloseTo((6 * 40) / ((seen * 168) / 24), 6);
    expect(p.ratePerHour(3, 'hour_of_week')).toBe(0);
    const hourOf = (t: number): number => hourOfWeek(t, 'UTC');
    // Tuesday 08:30 to 10:30: half an hour closed, then 1.5 open hours.
    const tue = MONDAY + 5 * 7 * DAY + DAY;
    expect(p.expected(tue + 8.5 * HOUR, tue + 10.5 * HOUR, 'hour_of_week', hourOf)).toBeCloseTo(
      (1.5 * 40) / seen,
      6,
    );
    expect(p.expected(tue + 20 * HOUR, tue + 32 * HOUR, 'hour_of_week', hourOf)).toBe(0);
  });

  it('shrinks a rarely seen hour of the week towards the same hour of all days', () => {
    const p = profileOf(2, shop);
    const weeks = (p.lastAt - p.since) / HOUR / 168;
    const dayRate = (2 * 6 * 10) / (weeks * 7);
    expect(p.usualRate(6 * 24 + 12, 'hour_of_day', 0)).toBeCloseTo(dayRate, 6);
    // Sunday noon: 0 on both Sundays, shrunk towards the all-days rate as if seen one week more.
    expect(p.usualRate(6 * 24 + 12, 'hour_of_week', 0)).toBeCloseTo(dayRate / (weeks + 1), 6);
    expect(p.usualRate(10, 'hour_of_week', 0)).toBeCloseTo((20 + dayRate) / (weeks + 1), 6);
    expect(p.usualRate(3, 'hour_of_week', 1)).toBe(0);
  });

  it('halves its counts before they overflow, keeping shares and rates', () => {
    const p = profileOf(1, shop);
    const share = p.activity(10, 'hour_of_week', 0);
    const rate = p.ratePerHour(10, 'hour_of_week');
    const weeks = Math.ceil(HALVE_AT / 540) + 2;
    const q = profileOf(weeks, shop);
    expect(q.total).toBeLessThan(HALVE_AT);
    expect(Math.max(...q.counts)).toBeLessThan(65_536);
    expect(q.activity(10, 'hour_of_week', 0)).toBeCloseTo(share, 1);
    expect(q.ratePerHour(10, 'hour_of_week')).toBeCloseTo(rate, -0.5);
    expect(q.spanMs).toBeGreaterThan((weeks - 1) * 7 * DAY);
  });
});
