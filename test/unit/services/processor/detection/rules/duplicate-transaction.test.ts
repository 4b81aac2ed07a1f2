import { describe, expect, it } from 'vitest';
import { defaultRules, type SettingsOf } from '../../../../../../services/processor/detection/rules-file.ts';
import {
  DuplicateTransactionRule,
  duplicateTransactionRule,
} from '../../../../../../services/processor/detection/rules/duplicate-transaction.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { sampleTransaction, transactionAt } from '../../../../../support/fixtures.ts';

type Settings = SettingsOf<typeof duplicateTransactionRule>;

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const SERIAL = 'TRM-00003';
const TOKEN = 'ab12'.repeat(16);
const DEFAULTS = defaultRules([duplicateTransactionRule]).get(duplicateTransactionRule);

/** A rule whose settings the test may change while it runs. */
function rule(overrides: Partial<Settings> = {}) {
  const settings: { current: Settings } = { current: { ...DEFAULTS, ...overrides } };
  return { rule: new DuplicateTransactionRule(() => settings.current), settings };
}

let seq = 50_000;

/** An approved 12.50 EUR sale on one card at SERIAL, requested at `t`. */
function charge(t: number, overrides: Partial<TransactionEvent> = {}): TransactionEvent {
  return transactionAt(seq++, t, t + 300, {
    terminal_serial: SERIAL,
    merchant_id: 'M2',
    region: 'south',
    acquirer_id: 'ACQ1',
    card_token: TOKEN,
    card_bin: '411111',
    card_last4: '4242',
    amount_minor: 1250,
    currency: 'EUR',
    transaction_type: 'SALE',
    status: 'APPROVED',
    response_code: '00',
    ...overrides,
  });
}

function feed(r: DuplicateTransactionRule, events: readonly TransactionEvent[]) {
  return events.flatMap((ev) => r.onTransaction(ev));
}

describe('duplicate_transaction', () => {
  it('defaults to two approved copies within a minute, as a WARNING resolving after five quiet minutes', () => {
    expect(DEFAULTS).toEqual({
      enabled: true,
      severity: 'WARNING',
      resolve_after: 300_000,
      window: 60_000,
      min_copies: 2,
    });
  });

  it('hits at the second approved copy of a charge on one card, with the copies as evidence', () => {
    const { rule: r } = rule();
    const first = charge(T0);
    const second = charge(T0 + 12 * SEC);
    expect(r.onTransaction(first)).toEqual([]);
    const hits = r.onTransaction(second);
    expect(hits).toEqual([
      {
        rule: 'duplicate_transaction',
        severity: 'WARNING',
        level: 'TERMINAL',
        entityId: SERIAL,
        windowStart: T0,
        windowEnd: T0 + 12 * SEC + 1,
        value: 2,
        threshold: 2,
        summary: `2 approved SALE of 1250 EUR on one card within 12 s at terminal ${SERIAL}`,
        evidence: {
          card: '411111…4242',
          card_token_prefix: TOKEN.slice(0, 12),
          amount_minor: '1250',
          currency: 'EUR',
          copies: '2',
        },
        eventIds: [first.event_id, second.event_id],
        labels: { terminal_serial: SERIAL, merchant_id: 'M2', region: 'south', acquirer_id: 'ACQ1' },
      },
    ]);
    // Evidence names the card by BIN and last 4 and a token prefix, never the whole token.
    expect(JSON.stringify(hits)).not.toContain(TOKEN);
  });

  it('counts copies exactly one window apart, not further', () => {
    const { rule: r } = rule();
    expect(feed(r, [charge(T0), charge(T0 + 60 * SEC)])).toHaveLength(1);
    const { rule: r2 } = rule();
    expect(feed(r2, [charge(T0), charge(T0 + 60 * SEC + 1)])).toEqual([]);
  });

  it.each<[string, Partial<TransactionEvent>]>([
    ['another amount', { amount_minor: 1251 }],
    ['another currency', { currency: 'USD' }],
    ['another card', { card_token: 'cd34'.repeat(16) }],
    ['another transaction type', { transaction_type: 'PRE_AUTH' }],
    ['another terminal', { terminal_serial: 'TRM-00004' }],
    ['a declined second attempt', { status: 'DECLINED', response_code: '05' }],
    ['a timed-out second attempt', { status: 'TIMEOUT', response_code: null }],
    ['no card token', { card_token: null }],
  ])('does not count %s as a copy', (_what, overrides) => {
    const { rule: r } = rule();
    expect(feed(r, [charge(T0), charge(T0 + 5 * SEC, overrides)])).toEqual([]);
  });

  it.each(['VOID', 'REVERSAL', 'BALANCE_INQUIRY'] as const)(
    'ignores %s, which repeat amounts legitimately',
    (type) => {
      const { rule: r } = rule();
      expect(
        feed(
          r,
          [0, 1, 2].map((k) => charge(T0 + k * SEC, { transaction_type: type })),
        ),
      ).toEqual([]);
      expect(r.size).toBe(0);
    },
  );

  it.each(['SALE', 'PRE_AUTH', 'COMPLETION', 'REFUND'] as const)('counts repeated %s charges', (type) => {
    const { rule: r } = rule();
    expect(
      feed(r, [charge(T0, { transaction_type: type }), charge(T0 + SEC, { transaction_type: type })]),
    ).toHaveLength(1);
  });

  it('counts a redelivered event once', () => {
    const { rule: r } = rule();
    const ev = charge(T0);
    expect(feed(r, [ev, ev, { ...ev }])).toEqual([]);
    expect(r.size).toBe(1);
  });

  it('finds a copy that arrives before an earlier one', () => {
    const { rule: r } = rule();
    const [hit] = feed(r, [charge(T0 + 30 * SEC), charge(T0)]);
    expect(hit).toMatchObject({ windowStart: T0, windowEnd: T0 + 30 * SEC + 1 });
  });

  it('keeps hitting, with every copy in the window, as more copies come', () => {
    const { rule: r } = rule();
    const hits = feed(r, [charge(T0), charge(T0 + SEC), charge(T0 + 2 * SEC)]);
    expect(hits.map((h) => h.value)).toEqual([2, 3]);
    expect(hits[1]).toMatchObject({
      windowStart: T0,
      windowEnd: T0 + 2 * SEC + 1,
      evidence: { copies: '3' },
    });
    expect(hits[1]!.eventIds).toHaveLength(3);
  });

  it('lists at most 20 events as evidence', () => {
    const { rule: r } = rule();
    const hits = feed(
      r,
      Array.from({ length: 25 }, (_, k) => charge(T0 + k * SEC)),
    );
    expect(hits.at(-1)).toMatchObject({ value: 25 });
    expect(hits.at(-1)!.eventIds).toHaveLength(20);
  });

  it('takes min_copies and severity from its settings, read at every event', () => {
    const { rule: r, settings } = rule({ min_copies: 3, severity: 'CRITICAL' });
    expect(feed(r, [charge(T0), charge(T0 + SEC)])).toEqual([]);
    const [hit] = feed(r, [charge(T0 + 2 * SEC)]);
    expect(hit).toMatchObject({ value: 3, threshold: 3, severity: 'CRITICAL' });

    settings.current = { ...settings.current, min_copies: 5, window: 10 * SEC };
    expect(feed(r, [charge(T0 + 3 * SEC)])).toEqual([]);
    expect(feed(r, [charge(T0 + 4 * SEC)])).toMatchObject([{ value: 5, threshold: 5 }]);
  });

  it('forgets copies older than the window at expiry, and only those', () => {
    const { rule: r } = rule();
    r.onTransaction(charge(T0));
    r.onTransaction(charge(T0, { terminal_serial: 'TRM-00005' }));
    r.onTransaction(charge(T0 + 30 * SEC, { amount_minor: 99 }));
    expect(r.size).toBe(3);

    r.expire(T0 + 60 * SEC);
    expect(r.size).toBe(3);
    r.expire(T0 + 60 * SEC + 1);
    expect(r.size).toBe(1);
    // The forgotten copy no longer pairs with a new one.
    expect(feed(r, [charge(T0 + 50 * SEC)])).toEqual([]);
    r.expire(T0 + 10 * 60 * SEC);
    expect(r.size).toBe(0);
  });

  it('finds nothing in a fleet’s ordinary traffic', () => {
    const { rule: r } = rule();
    const events = Array.from({ length: 5000 }, (_, i) => sampleTransaction(i));
    expect(feed(r, events)).toEqual([]);
    const charges = events.filter(
      (ev) => ev.status === 'APPROVED' && ev.card_token !== null && ev.transaction_type !== 'VOID',
    );
    expect(r.size).toBe(charges.length);
    r.expire(events.at(-1)!.request_time);
    expect(r.size).toBeLessThan(charges.length);
    expect(r.size).toBeGreaterThan(0);
  });
});
