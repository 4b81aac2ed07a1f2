import { describe, expect, it } from 'vitest';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  TerminalSilentRule,
  terminalSilentRule,
} from '../../../../../../services/processor/detection/rules/terminal-silent.ts';
import type { SettingsOf } from '../../../../../../services/processor/detection/rules-file.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import {
  DAY,
  HOUR,
  MONDAY,
  event,
  fleet,
  makeRandom,
  replay,
  traffic,
  type FleetTerminal,
} from './fleet-traffic.ts';
import { sampleHeartbeat } from '../../../../../support/fixtures.ts';

type Settings = SettingsOf<typeof terminalSilentRule>;

function setup(overrides: Partial<Settings> = {}): {
  rule: TerminalSilentRule;
  set: (s: Partial<Settings>) => void;
} {
  let settings: Settings = { ...terminalSilentRule.defaults, ...overrides };
  const rule = new TerminalSilentRule(() => settings);
  return { rule, set: (s) => (settings = { ...settings, ...s }) };
}

const terminals = fleet(24);
const template = terminals.find((t) => t.kind === 'shop')!;
/** A busy shop (30 an hour at noon, 18 in other open hours; Monday to Saturday from 9) and a slow one. */
const busy: FleetTerminal = { ...template, serial: 'SIL-BUSY', peakPerHour: 30 };
const slow: FleetTerminal = { ...template, serial: 'SIL-SLOW', peakPerHour: 6 };

const WEEK4 = MONDAY + 21 * DAY;
const threeWeeks = traffic([busy, slow], MONDAY, 21 * 24);
/** Both shops' Monday of week four until 11:00. */
const mondayMorning = traffic([busy, slow], WEEK4, 11, 5);

function feed(rule: TerminalSilentRule, events: readonly TransactionEvent[]): void {
  for (const ev of events) expect(rule.onTransaction(ev)).toEqual([]);
}

/** Ticks every minute in [from, to], returning the hits with the tick's time. */
function tickEach(rule: TerminalSilentRule, from: number, to: number): { now: number; hit: Hit }[] {
  const out: { now: number; hit: Hit }[] = [];
  for (let now = from; now <= to; now += 60_000) {
    for (const hit of rule.onTick(now)) out.push({ now, hit });
    rule.expire(now);
  }
  return out;
}

const lastOf = (serial: string, events: readonly TransactionEvent[]): TransactionEvent =>
  events.filter((e) => e.terminal_serial === serial).at(-1)!;

describe('TerminalSilentRule', () => {
  it('fires when a busy shop sends nothing through its Monday lunchtime, and only for that shop', () => {
    const { rule } = setup();
    feed(rule, [...threeWeeks, ...mondayMorning]);
    const hits = tickEach(rule, WEEK4 + 11 * HOUR, WEEK4 + 13 * HOUR);
    expect(hits.length).toBeGreaterThan(0);
    expect(new Set(hits.map((h) => h.hit.entityId))).toEqual(new Set(['SIL-BUSY']));
    const first = hits[0]!;
    // 18 an hour until noon, 30 after: 20 expected about an hour after the last sale.
    expect(first.now).toBeGreaterThan(WEEK4 + 11 * HOUR + 30 * 60_000);
    expect(first.now).toBeLessThan(WEEK4 + 12 * HOUR + 30 * 60_000);
    const last = lastOf('SIL-BUSY', mondayMorning);
    expect(first.hit).toMatchObject({
      rule: 'terminal_silent',
      severity: 'WARNING',
      level: 'TERMINAL',
      entityId: 'SIL-BUSY',
      windowStart: last.gateway_received_time,
      windowEnd: first.now,
      threshold: 20,
      eventIds: [last.event_id],
      labels: {
        terminal_serial: 'SIL-BUSY',
        merchant_id: busy.merchantId,
        region: last.region,
        acquirer_id: last.acquirer_id,
      },
    });
    expect(first.hit.value!).toBeGreaterThanOrEqual(20);
    expect(first.hit.evidence['last_received']).toBe(new Date(last.gateway_received_time).toISOString());
  });

  it('calls a terminal dark within minutes once its heartbeats stop too, in its hours only', () => {
    const { rule } = setup();
    feed(rule, [...threeWeeks, ...mondayMorning]);
    const last = lastOf('SIL-BUSY', mondayMorning).gateway_received_time;
    const beat = (serial: string, t: number) =>
      rule.onHeartbeat(sampleHeartbeat(1, { terminal_serial: serial, gateway_received_time: t }));
    // Both shops heartbeat every minute until 11:00; then the busy one goes dark, the slow one
    // keeps heartbeating (alive, merely quiet).
    for (let t = WEEK4 + 10 * HOUR; t <= WEEK4 + 11 * HOUR; t += 60_000) {
      beat('SIL-BUSY', t);
      beat('SIL-SLOW', t);
    }
    for (let t = WEEK4 + 11 * HOUR; t <= WEEK4 + 12 * HOUR; t += 60_000) beat('SIL-SLOW', t);
    const hits = tickEach(rule, WEEK4 + 11 * HOUR, WEEK4 + 12 * HOUR);
    expect(new Set(hits.map((h) => h.hit.entityId))).toEqual(new Set(['SIL-BUSY']));
    const first = hits[0]!;
    expect(first.hit.evidence['pattern']).toBe('dark');
    // Five minutes after the last heartbeat, or once two sales were due since the last one.
    expect(first.now).toBeGreaterThanOrEqual(Math.max(WEEK4 + 11 * HOUR + 5 * 60_000, last));
    expect(first.now).toBeLessThan(WEEK4 + 11 * HOUR + 15 * 60_000);
    expect(first.hit.threshold).toBe(2);

    // Dark on a Sunday, when the shop is closed: nothing was due, no hit.
    const sunday = WEEK4 - DAY + 12 * HOUR;
    const { rule: closed } = setup();
    feed(closed, threeWeeks);
    closed.onHeartbeat(
      sampleHeartbeat(1, { terminal_serial: 'SIL-BUSY', gateway_received_time: sunday - HOUR }),
    );
    expect(tickEach(closed, sunday, sunday + HOUR)).toEqual([]);
  });

  it('dates a dark spell no tick saw (a backlog) once both topics were read past it, in either order', () => {
    const back = WEEK4 + 11 * HOUR + 20 * 60_000;
    const last = lastOf('SIL-BUSY', mondayMorning);
    const sale = {
      ...last,
      event_id: 'back-1',
      request_time: back + 60_000,
      gateway_received_time: back + 60_000,
    };
    for (const heartbeatsFirst of [true, false]) {
      const { rule } = setup();
      feed(rule, [...threeWeeks, ...mondayMorning]);
      const beat = (t: number) =>
        rule.onHeartbeat(sampleHeartbeat(1, { terminal_serial: 'SIL-BUSY', gateway_received_time: t }));
      for (let t = WEEK4 + 10 * HOUR; t <= WEEK4 + 11 * HOUR; t += 60_000) expect(beat(t)).toEqual([]);
      // Dark from 11:00 to 11:20, read from a backlog: no tick in between, then it is back.
      const hits = heartbeatsFirst
        ? [...beat(back), ...rule.onTransaction(sale)]
        : [...rule.onTransaction(sale), ...beat(back)];
      expect(hits).toHaveLength(1);
      expect(hits[0]!.evidence['pattern']).toBe('dark');
      expect(hits[0]!.windowEnd).toBeGreaterThanOrEqual(WEEK4 + 11 * HOUR + 5 * 60_000);
      expect(hits[0]!.windowEnd).toBeLessThan(WEEK4 + 11 * HOUR + 15 * 60_000);
      // A gap of a minute is no news.
      expect(beat(back + 2 * 60_000)).toEqual([]);
    }
  });

  it('does not call a trading terminal dark because its heartbeats are read behind its transactions', () => {
    const { rule } = setup();
    feed(rule, threeWeeks);
    rule.onHeartbeat(
      sampleHeartbeat(1, { terminal_serial: 'SIL-BUSY', gateway_received_time: WEEK4 + 9 * HOUR }),
    );
    // Its transactions until 11:00 arrive before the heartbeats of the same morning.
    feed(rule, mondayMorning);
    const beats = [];
    for (let t = WEEK4 + 9 * HOUR + 60_000; t <= WEEK4 + 11 * HOUR; t += 60_000)
      beats.push(
        ...rule.onHeartbeat(sampleHeartbeat(1, { terminal_serial: 'SIL-BUSY', gateway_received_time: t })),
      );
    expect(beats).toEqual([]);
  });

  it('keeps firing on every tick while the terminal stays silent and stops at its next transaction', () => {
    const { rule } = setup();
    feed(rule, [...threeWeeks, ...mondayMorning]);
    const noon = WEEK4 + 13 * HOUR;
    expect(rule.onTick(noon).map((h) => h.entityId)).toEqual(['SIL-BUSY']);
    expect(rule.onTick(noon + 5_000).map((h) => h.entityId)).toEqual(['SIL-BUSY']);
    rule.onTransaction(event(busy, noon + 10_000, makeRandom(1), { gateway_received_time: noon + 10_500 }));
    expect(rule.onTick(noon + 15_000)).toEqual([]);
    expect(rule.onTick(noon + 10 * 60_000)).toEqual([]);
  });

  it('stays quiet over a weekend the shop is closed and through its first quiet half hour on Monday', () => {
    const { rule } = setup();
    const untilSaturday = threeWeeks.filter((e) => e.request_time < MONDAY + 20 * DAY);
    feed(rule, untilSaturday);
    const saturdayClose = MONDAY + 19 * DAY + 16 * HOUR;
    expect(tickEach(rule, saturdayClose, MONDAY + 21 * DAY + 9 * HOUR + 30 * 60_000)).toEqual([]);
  });

  it('does not call a quiet hour of a slow terminal silence', () => {
    const { rule } = setup();
    feed(rule, [...threeWeeks, ...mondayMorning]);
    const hits = tickEach(rule, WEEK4 + 11 * HOUR, WEEK4 + 12 * HOUR + 30 * 60_000);
    expect(hits.filter((h) => h.hit.entityId === 'SIL-SLOW')).toEqual([]);
  });

  it('judges nobody during the warm-up: ten days of history are not enough by default', () => {
    const { rule } = setup();
    feed(
      rule,
      threeWeeks.filter((e) => e.request_time < MONDAY + 10 * DAY),
    );
    expect(tickEach(rule, MONDAY + 10 * DAY + 10 * HOUR, MONDAY + 10 * DAY + 16 * HOUR)).toEqual([]);
  });

  it('applies reloaded settings at the next tick', () => {
    const { rule, set } = setup({ min_expected: 1_000 });
    feed(rule, [...threeWeeks, ...mondayMorning]);
    const at = WEEK4 + 12 * HOUR;
    expect(rule.onTick(at)).toEqual([]);
    set({ min_expected: 5 });
    expect(rule.onTick(at).map((h) => h.entityId)).toEqual(['SIL-BUSY']);
    set({ silence: 3 * HOUR });
    expect(rule.onTick(at + 60_000)).toEqual([]);

    // Read by hour of day, the shop closed on Sundays "usually" trades on a Sunday afternoon too.
    const sunday = MONDAY + 20 * DAY;
    const other = setup({ profile: 'hour_of_day' });
    feed(
      other.rule,
      threeWeeks.filter((e) => e.request_time < sunday),
    );
    expect(other.rule.onTick(sunday + 13 * HOUR).map((h) => h.entityId)).toContain('SIL-BUSY');
    other.set({ profile: 'hour_of_week' });
    expect(other.rule.onTick(sunday + 13 * HOUR)).toEqual([]);
  });

  it('stays quiet on four weeks of a realistic fleet ticked every minute', () => {
    const events = traffic(terminals, MONDAY, 28 * 24, 21);
    const { rule } = setup();
    const hits: Hit[] = [];
    replay(
      events,
      (ev) => rule.onTransaction(ev),
      (now) => {
        hits.push(...rule.onTick(now));
        rule.expire(now);
      },
    );
    expect(hits).toEqual([]);
    expect(rule.size).toBe(terminals.length);
  });

  it('holds one entry per terminal and forgets terminals silent for forget_after', () => {
    const { rule } = setup();
    feed(rule, [...threeWeeks, ...mondayMorning]);
    expect(rule.size).toBe(2);
    const last = lastOf('SIL-BUSY', mondayMorning).gateway_received_time;
    rule.expire(last + DAY);
    expect(rule.size).toBe(2);
    rule.expire(last + terminalSilentRule.defaults.forget_after);
    expect(rule.size).toBe(0);
    expect(rule.onTick(last + terminalSilentRule.defaults.forget_after)).toEqual([]);
  });
});
