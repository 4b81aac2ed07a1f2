import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int, num } from '../rule-params.ts';
import { placementLabels, type SettingsReader, type TransactionRule } from '../rule.ts';
import { defineRule, type SettingsOf } from '../rules-file.ts';
import { HourProfile, hourLabel, hourOfWeek } from '../stats/hour-profile.ts';
import { poissonTail } from '../stats/tails.ts';
import { profileMode, timeZone } from './params.ts';

/**
 * `off_hours`: a terminal trades in an hour in which it usually does nothing (a shop's terminal
 * used at 3 a.m., or on the day it is closed): a stolen terminal, a cashier running cards after
 * closing, a terminal moved somewhere else.
 *
 * Per terminal it learns an activity profile from its own transactions: 168 counters, one per hour
 * of the week of the request time in `time_zone` (HourProfile; counts halve at 50 000, so old
 * history weighs less). Once trained, a transaction in an hour whose activity is
 * below `quiet_activity` of an average hour (its share of the terminal's transactions × 168, or × 24
 * with `profile: "hour_of_day"`; the busiest hour within ±`spread_hours` counts) is an off-hours
 * transaction. `min_attempts` of them within `window` make a hit if that many are improbable at the
 * hour's usual rate: Poisson tail ≤ `significance`, the rate from HourProfile.usualRate (the busiest
 * within ±`spread_hours`, an hour of the week shrunk towards the same hour of all days).
 *
 * Why the rate test: the relative threshold alone fires on a fuel station's quiet nights. Two
 * transactions an hour are a tenth of its average hour, three in an hour happen every few nights,
 * and two or three weeks of one night hour can show a third of its real rate. In a simulated fleet
 * (200 terminals, six weeks), `quiet_activity` 0.1 fired on 2 of the 50 fuel stations without the
 * test and on 1 with it; the default 0.05 on none either way, while a closed shop's hours (activity
 * 0) still count.
 *
 * Each transaction is judged before it is learnt, and an off-hours one is learnt only when it
 * leaves the window: otherwise the first transaction of an incident would make its hour usual for
 * the next (for a terminal doing 30 a day, one transaction in three weeks lifts an hour to a
 * quarter of an average one). A real change of opening hours fires once; the hour is usual from
 * then on.
 *
 * Warm-up: no hit before the terminal was learnt for `min_history_days` (gateway time, first to
 * latest transaction) and from `min_events` transactions: two weeks by default, every hour of the
 * week seen twice. The profile lives in memory: a restart or a partition move starts the warm-up
 * again (the replay rebuilds only the open KPI windows' few minutes). Holidays and one-off late
 * openings look like off-hours when busy enough; `min_attempts` keeps a stray late sale quiet.
 *
 * Memory per terminal (measured with --expose-gc, 20 000 terminals): about 1 KB (the 336-byte
 * counter array and its headers, clocks, map entry), plus about 100 bytes per off-hours transaction
 * held in the window (at most `min_attempts` + 20, normally none).
 */
export const offHoursRule = defineRule({
  name: 'off_hours',
  doc: 'A terminal trades in hours in which its own learned activity profile (by hour of the week) shows (almost) none, several times within a window.',
  params: {
    time_zone: timeZone(
      'Zone the hours are read in. Profiles are learned, so it matters for daylight saving only: in "UTC" a shop\'s hours move by one at each change, which spread_hours 1 absorbs.',
    ),
    profile: profileMode(
      '"hour_of_week": the 168 hours of the week (a shop closed on Sundays is off-hours all Sunday); "hour_of_day": the 24 hours, all days alike.',
    ),
    min_history_days: int({
      doc: 'Days a terminal is learnt (gateway time, first to latest transaction) before it is judged: the warm-up…',
      min: 1,
      max: 365,
    }),
    min_events: int({ doc: '…and transactions learnt.', min: 10, max: 1_000_000 }),
    quiet_activity: num({
      doc: "An hour is off-hours when its activity is below this fraction of an average hour's (its share of the terminal's transactions × 168, or × 24).",
      min: 0,
      max: 1,
    }),
    spread_hours: int({
      doc: 'The busiest hour within this many either side counts, so an hour next to a usual one is not off-hours.',
      min: 0,
      max: 12,
    }),
    window: duration({
      doc: 'Off-hours transactions are counted over this sliding span (request time)…',
      min: 60_000,
      max: 86_400_000,
    }),
    min_attempts: int({
      doc: '…and this many make a hit, so one stray transaction does not…',
      min: 1,
      max: 1_000,
    }),
    significance: num({
      doc: "…if at the hour's usual rate (the busiest within spread_hours) that many would come with at most this probability (Poisson tail).",
      min: 1e-15,
      max: 1,
    }),
    forget_after: duration({
      doc: 'A terminal not seen for this long (gateway time) is forgotten, its profile included.',
      min: 86_400_000,
      max: 365 * 86_400_000,
    }),
  },
  defaults: {
    enabled: true,
    severity: 'WARNING',
    resolve_after: 3_600_000,
    time_zone: 'UTC',
    profile: 'hour_of_week',
    min_history_days: 14,
    min_events: 200,
    quiet_activity: 0.05,
    spread_hours: 1,
    window: 3_600_000,
    min_attempts: 3,
    significance: 0.001,
    forget_after: 30 * 86_400_000,
  },
});

type Settings = SettingsOf<typeof offHoursRule>;

/** Off-hours transactions kept beyond min_attempts, for evidence. */
const EXTRA_KEPT = 20;

interface TerminalState {
  readonly profile: HourProfile;
  /**
   * The off-hours transactions in the window, arrival order: request time, id, and what learning
   * them needs once they leave (hour of week, receive time).
   */
  readonly offTimes: number[];
  readonly offIds: string[];
  readonly offHours: number[];
  readonly offReceived: number[];
  newest: number;
  lastReceived: number;
  /** lastReceived minus that transaction's request time: the terminal clock's lag behind ours. */
  skew: number;
}

export class OffHoursRule implements TransactionRule {
  readonly definition = offHoursRule;
  private readonly byTerminal = new Map<string, TerminalState>();
  private held = 0;

  constructor(private readonly settings: SettingsReader<typeof offHoursRule>) {}

  /** Terminals held plus off-hours transactions in their windows. */
  get size(): number {
    return this.byTerminal.size + this.held;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    const s = this.settings();
    let t = this.byTerminal.get(ev.terminal_serial);
    if (t === undefined) {
      t = {
        profile: new HourProfile(ev.gateway_received_time),
        offTimes: [],
        offIds: [],
        offHours: [],
        offReceived: [],
        newest: ev.request_time,
        lastReceived: ev.gateway_received_time,
        skew: ev.gateway_received_time - ev.request_time,
      };
      this.byTerminal.set(ev.terminal_serial, t);
    }
    if (t.offIds.includes(ev.event_id)) return [];
    if (ev.gateway_received_time >= t.lastReceived) {
      t.lastReceived = ev.gateway_received_time;
      t.skew = ev.gateway_received_time - ev.request_time;
    }
    t.newest = Math.max(t.newest, ev.request_time);
    this.trim(t, t.newest - s.window);

    const hour = hourOfWeek(ev.request_time, s.time_zone);
    const trained = t.profile.trained(s.min_history_days, s.min_events);
    const activity = trained ? t.profile.activity(hour, s.profile, s.spread_hours) : Infinity;
    if (activity >= s.quiet_activity || ev.request_time <= t.newest - s.window) {
      t.profile.add(hour, ev.gateway_received_time);
      return [];
    }
    t.offTimes.push(ev.request_time);
    t.offIds.push(ev.event_id);
    t.offHours.push(hour);
    t.offReceived.push(ev.gateway_received_time);
    this.held += 1;
    while (t.offTimes.length > s.min_attempts + EXTRA_KEPT) this.dropOldest(t);
    const n = t.offTimes.length;
    if (n < s.min_attempts) return [];
    const usual = t.profile.usualRate(hour, s.profile, s.spread_hours) * (s.window / 3_600_000);
    const p = poissonTail(usual, n);
    if (p > s.significance) return [];
    return [this.hit(ev, t, s, hour, activity, usual)];
  }

  private hit(
    ev: TransactionEvent,
    t: TerminalState,
    s: Settings,
    hour: number,
    activity: number,
    usual: number,
  ): Hit {
    const n = t.offTimes.length;
    const days = t.profile.spanMs / 86_400_000;
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'TERMINAL',
      entityId: ev.terminal_serial,
      windowStart: Math.min(...t.offTimes),
      windowEnd: t.newest + 1,
      value: n,
      threshold: s.min_attempts,
      summary: `${n} transactions at terminal ${ev.terminal_serial} within ${Math.round(s.window / 60_000)} min in hours it is usually idle (latest ${hourLabel(hour, s.profile)} ${s.time_zone}, activity ${activity.toFixed(2)} of an average hour over ${days.toFixed(0)} days)`,
      evidence: {
        attempts: String(n),
        hour: `${hourLabel(hour, s.profile)} ${s.time_zone}`,
        activity: activity.toFixed(3),
        usual_in_window: usual.toFixed(2),
        profile: s.profile,
        profile_events: String(t.profile.total),
        history_days: days.toFixed(1),
      },
      eventIds: t.offIds.slice(-20),
      labels: placementLabels(ev),
    };
  }

  /** Learns the off-hours transactions at or before `horizon` (request time) and drops them. */
  private trim(t: TerminalState, horizon: number): void {
    while (t.offTimes.length > 0 && t.offTimes[0]! <= horizon) this.dropOldest(t);
  }

  private dropOldest(t: TerminalState): void {
    t.offTimes.shift();
    t.offIds.shift();
    t.profile.add(t.offHours.shift()!, t.offReceived.shift()!);
    this.held -= 1;
  }

  expire(now: number): void {
    const s = this.settings();
    for (const [serial, t] of this.byTerminal) {
      if (now - t.lastReceived >= s.forget_after) {
        this.held -= t.offTimes.length;
        this.byTerminal.delete(serial);
        continue;
      }
      this.trim(t, now - t.skew - s.window);
    }
  }
}
