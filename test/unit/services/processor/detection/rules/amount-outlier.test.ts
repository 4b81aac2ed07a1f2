import { describe, expect, it } from 'vitest';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  AmountOutlierRule,
  amountOutlierRule,
} from '../../../../../../services/processor/detection/rules/amount-outlier.ts';
import type { SettingsOf } from '../../../../../../services/processor/detection/rules-file.ts';
import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { transactionAt } from '../../../../../support/fixtures.ts';
import { DAY, HOUR, MONDAY, fleet, makeRandom, replay, traffic } from './fleet-traffic.ts';

type Settings = SettingsOf<typeof amountOutlierRule>;

function setup(overrides: Partial<Settings> = {}): {
  rule: AmountOutlierRule;
  set: (s: Partial<Settings>) => void;
} {
  let settings: Settings = { ...amountOutlierRule.defaults, ...overrides };
  const rule = new AmountOutlierRule(() => settings);
  return { rule, set: (s) => (settings = { ...settings, ...s }) };
}

const T0 = MONDAY + 10 * HOUR;
let seq = 0;

/** An approved sale of `amount` at merchant `merchant` (terminal TRM-<merchant>-<n % 3>). */
function sale(merchant: string, amount: number, overrides: Partial<TransactionEvent> = {}): TransactionEvent {
  seq += 1;
  const t = T0 + seq * 30_000;
  return transactionAt(seq, t, t + 400, {
    event_id: `a0000000-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`,
    merchant_id: merchant,
    terminal_serial: `TRM-${merchant}-${seq % 3}`,
    transaction_type: 'SALE',
    status: 'APPROVED',
    currency: 'EUR',
    amount_minor: amount,
    ...overrides,
  });
}

/** `n` log-normal amounts around `median` (deterministic). */
function amounts(n: number, median: number, sigma: number, seed = 1): number[] {
  const rnd = makeRandom(seed);
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    return Math.max(1, Math.round(median * Math.exp(sigma * z)));
  });
}

function feed(rule: AmountOutlierRule, events: readonly TransactionEvent[]): Hit[] {
  return events.flatMap((ev) => rule.onTransaction(ev));
}

describe('AmountOutlierRule', () => {
  it("fires on an approved sale a hundred times the merchant's median, naming the terminal", () => {
    const { rule } = setup();
    expect(
      feed(
        rule,
        amounts(80, 2_000, 0.5).map((a) => sale('M1', a)),
      ),
    ).toEqual([]);
    const big = sale('M1', 200_000);
    const [hit, ...rest] = rule.onTransaction(big);
    expect(rest).toEqual([]);
    expect(hit).toMatchObject({
      rule: 'amount_outlier',
      severity: 'WARNING',
      level: 'TERMINAL',
      entityId: big.terminal_serial,
      windowStart: big.request_time,
      windowEnd: big.request_time + 1,
      threshold: 5,
      eventIds: [big.event_id],
      labels: { terminal_serial: big.terminal_serial, merchant_id: 'M1' },
    });
    expect(hit!.value!).toBeGreaterThan(5);
    expect(Number(hit!.evidence['median_minor'])).toBeGreaterThan(1_500);
    expect(Number(hit!.evidence['median_minor'])).toBeLessThan(2_500);
    expect(hit!.evidence).toMatchObject({ samples: '80', scale: 'log', currency: 'EUR' });
  });

  it('judges nothing before min_samples sales of the merchant in that currency were seen', () => {
    const { rule } = setup();
    feed(
      rule,
      amounts(49, 2_000, 0.5).map((a) => sale('M2', a)),
    );
    expect(rule.onTransaction(sale('M2', 500_000))).toEqual([]);
    // The euro baseline does not judge dollars.
    feed(
      rule,
      amounts(60, 2_000, 0.5).map((a) => sale('M3', a)),
    );
    expect(rule.onTransaction(sale('M3', 500_000, { currency: 'USD' }))).toEqual([]);
    expect(rule.onTransaction(sale('M3', 500_000))).toHaveLength(1);
  });

  it('ignores declined attempts and types it does not watch', () => {
    const { rule } = setup();
    feed(
      rule,
      amounts(60, 2_000, 0.5).map((a) => sale('M4', a)),
    );
    expect(rule.onTransaction(sale('M4', 900_000, { status: 'DECLINED' }))).toEqual([]);
    expect(rule.onTransaction(sale('M4', 900_000, { transaction_type: 'REFUND' }))).toEqual([]);
    expect(rule.size).toBe(60);
  });

  it('falls back to the relative rule when every sale has the same price (MAD 0)', () => {
    const { rule } = setup();
    feed(
      rule,
      Array.from({ length: 60 }, () => sale('PARK', 500)),
    );
    expect(rule.onTransaction(sale('PARK', 4_500))).toEqual([]);
    const [hit] = rule.onTransaction(sale('PARK', 5_000));
    expect(hit?.evidence).toMatchObject({ mad: '0.000', factor: '10.0', median_minor: '500' });
  });

  it('applies reloaded settings: the linear score, another min_factor, fewer samples', () => {
    const { rule, set } = setup();
    const spread = Array.from({ length: 100 }, (_, i) => 1_000 + i * 20); // 1000..2980, median ~2000
    feed(
      rule,
      spread.map((a) => sale('M5', a)),
    );
    expect(rule.onTransaction(sale('M5', 7_000))).toEqual([]);

    set({ scale: 'linear', z: 6, min_factor: 3 });
    const [hit] = rule.onTransaction(sale('M5', 7_000));
    expect(hit?.evidence['scale']).toBe('linear');
    expect(hit!.value!).toBeGreaterThan(6);

    set({ max_samples: 20 });
    rule.onTransaction(sale('M5', 2_000));
    expect(rule.size).toBe(20);
  });

  it('stays quiet on three days of a realistic fleet, then flags a maxed-out card at one of its tills', () => {
    const terminals = fleet(24);
    const events = traffic(terminals, MONDAY, 72);
    const { rule } = setup();
    const hits: Hit[] = [];
    replay(
      events,
      (ev) => hits.push(...rule.onTransaction(ev)),
      (now) => rule.expire(now),
    );
    expect(hits).toEqual([]);

    const t = terminals[4]!;
    const at = MONDAY + 3 * DAY + 12 * HOUR;
    const [hit] = rule.onTransaction({
      ...events.find((e) => e.terminal_serial === t.serial)!,
      event_id: 'a0000000-0000-4000-8000-ffffffffffff',
      status: 'APPROVED',
      transaction_type: 'SALE',
      amount_minor: t.medianMinor * 150,
      request_time: at,
      gateway_received_time: at + 500,
    });
    expect(hit?.entityId).toBe(t.serial);
  });

  it('keeps at most max_samples amounts per merchant and forgets merchants without sales for forget_after', () => {
    const { rule } = setup({ max_samples: 40 });
    feed(
      rule,
      amounts(100, 2_000, 0.5).map((a) => sale('M6', a)),
    );
    feed(
      rule,
      amounts(10, 2_000, 0.5).map((a) => sale('M7', a)),
    );
    expect(rule.size).toBe(50);
    const last = T0 + seq * 30_000 + 400;
    rule.expire(last + HOUR);
    expect(rule.size).toBe(50);
    rule.expire(last + amountOutlierRule.defaults.forget_after);
    expect(rule.size).toBe(0);
  });
});
