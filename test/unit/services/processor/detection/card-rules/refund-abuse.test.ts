import { describe, expect, it } from 'vitest';
import { CARD_RULE_DEFINITIONS } from '../../../../../../services/processor/detection/card-rules/index.ts';
import {
  RefundAbuseRule,
  refundAbuseRule,
} from '../../../../../../services/processor/detection/card-rules/refund-abuse.ts';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  defaultRules,
  parseRules,
  type RuleSet,
  type SettingsOf,
} from '../../../../../../services/processor/detection/rules-file.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { DAY, DAY0, HOUR, MIN, attempt, cleanCardDay, merchants, tokenOf } from './card-traffic.ts';

type Settings = SettingsOf<typeof refundAbuseRule>;
const DEFAULTS = defaultRules([refundAbuseRule]).get(refundAbuseRule);
const T = DAY0 + 10 * HOUR;
const shops = merchants();
const [A, B, C] = [shops[0]!, shops[1]!, shops[2]!];

/** A rule whose history is complete from long before T (so every refund can be judged). */
function rule(overrides: Partial<Settings> = {}, historyFrom = T - 30 * DAY) {
  const settings: { current: Settings } = { current: { ...DEFAULTS, ...overrides } };
  const r = new RefundAbuseRule(() => settings.current);
  r.historyFrom(historyFrom);
  return { rule: r, settings };
}

const feed = (r: RefundAbuseRule, events: readonly TransactionEvent[]): Hit[] =>
  events.flatMap((e) => r.onTransaction(e));

const sale = (card: number, m: typeof A, t: number, amount: number, o: Partial<TransactionEvent> = {}) =>
  attempt(card, m, 0, t, { amount_minor: amount, ...o });
const refund = (card: number, m: typeof A, t: number, amount: number, o: Partial<TransactionEvent> = {}) =>
  attempt(card, m, 1, t, { amount_minor: amount, transaction_type: 'REFUND', ...o });

describe('refund_abuse rule', () => {
  it('passes refunds that a sale of the card at the merchant explains, partial ones included', () => {
    const { rule: r } = rule();
    expect(
      feed(r, [
        sale(5001, A, T, 4_000),
        refund(5001, A, T + 2 * DAY, 4_000),
        sale(5002, B, T, 9_999, { transaction_type: 'COMPLETION' }),
        refund(5002, B, T + HOUR, 1_500),
      ]),
    ).toEqual([]);
  });

  it('fires on a refund without a matching sale: none, elsewhere, smaller, another currency, declined, too old', () => {
    const { rule: r } = rule();
    const cases: [number, TransactionEvent[]][] = [
      [5010, [refund(5010, A, T, 2_000)]],
      [5011, [sale(5011, B, T, 5_000), refund(5011, A, T + HOUR, 2_000)]],
      [5012, [sale(5012, A, T, 1_000), refund(5012, A, T + HOUR, 2_000)]],
      [5013, [sale(5013, A, T, 5_000, { currency: 'USD' }), refund(5013, A, T + HOUR, 2_000)]],
      [5014, [sale(5014, A, T, 5_000, { status: 'DECLINED' }), refund(5014, A, T + HOUR, 2_000)]],
      [5015, [sale(5015, A, T - 8 * DAY, 5_000), refund(5015, A, T, 2_000)]],
      // A sale after the refund does not explain it.
      [5016, [sale(5016, A, T + HOUR, 5_000), refund(5016, A, T, 2_000)]],
    ];
    for (const [card, events] of cases) {
      const hits = feed(r, events);
      expect(hits, `card ${card}`).toHaveLength(1);
      const refundEv = events.find((e) => e.transaction_type === 'REFUND')!;
      expect(hits[0], `card ${card}`).toMatchObject({
        rule: 'refund_abuse',
        severity: 'WARNING',
        level: 'CARD',
        entityId: tokenOf(card),
        value: 2_000,
        threshold: null,
        windowEnd: refundEv.request_time + 1,
        eventIds: [refundEv.event_id],
      });
      expect(hits[0]!.evidence).toMatchObject({
        pattern: 'unmatched_refund',
        merchant_id: A.id,
        currency: 'EUR',
      });
    }
  });

  it('ignores refunds that were not approved', () => {
    const { rule: r } = rule();
    expect(feed(r, [refund(5020, A, T, 2_000, { status: 'DECLINED', response_code: '05' })])).toEqual([]);
    expect(feed(r, [refund(5021, A, T, 2_000, { status: 'TIMEOUT', response_code: null })])).toEqual([]);
  });

  it('fires when a card gets more than max_refunds refunds within the window, explained or not', () => {
    const { rule: r } = rule();
    const events = [C, A, B, C].flatMap((m, i) => [
      sale(5030, m, T + i * HOUR, 10_000),
      refund(5030, m, T + i * HOUR + 10 * MIN, 3_000),
    ]);
    const hits = feed(r, events);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ value: 4, threshold: 3, windowStart: T + 10 * MIN });
    expect(hits[0]!.evidence).toMatchObject({ pattern: 'refund_burst', refunds: '4' });
    expect(hits[0]!.evidence['merchants']!.split(',').sort()).toEqual([A.id, B.id, C.id].sort());
    // Four refunds spread over more than a day are no burst.
    const { rule: spread } = rule();
    const slow = [A, B, C, A].flatMap((m, i) => [
      sale(5031, m, T + i * 9 * HOUR, 10_000),
      refund(5031, m, T + i * 9 * HOUR + MIN, 3_000),
    ]);
    expect(feed(spread, slow)).toEqual([]);
  });

  it('does not judge a refund its memory cannot vouch for, and asks the transactions table instead', () => {
    // History only from an hour before the refund: a sale days earlier may exist unseen.
    const { rule: r } = rule({}, T - HOUR);
    const late = refund(5040, A, T, 2_000);
    const lookups = r.lookups([late]);
    expect(lookups).toEqual([
      {
        eventId: late.event_id,
        cardToken: tokenOf(5040),
        merchantId: A.id,
        currency: 'EUR',
        minAmountMinor: 2_000,
        from: T - DEFAULTS.lookback,
        to: T,
      },
    ]);
    // Unanswered: no judgement.
    expect(r.onTransaction(late)).toEqual([]);

    const unexplained = refund(5041, A, T, 2_000);
    r.lookups([unexplained]);
    r.answer(unexplained.event_id, false);
    expect(r.onTransaction(unexplained)).toHaveLength(1);

    const explained = refund(5042, A, T, 2_000);
    r.lookups([explained]);
    r.answer(explained.event_id, true);
    expect(r.onTransaction(explained)).toEqual([]);
  });

  it('asks nothing about refunds its memory explains or covers', () => {
    const { rule: covered } = rule();
    expect(covered.lookups([refund(5050, A, T, 2_000)])).toEqual([]);
    const { rule: partial } = rule({}, T - HOUR);
    feed(partial, [sale(5051, A, T - 10 * MIN, 5_000)]);
    expect(partial.lookups([refund(5051, A, T, 2_000), sale(5052, A, T, 100)])).toEqual([]);
  });

  it('stops vouching for a card whose older sales were dropped for room', () => {
    const { rule: r } = rule({ max_sales_kept: 2 });
    feed(r, [sale(5060, A, T, 5_000), sale(5060, B, T + HOUR, 5_000), sale(5060, C, T + 2 * HOUR, 5_000)]);
    expect(r.size).toBe(2);
    // The sale at A was dropped: the memory cannot tell, so it asks rather than fires.
    const ref = refund(5060, A, T + 3 * HOUR, 1_000);
    expect(r.lookups([ref])).toHaveLength(1);
    expect(r.onTransaction(ref)).toEqual([]);
    // A refund the kept sale at C explains needs no question.
    const atC = refund(5060, C, T + 3 * HOUR, 1_000);
    expect(r.lookups([atC])).toEqual([]);
    expect(r.onTransaction(atC)).toEqual([]);
  });

  it('stays quiet on a day of clean card traffic with returns', () => {
    const { rule: r } = rule();
    const day = cleanCardDay();
    expect(day.filter((e) => e.transaction_type === 'REFUND').length).toBeGreaterThan(20);
    const hits: Hit[] = [];
    for (const ev of day) {
      hits.push(...r.onTransaction(ev));
      r.expire(ev.request_time - 10_000);
    }
    expect(hits).toEqual([]);
  });

  it('deduplicates republished events and forgets sales after sales_memory, refunds after the window', () => {
    const { rule: r } = rule({ sales_memory: 2 * DAY });
    const events = [sale(5070, A, T, 5_000), refund(5070, A, T + HOUR, 1_000)];
    expect(feed(r, [...events, ...events, ...events])).toEqual([]);
    expect(r.size).toBe(2);
    r.expire(T + HOUR + DEFAULTS.window);
    expect(r.size).toBe(1);
    r.expire(T + 2 * DAY + 1);
    expect(r.size).toBe(0);
  });

  it('once sales older than sales_memory are forgotten, asks the table about refunds reaching back further', () => {
    const { rule: r } = rule();
    feed(r, [sale(5090, A, T, 5_000)]);
    r.expire(T + DAY + HOUR);
    // A refund two days after the sale: memory no longer holds it, and says it cannot tell.
    const late = refund(5090, A, T + 2 * DAY, 5_000);
    expect(r.lookups([late])).toHaveLength(1);
    expect(r.onTransaction(late)).toEqual([]);
    // A refund whose lookback memory still covers (sales_memory as long as the lookback) is judged.
    const { rule: long } = rule({ sales_memory: DEFAULTS.lookback });
    long.expire(T + DAY);
    expect(feed(long, [refund(5091, A, T + DAY, 5_000)])).toHaveLength(1);
  });

  it('follows a reloaded rules file', () => {
    const defs = CARD_RULE_DEFINITIONS;
    let set: RuleSet = defaultRules(defs);
    const r = new RefundAbuseRule(() => set.get(refundAbuseRule));
    r.historyFrom(T - 30 * DAY);
    const twoRefunds = [A, B].flatMap((m, i) => [
      sale(5080, m, T + i * HOUR, 10_000),
      refund(5080, m, T + i * HOUR + MIN, 1_000),
    ]);
    expect(feed(r, twoRefunds)).toEqual([]);
    set = parseRules('{"rules": {"refund_abuse": {"max_refunds": 1, "window": "12h"}}}', 'test', defs);
    const third = [sale(5080, C, T + 3 * HOUR, 10_000), refund(5080, C, T + 3 * HOUR + MIN, 1_000)];
    const hits = feed(r, third);
    expect(hits).toHaveLength(1);
    expect([hits[0]!.value, hits[0]!.threshold]).toEqual([3, 1]);
  });
});
