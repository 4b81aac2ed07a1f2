import { describe, expect, it } from 'vitest';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  OffHoursRule,
  offHoursRule,
} from '../../../../../../services/processor/detection/rules/off-hours.ts';
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

type Settings = SettingsOf<typeof offHoursRule>;

function setup(overrides: Partial<Settings> = {}): {
  rule: OffHoursRule;
  set: (s: Partial<Settings>) => void;
} {
  let settings: Settings = { ...offHoursRule.defaults, ...overrides };
  const rule = new OffHoursRule(() => settings);
  return { rule, set: (s) => (settings = { ...settings, ...s }) };
}

function feed(
  rule: { onTransaction(ev: TransactionEvent): Hit[] },
  events: readonly TransactionEvent[],
): Hit[] {
  return events.flatMap((ev) => rule.onTransaction(ev));
}

const terminals = fleet(24);
/** A shop: Monday to Saturday from 9 (Saturdays till 16), closed on Sundays. */
const shop: FleetTerminal = terminals.find((t) => t.kind === 'shop')!;
const rnd = makeRandom(3);
const at = (t: number): TransactionEvent => event(shop, t, rnd);

/** Three weeks of the shop's trade, then Sunday of week four. */
const threeWeeks = traffic([shop], MONDAY, 21 * 24);
const SUNDAY = MONDAY + 27 * DAY;

describe('OffHoursRule', () => {
  it('fires on the third transaction within an hour at 3 a.m. on a Sunday in a shop that trades Monday to Saturday', () => {
    const { rule } = setup();
    expect(feed(rule, threeWeeks)).toEqual([]);
    const night = [
      at(SUNDAY + 3 * HOUR + 60_000),
      at(SUNDAY + 3 * HOUR + 9 * 60_000),
      at(SUNDAY + 3 * HOUR + 25 * 60_000),
    ];
    expect(rule.onTransaction(night[0]!)).toEqual([]);
    expect(rule.onTransaction(night[1]!)).toEqual([]);
    const [hit, ...rest] = rule.onTransaction(night[2]!);
    expect(rest).toEqual([]);
    expect(hit).toMatchObject({
      rule: 'off_hours',
      severity: 'WARNING',
      level: 'TERMINAL',
      entityId: shop.serial,
      windowStart: night[0]!.request_time,
      windowEnd: night[2]!.request_time + 1,
      value: 3,
      threshold: 3,
      eventIds: night.map((e) => e.event_id),
      labels: { terminal_serial: shop.serial, merchant_id: shop.merchantId },
    });
    expect(hit!.evidence).toMatchObject({
      hour: 'Sun 03:00 UTC',
      activity: '0.000',
      profile: 'hour_of_week',
    });
  });

  it('lets one or two stray transactions pass, and forgets them after the window', () => {
    const { rule } = setup();
    feed(rule, threeWeeks);
    expect(feed(rule, [at(SUNDAY + 3 * HOUR), at(SUNDAY + 3 * HOUR + 30 * 60_000)])).toEqual([]);
    expect(rule.onTransaction(at(SUNDAY + 4 * HOUR + 31 * 60_000))).toEqual([]);
  });

  it('judges nothing during the warm-up: ten days of history are not enough by default', () => {
    const { rule } = setup();
    feed(
      rule,
      threeWeeks.filter((e) => e.request_time < MONDAY + 10 * DAY),
    );
    const night = MONDAY + 13 * DAY + 3 * HOUR;
    expect(feed(rule, [at(night), at(night + 60_000), at(night + 120_000), at(night + 180_000)])).toEqual([]);
  });

  it('stays quiet on four weeks of a realistic fleet, then catches a night-time run at one of its shops', () => {
    const events = traffic(terminals, MONDAY, 28 * 24);
    expect(events.length).toBeGreaterThan(50_000);
    const { rule } = setup();
    const hits: Hit[] = [];
    replay(
      events,
      (ev) => hits.push(...rule.onTransaction(ev)),
      (now) => rule.expire(now),
    );
    expect(hits).toEqual([]);
    const night = MONDAY + 28 * DAY + 2 * HOUR; // Monday 02:00
    const run = [0, 5, 10, 15].map((m) => at(night + m * 60_000));
    const caught = feed(rule, run);
    expect(caught.map((h) => h.entityId)).toEqual([shop.serial, shop.serial]);
  });

  it('applies reloaded settings: read by hour of day, a busy Sunday noon is a usual hour', () => {
    const { rule, set } = setup();
    feed(rule, threeWeeks);
    // Noon on a Sunday, when the shop is closed: a weekday lunch rush's worth (one a minute).
    const noon = SUNDAY + 12 * HOUR;
    const rush = (from: number, n: number): TransactionEvent[] =>
      Array.from({ length: n }, (_, i) => at(from + i * 60_000));
    const hits = feed(rule, rush(noon, 30));
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]!.evidence).toMatchObject({ hour: 'Sun 12:00 UTC', profile: 'hour_of_week' });

    set({ profile: 'hour_of_day' });
    expect(feed(rule, rush(noon + 30 * 60_000, 20))).toEqual([]);

    set({ profile: 'hour_of_week', min_attempts: 100 });
    expect(feed(rule, rush(noon + 50 * 60_000, 5))).toEqual([]);
  });

  it('reads hours in the configured time zone', () => {
    const { rule, set } = setup();
    feed(rule, threeWeeks);
    // Tuesday 12:00 UTC is the shop's lunch peak; read in Tokyo it is 21:00, long after closing.
    const tue = MONDAY + 22 * DAY + 12 * HOUR;
    expect(feed(rule, [at(tue), at(tue + 60_000), at(tue + 120_000)])).toEqual([]);
    set({ time_zone: 'Asia/Tokyo' });
    const hits = feed(rule, [at(tue + 180_000), at(tue + 240_000), at(tue + 300_000)]);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.evidence['hour']).toBe('Tue 21:00 Asia/Tokyo');
  });

  it('keeps its state bounded: one profile per terminal, off-hours transactions only for the window, idle terminals forgotten', () => {
    const { rule } = setup();
    feed(rule, threeWeeks);
    expect(rule.size).toBe(1);
    const night = SUNDAY + 3 * HOUR;
    feed(
      rule,
      Array.from({ length: 100 }, (_, i) => at(night + i * 20_000)),
    );
    expect(rule.size).toBe(1 + 3 + 20);
    rule.expire(night + 100 * 20_000 + HOUR + 2_000);
    expect(rule.size).toBe(1);
    rule.expire(night + offHoursRule.defaults.forget_after + 100 * 20_000);
    expect(rule.size).toBe(0);
  });

  it('counts a redelivered off-hours transaction once', () => {
    const { rule } = setup();
    feed(rule, threeWeeks);
    const night = at(SUNDAY + 3 * HOUR);
    const second = at(SUNDAY + 3 * HOUR + 60_000);
    expect(feed(rule, [night, night, second, second])).toEqual([]);
  });
});
