/** Report periods: UTC calendar days, ISO weeks (Monday to Sunday) and calendar months. */

export const PERIOD_KINDS = ['day', 'week', 'month'] as const;
export type PeriodKind = (typeof PERIOD_KINDS)[number];

const DAY = 86_400_000;

export interface Period {
  kind: PeriodKind;
  /** Inclusive start, ms since the epoch (UTC midnight). */
  from: number;
  /** Exclusive end. */
  to: number;
  /** `2026-12-03`, `2026-W49` (ISO week-year), `2026-12`. */
  label: string;
}

/** `YYYY-MM-DD` as UTC midnight; undefined when malformed or not a real date (2026-02-30). */
export function parseDate(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m === null) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  // Date.UTC rolls 2026-02-30 over to March 2nd; a real date survives the round trip.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined;
  return t;
}

export function isoDate(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** ISO 8601 week-year and week of the day starting at `dayStart` (the week of its Thursday). */
function isoWeek(dayStart: number): { year: number; week: number } {
  const thursday = dayStart + (3 - ((new Date(dayStart).getUTCDay() + 6) % 7)) * DAY;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY)) + 1;
  return { year, week };
}

/** The period of `kind` that contains the instant `t`. */
export function periodContaining(kind: PeriodKind, t: number): Period {
  const d = new Date(t);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  switch (kind) {
    case 'day':
      return { kind, from: day, to: day + DAY, label: isoDate(day) };
    case 'week': {
      const monday = day - ((d.getUTCDay() + 6) % 7) * DAY;
      const { year, week } = isoWeek(monday);
      return { kind, from: monday, to: monday + 7 * DAY, label: `${year}-W${String(week).padStart(2, '0')}` };
    }
    case 'month': {
      const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      return {
        kind,
        from,
        to: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
        label: isoDate(from).slice(0, 7),
      };
    }
  }
}

/** The period just before `p`, of the same kind (February before March, whatever its length). */
export function previousPeriod(p: Period): Period {
  return periodContaining(p.kind, p.from - 1);
}

/** The period a report covers: the one containing `date`, else the last one complete at `now`. */
export function reportPeriod(kind: PeriodKind, date: number | undefined, now: number): Period {
  return date === undefined ? previousPeriod(periodContaining(kind, now)) : periodContaining(kind, date);
}

/** Chart buckets: hours of a day, days of a week or month. */
export function seriesGranularity(kind: PeriodKind): '1h' | '1d' {
  return kind === 'day' ? '1h' : '1d';
}
