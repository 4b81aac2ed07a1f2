import { describe, expect, it } from 'vitest';
import { defaultRules, type SettingsOf } from '../../../../../../services/processor/detection/rules-file.ts';
import {
  CardTestingRule,
  cardTestingRule,
} from '../../../../../../services/processor/detection/rules/card-testing.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { sampleTransaction, transactionAt } from '../../../../../support/fixtures.ts';

type Settings = SettingsOf<typeof cardTestingRule>;

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const SERIAL = 'TRM-00011';
const CODES = ['05', '14', '51', '54'] as const;
const DEFAULTS = defaultRules([cardTestingRule]).get(cardTestingRule);

function rule(overrides: Partial<Settings> = {}) {
  const settings: { current: Settings } = { current: { ...DEFAULTS, ...overrides } };
  return { rule: new CardTestingRule(() => settings.current), settings };
}

/** The k-th card's token (64 hex digits, distinct per k). */
const tokenOf = (k: number): string => (k + 1).toString(16).padStart(8, '0').repeat(8);

let seq = 70_000;

/**
 * The k-th attempt of a card tester at SERIAL, at `t`: 1.00 EUR on card k (its own BIN), declined
 * with one of the codes card testing provokes.
 */
function probe(t: number, k: number, overrides: Partial<TransactionEvent> = {}): TransactionEvent {
  return transactionAt(seq++, t, t + 300, {
    terminal_serial: SERIAL,
    merchant_id: 'M3',
    region: 'east',
    acquirer_id: 'ACQ0',
    transaction_type: 'SALE',
    card_token: tokenOf(k),
    card_bin: String(400000 + k),
    card_last4: String(1000 + k),
    amount_minor: 100,
    status: 'DECLINED',
    response_code: CODES[k % CODES.length]!,
    ...overrides,
  });
}

/** `n` probes on distinct cards, `gap` apart from `t`. */
const burst = (n: number, t = T0, gap = 5 * SEC, overrides: Partial<TransactionEvent> = {}) =>
  Array.from({ length: n }, (_, k) => probe(t + k * gap, k, overrides));

function feed(r: CardTestingRule, events: readonly TransactionEvent[]) {
  return events.flatMap((ev) => r.onTransaction(ev));
}

describe('card_testing', () => {
  it('defaults to six small declines on five cards within five minutes, CRITICAL', () => {
    expect(DEFAULTS).toEqual({
      enabled: true,
      severity: 'CRITICAL',
      resolve_after: 600_000,
      window: 300_000,
      small_amount_minor: 500,
      decline_codes: ['05', '14', '51', '54'],
      min_declines: 6,
      min_cards: 5,
      min_attempts_for_bin: 10,
      bin_share: 0.8,
      bin_decline_share: 0.5,
      max_attempts_kept: 200,
    });
  });

  describe('small declines on many cards', () => {
    it('hits at the sixth small testing decline, with the burst as evidence', () => {
      const { rule: r } = rule();
      const events = burst(6);
      expect(feed(r, events.slice(0, 5))).toEqual([]);
      const hits = r.onTransaction(events[5]!);
      expect(hits).toEqual([
        {
          rule: 'card_testing',
          severity: 'CRITICAL',
          level: 'TERMINAL',
          entityId: SERIAL,
          windowStart: T0,
          windowEnd: T0 + 25 * SEC + 1,
          value: 6,
          threshold: 6,
          summary: `card testing at terminal ${SERIAL}: 6 small declines on 6 cards`,
          evidence: { pattern: 'small_declines', declines: '6', distinct_cards: '6', codes: '05,14,51,54' },
          eventIds: events.map((ev) => ev.event_id),
          labels: { terminal_serial: SERIAL, merchant_id: 'M3', region: 'east', acquirer_id: 'ACQ0' },
        },
      ]);
      for (const ev of events) expect(JSON.stringify(hits)).not.toContain(ev.card_token!);
    });

    it('keeps hitting while the burst goes on, naming only the codes it saw', () => {
      const { rule: r } = rule();
      const hits = feed(r, burst(8, T0, 5 * SEC, { response_code: '51' }));
      expect(hits.map((h) => h.value)).toEqual([6, 7, 8]);
      expect(hits.at(-1)!.evidence).toMatchObject({ declines: '8', codes: '51' });
    });

    it('needs the declines on at least min_cards distinct cards', () => {
      const { rule: r } = rule();
      // Six declines on four cards: a customer retrying, not a tester.
      const fourCards = [0, 1, 2, 3, 0, 1].map((k, n) => probe(T0 + n * SEC, k));
      expect(feed(r, fourCards)).toEqual([]);

      const { rule: r2 } = rule();
      const fiveCards = [0, 1, 2, 3, 4, 0].map((k, n) => probe(T0 + n * SEC, k));
      expect(feed(r2, fiveCards)).toMatchObject([{ evidence: { distinct_cards: '5', declines: '6' } }]);
    });

    it('counts an attempt at the small amount limit, not above it', () => {
      const { rule: r } = rule();
      expect(feed(r, burst(6, T0, SEC, { amount_minor: 500 }))).toHaveLength(1);
      const { rule: r2 } = rule();
      expect(feed(r2, burst(6, T0, SEC, { amount_minor: 501 }))).toEqual([]);
    });

    it.each<[string, Partial<TransactionEvent>]>([
      ['other decline codes', { response_code: '91' }],
      ['approvals', { status: 'APPROVED', response_code: '00' }],
      ['timeouts', { status: 'TIMEOUT', response_code: null }],
    ])('does not count %s', (_what, overrides) => {
      const { rule: r } = rule();
      expect(feed(r, burst(12, T0, SEC, overrides))).toEqual([]);
    });

    it.each(['REVERSAL', 'VOID'] as const)('ignores %s attempts altogether', (type) => {
      const { rule: r } = rule();
      expect(feed(r, burst(12, T0, SEC, { transaction_type: type }))).toEqual([]);
      expect(r.size).toBe(0);
    });

    it('ignores attempts without a card token', () => {
      const { rule: r } = rule();
      expect(feed(r, burst(12, T0, SEC, { card_token: null }))).toEqual([]);
      expect(r.size).toBe(0);
    });

    it('counts each terminal on its own', () => {
      // Ten probes on one terminal are a burst; five on each of two are not.
      const { rule: r } = rule();
      expect(feed(r, burst(10, T0, SEC))).not.toEqual([]);
      const { rule: r2 } = rule();
      const split = burst(10, T0, SEC).map((ev, n) => ({
        ...ev,
        terminal_serial: n % 2 === 0 ? SERIAL : 'TRM-00012',
      }));
      expect(feed(r2, split)).toEqual([]);
    });

    it('counts a redelivered attempt once', () => {
      const { rule: r } = rule();
      const events = burst(5);
      expect(feed(r, [...events, events[4]!, { ...events[0]! }])).toEqual([]);
      expect(r.size).toBe(5);
    });

    it('counts only the attempts within the window before the latest', () => {
      const { rule: r } = rule();
      // The first is exactly one window older than the sixth: out.
      expect(feed(r, burst(6, T0, MIN))).toEqual([]);
      const { rule: r2 } = rule();
      const [first, ...rest] = burst(6, T0, MIN);
      const inside = [{ ...first!, request_time: T0 + 1 }, ...rest];
      expect(feed(r2, inside)).toMatchObject([{ windowStart: T0 + 1, value: 6 }]);
    });

    it('lists the latest 20 attempts as evidence', () => {
      const { rule: r } = rule();
      const events = burst(25, T0, SEC);
      const last = feed(r, events).at(-1)!;
      expect(last.value).toBe(25);
      expect(last.eventIds).toEqual(events.slice(-20).map((ev) => ev.event_id));
      expect(last.windowStart).toBe(T0);
    });
  });

  describe('one BIN dominating', () => {
    /** `n` attempts of 50.00 EUR on distinct cards of one BIN, the first `declined` declined. */
    function binRun(n: number, declined: number, cards = n): TransactionEvent[] {
      return Array.from({ length: n }, (_, k) =>
        probe(T0 + k * 10 * SEC, k % cards, {
          amount_minor: 5000,
          card_bin: '535522',
          status: k < declined ? 'DECLINED' : 'APPROVED',
          response_code: k < declined ? '05' : '00',
        }),
      );
    }

    it('hits when one BIN makes the attempts, on many cards, mostly declined', () => {
      const { rule: r } = rule();
      const events = binRun(10, 5);
      expect(feed(r, events.slice(0, 9))).toEqual([]);
      expect(r.onTransaction(events[9]!)).toEqual([
        {
          rule: 'card_testing',
          severity: 'CRITICAL',
          level: 'TERMINAL',
          entityId: SERIAL,
          windowStart: T0,
          windowEnd: T0 + 90 * SEC + 1,
          value: 1,
          threshold: 0.8,
          summary: `card testing at terminal ${SERIAL}: BIN 535522 makes 1.00 of 10 attempts on 10 cards`,
          evidence: {
            pattern: 'bin_dominance',
            bin: '535522',
            bin_share: '1.00',
            distinct_cards: '10',
            decline_share: '0.50',
          },
          eventIds: events.map((ev) => ev.event_id),
          labels: { terminal_serial: SERIAL, merchant_id: 'M3', region: 'east', acquirer_id: 'ACQ0' },
        },
      ]);
    });

    it('needs the declined share of that BIN', () => {
      const { rule: r } = rule();
      expect(feed(r, binRun(10, 4))).toEqual([]);
    });

    it('needs the cards: one BIN on few cards is a regular customer', () => {
      const { rule: r } = rule();
      expect(feed(r, binRun(12, 12, 4))).toEqual([]);
    });

    it('needs the BIN to hold bin_share of the attempts', () => {
      const mixed = (others: number) =>
        binRun(10, 10).map((ev, k) =>
          k < others ? { ...ev, card_bin: `4${String(k).padStart(5, '0')}` } : ev,
        );
      const { rule: r } = rule();
      expect(feed(r, mixed(3))).toEqual([]);
      const { rule: r2 } = rule();
      expect(feed(r2, mixed(2))).toMatchObject([{ value: 0.8, evidence: { bin_share: '0.80' } }]);
    });
  });

  it('reads its settings at every attempt', () => {
    const { rule: r, settings } = rule({ min_declines: 3, min_cards: 2, severity: 'WARNING' });
    const hits = feed(r, burst(3));
    expect(hits).toMatchObject([{ value: 3, threshold: 3, severity: 'WARNING' }]);

    settings.current = { ...settings.current, decline_codes: ['91'], min_declines: 4 };
    // Declines with 91 count from now on; the three 05/14/51 ones already held still do.
    expect(feed(r, [probe(T0 + MIN, 10, { response_code: '91' })])).toMatchObject([{ value: 4 }]);
    expect(feed(r, [probe(T0 + MIN + SEC, 11, { response_code: '05' })])).toMatchObject([{ value: 4 }]);
  });

  it('keeps at most max_attempts_kept attempts per terminal', () => {
    const { rule: r } = rule({ max_attempts_kept: 10 });
    feed(r, burst(30, T0, SEC, { status: 'APPROVED', response_code: '00' }));
    expect(r.size).toBe(10);
    feed(r, [probe(T0, 0, { terminal_serial: 'TRM-00099', status: 'APPROVED', response_code: '00' })]);
    expect(r.size).toBe(11);
  });

  it('forgets attempts a window old at expiry, so they no longer count', () => {
    const { rule: r } = rule();
    const events = burst(6, T0, 10 * SEC);
    feed(r, events.slice(0, 5));
    expect(r.size).toBe(5);
    r.expire(T0 + 5 * MIN - 1);
    expect(r.size).toBe(5);
    r.expire(T0 + 5 * MIN);
    expect(r.size).toBe(4);
    r.expire(T0 + 6 * MIN);
    expect(r.size).toBe(0);
    // The sixth probe alone (its forgotten predecessors would have been in its window) is no hit.
    expect(r.onTransaction(events[5]!)).toEqual([]);
  });

  it('finds nothing in a fleet’s ordinary traffic', () => {
    const { rule: r } = rule();
    const events = Array.from({ length: 5000 }, (_, i) => sampleTransaction(i));
    // The traffic has what the rule looks at: small amounts, declines with 05, a single BIN.
    expect(events.some((ev) => ev.amount_minor <= 500)).toBe(true);
    expect(events.filter((ev) => ev.response_code === '05').length).toBeGreaterThan(100);
    expect(new Set(events.map((ev) => ev.card_bin))).toEqual(new Set(['411111']));

    expect(feed(r, events)).toEqual([]);
    // 250 attempts per terminal of the 20, each bounded by max_attempts_kept.
    expect(r.size).toBe(20 * 200);
    r.expire(events.at(-1)!.request_time);
    expect(r.size).toBeLessThan(20 * 200);
    expect(r.size).toBeGreaterThan(0);
  });
});
