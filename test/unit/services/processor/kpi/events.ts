import fc from 'fast-check';
import type {
  CurrencyAmount,
  EntryMode,
  PaymentMethod,
  TransactionEvent,
  TransactionStatus,
  TransactionType,
} from '../../../../../services/shared/avro/types.generated.ts';

/** Shared by the KPI tests: a generator of plausible transactions and a naive KPI recomputation. */

export const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
export const MINUTE = 60_000;

const STATUSES: TransactionStatus[] = ['APPROVED', 'DECLINED', 'TIMEOUT', 'CANCELLED', 'ERROR', 'UNKNOWN'];
const TYPES: TransactionType[] = [
  'SALE',
  'REFUND',
  'VOID',
  'PRE_AUTH',
  'COMPLETION',
  'BALANCE_INQUIRY',
  'REVERSAL',
];
const METHODS: PaymentMethod[] = ['CREDIT', 'DEBIT', 'EWALLET_QR', 'CONTACTLESS', 'PREPAID', 'UNKNOWN'];
const MODES: EntryMode[] = ['CHIP', 'CONTACTLESS', 'SWIPE', 'MANUAL', 'FALLBACK', 'UNKNOWN'];

let serial = 0;

/** A transaction with the given shape; everything the KPIs do not read is fixed. */
export function tx(fields: Partial<TransactionEvent> & { request_time: number }): TransactionEvent {
  serial += 1;
  return {
    event_id: `00000000-0000-4000-8000-${serial.toString(16).padStart(12, '0')}`,
    terminal_serial: 'T1',
    merchant_id: 'M1',
    merchant_name: 'Shop',
    acquirer_id: 'A1',
    gateway_id: 'gw-1',
    region: 'north',
    latitude: null,
    longitude: null,
    mcc: '5411',
    cashier_id: null,
    transaction_type: 'SALE',
    payment_method: 'CREDIT',
    entry_mode: 'CHIP',
    amount_minor: 1000,
    currency: 'EUR',
    card_token: 'c1',
    card_token_key_id: 'k1',
    card_bin: '411111',
    card_last4: '1111',
    response_code: '00',
    response_message: null,
    auth_code: null,
    status: 'APPROVED',
    response_time: fields.request_time + 100,
    stan: null,
    rrn: null,
    ingest_channel: 'HTTP',
    gateway_received_time: fields.request_time + 200,
    basket: null,
    ...fields,
  };
}

export interface EventShape {
  /** Request times are drawn from [T0, T0 + spanMs). */
  spanMs?: number;
}

/** Transactions of a small fleet over a few minutes; gateway_received_time = request_time + [0, 2 s]. */
export function eventArb(shape: EventShape = {}): fc.Arbitrary<TransactionEvent> {
  const spanMs = shape.spanMs ?? 3 * MINUTE;
  return fc
    .record({
      t: fc.integer({ min: 0, max: spanMs - 1 }),
      terminal: fc.integer({ min: 0, max: 5 }),
      region: fc.constantFrom('north', 'south'),
      acquirer: fc.constantFrom('A1', 'A2'),
      type: fc.constantFrom(...TYPES),
      method: fc.constantFrom(...METHODS),
      mode: fc.constantFrom(...MODES),
      status: fc.constantFrom(...STATUSES),
      code: fc.option(fc.constantFrom('05', '51', '14', '91'), { nil: null }),
      amount: fc.integer({ min: -5_000, max: 1_000_000 }),
      currency: fc.constantFrom('EUR', 'USD', 'CHF'),
      card: fc.option(fc.integer({ min: 0, max: 12 }), { nil: null }),
      latency: fc.option(fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: -50, max: -1 })), {
        nil: null,
      }),
      lag: fc.integer({ min: 0, max: 2_000 }),
      basket: fc.option(
        fc.record({
          items: fc.array(
            fc.record({
              quantity: fc.integer({ min: -2, max: 5 }),
              unit: fc.integer({ min: 0, max: 10_000 }),
            }),
            { maxLength: 4 },
          ),
          discount: fc.integer({ min: 0, max: 3_000 }),
        }),
        { nil: null },
      ),
    })
    .map((g) => {
      const request_time = T0 + g.t;
      return tx({
        request_time,
        terminal_serial: `T${g.terminal}`,
        merchant_id: `M${g.terminal % 3}`,
        region: g.region,
        acquirer_id: g.acquirer,
        transaction_type: g.type,
        payment_method: g.method,
        entry_mode: g.mode,
        status: g.status,
        response_code: g.status === 'APPROVED' ? '00' : g.status === 'DECLINED' ? g.code : null,
        amount_minor: g.amount,
        currency: g.currency,
        card_token: g.card === null ? null : `card-${g.card}`,
        response_time: g.latency === null ? null : request_time + g.latency,
        gateway_received_time: request_time + g.lag,
        basket:
          g.basket === null
            ? null
            : {
                item_count: g.basket.items.reduce((n, i) => n + i.quantity, 0),
                items: g.basket.items.map((i, k) => ({
                  sku: `S${k}`,
                  quantity: i.quantity,
                  unit_price_minor: i.unit,
                })),
                discount_minor: g.basket.discount,
                coupon_codes: [],
              },
      });
    });
}

function countBy<T>(list: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of list) out[key(t)] = (out[key(t)] ?? 0) + 1;
  return out;
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The KPIs of docs/KPIS.md computed the obvious way from the raw list. */
export function naiveKpis(events: readonly TransactionEvent[]) {
  const approved = events.filter((e) => e.status === 'APPROVED');
  const declined = events.filter((e) => e.status === 'DECLINED');
  const latencies = events
    .filter((e) => e.response_time !== null)
    .map((e) => Math.max(0, e.response_time! - e.request_time))
    .sort((a, b) => a - b);
  const baskets = events.filter((e) => e.basket !== null);
  const gross = baskets.reduce(
    (s, e) => s + e.basket!.items.reduce((g, i) => g + i.quantity * i.unit_price_minor, 0),
    0,
  );
  const discount = baskets.reduce((s, e) => s + e.basket!.discount_minor, 0);
  const currencies = [...new Set(approved.map((e) => e.currency))].sort();
  const amounts: CurrencyAmount[] = currencies.map((currency) => {
    const mine = approved.filter((e) => e.currency === currency);
    return { currency, sum_minor: mine.reduce((s, e) => s + e.amount_minor, 0), count: mine.length };
  });
  return {
    tx_count: events.length,
    approved_count: approved.length,
    declined_count: declined.length,
    timeout_count: events.filter((e) => e.status === 'TIMEOUT').length,
    reversal_count: events.filter((e) => e.transaction_type === 'REVERSAL').length,
    refund_count: events.filter((e) => e.transaction_type === 'REFUND').length,
    approval_rate: events.length === 0 ? null : approved.length / events.length,
    declines_by_code: sortKeys(countBy(declined, (e) => e.response_code ?? 'none')),
    amounts,
    unique_cards: new Set(events.filter((e) => e.card_token !== null).map((e) => e.card_token)).size,
    payment_method_mix: sortKeys(countBy(events, (e) => e.payment_method)),
    entry_mode_mix: sortKeys(countBy(events, (e) => e.entry_mode)),
    latencies,
    basket_count: baskets.length,
    avg_basket_minor: baskets.length === 0 ? null : gross / baskets.length,
    discount_share: baskets.length === 0 || gross <= 0 ? null : Math.min(1, Math.max(0, discount / gross)),
    basket_gross_minor: gross,
    basket_discount_minor: discount,
  };
}
