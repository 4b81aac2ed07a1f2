import { describe, expect, it } from 'vitest';
import { haversineKm } from '../../../../../../services/processor/detection/card-rules/card-rule.ts';
import {
  ImpossibleTravelRule,
  impossibleTravelRule,
} from '../../../../../../services/processor/detection/card-rules/impossible-travel.ts';
import { CARD_RULE_DEFINITIONS } from '../../../../../../services/processor/detection/card-rules/index.ts';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  defaultRules,
  parseRules,
  type RuleSet,
  type SettingsOf,
} from '../../../../../../services/processor/detection/rules-file.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import {
  CITIES,
  DAY0,
  HOUR,
  MIN,
  attempt,
  cleanCardDay,
  merchants,
  tokenOf,
  type City,
  type Merchant,
} from './card-traffic.ts';

type Settings = SettingsOf<typeof impossibleTravelRule>;
const DEFAULTS = defaultRules([impossibleTravelRule]).get(impossibleTravelRule);
const T = DAY0 + 10 * HOUR;
const shops = merchants();

function rule(overrides: Partial<Settings> = {}) {
  const settings: { current: Settings } = { current: { ...DEFAULTS, ...overrides } };
  return { rule: new ImpossibleTravelRule(() => settings.current), settings };
}

const feed = (r: ImpossibleTravelRule, events: readonly TransactionEvent[]): Hit[] =>
  events.flatMap((e) => r.onTransaction(e));

/** A merchant of `city` whose first terminal has a location fix. */
const shopIn = (city: City, skip = 0): Merchant =>
  shops.filter((m) => m.city === city && m.terminals[0]!.lat !== null)[skip]!;

const at = (card: number, city: City, t: number, overrides: Partial<TransactionEvent> = {}, skip = 0) =>
  attempt(card, shopIn(city, skip), 0, t, overrides);

describe('great-circle distance', () => {
  it('matches known city distances within a kilometre', () => {
    const { munich, berlin } = CITIES;
    expect(haversineKm(munich.lat, munich.lon, berlin.lat, berlin.lon)).toBeCloseTo(504, -1);
    // Paris – London, a textbook pair: ~343.5 km.
    expect(haversineKm(48.8566, 2.3522, 51.5074, -0.1278)).toBeCloseTo(343.5, 0);
    expect(haversineKm(10, 20, 10, 20)).toBe(0);
    // Antipodes: half the circumference.
    expect(haversineKm(0, 0, 0, 180)).toBeCloseTo(Math.PI * 6371.0088, 3);
  });
});

describe('impossible_travel rule', () => {
  it('fires when a card is at merchants ~500 km apart within half an hour', () => {
    const { rule: r } = rule();
    const munich = at(7001, 'munich', T);
    const berlin = at(7001, 'berlin', T + 30 * MIN, { status: 'DECLINED', response_code: '05' });
    expect(r.onTransaction(munich)).toEqual([]);
    const hits = r.onTransaction(berlin);
    expect(hits).toHaveLength(1);
    const h = hits[0]!;
    const km = haversineKm(munich.latitude!, munich.longitude!, berlin.latitude!, berlin.longitude!);
    expect(h).toMatchObject({
      rule: 'impossible_travel',
      level: 'CARD',
      entityId: tokenOf(7001),
      windowStart: T,
      windowEnd: T + 30 * MIN + 1,
      value: Math.round(km * 2),
      threshold: 900,
      eventIds: [munich.event_id, berlin.event_id],
    });
    expect(h.evidence).toMatchObject({
      distance_km: String(Math.round(km)),
      minutes_between: '30.0',
      from_merchant: munich.merchant_id,
      to_merchant: berlin.merchant_id,
      to_terminal: berlin.terminal_serial,
    });
    expect(km).toBeGreaterThan(450);
  });

  it('fires when the later attempt arrives first, and reports the pair in time order', () => {
    const { rule: r } = rule();
    const munich = at(7002, 'munich', T);
    const vienna = at(7002, 'vienna', T + 10 * MIN);
    expect(r.onTransaction(vienna)).toEqual([]);
    const [hit] = r.onTransaction(munich);
    expect(hit?.evidence).toMatchObject({
      from_merchant: munich.merchant_id,
      to_merchant: vienna.merchant_id,
    });
    expect(hit?.windowStart).toBe(T);
  });

  it('treats two far-apart attempts in the same second as impossible', () => {
    const { rule: r } = rule();
    expect(feed(r, [at(7003, 'hamburg', T), at(7003, 'vienna', T)])).toHaveLength(1);
  });

  it('stays quiet for a plane ride, for nearby merchants, without coordinates, and for keyed-in orders', () => {
    const { rule: r } = rule();
    // Munich → Berlin in 3 hours: ~170 km/h.
    expect(feed(r, [at(7010, 'munich', T), at(7010, 'berlin', T + 3 * HOUR)])).toEqual([]);
    // Two merchants of one city a minute apart: fast, but below min_distance_km.
    expect(feed(r, [at(7011, 'munich', T), at(7011, 'munich', T + MIN, {}, 3)])).toEqual([]);
    // A terminal without a fix, or with the (0, 0) of no fix, places nobody.
    expect(
      feed(r, [
        at(7012, 'munich', T),
        at(7012, 'berlin', T + 10 * MIN, { latitude: null, longitude: null }),
        at(7012, 'berlin', T + 11 * MIN, { latitude: 0, longitude: 0 }),
      ]),
    ).toEqual([]);
    // A keyed-in (mail or phone) order says nothing about where the card is.
    expect(
      feed(r, [at(7013, 'munich', T), at(7013, 'berlin', T + 5 * MIN, { entry_mode: 'MANUAL' })]),
    ).toEqual([]);
    // Voids and reversals follow the original attempt; they are no new presence.
    expect(
      feed(r, [at(7014, 'munich', T), at(7014, 'berlin', T + 5 * MIN, { transaction_type: 'REVERSAL' })]),
    ).toEqual([]);
  });

  it('compares only pairs within the window', () => {
    const { rule: r } = rule({ window: HOUR, max_speed_kmh: 100 });
    // 504 km in 2 h is 250 km/h, over 100 km/h, but the pair is 2 h apart.
    expect(feed(r, [at(7020, 'munich', T), at(7020, 'berlin', T + 2 * HOUR)])).toEqual([]);
  });

  it('stays quiet on a day of clean card traffic, travellers included', () => {
    const { rule: r } = rule();
    const day = cleanCardDay();
    const hits: Hit[] = [];
    let held = 0;
    for (const ev of day) {
      hits.push(...r.onTransaction(ev));
      r.expire(ev.request_time - 10_000);
      held = Math.max(held, r.size);
    }
    expect(hits).toEqual([]);
    // The rule did compare: hundreds of located attempts were held at once.
    expect(held).toBeGreaterThan(300);
  });

  it('deduplicates on event_id, keeps at most max_points_kept points per card, forgets them after the window', () => {
    const { rule: r } = rule({ max_points_kept: 3 });
    const visits = Array.from({ length: 10 }, (_, i) => at(7030, 'munich', T + i * 30 * MIN, {}, i % 4));
    feed(r, [...visits, ...visits]);
    expect(r.size).toBe(3);
    feed(r, [at(7031, 'hamburg', T)]);
    expect(r.size).toBe(4);
    r.expire(T + 9 * 30 * MIN + DEFAULTS.window + 1);
    expect(r.size).toBe(0);
  });

  it('follows a reloaded rules file: a faster limit lets the same trip pass', () => {
    const defs = CARD_RULE_DEFINITIONS;
    let set: RuleSet = defaultRules(defs);
    const r = new ImpossibleTravelRule(() => set.get(impossibleTravelRule));
    expect(feed(r, [at(7040, 'munich', T), at(7040, 'berlin', T + 30 * MIN)])).toHaveLength(1);
    set = parseRules('{"rules": {"impossible_travel": {"max_speed_kmh": 2000}}}', 'test', defs);
    expect(r.onTransaction(at(7040, 'berlin', T + 31 * MIN, {}, 1))).toEqual([]);
  });
});
