import type { TerminalHeartbeat, TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int, num } from '../rule-params.ts';
import { type SettingsReader, type TransactionRule } from '../rule.ts';
import { defineRule, type SettingsOf } from '../rules-file.ts';
import { HourProfile, hourLabel, hourOfWeek } from '../stats/hour-profile.ts';
import { profileMode, timeZone } from './params.ts';

/**
 * `terminal_silent`: a terminal that usually trades at this time has sent no transaction for a
 * while. The terminal-status tracker reports a terminal OFFLINE when neither heartbeats nor
 * transactions arrive; this rule catches the terminal that still heartbeats but takes no payments
 * (card reader dead, host link broken, customers sent to another till), which only its usual
 * business reveals.
 *
 * Per terminal it learns the hourly rate of its transactions by hour of the week of the gateway's
 * receive time in `time_zone` (HourProfile: counts and the span they cover, halving together so the
 * rate stays right) and remembers the last receive time. It fires on silence, so it is judged in
 * `onTick(now)`: once nothing came for `silence`, the profile's expected count over the silent span
 * (each hour's usual rate times the part of it that passed) is compared with `min_expected`. A
 * quiet spell of a busy terminal is news, a quiet hour of a slow one is not: 20 expected take 20
 * minutes of silence at 60 transactions an hour, 2 hours at 10. Why 20: each transaction starts a
 * gap, and a Poisson gap worth 10 expected comes once in 22 000 transactions, before the
 * profile's own error (a bucket of the week is seen only twice in two weeks); in a simulated fleet
 * (200 terminals, six weeks) 10 fired on 52 terminals, 15 on 2, 20 on none. The alert then fires on every tick until the terminal
 * sends again (or is forgotten after `forget_after`), and resolves `resolve_after` later.
 *
 * Receive time, not request time: silence is measured on the tick's clock (the wall clock, or the
 * newest receive time read while a backlog is read), so the profile must be on that clock too.
 *
 * Warm-up: no hit before the terminal was learnt for `min_history_days` and from `min_events`
 * transactions (two weeks by default, every hour of the week seen twice). The profile lives in
 * memory, so a restart or a partition move starts the warm-up again. Public holidays, when a
 * fleet's shops close together, look like silence to every busy terminal.
 *
 * Memory per terminal (measured with --expose-gc, 20 000 terminals): about 1 KB (the 336-byte
 * counter array and its headers, clocks, the last event id and placement strings, map entry).
 */
export const terminalSilentRule = defineRule({
  name: 'terminal_silent',
  doc: 'A terminal that usually trades at this time has sent no transaction for a while: its learned hourly profile expected several over the silent span.',
  params: {
    time_zone: timeZone(
      'Zone the hours are read in. Profiles are learned, so it matters for daylight saving only: in "UTC" a shop\'s busy hours move by one at each change.',
    ),
    profile: profileMode(
      '"hour_of_week": the 168 hours of the week (Sunday closures are learnt); "hour_of_day": the 24 hours, all days alike.',
    ),
    silence: duration({
      doc: 'No transaction received for at least this long…',
      min: 60_000,
      max: 86_400_000,
    }),
    min_expected: num({
      doc: '…while the profile expected at least this many over the silent span makes a hit.',
      min: 1,
      max: 100_000,
    }),
    dark_after: duration({
      doc: 'A terminal that heartbeats (its heartbeats seen before) and has sent neither a transaction nor a heartbeat for this long is dark: keep it above the heartbeat interval…',
      min: 60_000,
      max: 86_400_000,
    }),
    dark_min_expected: num({
      doc: '…and a hit once its profile expected at least this many transactions since its last one (it is in its business hours).',
      min: 0.1,
      max: 100_000,
    }),
    min_history_days: int({
      doc: 'Days a terminal is learnt (gateway time, first to latest transaction) before it is judged: the warm-up…',
      min: 1,
      max: 365,
    }),
    min_events: int({ doc: '…and transactions learnt.', min: 10, max: 1_000_000 }),
    forget_after: duration({
      doc: 'A terminal not seen for this long is forgotten (its alert then resolves).',
      min: 3_600_000,
      max: 365 * 86_400_000,
    }),
  },
  defaults: {
    enabled: true,
    severity: 'WARNING',
    resolve_after: 300_000,
    time_zone: 'UTC',
    profile: 'hour_of_week',
    silence: 900_000,
    min_expected: 20,
    dark_after: 300_000,
    dark_min_expected: 2,
    min_history_days: 14,
    min_events: 200,
    forget_after: 7 * 86_400_000,
  },
});

type Settings = SettingsOf<typeof terminalSilentRule>;

/** Transaction and heartbeat gaps kept per terminal until the other topic has been read past them. */
const MAX_GAPS = 32;

interface TerminalState {
  readonly profile: HourProfile;
  lastReceived: number;
  /** Receive time of its newest heartbeat; null while none was seen (dark is then not judged). */
  lastHeartbeat: number | null;
  /**
   * Spans of at least dark_after without a transaction that end after the last heartbeat, for the
   * next heartbeat to judge (transactions may be read far ahead of heartbeats in a backlog).
   */
  txGaps: { from: number; to: number }[];
  /** Heartbeat gaps of at least dark_after the transactions have not been read past yet. */
  hbGaps: { from: number; to: number }[];
  lastEventId: string;
  merchantId: string;
  region: string;
  acquirerId: string;
  /** Expected count over [lastReceived, expectedUntil): summed piecewise, one tick at a time. */
  expectedUntil: number;
  expected: number;
}

export class TerminalSilentRule implements TransactionRule {
  readonly definition = terminalSilentRule;
  private readonly byTerminal = new Map<string, TerminalState>();
  /** Settings the running sums were computed with: a reload recomputes them. */
  private summedWith: Settings | undefined;

  constructor(private readonly settings: SettingsReader<typeof terminalSilentRule>) {}

  /** Terminals held. */
  get size(): number {
    return this.byTerminal.size;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    const s = this.settings();
    const at = ev.gateway_received_time;
    let t = this.byTerminal.get(ev.terminal_serial);
    if (t === undefined) {
      t = {
        profile: new HourProfile(at),
        lastReceived: at,
        lastHeartbeat: null,
        txGaps: [],
        hbGaps: [],
        lastEventId: ev.event_id,
        merchantId: ev.merchant_id,
        region: ev.region,
        acquirerId: ev.acquirer_id,
        expectedUntil: at,
        expected: 0,
      };
      this.byTerminal.set(ev.terminal_serial, t);
    }
    let hits: Hit[] = [];
    if (at > t.lastReceived) {
      // Whether the terminal was also dark is for its next heartbeat to say: the heartbeats may be
      // read behind the transactions.
      hits = this.gapHit(ev.terminal_serial, t, s, { from: t.lastReceived, to: at }, false);
      if (at - t.lastReceived >= s.dark_after) {
        t.txGaps.push({ from: t.lastReceived, to: at });
        if (t.txGaps.length > MAX_GAPS) t.txGaps.shift();
      }
      hits.push(...this.darkHits(ev.terminal_serial, t, s, at));
    }
    t.profile.add(hourOfWeek(at, s.time_zone), at);
    if (at >= t.lastReceived) {
      t.lastReceived = at;
      t.lastEventId = ev.event_id;
      t.merchantId = ev.merchant_id;
      t.region = ev.region;
      t.acquirerId = ev.acquirer_id;
    }
    t.expectedUntil = t.lastReceived;
    t.expected = 0;
    return hits;
  }

  onHeartbeat(hb: TerminalHeartbeat): Hit[] {
    const t = this.byTerminal.get(hb.terminal_serial);
    const at = hb.gateway_received_time;
    if (t === undefined || at <= (t.lastHeartbeat ?? -Infinity)) return [];
    const s = this.settings();
    if (t.lastHeartbeat !== null && at - t.lastHeartbeat >= s.dark_after) {
      t.hbGaps.push({ from: t.lastHeartbeat, to: at });
      if (t.hbGaps.length > MAX_GAPS) t.hbGaps.shift();
    }
    t.lastHeartbeat = at;
    return this.darkHits(hb.terminal_serial, t, s, t.lastReceived);
  }

  /**
   * Dark spells (no heartbeat and no transaction for dark_after) within the heartbeat gaps that
   * the transactions have been read past (`txUntil`): the two topics are read independently, and
   * in a backlog one may be hours ahead of the other. Each gap is judged once, against the
   * transaction gaps read, the one still open last.
   */
  private darkHits(serial: string, t: TerminalState, s: Settings, txUntil: number): Hit[] {
    const hits: Hit[] = [];
    const waiting: { from: number; to: number }[] = [];
    for (const h of t.hbGaps) {
      if (h.to > txUntil) {
        waiting.push(h);
        continue;
      }
      for (const g of [...t.txGaps, { from: t.lastReceived, to: Infinity }]) {
        const start = Math.max(h.from, g.from);
        const end = Math.min(h.to, g.to);
        if (end - start < s.dark_after) continue;
        const hit = this.gapHit(serial, t, s, g, true, start + s.dark_after, end);
        hits.push(...hit);
        if (hit.length > 0) break;
      }
    }
    t.hbGaps = waiting;
    // Transaction gaps matter only for heartbeat gaps still to come or waiting.
    const keepFrom = Math.min(t.lastHeartbeat ?? Infinity, ...waiting.map((h) => h.from));
    t.txGaps = t.txGaps.filter((g) => g.to > keepFrom);
    return hits;
  }

  /**
   * When an event ends a gap (`gap`: from the last transaction to it): the hit a tick would have
   * made during it, dated when the evidence sufficed. Ticks judge at the wall clock, or at the newest receive time while a backlog is
   * read, when they are minutes of event time apart and a 15-minute outage can fall between two;
   * live, the tick has usually opened the alert already and this hit only keeps it open.
   */
  private gapHit(
    serial: string,
    t: TerminalState,
    s: Settings,
    gap: { from: number; to: number },
    dark: boolean,
    from = gap.from + s.silence,
    until = gap.to,
  ): Hit[] {
    if (!t.profile.trained(s.min_history_days, s.min_events)) return [];
    const hourOf = (time: number): number => hourOfWeek(time, s.time_zone);
    const threshold = dark ? s.dark_min_expected : s.min_expected;
    // Minute steps, at most a week of them: the first time the count expected since the gap's
    // last transaction reached the threshold.
    let expected = t.profile.expected(gap.from, from, s.profile, hourOf);
    for (let time = from; time < until && time < from + 7 * 86_400_000; time += 60_000) {
      if (expected >= threshold)
        return [this.hit(serial, { ...t, lastReceived: gap.from, expected }, s, time, dark)];
      expected += t.profile.expected(time, Math.min(time + 60_000, until), s.profile, hourOf);
    }
    return [];
  }

  onTick(now: number): Hit[] {
    const s = this.settings();
    if (s !== this.summedWith) {
      for (const t of this.byTerminal.values()) {
        t.expectedUntil = t.lastReceived;
        t.expected = 0;
      }
      this.summedWith = s;
    }
    const hourOf = (time: number): number => hourOfWeek(time, s.time_zone);
    const hits: Hit[] = [];
    const quietFor = Math.min(s.silence, s.dark_after);
    for (const [serial, t] of this.byTerminal) {
      if (now - t.lastReceived < quietFor) continue;
      if (!t.profile.trained(s.min_history_days, s.min_events)) continue;
      if (now > t.expectedUntil) {
        t.expected += t.profile.expected(t.expectedUntil, now, s.profile, hourOf);
        t.expectedUntil = now;
      }
      const dark =
        t.lastHeartbeat !== null &&
        now - Math.max(t.lastHeartbeat, t.lastReceived) >= s.dark_after &&
        t.expected >= s.dark_min_expected;
      const silent = now - t.lastReceived >= s.silence && t.expected >= s.min_expected;
      if (dark || silent) hits.push(this.hit(serial, t, s, now, dark));
    }
    return hits;
  }

  private hit(serial: string, t: TerminalState, s: Settings, now: number, dark: boolean): Hit {
    const minutes = Math.floor((now - t.lastReceived) / 60_000);
    const hour = hourOfWeek(now, s.time_zone);
    const usual = t.profile.ratePerHour(hour, s.profile);
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'TERMINAL',
      entityId: serial,
      windowStart: t.lastReceived,
      windowEnd: now,
      value: Number(t.expected.toFixed(1)),
      threshold: dark ? s.dark_min_expected : s.min_expected,
      summary: `terminal ${serial} has sent no transaction${dark ? ' and no heartbeat' : ''} for ${minutes} min; its profile expected about ${Math.round(t.expected)} in that time (usually ${usual.toFixed(1)} an hour at ${hourLabel(hour, s.profile)} ${s.time_zone})`,
      evidence: {
        pattern: dark ? 'dark' : 'silent',
        last_received: new Date(t.lastReceived).toISOString(),
        ...(t.lastHeartbeat === null ? {} : { last_heartbeat: new Date(t.lastHeartbeat).toISOString() }),
        silent_minutes: String(minutes),
        expected: t.expected.toFixed(1),
        usual_per_hour: usual.toFixed(1),
        profile_events: String(t.profile.total),
        history_days: (t.profile.spanMs / 86_400_000).toFixed(1),
      },
      eventIds: [t.lastEventId],
      labels: {
        terminal_serial: serial,
        merchant_id: t.merchantId,
        region: t.region,
        acquirer_id: t.acquirerId,
      },
    };
  }

  expire(now: number): void {
    const forgetAfter = this.settings().forget_after;
    for (const [serial, t] of this.byTerminal) {
      if (now - t.lastReceived >= forgetAfter) this.byTerminal.delete(serial);
    }
  }
}
