/** Hours in a week: the buckets of an activity profile. */
export const HOURS_PER_WEEK = 168;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * How a profile is read: by hour of the week (Monday 00:00–01:00 is 0, Sunday 23:00–24:00 is 167),
 * or by hour of the day with the seven days added up.
 */
export type ProfileMode = 'hour_of_week' | 'hour_of_day';

/** Buckets of one reading: 168 or 24. */
export const bucketsOf = (mode: ProfileMode): number => (mode === 'hour_of_week' ? HOURS_PER_WEEK : 24);

/**
 * Counts are halved once they add up to this: every counter fits 16 bits (none exceeds the total),
 * and old history weighs less, halving every 100 days for a terminal doing 500 transactions a day.
 */
export const HALVE_AT = 50_000;

/**
 * An entity's activity by hour of the week: 168 16-bit counters (336 bytes plus about 200 of
 * typed-array and buffer headers) and the span of time they cover.
 *
 * Two clocks: the bucket of an event comes from whatever time the caller chooses (the terminal's
 * request time for "when does this shop trade", the gateway's receive time for "when does it reach
 * us"); the span (`at`) should come from the gateway's clock, which cannot jump years when a
 * terminal's clock is reset, so a training period is real time.
 */
export class HourProfile {
  readonly counts = new Uint16Array(HOURS_PER_WEEK);
  total = 0;
  /** Earliest and latest `at` seen: the training span. */
  firstAt: number;
  lastAt: number;
  /** Start of the span the counts stand for: moves forward by half the span when they halve. */
  since: number;

  constructor(at: number) {
    this.firstAt = at;
    this.lastAt = at;
    this.since = at;
  }

  /** Counts one event in hour-of-week `bucket` (0..167), seen at `at`. */
  add(bucket: number, at: number): void {
    this.counts[bucket] = this.counts[bucket]! + 1;
    this.total += 1;
    if (at > this.lastAt) this.lastAt = at;
    if (at < this.firstAt) this.firstAt = this.since = at;
    if (this.total >= HALVE_AT) {
      let total = 0;
      for (let h = 0; h < HOURS_PER_WEEK; h++) total += this.counts[h] = this.counts[h]! >> 1;
      this.total = total;
      this.since = this.lastAt - (this.lastAt - this.since) / 2;
    }
  }

  /** Milliseconds between the first and the latest event: how long it has been learning. */
  get spanMs(): number {
    return this.lastAt - this.firstAt;
  }

  /** True once it has learnt for `minDays` and from `minEvents` events. */
  trained(minDays: number, minEvents: number): boolean {
    return this.total >= minEvents && this.spanMs >= minDays * DAY_MS;
  }

  /** Events counted in the bucket of hour-of-week `h` as `mode` reads it. */
  count(h: number, mode: ProfileMode): number {
    if (mode === 'hour_of_week') return this.counts[h]!;
    const hour = h % 24;
    let n = 0;
    for (let d = 0; d < 7; d++) n += this.counts[d * 24 + hour]!;
    return n;
  }

  /**
   * Activity of hour-of-week `h` relative to an evenly spread profile (1 = an average hour, 0 =
   * never active): its share of all events times the number of buckets. With `spread` > 0 the most
   * active bucket within ±`spread` hours counts, so an hour next to the usual ones (a shop opening
   * a bit early, a daylight-saving shift of a UTC profile) is not off-hours.
   */
  activity(h: number, mode: ProfileMode, spread: number): number {
    if (this.total === 0) return 0;
    let most = 0;
    for (let d = -spread; d <= spread; d++) {
      const c = this.count((((h + d) % HOURS_PER_WEEK) + HOURS_PER_WEEK) % HOURS_PER_WEEK, mode);
      if (c > most) most = c;
    }
    return (most / this.total) * bucketsOf(mode);
  }

  /**
   * Events per hour usually seen in the bucket of hour-of-week `h`: its count over the number of
   * times the span covered that bucket. 0 before the counts cover an hour.
   */
  ratePerHour(h: number, mode: ProfileMode): number {
    const hours = (this.lastAt - this.since) / HOUR_MS;
    if (hours < 1) return 0;
    return this.count(h, mode) / Math.max(1, hours / bucketsOf(mode));
  }

  /**
   * The usual rate (events per hour) around hour-of-week `h`: the highest within ±`spread` hours.
   * Read by hour of the week, a bucket's own count is shrunk towards the same hour's all-days rate
   * as if that had been seen for `priorWeeks` more weeks: a few weeks of one hour of the week are
   * a small sample (a quiet night can show a third of its real rate), the same hour over all days a
   * large one. A Sunday hour therefore has to be quiet for several Sundays before its rate says so.
   */
  usualRate(h: number, mode: ProfileMode, spread: number, priorWeeks = 1): number {
    const hours = (this.lastAt - this.since) / HOUR_MS;
    if (hours < 1) return 0;
    let most = 0;
    for (let d = -spread; d <= spread; d++) {
      const b = (((h + d) % HOURS_PER_WEEK) + HOURS_PER_WEEK) % HOURS_PER_WEEK;
      const dayRate = this.count(b, 'hour_of_day') / Math.max(1, hours / 24);
      const rate =
        mode === 'hour_of_day'
          ? dayRate
          : (this.counts[b]! + priorWeeks * dayRate) / (Math.max(1, hours / HOURS_PER_WEEK) + priorWeeks);
      if (rate > most) most = rate;
    }
    return most;
  }

  /**
   * Events the profile expects in [from, to) (`hourOf` gives a time's hour of week): the sum of
   * each hour's rate over the part of it inside the span. Spans over a week use the weekly average.
   */
  expected(from: number, to: number, mode: ProfileMode, hourOf: (t: number) => number): number {
    if (to <= from) return 0;
    if (to - from >= 7 * DAY_MS) {
      const hours = (this.lastAt - this.since) / HOUR_MS;
      return hours < 1 ? 0 : (this.total / Math.max(hours, HOURS_PER_WEEK)) * ((to - from) / HOUR_MS);
    }
    let sum = 0;
    for (let t = from; t < to;) {
      const end = Math.min(to, (Math.floor(t / HOUR_MS) + 1) * HOUR_MS);
      sum += this.ratePerHour(hourOf(t), mode) * ((end - t) / HOUR_MS);
      t = end;
    }
    return sum;
  }
}

/** Hour of the week (Monday 00:00 = 0 … Sunday 23:00 = 167) of epoch milliseconds `t` in `timeZone`. */
export function hourOfWeek(t: number, timeZone: string): number {
  const local = timeZone === 'UTC' ? t : t + offsetMs(t, timeZone);
  const day = Math.floor(local / DAY_MS);
  // 1970-01-01 was a Thursday (weekday 3 counting Monday as 0).
  const weekday = (((day + 3) % 7) + 7) % 7;
  const hour = Math.floor((local - day * DAY_MS) / HOUR_MS);
  return weekday * 24 + hour;
}

/** True when `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * UTC offsets change only at daylight-saving transitions: one lookup per zone and UTC hour, cached,
 * keeps Intl off the per-event path. (In a zone with a half-hour offset the transition falls inside
 * a UTC hour, so for half an hour twice a year events land one bucket off.)
 */
const offsets = new Map<string, number>();
const MAX_CACHED_OFFSETS = 10_000;

function offsetMs(t: number, timeZone: string): number {
  const key = `${timeZone}\u0000${Math.floor(t / HOUR_MS)}`;
  const cached = offsets.get(key);
  if (cached !== undefined) return cached;
  const parts = formatter(timeZone).formatToParts(Math.floor(t / HOUR_MS) * HOUR_MS);
  const get = (type: Intl.DateTimeFormatPartTypes): number =>
    Number(parts.find((p) => p.type === type)?.value ?? 0);
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
  const offset = local - Math.floor(t / HOUR_MS) * HOUR_MS;
  if (offsets.size >= MAX_CACHED_OFFSETS) offsets.clear();
  offsets.set(key, offset);
  return offset;
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

/** "Sun 03:00" for hour-of-week 147; "03:00" when the profile is read by hour of day. */
export function hourLabel(h: number, mode: ProfileMode): string {
  const hh = `${String(h % 24).padStart(2, '0')}:00`;
  return mode === 'hour_of_day' ? hh : `${WEEKDAYS[Math.floor(h / 24) % 7]} ${hh}`;
}
