import fc from 'fast-check';
import { findPans, luhnValid, parseTokenKeys, type TokenKeys } from '../../services/gateway/card-data.ts';
import {
  type HeartbeatInput,
  INPUT_LIMITS,
  type LineItemInput,
  type TransactionInput,
} from '../../services/gateway/http/input-schema.ts';
import type { ValidationContext } from '../../services/gateway/http/validate.ts';
import type {
  ConnectionType,
  EntryMode,
  PaperState,
  PaymentMethod,
  TransactionStatus,
  TransactionType,
} from '../../services/shared/avro/types.generated.ts';

/**
 * Events in the HTTP input format (what clients POST), not Avro records: see
 * test/support/fixtures.ts for those. Timestamps are relative to `now` (default: the real clock,
 * so a gateway running on Date.now takes them), everything else is deterministic in `i`.
 */

/** Fixed test key ring (32-byte secret), so card tokens are reproducible. */
export const TEST_TOKEN_KEYS: TokenKeys = parseTokenKeys(`k1:${Buffer.alloc(32, 7).toString('base64')}`);

export const DEFAULT_SKEW_MS = 5 * 60_000;
export const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;

export function ingestContext(now: number, overrides: Partial<ValidationContext> = {}): ValidationContext {
  return {
    now,
    maxClockSkewMs: DEFAULT_SKEW_MS,
    maxEventAgeMs: DEFAULT_MAX_AGE_MS,
    gatewayId: 'gw-test',
    tokenKeys: TEST_TOKEN_KEYS,
    ...overrides,
  };
}

function uuid(i: number, salt: number): string {
  const hex = (i * 7919 + salt).toString(16).padStart(12, '0').slice(-12);
  return `7a2d${(salt % 0x10000).toString(16).padStart(4, '0')}-0000-4000-8000-${hex}`;
}

/** `body` plus the digit that makes it pass Luhn. */
export function luhnComplete(body: string): string {
  for (const d of '0123456789') if (luhnValid(body + d)) return body + d;
  throw new Error('unreachable: one of ten check digits always fits');
}

/** A deterministic, valid 16-digit test PAN (Visa test range). */
export function testPan(i: number): string {
  return luhnComplete(`4000${String(i % 100_000_000_000).padStart(11, '0')}`);
}

/** `obj` without `keys`, for missing-field cases. */
export function without<T extends object>(obj: T, ...keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
  for (const k of keys) delete out[k];
  return out;
}

/**
 * A varied, valid transaction as a client sends it: the i-th attempt of a small fleet (merchants
 * M0..M4). Card payments carry a PAN every third event; every fourth one a basket; every 23rd times
 * out and every 9th is declined. `overrides` may also add fields the format does not have, to test
 * their refusal.
 */
export function transactionInput(
  i: number,
  overrides: Partial<TransactionInput> & Record<string, unknown> = {},
  now: number = Date.now(),
): TransactionInput {
  const declined = i % 9 === 0;
  const timedOut = i % 23 === 0;
  const requestTime = now - 120_000 + (i % 500) * 137;
  const paymentMethod = (['CREDIT', 'DEBIT', 'CONTACTLESS', 'EWALLET_QR', 'PREPAID'] as const)[i % 5]!;
  const event: TransactionInput = {
    event_id: uuid(i, 2),
    terminal_serial: `TRM-${String(i % 20).padStart(5, '0')}`,
    merchant_id: `M${i % 5}`,
    merchant_name: ['Café Lumière', 'Hardware & Co', 'Kiosk 24', 'Bäckerei Süß', 'Fuel-Stop'][i % 5]!,
    acquirer_id: `ACQ${i % 2}`,
    region: ['north', 'south', 'east'][i % 3]!,
    mcc: ['5812', '5251', '5499', '5462', '5541'][i % 5]!,
    transaction_type: i % 17 === 0 ? 'REFUND' : 'SALE',
    payment_method: paymentMethod,
    entry_mode: (['CHIP', 'CONTACTLESS', 'SWIPE', 'MANUAL', 'FALLBACK'] as const)[i % 5]!,
    amount_minor: 100 + ((i * 3571) % 250_000),
    currency: i % 6 === 0 ? 'USD' : 'EUR',
    status: timedOut ? 'TIMEOUT' : declined ? 'DECLINED' : 'APPROVED',
    request_time: requestTime,
    stan: String(i % 1_000_000).padStart(6, '0'),
  };
  if (i % 4 !== 0) {
    event.latitude = 48.1 + (i % 10) / 100;
    event.longitude = 11.5 - (i % 10) / 100;
  }
  if (i % 3 !== 0) event.cashier_id = `C${i % 4}`;
  if (paymentMethod !== 'EWALLET_QR' && i % 3 === 1) event.pan = testPan(i);
  if (!timedOut) {
    event.response_code = declined ? '05' : '00';
    event.response_message = declined ? 'Do not honour' : 'Approved';
    event.response_time = requestTime + 80 + (i % 400);
    if (!declined) event.auth_code = String(100000 + i).slice(-6);
    if (i % 2 === 0) event.rrn = `6${String(i).padStart(11, '0')}`;
  }
  if (i % 4 === 1) {
    event.basket = {
      item_count: 4,
      items: [
        { sku: 'SKU-1', quantity: 1, unit_price_minor: 250 },
        { sku: 'SKU-2', quantity: 3, unit_price_minor: 99 },
      ],
      discount_minor: 50,
      coupon_codes: i % 8 === 1 ? ['WELCOME10'] : [],
    };
  }
  return { ...event, ...overrides };
}

/** A varied, valid heartbeat as a client sends it (merchants M0..M4). */
export function heartbeatInput(
  i: number,
  overrides: Partial<HeartbeatInput> & Record<string, unknown> = {},
  now: number = Date.now(),
): HeartbeatInput {
  const event: HeartbeatInput = {
    event_id: uuid(i, 3),
    terminal_serial: `TRM-${String(i % 20).padStart(5, '0')}`,
    merchant_id: `M${i % 5}`,
    event_time: now - 30_000 + (i % 100) * 250,
    online: i % 11 !== 0,
    firmware_version: '4.2.1',
    app_version: '2.9.0',
    battery_pct: i % 3 === 0 ? null : 100 - (i % 100),
    paper_state: (['OK', 'LOW', 'OUT', 'NOT_APPLICABLE'] as const)[i % 4]!,
    signal_strength_dbm: i % 2 === 0 ? -60 - (i % 40) : null,
    connection_type: (['ETHERNET', 'WIFI', 'CELLULAR_4G'] as const)[i % 3]!,
    offline_queue_length: i % 5,
  };
  if (i % 7 === 0) event.last_error_code = 'E42';
  return { ...event, ...overrides };
}

// ---- fast-check arbitraries of valid inputs -------------------------------------------------

/** Any code point but lone surrogates; lengths count code points, as JSON Schema's maxLength does. */
function text(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ minLength, maxLength }), fc.string({ unit: 'binary', minLength, maxLength }));
}

/** Free text must not hold a Luhn-valid digit run (pan_in_text). */
function freeText(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return text(minLength, maxLength).filter((s) => findPans(s).length === 0);
}

const id = text(1, INPUT_LIMITS.idMaxLength);

/** Value, null, or (via fc.record's optional keys) absent. */
const nullable = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null });

const eventId = fc.tuple(fc.uuid(), fc.boolean()).map(([u, upper]) => (upper ? u.toUpperCase() : u));

/** An amount in both accepted shapes: integer, or digits (with leading zeros up to the limit). */
function amountInput(max: number): fc.Arbitrary<number | string> {
  return fc.oneof(
    fc.integer({ min: 0, max }),
    fc
      .tuple(fc.integer({ min: 0, max }), fc.nat({ max: 3 }))
      .map(([n, zeros]) => '0'.repeat(zeros) + String(n)),
  );
}

/** `ms` as RFC 3339 with a random offset and fraction length, or as a plain integer. */
function timestampInput(ms: number): fc.Arbitrary<number | string> {
  return fc.oneof(
    fc.constant(ms),
    fc
      .tuple(fc.integer({ min: -14 * 60, max: 14 * 60 }), fc.constantFrom(0, 3, 6, 9), fc.boolean())
      .map(([offsetMin, digits, lower]) => {
        const local = new Date(ms + offsetMin * 60_000).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
        const frac = digits === 0 ? '' : `.${local.slice(20, 23)}`.padEnd(digits + 1, '0');
        const sign = offsetMin < 0 ? '-' : '+';
        const abs = Math.abs(offsetMin);
        const zone =
          offsetMin === 0 && lower
            ? 'z'
            : offsetMin === 0
              ? 'Z'
              : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        const base = `${local.slice(0, 19)}${frac}${zone}`;
        // A fraction of 0 digits drops the milliseconds, so only use it when there are none.
        return digits === 0 && ms % 1000 !== 0 ? ms : base;
      }),
  );
}

/** Valid PANs of every accepted length. */
export const validPan: fc.Arbitrary<string> = fc
  .string({ unit: fc.constantFrom(...'0123456789'), minLength: 11, maxLength: 18 })
  .map(luhnComplete);

const TRANSACTION_TYPES: TransactionType[] = [
  'SALE',
  'REFUND',
  'VOID',
  'PRE_AUTH',
  'COMPLETION',
  'BALANCE_INQUIRY',
  'REVERSAL',
  'UNKNOWN',
];
const PAYMENT_METHODS: PaymentMethod[] = [
  'CREDIT',
  'DEBIT',
  'EWALLET_QR',
  'CONTACTLESS',
  'PREPAID',
  'UNKNOWN',
];
const ENTRY_MODES: EntryMode[] = ['CHIP', 'CONTACTLESS', 'SWIPE', 'MANUAL', 'FALLBACK', 'UNKNOWN'];
const STATUSES: TransactionStatus[] = ['APPROVED', 'DECLINED', 'TIMEOUT', 'CANCELLED', 'ERROR', 'UNKNOWN'];
const PAPER: PaperState[] = ['OK', 'LOW', 'OUT', 'NOT_APPLICABLE', 'UNKNOWN'];
const CONNECTIONS: ConnectionType[] = [
  'ETHERNET',
  'WIFI',
  'CELLULAR_2G',
  'CELLULAR_3G',
  'CELLULAR_4G',
  'CELLULAR_5G',
  'BLUETOOTH',
  'UNKNOWN',
];

const lineItem: fc.Arbitrary<LineItemInput> = fc.record({
  sku: freeText(1, INPUT_LIMITS.idMaxLength),
  quantity: fc.integer({ min: 1, max: INPUT_LIMITS.maxQuantity }),
  unit_price_minor: amountInput(1_000_000_000),
});

/** A consistent basket: item_count is the sum of quantities, the discount at most the total. */
const basket = fc
  .tuple(
    fc.array(lineItem, { maxLength: 6 }),
    fc.array(freeText(1, INPUT_LIMITS.idMaxLength), { maxLength: 4 }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.boolean(),
  )
  .map(([items, coupons, share, asString]) => {
    const total = items.reduce((sum, it) => sum + it.quantity * Number(it.unit_price_minor), 0);
    const discount = Math.floor(total * share);
    return {
      item_count: items.reduce((sum, it) => sum + it.quantity, 0),
      items,
      discount_minor: asString ? String(discount) : discount,
      coupon_codes: coupons,
    };
  });

const currency = fc.constantFrom(...Intl.supportedValuesOf('currency'));

// Built once: fc.stringMatching compiles its regex into an arbitrary, too slow to do per sample.
const responseCode = fc.stringMatching(/^[0-9A-Za-z]{2}$/);
const authCode = nullable(fc.stringMatching(/^[0-9A-Za-z]{1,6}$/));

/** The response fields, consistent with the status and request time. */
function response(status: TransactionStatus, requestTime: number, latest: number) {
  const noResponse = { response_code: null, response_time: null, auth_code: null };
  const withResponse = fc
    .record({
      response_code: responseCode,
      response_time: fc
        .integer({ min: requestTime, max: Math.max(requestTime, latest) })
        .chain(timestampInput),
      auth_code: authCode,
    })
    .map(
      (r) =>
        r as {
          response_code: string | null;
          response_time: number | string | null;
          auth_code: string | null;
        },
    );
  if (status === 'TIMEOUT') return fc.constant(noResponse);
  if (status === 'APPROVED') return withResponse;
  return fc.oneof(fc.constant(noResponse), withResponse);
}

/** Any valid transaction input for a gateway whose clock reads `now` (default skew and age). */
export function validTransactionInput(now: number): fc.Arbitrary<Record<string, unknown>> {
  const latest = now + DEFAULT_SKEW_MS;
  return fc
    .tuple(
      fc.record(
        {
          event_id: eventId,
          terminal_serial: id,
          merchant_id: id,
          merchant_name: freeText(0, INPUT_LIMITS.defaultMaxLength),
          acquirer_id: id,
          region: id,
          latitude: nullable(fc.double({ min: -90, max: 90, noNaN: true })),
          longitude: nullable(fc.double({ min: -180, max: 180, noNaN: true })),
          mcc: fc.stringMatching(/^[0-9]{4}$/),
          cashier_id: nullable(freeText(0, INPUT_LIMITS.idMaxLength)),
          transaction_type: fc.constantFrom(...TRANSACTION_TYPES),
          payment_method: fc.constantFrom(...PAYMENT_METHODS),
          entry_mode: fc.constantFrom(...ENTRY_MODES),
          amount_minor: amountInput(Number.MAX_SAFE_INTEGER),
          currency,
          pan: nullable(validPan),
          response_message: nullable(freeText(0, INPUT_LIMITS.defaultMaxLength)),
          status: fc.constantFrom(...STATUSES),
          stan: nullable(fc.stringMatching(/^[0-9]{1,6}$/)),
          rrn: nullable(fc.stringMatching(/^[0-9A-Za-z]{1,12}$/)),
          basket: nullable(basket),
          track1: fc.jsonValue({ maxDepth: 1 }),
          track2: fc.string(),
          cvv: fc.string(),
          pin_block: fc.string(),
          expiry: fc.string(),
        },
        {
          requiredKeys: [
            'event_id',
            'terminal_serial',
            'merchant_id',
            'merchant_name',
            'acquirer_id',
            'region',
            'mcc',
            'transaction_type',
            'payment_method',
            'entry_mode',
            'amount_minor',
            'currency',
            'status',
          ],
        },
      ),
      fc.integer({ min: now - DEFAULT_MAX_AGE_MS, max: latest }),
    )
    .chain(([fields, requestTime]) =>
      fc
        .tuple(timestampInput(requestTime), response(fields.status, requestTime, latest), fc.boolean())
        .map(([request_time, resp, omitNulls]) => {
          const event: Record<string, unknown> = { ...fields, request_time };
          for (const [k, v] of Object.entries(resp)) if (v !== null || !omitNulls) event[k] = v;
          return event;
        }),
    );
}

/** Any valid heartbeat input for a gateway whose clock reads `now` (default skew and age). */
export function validHeartbeatInput(now: number): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      event_id: eventId,
      terminal_serial: id,
      merchant_id: nullable(text(0, INPUT_LIMITS.idMaxLength)),
      event_time: fc
        .integer({ min: now - DEFAULT_MAX_AGE_MS, max: now + DEFAULT_SKEW_MS })
        .chain(timestampInput),
      online: fc.boolean(),
      firmware_version: id,
      app_version: id,
      battery_pct: nullable(fc.integer({ min: 0, max: 100 })),
      paper_state: fc.constantFrom(...PAPER),
      signal_strength_dbm: nullable(fc.integer({ min: -150, max: 0 })),
      connection_type: fc.constantFrom(...CONNECTIONS),
      last_error_code: nullable(freeText(0, INPUT_LIMITS.idMaxLength)),
      offline_queue_length: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    },
    {
      requiredKeys: [
        'event_id',
        'terminal_serial',
        'event_time',
        'online',
        'firmware_version',
        'app_version',
        'paper_state',
        'connection_type',
        'offline_queue_length',
      ],
    },
  );
}
