/**
 * RFC 3339 `date-time` strings (section 5.6) to epoch milliseconds, strictly: a time zone (`Z` or
 * `±HH:MM`) is required, because a local time without one names no instant. `Date.parse` is not
 * used: it accepts dates without a zone (as local time), out-of-range fields such as `2026-02-30`
 * (rolled over to March) and other non-RFC shapes, all of which would silently shift events.
 *
 * Fractions beyond milliseconds are truncated (as Java's `Instant.toEpochMilli` does), at most 9
 * digits are read. Leap seconds (`:60`) are refused: epoch milliseconds cannot represent them.
 */

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Longest string {@link parseRfc3339} can accept: `YYYY-MM-DDTHH:MM:SS.fffffffff+HH:MM`. */
export const RFC3339_MAX_LENGTH = 35;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Epoch milliseconds of an RFC 3339 date-time with offset, or undefined if it is not one. */
export function parseRfc3339(s: string): number | undefined {
  const m = RFC3339.exec(s);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, sec, frac, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(sec);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (sign !== undefined) {
    const offH = Number(oh);
    const offM = Number(om);
    if (offH > 23 || offM > 59) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (offH * 60 + offM);
  }
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number((frac ?? '').padEnd(3, '0').slice(0, 3)));
  return date.getTime() - offsetMinutes * 60_000;
}

export function isRfc3339(s: string): boolean {
  return parseRfc3339(s) !== undefined;
}
