import { describe, expect, it } from 'vitest';
import { CARD_RULE_DEFINITIONS } from '../../../../../../services/processor/detection/card-rules/index.ts';
import {
  VelocityRule,
  velocityRule,
} from '../../../../../../services/processor/detection/card-rules/velocity.ts';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  defaultRules,
  parseRules,
  type RuleSet,
  type SettingsOf,
} from '../../../../../../services/processor/detection/rules-file.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { DAY0, HOUR, MIN, SEC, attempt, cleanCardDay, merchants, tokenOf } from './card-traffic.ts';

type Settings = SettingsOf<typeof velocityRule>;
const DEFAULTS = defaultRules([velocityRule]).get(velocityRule);
const T = DAY0 + 10 * HOUR;
const shops = merchants();

function rule(overrides: Partial<Settings> = {}) {
  const settings: { current: Settings } = { current: { ...DEFAULTS, ...overrides } };
  return { rule: new VelocityRule(() => settings.current), settings };
}

const feed = (r: VelocityRule, events: readonly TransactionEvent[]): Hit[] =>
  events.flatMap((e) => r.onTransaction(e));

/** Card `card` at `n` terminals, two per merchant, `gap` apart from `t`. */
function ring(n: number, t = T, gap = 30 * SEC, card = 9001): TransactionEvent[] {
  return Array.from({ length: n }, (_, i) => attempt(card, shops[i >> 1]!, i & 1, t + i * gap));
}

/** Card `card` at one terminal each of `n` merchants, `gap` apart from `t`. */
function spree(n: number, t = T, gap = 30 * SEC, card = 9006): TransactionEvent[] {
  return Array.from({ length: n }, (_, i) => attempt(card, shops[i * 3]!, 0, t + i * gap));
}

describe('velocity rule', () => {
  it('fires when one card is used at more terminals than max_terminals within the window', () => {
    const { rule: r } = rule();
    const events = ring(6);
    const hits = feed(r, events);
    expect(hits.length).toBeGreaterThan(0);
    const first = hits[0]!;
    expect(first).toMatchObject({
      rule: 'velocity',
      severity: 'CRITICAL',
      level: 'CARD',
      entityId: tokenOf(9001),
      value: 5,
      threshold: 4,
      windowStart: events[0]!.request_time,
      windowEnd: events[4]!.request_time + 1,
    });
    expect(first.evidence).toMatchObject({
      measure: 'terminals',
      attempts: '5',
      distinct_terminals: '5',
      distinct_merchants: '3',
      card: `${events[0]!.card_bin}…${events[0]!.card_last4}`,
    });
    expect(first.eventIds).toEqual(events.slice(0, 5).map((e) => e.event_id));
    // Routing labels: where the pattern completed, and the card's BIN; never the token.
    expect(first.labels).toMatchObject({
      merchant_id: events[4]!.merchant_id,
      card_bin: events[0]!.card_bin,
    });
    expect(JSON.stringify(first.evidence)).not.toContain(tokenOf(9001));
  });

  it('fires on too many merchants, and on too many attempts at one terminal', () => {
    const { rule: merchantsRule } = rule();
    const [hit] = feed(merchantsRule, spree(4));
    expect(hit?.evidence['measure']).toBe('merchants');
    expect([hit?.value, hit?.threshold]).toEqual([4, 3]);

    const { rule: attemptsRule } = rule();
    const m = shops[0]!;
    const retries = Array.from({ length: 11 }, (_, i) =>
      attempt(9002, m, 0, T + i * 40 * SEC, { status: 'DECLINED', response_code: '05', auth_code: null }),
    );
    const hits = feed(attemptsRule, retries);
    expect(hits).toHaveLength(1);
    expect(hits[0]!.evidence).toMatchObject({ measure: 'attempts', attempts: '11', declined: '11' });
    expect([hits[0]!.value, hits[0]!.threshold]).toEqual([11, 10]);
  });

  it('finds the pattern whatever order the attempts arrive in', () => {
    const events = ring(5);
    for (const order of [
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
      [0, 4, 1, 3, 2],
    ]) {
      const { rule: r } = rule();
      const hits = order.map((i) => r.onTransaction(events[i]!));
      expect(hits.slice(0, 4).flat(), `order ${order.join()}`).toEqual([]);
      expect(hits[4], `order ${order.join()}`).toHaveLength(1);
      expect(hits[4]![0]!.windowStart).toBe(events[0]!.request_time);
    }
  });

  it('judges spans of the window only: the same terminals spread over more than the window are quiet', () => {
    const { rule: r } = rule();
    expect(feed(r, ring(8, T, 3 * MIN))).toEqual([]);
    // …but four of them within 10 minutes plus a fifth is a ring again.
    expect(feed(r, ring(5, T + HOUR, 2 * MIN, 9003)).length).toBeGreaterThan(0);
  });

  it('deduplicates on event_id: a republished attempt counts once', () => {
    const { rule: r } = rule();
    const events = ring(4);
    expect(feed(r, [...events, ...events, events[2]!])).toEqual([]);
    expect(r.size).toBe(4);
  });

  it('ignores refunds, voids, reversals and attempts without a card token', () => {
    const { rule: r } = rule();
    const events = ring(8).map((e, i) => ({
      ...e,
      ...(i % 4 === 0
        ? { transaction_type: 'REFUND' as const }
        : i % 4 === 1
          ? { transaction_type: 'VOID' as const }
          : i % 4 === 2
            ? { transaction_type: 'REVERSAL' as const }
            : { card_token: null }),
    }));
    expect(feed(r, events)).toEqual([]);
    expect(r.size).toBe(0);
  });

  it('stays quiet on a day of clean card traffic', () => {
    const { rule: r } = rule();
    const day = cleanCardDay();
    const hits: Hit[] = [];
    for (const ev of day) {
      hits.push(...r.onTransaction(ev));
      r.expire(ev.request_time - 5 * SEC);
    }
    expect(day.length).toBeGreaterThan(900);
    expect(hits).toEqual([]);
  });

  it('keeps at most max_attempts_kept attempts per card and forgets them once the window passed', () => {
    const { rule: r } = rule({ max_attempts_kept: 8, max_attempts: 1000 });
    const m = shops[0]!;
    feed(
      r,
      Array.from({ length: 50 }, (_, i) => attempt(9004, m, 0, T + i * SEC)),
    );
    feed(r, ring(3, T, SEC, 9005));
    expect(r.size).toBe(8 + 3);
    r.expire(T + 50 * SEC + DEFAULTS.window);
    expect(r.size).toBe(0);
    // Nothing of the forgotten attempts is counted any more.
    expect(feed(r, ring(3, T + 2 * HOUR, SEC, 9005))).toEqual([]);
  });

  it('follows a reloaded rules file: the same attempts hit once the limit is lowered', () => {
    const defs = CARD_RULE_DEFINITIONS;
    let set: RuleSet = defaultRules(defs);
    const r = new VelocityRule(() => set.get(velocityRule));
    expect(feed(r, ring(3))).toEqual([]);
    set = parseRules('{"rules": {"velocity": {"max_terminals": 2, "window": "15m"}}}', 'test', defs);
    const hits = r.onTransaction(ring(4)[3]!);
    expect(hits).toHaveLength(1);
    expect([hits[0]!.value, hits[0]!.threshold]).toEqual([4, 2]);
  });
});
