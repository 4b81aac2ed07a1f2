import { DAY_SHAPES, WEEKDAY_FACTORS } from './catalog.ts';
import {
  isOpenAt,
  localDayOfWeek,
  localHour,
  type Fleet,
  type OpeningHours,
  type Region,
  type Terminal,
} from './fleet.ts';
import { WeightedTable } from './rng.ts';

/**
 * When the fleet trades. Terminals are grouped into cohorts that share a region (time zone),
 * a day shape and opening hours; a cohort's activity at an instant is its shape at the local hour
 * (linearly interpolated within the hour), times the weekday factor, zero while closed. The curve is
 * scaled so that the fleet's average over a week is the configured rate: `--rate 50` means 50
 * transactions a second on average, more at lunchtime on a Saturday, almost none at 4 a.m.
 */

export interface Cohort {
  readonly region: Region;
  readonly hours: OpeningHours;
  readonly shape: readonly number[];
  /** Sum of the activity of the cohort's terminals. */
  readonly weight: number;
  readonly terminals: WeightedTable<Terminal>;
}

/** Activity (relative, before scaling) of merchants with `hours` and `shape` at `time`. */
export function relativeActivity(
  hours: OpeningHours,
  shape: readonly number[],
  utcOffsetMin: number,
  time: number,
): number {
  if (!isOpenAt(hours, utcOffsetMin, time)) return 0;
  const local = time + utcOffsetMin * 60_000;
  const h = localHour(local);
  const hour = Math.floor(h);
  const frac = h - hour;
  const v = (shape[hour] as number) * (1 - frac) + (shape[(hour + 1) % 24] as number) * frac;
  return v * (WEEKDAY_FACTORS[localDayOfWeek(local)] as number);
}

/** A Monday, 00:00 UTC: the week the normalisation averages over (any week gives the same mean). */
const WEEK_ORIGIN = Date.UTC(2024, 0, 1);
const WEEK_MS = 7 * 86_400_000;
const SAMPLE_MS = 5 * 60_000;

export class LoadCurve {
  readonly cohorts: readonly Cohort[];
  /** Multiplier from summed relative activity to transactions per second. */
  private readonly scale: number;

  constructor(
    fleet: Fleet,
    /** Average transactions per second of the whole fleet over a week. */
    readonly rate: number,
  ) {
    const groups = new Map<string, Terminal[]>();
    for (const t of fleet.terminals) {
      const m = t.merchant;
      const key = `${m.region.id}|${m.category.shape}|${m.hours.open}|${m.hours.close}|${m.hours.closedSunday}`;
      let list = groups.get(key);
      if (list === undefined) groups.set(key, (list = []));
      list.push(t);
    }
    this.cohorts = [...groups.values()].map((terminals) => {
      const m = (terminals[0] as Terminal).merchant;
      return {
        region: m.region,
        hours: m.hours,
        shape: DAY_SHAPES[m.category.shape],
        weight: terminals.reduce((s, t) => s + t.activity, 0),
        terminals: new WeightedTable(terminals.map((t) => [t, t.activity] as const)),
      };
    });
    let sum = 0;
    let samples = 0;
    for (let t = WEEK_ORIGIN; t < WEEK_ORIGIN + WEEK_MS; t += SAMPLE_MS) {
      sum += this.relativeTotal(t);
      samples++;
    }
    const mean = sum / samples;
    this.scale = mean > 0 ? rate / mean : 0;
  }

  private relativeTotal(time: number): number {
    let total = 0;
    for (const c of this.cohorts)
      total += c.weight * relativeActivity(c.hours, c.shape, c.region.utcOffsetMin, time);
    return total;
  }

  /** Expected transactions per second of the whole fleet at `time`. */
  rateAt(time: number): number {
    return this.scale * this.relativeTotal(time);
  }

  /** Fills `out[i]` with cohort i's expected transactions per second at `time`; returns their sum. */
  cohortRates(time: number, out: Float64Array): number {
    let total = 0;
    this.cohorts.forEach((c, i) => {
      const r = this.scale * c.weight * relativeActivity(c.hours, c.shape, c.region.utcOffsetMin, time);
      out[i] = r;
      total += r;
    });
    return total;
  }
}
