import { Ajv, type ErrorObject } from 'ajv';
import type { TerminalHeartbeat, TransactionEvent } from '../../shared/avro/types.generated.ts';
import { cardReference, findPans, panProblem, type TokenKeys } from '../card-data.ts';
import {
  DROPPED_FIELDS,
  type HeartbeatInput,
  heartbeatInputSchema,
  type TransactionInput,
  transactionInputSchema,
  UUID_PATTERN,
} from './input-schema.ts';
import type { Rejection, RejectionCode } from './reasons.ts';
import { isRfc3339, parseRfc3339 } from './timestamps.ts';

/**
 * Turns one event as a client sent it (already parsed JSON, see body.ts) into the Avro record the
 * gateway publishes, or into one {@link Rejection}. Pure: the clock, the limits, the gateway's id
 * and the card-token keys come in `ctx`.
 *
 * Checks run in a fixed order and the first failure is reported, so the same input always gets the
 * same reason: the JSON Schema (structure, types, lengths, patterns, symbols, ranges; Ajv stops at
 * its first error), each kept string in input order (well-formed Unicode, then no card number if
 * it is free text), the PAN, amount ranges, currency, clock skew, the response/status rules, the
 * basket. docs/INGEST.md lists the same order.
 *
 * No message quotes a field's value (a value may be card data); messages name the field's path and
 * what was expected. Values are only ever read from known field names, and the output is built as
 * a fresh object literal, so `__proto__` or `constructor` keys in the input (own properties after
 * `JSON.parse`, refused as unknown fields) can never reach a prototype.
 */

export interface ValidationContext {
  /** The gateway's clock (ms since the epoch): gateway_received_time and the clock-skew reference. */
  now: number;
  /** How far in the future (ms, from `now`) a timestamp may be. */
  maxClockSkewMs: number;
  /** How far in the past (ms, from `now`) a timestamp may be. */
  maxEventAgeMs: number;
  gatewayId: string;
  tokenKeys: TokenKeys;
  /** The ingest_channel to record; the HTTP door is the only user so far. */
  channel?: 'HTTP';
}

export type ValidationResult<T> =
  { ok: true; event: T; dropped: string[] } | { ok: false; rejection: Rejection };

/** Internal: unwinds the checks at the first failure; never escapes this module. */
class Refused {
  constructor(readonly rejection: Rejection) {}
}

function refuse(code: RejectionCode, path: string, message: string): never {
  throw new Refused({ code, path, message });
}

// Compiled once at module load: the schemas are fixed data (input-schema.ts) and compiling is the
// slow part of Ajv. `ownProperties` keeps inherited properties out of `required` and
// `additionalProperties`; `verbose` puts the offending value on the error, for negative_amount.
const ajv = new Ajv({ allErrors: false, allowUnionTypes: true, ownProperties: true, verbose: true });
const UUID = new RegExp(UUID_PATTERN);
ajv.addFormat('date-time', { type: 'string', validate: isRfc3339 });
ajv.addFormat('uuid', { type: 'string', validate: (s: string) => UUID.test(s) });
const checkTransaction = ajv.compile<TransactionInput>(transactionInputSchema);
const checkHeartbeat = ajv.compile<HeartbeatInput>(heartbeatInputSchema);

const AMOUNT_FIELDS: ReadonlySet<string> = new Set(['amount_minor', 'unit_price_minor', 'discount_minor']);
const TIMESTAMP_FIELDS: ReadonlySet<string> = new Set(['request_time', 'response_time', 'event_time']);

/**
 * Strings scanned with `findPans`. Only free text: identifiers (merchant ids, terminal serials,
 * RRNs) are often long digit strings, one in ten of which passes Luhn by chance, so scanning them
 * would refuse legitimate events; event_id's last UUID group can be 12 digits for the same reason.
 */
const FREE_TEXT_FIELDS: ReadonlySet<string> = new Set([
  'merchant_name',
  'cashier_id',
  'response_message',
  'sku',
  'coupon_codes',
  'last_error_code',
]);

/** What a pattern stands for, by field name, so messages say it in words. */
const PATTERN_HINTS: Readonly<Record<string, string>> = {
  event_id: 'a UUID (8-4-4-4-12 hexadecimal digits)',
  mcc: '4 digits',
  currency: '3 upper-case letters (ISO 4217)',
  response_code: '2 letters or digits',
  auth_code: '1 to 6 letters or digits',
  stan: '1 to 6 digits',
  rrn: '1 to 12 letters or digits',
};

const TYPE_WORDS: Readonly<Record<string, string>> = {
  null: 'null',
  boolean: 'true or false',
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  array: 'an array',
  object: 'an object',
};

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** How a path reads in a message: `basket/items/0/sku`, or `the event`. */
function label(path: string): string {
  return path === '' ? 'the event' : path.slice(1);
}

/** The field name a path ends in, skipping array indexes: `/basket/coupon_codes/2` → coupon_codes. */
function fieldName(path: string): string {
  const segments = path.split('/');
  for (let i = segments.length - 1; i > 0; i--) {
    const s = segments[i]!;
    if (!/^\d+$/.test(s)) return s.replace(/~1/g, '/').replace(/~0/g, '~');
  }
  return '';
}

function words(list: readonly string[]): string {
  if (list.length <= 1) return list.join('');
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

/** A key that must not be echoed in a path: it could be a card number, or is just too long. */
function unsafeKey(key: string): boolean {
  return key.length > 64 || findPans(key).length > 0;
}

/** One Ajv error as a rejection. Uses only the keyword, its params and the schema, never the value. */
function fromAjv(error: ErrorObject | undefined): Rejection {
  if (error === undefined) return { code: 'invalid_value', path: '', message: 'the event is invalid' };
  const base = error.instancePath;
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') {
    const path = `${base}/${escapePointer(String(params['missingProperty']))}`;
    return { code: 'missing_field', path, message: `${label(path)} is required` };
  }
  if (error.keyword === 'additionalProperties') {
    const key = String(params['additionalProperty']);
    if (unsafeKey(key)) {
      return {
        code: 'unknown_field',
        path: base,
        message: `${label(base)} has an unknown field (name not shown: too long or looks like a card number)`,
      };
    }
    const path = `${base}/${escapePointer(key)}`;
    return { code: 'unknown_field', path, message: `${label(path)} is not a field of this event` };
  }

  const path = base;
  const name = fieldName(path);
  const at = label(path);
  if (path === '/pan') {
    return {
      code: 'invalid_pan',
      path,
      message:
        error.keyword === 'type' ? 'pan must be a string of digits or null' : 'pan must be 12 to 19 digits',
    };
  }
  switch (error.keyword) {
    case 'type': {
      const types = Array.isArray(params['type'])
        ? (params['type'] as string[])
        : String(params['type']).split(',');
      const hint = TIMESTAMP_FIELDS.has(name)
        ? ' (epoch milliseconds or an RFC 3339 date-time)'
        : AMOUNT_FIELDS.has(name)
          ? ' (minor units)'
          : '';
      return {
        code: 'wrong_type',
        path,
        message: `${at} must be ${words(types.map((t) => TYPE_WORDS[t] ?? t))}${hint}`,
      };
    }
    case 'maxLength':
      return {
        code: 'too_long',
        path,
        message: `${at} must be at most ${String(params['limit'])} characters long`,
      };
    case 'maxItems':
      return { code: 'too_long', path, message: `${at} must have at most ${String(params['limit'])} items` };
    case 'minLength':
      return {
        code: 'invalid_value',
        path,
        message:
          params['limit'] === 1
            ? `${at} must not be empty`
            : `${at} must be at least ${String(params['limit'])} characters long`,
      };
    case 'pattern':
      // A digit string is only another spelling of an integer amount, so a string that is not one
      // is refused like the number 12.5 would be: wrong type, or negative.
      if (AMOUNT_FIELDS.has(name)) {
        return typeof error.data === 'string' && /^-[0-9]+$/.test(error.data)
          ? { code: 'negative_amount', path, message: `${at} must not be negative` }
          : {
              code: 'wrong_type',
              path,
              message: `${at} must be an integer or a string of decimal digits (minor units)`,
            };
      }
      return {
        code: 'invalid_value',
        path,
        message: `${at} must be ${PATTERN_HINTS[name] ?? `a string matching ${String(params['pattern'])}`}`,
      };
    case 'format':
      return {
        code: 'invalid_value',
        path,
        message:
          params['format'] === 'date-time'
            ? `${at} must be an RFC 3339 date-time with an offset or Z, e.g. 2026-11-01T09:00:00Z`
            : `${at} must be ${PATTERN_HINTS[name] ?? `in format ${String(params['format'])}`}`,
      };
    case 'enum': {
      const allowed = ((params['allowedValues'] as unknown[]) ?? []).filter((v) => v !== null).map(String);
      return { code: 'invalid_value', path, message: `${at} must be one of ${allowed.join(', ')}` };
    }
    case 'minimum':
      if (AMOUNT_FIELDS.has(name))
        return { code: 'negative_amount', path, message: `${at} must not be negative` };
      return { code: 'invalid_value', path, message: `${at} must be at least ${String(params['limit'])}` };
    case 'maximum':
      return { code: 'invalid_value', path, message: `${at} must be at most ${String(params['limit'])}` };
    default:
      return { code: 'invalid_value', path, message: `${at} is invalid` };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// With the `u` flag a lone surrogate is a code point of its own (category Cs); pairs are not.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Walks every string the event keeps (dropped fields and the PAN excluded): a lone surrogate
 * (`"\ud800"` in JSON) would be replaced silently when encoded as UTF-8, and free text must not
 * hold a card number. Key order is the input's, so the first failure is deterministic.
 */
function checkStrings(value: unknown, path: string, free: boolean): void {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) refuse('invalid_value', path, `${label(path)} is not valid Unicode`);
    if (free && findPans(value).length > 0) {
      refuse('pan_in_text', path, `${label(path)} contains what looks like a card number`);
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkStrings(v, `${path}/${i}`, free));
  } else if (isObject(value)) {
    for (const key of Object.keys(value)) {
      if (path === '' && (key === 'pan' || (DROPPED_FIELDS as readonly string[]).includes(key))) continue;
      checkStrings(value[key], `${path}/${escapePointer(key)}`, FREE_TEXT_FIELDS.has(key));
    }
  }
}

/** An amount as a number; strings beyond 2^53 - 1 are refused (the codec's long carries no more). */
function amount(v: number | string, path: string): number {
  if (typeof v === 'number') return v;
  if (BigInt(v) > BigInt(Number.MAX_SAFE_INTEGER)) {
    refuse('invalid_value', path, `${label(path)} must be at most ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(v);
}

function timestamp(v: number | string, path: string, ctx: ValidationContext): number {
  const ms = typeof v === 'number' ? v : parseRfc3339(v);
  // The schema's format check makes `undefined` unreachable; refusing keeps the type honest.
  if (ms === undefined) return refuse('invalid_value', path, `${label(path)} must be an RFC 3339 date-time`);
  if (ms > ctx.now + ctx.maxClockSkewMs) {
    refuse(
      'clock_skew',
      path,
      `${label(path)} is more than ${ctx.maxClockSkewMs} ms ahead of the gateway clock`,
    );
  }
  if (ms < ctx.now - ctx.maxEventAgeMs) {
    refuse(
      'clock_skew',
      path,
      `${label(path)} is older than the maximum event age of ${ctx.maxEventAgeMs} ms`,
    );
  }
  return ms;
}

type CardFields = Pick<TransactionEvent, 'card_token' | 'card_token_key_id' | 'card_bin' | 'card_last4'>;
const NO_CARD: CardFields = { card_token: null, card_token_key_id: null, card_bin: null, card_last4: null };
// ICU's list: current ISO 4217 codes plus a few recently withdrawn ones, no funds or test codes.
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

function transaction(input: unknown, ctx: ValidationContext): TransactionEvent {
  if (!isObject(input)) refuse('not_an_object', '', 'the event must be a JSON object');
  if (!checkTransaction(input)) throw new Refused(fromAjv(checkTransaction.errors?.[0]));
  const t = input;
  checkStrings(t, '', false);

  let card: CardFields = NO_CARD;
  if (t.pan !== undefined && t.pan !== null) {
    const problem = panProblem(t.pan);
    if (problem !== undefined) {
      refuse(
        'invalid_pan',
        '/pan',
        problem === 'luhn' ? 'pan fails the Luhn check' : 'pan must be 12 to 19 digits',
      );
    }
    card = cardReference(t.pan, ctx.tokenKeys);
  }

  const amountMinor = amount(t.amount_minor, '/amount_minor');
  const basket =
    t.basket === undefined || t.basket === null
      ? null
      : {
          item_count: t.basket.item_count,
          items: t.basket.items.map((item, i) => ({
            sku: item.sku,
            quantity: item.quantity,
            unit_price_minor: amount(item.unit_price_minor, `/basket/items/${i}/unit_price_minor`),
          })),
          discount_minor: amount(t.basket.discount_minor, '/basket/discount_minor'),
          coupon_codes: [...t.basket.coupon_codes],
        };

  if (!CURRENCIES.has(t.currency))
    refuse('unknown_currency', '/currency', 'currency must be an ISO 4217 code');

  const requestTime = timestamp(t.request_time, '/request_time', ctx);
  const responseTime =
    t.response_time === undefined || t.response_time === null
      ? null
      : timestamp(t.response_time, '/response_time', ctx);
  const responseCode = t.response_code ?? null;
  const authCode = t.auth_code ?? null;

  if (responseTime !== null && responseTime < requestTime) {
    refuse(
      'response_before_request',
      '/response_time',
      'response_time must not be earlier than request_time',
    );
  }
  if (responseTime !== null && responseCode === null) {
    refuse(
      'response_time_without_response',
      '/response_time',
      'response_time is set but response_code is not: a response time needs a response',
    );
  }
  if (t.status === 'APPROVED' && responseCode === null) {
    refuse('status_mismatch', '/response_code', 'status APPROVED needs a response_code');
  }
  if (t.status === 'TIMEOUT' && responseCode !== null) {
    refuse('status_mismatch', '/response_code', 'status TIMEOUT must not carry a response_code');
  }
  if (t.status === 'TIMEOUT' && authCode !== null) {
    refuse('status_mismatch', '/auth_code', 'status TIMEOUT must not carry an auth_code');
  }

  if (basket !== null) {
    // At most 500 lines of at most 100,000 units: the sum stays a small exact integer.
    const units = basket.items.reduce((sum, item) => sum + item.quantity, 0);
    if (units !== basket.item_count) {
      refuse(
        'basket_mismatch',
        '/basket/item_count',
        `basket/item_count must equal the sum of the items' quantities (${units})`,
      );
    }
    // Quantity × price can pass 2^53; bigint keeps the comparison exact.
    const total = basket.items.reduce(
      (sum, item) => sum + BigInt(item.quantity) * BigInt(item.unit_price_minor),
      0n,
    );
    if (BigInt(basket.discount_minor) > total) {
      refuse(
        'basket_mismatch',
        '/basket/discount_minor',
        'basket/discount_minor must not exceed the basket total (sum of quantity × unit_price_minor)',
      );
    }
  }

  return {
    event_id: t.event_id.toLowerCase(),
    terminal_serial: t.terminal_serial,
    merchant_id: t.merchant_id,
    merchant_name: t.merchant_name,
    acquirer_id: t.acquirer_id,
    gateway_id: ctx.gatewayId,
    region: t.region,
    latitude: t.latitude ?? null,
    longitude: t.longitude ?? null,
    mcc: t.mcc,
    cashier_id: t.cashier_id ?? null,
    transaction_type: t.transaction_type,
    payment_method: t.payment_method,
    entry_mode: t.entry_mode,
    amount_minor: amountMinor,
    currency: t.currency,
    ...card,
    response_code: responseCode,
    response_message: t.response_message ?? null,
    auth_code: authCode,
    status: t.status,
    request_time: requestTime,
    response_time: responseTime,
    stan: t.stan ?? null,
    rrn: t.rrn ?? null,
    ingest_channel: ctx.channel ?? 'HTTP',
    gateway_received_time: ctx.now,
    basket,
  };
}

function heartbeat(input: unknown, ctx: ValidationContext): TerminalHeartbeat {
  if (!isObject(input)) refuse('not_an_object', '', 'the event must be a JSON object');
  if (!checkHeartbeat(input)) throw new Refused(fromAjv(checkHeartbeat.errors?.[0]));
  const h = input;
  checkStrings(h, '', false);
  return {
    event_id: h.event_id.toLowerCase(),
    terminal_serial: h.terminal_serial,
    merchant_id: h.merchant_id ?? null,
    gateway_id: ctx.gatewayId,
    event_time: timestamp(h.event_time, '/event_time', ctx),
    online: h.online,
    firmware_version: h.firmware_version,
    app_version: h.app_version,
    battery_pct: h.battery_pct ?? null,
    paper_state: h.paper_state,
    signal_strength_dbm: h.signal_strength_dbm ?? null,
    connection_type: h.connection_type,
    last_error_code: h.last_error_code ?? null,
    offline_queue_length: h.offline_queue_length,
    ingest_channel: ctx.channel ?? 'HTTP',
    gateway_received_time: ctx.now,
  };
}

function run<T>(check: () => T, dropped: () => string[]): ValidationResult<T> {
  try {
    return { ok: true, event: check(), dropped: dropped() };
  } catch (err) {
    if (err instanceof Refused) return { ok: false, rejection: err.rejection };
    throw err;
  }
}

/**
 * One transaction from a POST /v1/transactions body → the TransactionEvent to publish (card fields
 * from `pan`, gateway fields from `ctx`) and the sensitive fields that were dropped, or the reason
 * it is refused.
 */
export function validateTransaction(
  input: unknown,
  ctx: ValidationContext,
): ValidationResult<TransactionEvent> {
  return run(
    () => transaction(input, ctx),
    () => DROPPED_FIELDS.filter((f) => Object.hasOwn(input as object, f)),
  );
}

/** One heartbeat from a POST /v1/heartbeats body → the TerminalHeartbeat to publish, or the reason it is refused. */
export function validateHeartbeat(
  input: unknown,
  ctx: ValidationContext,
): ValidationResult<TerminalHeartbeat> {
  return run(
    () => heartbeat(input, ctx),
    () => [],
  );
}
