import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cardReference, findPans } from '../../../../../services/gateway/card-data.ts';
import { parseBody } from '../../../../../services/gateway/http/body.ts';
import { type RejectionCode, REJECTION_REASONS } from '../../../../../services/gateway/http/reasons.ts';
import {
  type ValidationResult,
  validateHeartbeat,
  validateTransaction,
} from '../../../../../services/gateway/http/validate.ts';
import { loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';
import type { SchemaName } from '../../../../../services/shared/avro/types.generated.ts';
import {
  DEFAULT_MAX_AGE_MS,
  DEFAULT_SKEW_MS,
  heartbeatInput,
  ingestContext,
  TEST_TOKEN_KEYS,
  testPan,
  transactionInput,
  validHeartbeatInput,
  validPan,
  validTransactionInput,
  without,
} from '../../../../support/gateway-input.ts';

const NOW = Date.UTC(2026, 10, 1, 9, 5, 0);
const ctx = ingestContext(NOW);
const catalog = loadSchemaCatalog();

/** Paths of every field the Avro type refuses; [] when the record is valid. */
function avroProblems(name: SchemaName, value: unknown): string[] {
  const paths: string[] = [];
  catalog.getSchema(name).type.isValid(value, { errorHook: (path) => paths.push(path.join('.')) });
  return paths;
}

function accepted<T>(result: ValidationResult<T>): { event: T; dropped: string[] } {
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.rejection)}`);
  return result;
}

const tx = (i = 1, overrides: Record<string, unknown> = {}) => ({
  ...transactionInput(i, {}, NOW),
  ...overrides,
});
const hb = (i = 1, overrides: Record<string, unknown> = {}) => ({
  ...heartbeatInput(i, {}, NOW),
  ...overrides,
});
/** Transaction 1 has a PAN, a basket (2 lines, 4 units, total 547) and is APPROVED. */
const BASE = tx(1);
const basket = (overrides: Record<string, unknown>) => ({ ...BASE.basket!, ...overrides });

describe('known-good events', () => {
  it('accepts the transaction fixtures and completes them into Avro-valid records', () => {
    for (let i = 0; i < 300; i++) {
      const input = transactionInput(i, {}, NOW);
      const { event, dropped } = accepted(validateTransaction(input, ctx));
      expect(avroProblems('TransactionEvent', event), `event ${i}`).toEqual([]);
      expect(dropped).toEqual([]);
      expect(event).toMatchObject({
        event_id: input.event_id,
        gateway_id: 'gw-test',
        ingest_channel: 'HTTP',
        gateway_received_time: NOW,
        amount_minor: input.amount_minor,
        request_time: input.request_time,
      });
      if (input.pan) {
        expect(event).toMatchObject(cardReference(input.pan, TEST_TOKEN_KEYS));
        expect(JSON.stringify(event)).not.toContain(input.pan);
      } else {
        expect(event).toMatchObject({
          card_token: null,
          card_token_key_id: null,
          card_bin: null,
          card_last4: null,
        });
      }
    }
  });

  it('accepts the heartbeat fixtures and completes them into Avro-valid records', () => {
    for (let i = 0; i < 100; i++) {
      const input = heartbeatInput(i, {}, NOW);
      const { event, dropped } = accepted(validateHeartbeat(input, ctx));
      expect(avroProblems('TerminalHeartbeat', event), `heartbeat ${i}`).toEqual([]);
      expect(dropped).toEqual([]);
      expect(event).toEqual({
        last_error_code: null,
        ...input,
        gateway_id: 'gw-test',
        ingest_channel: 'HTTP',
        gateway_received_time: NOW,
      });
    }
  });

  it('fills omitted nullable fields with null', () => {
    const { event } = accepted(
      validateTransaction(without(tx(2), 'latitude', 'cashier_id', 'stan', 'rrn', 'basket'), ctx),
    );
    expect(event).toMatchObject({ latitude: null, cashier_id: null, stan: null, rrn: null, basket: null });
    const beat = accepted(validateHeartbeat(without(hb(1), 'merchant_id', 'battery_pct'), ctx)).event;
    expect(beat).toMatchObject({ merchant_id: null, battery_pct: null });
  });

  it('reads RFC 3339 timestamps and digit-string amounts, and lower-cases event_id', () => {
    const { event } = accepted(
      validateTransaction(
        tx(1, {
          event_id: 'ABCDEF01-2345-4789-8ABC-DEF012345678',
          request_time: '2026-11-01T10:00:00.137+01:00',
          response_time: '2026-11-01T09:00:00.218123Z',
          amount_minor: '0009007199254740991',
          basket: basket({
            discount_minor: '547',
            items: [{ sku: 'A', quantity: 4, unit_price_minor: '00137' }],
          }),
        }),
        ctx,
      ),
    );
    expect(event).toMatchObject({
      event_id: 'abcdef01-2345-4789-8abc-def012345678',
      request_time: Date.UTC(2026, 10, 1, 9, 0, 0, 137),
      response_time: Date.UTC(2026, 10, 1, 9, 0, 0, 218),
      amount_minor: Number.MAX_SAFE_INTEGER,
      basket: { discount_minor: 547, items: [{ sku: 'A', quantity: 4, unit_price_minor: 137 }] },
    });
    expect(avroProblems('TransactionEvent', event)).toEqual([]);
  });

  it('accepts timestamps exactly at the skew and age limits', () => {
    expect(
      validateTransaction(
        tx(2, {
          request_time: NOW + DEFAULT_SKEW_MS,
          response_time: null,
          response_code: null,
          auth_code: null,
          status: 'DECLINED',
        }),
        ctx,
      ).ok,
    ).toBe(true);
    expect(validateHeartbeat(hb(1, { event_time: NOW - DEFAULT_MAX_AGE_MS }), ctx).ok).toBe(true);
  });

  it('compares a discount with a basket total beyond 2^53 exactly', () => {
    const items = [{ sku: 'GOLD', quantity: 100_000, unit_price_minor: 2 ** 50 }];
    const result = validateTransaction(
      tx(1, { basket: basket({ item_count: 100_000, items, discount_minor: Number.MAX_SAFE_INTEGER }) }),
      ctx,
    );
    expect(result.ok).toBe(true);
  });

  it('reports dropped sensitive fields by name and keeps none of them', () => {
    const pan = testPan(4);
    const input = tx(1, {
      track1: `%B${pan}^DOE/JOHN^2912`,
      track2: `${pan}=2912`,
      cvv: 123,
      pin_block: null,
      expiry: '2912',
    });
    const { event, dropped } = accepted(validateTransaction(input, ctx));
    expect(dropped).toEqual(['track1', 'track2', 'cvv', 'pin_block', 'expiry']);
    const out = JSON.stringify(event);
    for (const f of dropped) expect(out).not.toContain(f);
    expect(out).not.toContain(pan);
    expect(out).not.toContain('2912');
    expect(accepted(validateTransaction(tx(1, { cvv: '999' }), ctx)).dropped).toEqual(['cvv']);
  });

  it('accepts the examples in docs/INGEST.md', () => {
    const doc = readFileSync(new URL('../../../../../docs/INGEST.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as unknown);
    const docCtx = ingestContext(Date.UTC(2026, 10, 1, 9, 1, 0));
    expect(accepted(validateTransaction(blocks[0], docCtx)).event.card_last4).toBe('0010');
    accepted(validateHeartbeat(blocks[1], docCtx));
  });
});

/** One example per reason code (per-event codes from the body parser included). */
const EXAMPLES: { code: RejectionCode; path: string; run: () => ValidationResult<unknown> }[] = [
  { code: 'not_an_object', path: '', run: () => validateTransaction([BASE], ctx) },
  { code: 'not_an_object', path: '', run: () => validateHeartbeat(null, ctx) },
  {
    code: 'missing_field',
    path: '/currency',
    run: () => validateTransaction(without(BASE, 'currency'), ctx),
  },
  { code: 'missing_field', path: '/event_id', run: () => validateHeartbeat(without(hb(), 'event_id'), ctx) },
  {
    code: 'missing_field',
    path: '/basket/items',
    run: () => validateTransaction(tx(1, { basket: without(BASE.basket!, 'items') }), ctx),
  },
  { code: 'unknown_field', path: '/foo', run: () => validateTransaction(tx(1, { foo: 1 }), ctx) },
  {
    code: 'unknown_field',
    path: '/gateway_id',
    run: () => validateTransaction(tx(1, { gateway_id: 'spoofed' }), ctx),
  },
  {
    code: 'unknown_field',
    path: '/card_token',
    run: () => validateTransaction(tx(1, { card_token: 'x' }), ctx),
  },
  {
    code: 'unknown_field',
    path: '/ingest_channel',
    run: () => validateHeartbeat(hb(1, { ingest_channel: 'KAFKA' }), ctx),
  },
  { code: 'unknown_field', path: '/a~1b~0c', run: () => validateTransaction(tx(1, { 'a/b~c': 1 }), ctx) },
  {
    code: 'unknown_field',
    path: '/basket/items/1/color',
    run: () =>
      validateTransaction(
        tx(1, {
          basket: basket({ items: [BASE.basket!.items[0], { ...BASE.basket!.items[1], color: 'red' }] }),
        }),
        ctx,
      ),
  },
  {
    code: 'wrong_type',
    path: '/amount_minor',
    run: () => validateTransaction(tx(1, { amount_minor: 12.5 }), ctx),
  },
  {
    code: 'wrong_type',
    path: '/terminal_serial',
    run: () => validateTransaction(tx(1, { terminal_serial: 5 }), ctx),
  },
  {
    code: 'wrong_type',
    path: '/request_time',
    run: () => validateTransaction(tx(1, { request_time: true }), ctx),
  },
  { code: 'wrong_type', path: '/online', run: () => validateHeartbeat(hb(1, { online: 'yes' }), ctx) },
  { code: 'wrong_type', path: '/basket', run: () => validateTransaction(tx(1, { basket: [] }), ctx) },
  {
    code: 'too_long',
    path: '/merchant_name',
    run: () => validateTransaction(tx(1, { merchant_name: 'x'.repeat(257) }), ctx),
  },
  {
    code: 'too_long',
    path: '/terminal_serial',
    run: () => validateHeartbeat(hb(1, { terminal_serial: 'T'.repeat(65) }), ctx),
  },
  { code: 'too_long', path: '/mcc', run: () => validateTransaction(tx(1, { mcc: '54111' }), ctx) },
  {
    code: 'too_long',
    path: '/basket/items',
    run: () =>
      validateTransaction(
        tx(1, { basket: basket({ items: Array.from({ length: 501 }, () => BASE.basket!.items[0]) }) }),
        ctx,
      ),
  },
  {
    code: 'too_long',
    path: '/basket/coupon_codes/0',
    run: () => validateTransaction(tx(1, { basket: basket({ coupon_codes: ['C'.repeat(65)] }) }), ctx),
  },
  { code: 'invalid_value', path: '/mcc', run: () => validateTransaction(tx(1, { mcc: '54a1' }), ctx) },
  {
    code: 'invalid_value',
    path: '/currency',
    run: () => validateTransaction(tx(1, { currency: 'eur' }), ctx),
  },
  { code: 'invalid_value', path: '/status', run: () => validateTransaction(tx(1, { status: 'OK' }), ctx) },
  {
    code: 'invalid_value',
    path: '/event_id',
    run: () => validateTransaction(tx(1, { event_id: 'order-17' }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/request_time',
    run: () => validateTransaction(tx(1, { request_time: '2026-11-01T09:00:00' }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/latitude',
    run: () => validateTransaction(tx(1, { latitude: 90.5 }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/terminal_serial',
    run: () => validateTransaction(tx(1, { terminal_serial: '' }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/merchant_name',
    run: () => validateTransaction(tx(1, { merchant_name: 'Caf\ud800' }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/amount_minor',
    run: () => validateTransaction(tx(1, { amount_minor: '9007199254740992' }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/amount_minor',
    run: () => validateTransaction(tx(1, { amount_minor: 2 ** 53 }), ctx),
  },
  {
    code: 'wrong_type',
    path: '/amount_minor',
    run: () => validateTransaction(tx(1, { amount_minor: '12.50' }), ctx),
  },
  {
    code: 'wrong_type',
    path: '/basket/discount_minor',
    run: () => validateTransaction(tx(1, { basket: basket({ discount_minor: 'lots' }) }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/basket/items/0/quantity',
    run: () =>
      validateTransaction(
        tx(1, { basket: basket({ items: [{ sku: 'A', quantity: 0, unit_price_minor: 1 }] }) }),
        ctx,
      ),
  },
  {
    code: 'invalid_value',
    path: '/battery_pct',
    run: () => validateHeartbeat(hb(1, { battery_pct: 101 }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/signal_strength_dbm',
    run: () => validateHeartbeat(hb(1, { signal_strength_dbm: 3 }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/offline_queue_length',
    run: () => validateHeartbeat(hb(1, { offline_queue_length: -1 }), ctx),
  },
  {
    code: 'invalid_value',
    path: '/paper_state',
    run: () => validateHeartbeat(hb(1, { paper_state: 'EMPTY' }), ctx),
  },
  {
    code: 'invalid_pan',
    path: '/pan',
    run: () => validateTransaction(tx(1, { pan: '4111111111111112' }), ctx),
  },
  { code: 'invalid_pan', path: '/pan', run: () => validateTransaction(tx(1, { pan: '41111111111' }), ctx) },
  {
    code: 'invalid_pan',
    path: '/pan',
    run: () => validateTransaction(tx(1, { pan: '4111 1111 1111 1111' }), ctx),
  },
  {
    code: 'invalid_pan',
    path: '/pan',
    run: () => validateTransaction(tx(1, { pan: 4111111111111111 }), ctx),
  },
  {
    code: 'invalid_pan',
    path: '/pan',
    run: () => validateTransaction(tx(1, { pan: '41111111111111111111111' }), ctx),
  },
  {
    code: 'pan_in_text',
    path: '/merchant_name',
    run: () => validateTransaction(tx(1, { merchant_name: 'Shop 4111 1111 1111 1111' }), ctx),
  },
  {
    code: 'pan_in_text',
    path: '/response_message',
    run: () => validateTransaction(tx(1, { response_message: 'card 5555-5555-5555-4444 declined' }), ctx),
  },
  {
    code: 'pan_in_text',
    path: '/cashier_id',
    run: () => validateTransaction(tx(1, { cashier_id: '4111111111111111' }), ctx),
  },
  {
    code: 'pan_in_text',
    path: '/basket/items/1/sku',
    run: () =>
      validateTransaction(
        tx(1, {
          basket: basket({
            items: [BASE.basket!.items[0], { ...BASE.basket!.items[1], sku: '4111111111111111' }],
          }),
        }),
        ctx,
      ),
  },
  {
    code: 'pan_in_text',
    path: '/basket/coupon_codes/0',
    run: () => validateTransaction(tx(1, { basket: basket({ coupon_codes: ['X4111111111111111'] }) }), ctx),
  },
  {
    code: 'pan_in_text',
    path: '/last_error_code',
    run: () => validateHeartbeat(hb(1, { last_error_code: 'E 4111111111111111' }), ctx),
  },
  {
    code: 'unknown_currency',
    path: '/currency',
    run: () => validateTransaction(tx(1, { currency: 'XYZ' }), ctx),
  },
  {
    code: 'negative_amount',
    path: '/amount_minor',
    run: () => validateTransaction(tx(1, { amount_minor: -1 }), ctx),
  },
  {
    code: 'negative_amount',
    path: '/amount_minor',
    run: () => validateTransaction(tx(1, { amount_minor: '-100' }), ctx),
  },
  {
    code: 'negative_amount',
    path: '/basket/discount_minor',
    run: () => validateTransaction(tx(1, { basket: basket({ discount_minor: -1 }) }), ctx),
  },
  {
    code: 'negative_amount',
    path: '/basket/items/0/unit_price_minor',
    run: () =>
      validateTransaction(
        tx(1, { basket: basket({ items: [{ sku: 'A', quantity: 4, unit_price_minor: -5 }] }) }),
        ctx,
      ),
  },
  {
    code: 'clock_skew',
    path: '/request_time',
    run: () =>
      validateTransaction(
        tx(1, {
          request_time: NOW + DEFAULT_SKEW_MS + 1,
          response_time: null,
          response_code: null,
          status: 'DECLINED',
          auth_code: null,
        }),
        ctx,
      ),
  },
  {
    code: 'clock_skew',
    path: '/request_time',
    run: () => validateTransaction(tx(1, { request_time: NOW - DEFAULT_MAX_AGE_MS - 1 }), ctx),
  },
  {
    code: 'clock_skew',
    path: '/request_time',
    run: () => validateTransaction(tx(1, { request_time: '2099-01-01T00:00:00Z' }), ctx),
  },
  {
    code: 'clock_skew',
    path: '/response_time',
    run: () => validateTransaction(tx(1, { response_time: NOW + DEFAULT_SKEW_MS + 1 }), ctx),
  },
  { code: 'clock_skew', path: '/event_time', run: () => validateHeartbeat(hb(1, { event_time: 0 }), ctx) },
  {
    code: 'response_before_request',
    path: '/response_time',
    run: () => validateTransaction(tx(1, { response_time: (BASE.request_time as number) - 1 }), ctx),
  },
  {
    code: 'response_time_without_response',
    path: '/response_time',
    run: () => validateTransaction(tx(1, { status: 'DECLINED', response_code: null, auth_code: null }), ctx),
  },
  {
    code: 'status_mismatch',
    path: '/response_code',
    run: () => validateTransaction(tx(1, { response_code: null, response_time: null }), ctx),
  },
  {
    code: 'status_mismatch',
    path: '/response_code',
    run: () => validateTransaction(tx(1, { status: 'TIMEOUT' }), ctx),
  },
  {
    code: 'status_mismatch',
    path: '/auth_code',
    run: () =>
      validateTransaction(tx(1, { status: 'TIMEOUT', response_code: null, response_time: null }), ctx),
  },
  {
    code: 'basket_mismatch',
    path: '/basket/item_count',
    run: () => validateTransaction(tx(1, { basket: basket({ item_count: 5 }) }), ctx),
  },
  {
    code: 'basket_mismatch',
    path: '/basket/discount_minor',
    run: () => validateTransaction(tx(1, { basket: basket({ discount_minor: 548 }) }), ctx),
  },
  {
    code: 'invalid_json',
    path: '',
    run: () => {
      const [item] = parseBody(Buffer.from('{"event_id": oops'), 'application/x-ndjson', {
        maxEvents: 1,
        maxDepth: 5,
      }).items;
      return item!.ok ? validateTransaction(item!.value, ctx) : item!;
    },
  },
  {
    code: 'too_deep',
    path: '',
    run: () => {
      const [item] = parseBody(Buffer.from('{"basket": {"items": [[[[]]]]}}'), 'application/x-ndjson', {
        maxEvents: 1,
        maxDepth: 5,
      }).items;
      return item!.ok ? validateTransaction(item!.value, ctx) : item!;
    },
  },
];

describe('rejections', () => {
  it.each(EXAMPLES.map((e) => [e.code, e.path, e] as const))('%s at "%s"', (code, path, example) => {
    const result = example.run();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rejection).toEqual({ code, path, message: expect.any(String) });
    expect(result.rejection.message.length).toBeLessThan(160);
    expect(result.rejection.message).not.toMatch(/\n/);
    expect(findPans(JSON.stringify(result.rejection))).toEqual([]);
    // Deterministic: the same input gets the same answer.
    expect(example.run()).toEqual(result);
  });

  it('has an example for every reason code it decides', () => {
    // The key's scope is checked by the route (test/unit/services/gateway/app.test.ts), not here.
    const covered = new Set<string>([...EXAMPLES.map((e) => e.code), 'out_of_scope']);
    expect(Object.keys(REJECTION_REASONS).filter((c) => !covered.has(c as RejectionCode))).toEqual([]);
  });

  it('names the field and what was expected in its messages', () => {
    const message = (r: ValidationResult<unknown>) => (r.ok ? '' : r.rejection.message);
    expect(message(validateTransaction(without(BASE, 'currency'), ctx))).toBe('currency is required');
    expect(message(validateTransaction(tx(1, { mcc: '54a1' }), ctx))).toBe('mcc must be 4 digits');
    expect(message(validateTransaction(tx(1, { status: 'OK' }), ctx))).toBe(
      'status must be one of APPROVED, DECLINED, TIMEOUT, CANCELLED, ERROR, UNKNOWN',
    );
    expect(message(validateTransaction(tx(1, { latitude: 'x' }), ctx))).toBe(
      'latitude must be a number or null',
    );
    expect(message(validateTransaction(tx(1, { request_time: true }), ctx))).toBe(
      'request_time must be an integer or a string (epoch milliseconds or an RFC 3339 date-time)',
    );
    expect(message(validateHeartbeat(hb(1, { battery_pct: 101 }), ctx))).toBe(
      'battery_pct must be at most 100',
    );
    expect(
      message(
        validateTransaction(
          tx(1, { basket: basket({ items: [{ sku: 'A', quantity: 1, unit_price_minor: 1, x: 1 }] }) }),
          ctx,
        ),
      ),
    ).toBe('basket/items/0/x is not a field of this event');
  });

  it('never shows an unknown field name that looks like a card number or is very long', () => {
    for (const key of ['4111111111111111', 'pan 4111-1111-1111-1111', 'k'.repeat(65)]) {
      const result = validateTransaction(tx(1, { [key]: 1 }), ctx);
      expect(result).toMatchObject({ ok: false, rejection: { code: 'unknown_field', path: '' } });
      expect(JSON.stringify(result)).not.toContain(key);
    }
  });

  it('refuses __proto__ and constructor keys without touching any prototype', () => {
    const withProto = JSON.parse(
      `{"__proto__": {"polluted": 1}, ${JSON.stringify(BASE).slice(1)}`,
    ) as unknown;
    expect(validateTransaction(withProto, ctx)).toMatchObject({
      ok: false,
      rejection: { code: 'unknown_field', path: '/__proto__' },
    });
    const withCtor = JSON.parse(
      `{"constructor": {"prototype": {"polluted": 1}}, ${JSON.stringify(hb()).slice(1)}`,
    ) as unknown;
    expect(validateHeartbeat(withCtor, ctx)).toMatchObject({
      ok: false,
      rejection: { code: 'unknown_field', path: '/constructor' },
    });
    const inBasket = JSON.parse(
      JSON.stringify(BASE).replace('"item_count"', '"__proto__":{"polluted":1},"item_count"'),
    ) as unknown;
    expect(validateTransaction(inBasket, ctx)).toMatchObject({
      ok: false,
      rejection: { path: '/basket/__proto__' },
    });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('takes an object without a prototype and returns a plain one', () => {
    const bare = Object.assign(Object.create(null) as object, BASE);
    const { event } = accepted(validateTransaction(bare, ctx));
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
  });

  it('reads only own properties, never inherited ones', () => {
    const inherited = Object.create({ currency: 'EUR' }) as Record<string, unknown>;
    Object.assign(inherited, without(BASE, 'currency'));
    expect(validateTransaction(inherited, ctx)).toMatchObject({
      ok: false,
      rejection: { code: 'missing_field', path: '/currency' },
    });
  });
});

describe('properties', () => {
  it('accepts every valid generated transaction and returns an Avro-valid record', () => {
    fc.assert(
      fc.property(validTransactionInput(NOW), (input) => {
        const result = validateTransaction(input, ctx);
        if (!result.ok) throw new Error(JSON.stringify(result.rejection));
        expect(avroProblems('TransactionEvent', result.event)).toEqual([]);
        expect(result.event.event_id).toBe(String(input['event_id']).toLowerCase());
        expect(result.event.amount_minor).toBe(Number(input['amount_minor']));
        expect(result.dropped).toEqual(
          ['track1', 'track2', 'cvv', 'pin_block', 'expiry'].filter((f) => f in input),
        );
        if (typeof input['pan'] === 'string')
          expect(JSON.stringify(result.event)).not.toContain(input['pan']);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts every valid generated heartbeat and returns an Avro-valid record', () => {
    fc.assert(
      fc.property(validHeartbeatInput(NOW), (input) => {
        const result = validateHeartbeat(input, ctx);
        if (!result.ok) throw new Error(JSON.stringify(result.rejection));
        expect(avroProblems('TerminalHeartbeat', result.event)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary values, and never answers with an invalid record', () => {
    const near = validTransactionInput(NOW).chain((input) =>
      fc
        .tuple(fc.constantFrom(...Object.keys(input), 'basket', 'x'), fc.jsonValue({ maxDepth: 2 }))
        .map(([k, v]) => ({ ...input, [k]: v })),
    );
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.jsonValue(), near), (value) => {
        const t = validateTransaction(value, ctx);
        if (t.ok) expect(avroProblems('TransactionEvent', t.event)).toEqual([]);
        else expect(REJECTION_REASONS).toHaveProperty(t.rejection.code);
        const h = validateHeartbeat(value, ctx);
        if (h.ok) expect(avroProblems('TerminalHeartbeat', h.event)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('never lets a PAN into a rejection or an accepted event, wherever it is put', () => {
    // Identifiers (terminal_serial, merchant_id, …) are left out on purpose (see the next test), and
    // so are numeric fields: a 12-digit amount or a 13-digit epoch time is a number, not a card.
    const fields = [
      'pan',
      'merchant_name',
      'cashier_id',
      'response_message',
      'mcc',
      'event_id',
      'track2',
      'stan',
      'currency',
      'x',
    ];
    fc.assert(
      fc.property(
        validTransactionInput(NOW),
        validPan,
        fc.constantFrom(...fields),
        fc.constantFrom('plain', 'spaced', 'number', 'key', 'suffix'),
        (input, pan, field, shape) => {
          // A generated input may hold the digits already (a UUID's last group can be 12 zeros).
          fc.pre(!JSON.stringify(input).includes(pan));
          const value =
            shape === 'number'
              ? Number(pan)
              : shape === 'spaced'
                ? pan.replace(/(\d{4})/g, '$1 ').trim()
                : shape === 'suffix'
                  ? `ref ${pan}`
                  : pan;
          const event = shape === 'key' ? { ...input, [pan]: 1 } : { ...input, [field]: value };
          const result = validateTransaction(event, ctx);
          const out = JSON.stringify(result);
          expect(out).not.toContain(pan);
          if (!result.ok) expect(findPans(out)).toEqual([]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('accepts identifiers that happen to pass Luhn, such as IMEI serials and 15-digit merchant ids', () => {
    const imei = '490154203237518';
    expect(findPans(imei)).toEqual([imei]);
    expect(validateTransaction(tx(1, { terminal_serial: imei, merchant_id: imei }), ctx).ok).toBe(true);
    expect(validateHeartbeat(hb(1, { terminal_serial: imei }), ctx).ok).toBe(true);
  });
});
