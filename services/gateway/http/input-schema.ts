import { loadSchemaCatalog } from '../../shared/avro/schemas.ts';
import type {
  ConnectionType,
  EntryMode,
  PaperState,
  PaymentMethod,
  TransactionStatus,
  TransactionType,
} from '../../shared/avro/types.generated.ts';
import { RFC3339_MAX_LENGTH } from './timestamps.ts';

/**
 * JSON Schemas of what clients POST to /v1/transactions and /v1/heartbeats, derived from the Avro
 * schemas (the single source of truth for field names, types, nullability and docs) and then
 * adjusted for the HTTP input: gateway-set fields removed, client-friendly timestamp and amount
 * formats, the card number and dropped sensitive fields added, and per-field limits.
 *
 * The result is plain JSON Schema (draft-07, also valid OpenAPI 3.1): nullability is a `"null"`
 * member of `type`, never OpenAPI 3.0's `nullable`, and only keywords both dialects share are used.
 * `format: "date-time"` and `format: "uuid"` are annotations in OpenAPI 3.1; the validator in
 * validate.ts enforces them, and event_id also carries a `pattern` so other tools check it too.
 */

export type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';

// A type alias rather than an interface: Ajv's `SchemaObject` has an index signature, which only
// type aliases satisfy implicitly.
export type JsonSchema = {
  description?: string;
  type?: JsonType | JsonType[];
  enum?: (string | null)[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  maxItems?: number;
};

/** Thrown at start-up when an Avro schema uses something the converter does not map. */
export class AvroConversionError extends Error {
  override readonly name = 'AvroConversionError';
}

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
// Not the Avro long range (±2^63): the codec's long type (services/shared/avro/long-type.ts)
// refuses anything outside the safe integers, so advertising more would accept unencodable input.
const LONG_MIN = -Number.MAX_SAFE_INTEGER;
const LONG_MAX = Number.MAX_SAFE_INTEGER;

type AvroObject = Record<string, unknown>;

function isObject(v: unknown): v is AvroObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The field's doc wins over its type's own doc; put first so the emitted JSON reads well. */
function withDescription(schema: JsonSchema, doc: unknown): JsonSchema {
  if (typeof doc !== 'string') return schema;
  const { description: _typeDoc, ...rest } = schema;
  return { description: doc, ...rest };
}

function nullable(schema: JsonSchema): JsonSchema {
  if (schema.type === undefined || schema.anyOf !== undefined) {
    return { anyOf: [{ type: 'null' }, schema] };
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const out: JsonSchema = { ...schema, type: [...types, 'null'] };
  if (schema.enum !== undefined) out.enum = [...schema.enum, null];
  return out;
}

class Converter {
  /** Named types (records, enums) by full and short name; a reference gets a copy. */
  private readonly named = new Map<string, JsonSchema>();

  convert(t: unknown, namespace: string | undefined): JsonSchema {
    if (typeof t === 'string') return this.primitiveOrReference(t, namespace);
    if (Array.isArray(t)) return this.union(t, namespace);
    if (!isObject(t)) throw new AvroConversionError(`not an Avro schema: ${JSON.stringify(t)}`);
    const { type, logicalType } = t;
    switch (type) {
      case 'record':
      case 'error':
        return this.record(t, namespace);
      case 'enum':
        return this.register(t, namespace, {
          ...withDescription({}, t['doc']),
          type: 'string',
          enum: [...(t['symbols'] as string[])],
        });
      case 'array':
        return { type: 'array', items: this.convert(t['items'], namespace) };
      case 'map':
        return { type: 'object', additionalProperties: this.convert(t['values'], namespace) };
      case 'long':
        if (logicalType === 'timestamp-millis') {
          return {
            type: ['integer', 'string'],
            minimum: LONG_MIN,
            maximum: LONG_MAX,
            format: 'date-time',
            maxLength: RFC3339_MAX_LENGTH,
          };
        }
        return this.primitiveOrReference(type, namespace);
      case 'string':
        if (logicalType === 'uuid') return { type: 'string', format: 'uuid' };
        return this.primitiveOrReference(type, namespace);
      default:
        // Other logical types annotate their underlying type, which readers fall back to (Avro spec).
        if (typeof type === 'string') return this.primitiveOrReference(type, namespace);
        return this.convert(type, namespace);
    }
  }

  private primitiveOrReference(name: string, namespace: string | undefined): JsonSchema {
    switch (name) {
      case 'null':
        return { type: 'null' };
      case 'boolean':
        return { type: 'boolean' };
      case 'int':
        return { type: 'integer', minimum: INT_MIN, maximum: INT_MAX };
      case 'long':
        return { type: 'integer', minimum: LONG_MIN, maximum: LONG_MAX };
      case 'float':
      case 'double':
        return { type: 'number' };
      case 'string':
        return { type: 'string' };
      case 'bytes':
      case 'fixed':
        // JSON has no bytes; an encoding (base64? hex?) would be a choice for the input format.
        throw new AvroConversionError(`Avro ${name} has no JSON input mapping`);
    }
    const full = name.includes('.') || namespace === undefined ? name : `${namespace}.${name}`;
    const found = this.named.get(full) ?? this.named.get(name);
    if (found === undefined) throw new AvroConversionError(`unknown Avro type ${name}`);
    return structuredClone(found);
  }

  private union(branches: unknown[], namespace: string | undefined): JsonSchema {
    const hasNull = branches.includes('null');
    const others = branches.filter((b) => b !== 'null').map((b) => this.convert(b, namespace));
    const [only] = others;
    if (only !== undefined && others.length === 1) return hasNull ? nullable(only) : only;
    return { anyOf: [...(hasNull ? [{ type: 'null' } as JsonSchema] : []), ...others] };
  }

  private record(t: AvroObject, outer: string | undefined): JsonSchema {
    const name = String(t['name']);
    const namespace = name.includes('.')
      ? name.slice(0, name.lastIndexOf('.'))
      : typeof t['namespace'] === 'string'
        ? t['namespace']
        : outer;
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const field of t['fields'] as AvroObject[]) {
      const fieldName = String(field['name']);
      properties[fieldName] = withDescription(this.convert(field['type'], namespace), field['doc']);
      // A field with a default may be left out by a writer; without one it must be there.
      if (!('default' in field)) required.push(fieldName);
    }
    return this.register(t, outer, {
      ...withDescription({}, t['doc']),
      type: 'object',
      additionalProperties: false,
      required,
      properties,
    });
  }

  private register(t: AvroObject, namespace: string | undefined, schema: JsonSchema): JsonSchema {
    const name = String(t['name']);
    const ns = typeof t['namespace'] === 'string' ? t['namespace'] : namespace;
    const full = name.includes('.') || ns === undefined ? name : `${ns}.${name}`;
    this.named.set(full, schema);
    this.named.set(name.slice(name.lastIndexOf('.') + 1), schema);
    return schema;
  }
}

/**
 * JSON Schema of the JSON form of an Avro schema: record → object with `additionalProperties:
 * false` and `required` = the fields without a default; `["null", T]` → T with `"null"` added to
 * its type; enum → string enum; int → 32-bit integer range; long → safe-integer range;
 * `timestamp-millis` → integer or RFC 3339 `date-time` string; `uuid` → `format: "uuid"`; arrays,
 * maps and nested or referenced named types; `doc` → `description`. bytes and fixed are refused.
 */
export function avroToJsonSchema(avro: unknown): JsonSchema {
  return new Converter().convert(avro, undefined);
}

/** Limits on the input, also cited in docs/INGEST.md. */
export const INPUT_LIMITS = Object.freeze({
  /** Strings without a tighter limit. */
  defaultMaxLength: 256,
  /** Identifiers: terminal serial, merchant, acquirer, region, cashier, versions, codes, SKUs. */
  idMaxLength: 64,
  maxBasketItems: 500,
  maxCouponCodes: 20,
  /** Units on one basket line. */
  maxQuantity: 100_000,
  /** Decimal-digit amount strings (2^53 - 1 has 16 digits; leading zeros are allowed). */
  amountStringMaxLength: 20,
});

/** Accepted so that terminals sending them are not refused, and dropped before anything is kept. */
export const DROPPED_FIELDS = ['track1', 'track2', 'cvv', 'pin_block', 'expiry'] as const;

/** Set by the gateway, never taken from the client. */
const GATEWAY_FIELDS = ['gateway_id', 'ingest_channel', 'gateway_received_time'];
/** Derived from `pan` by the gateway. */
const CARD_FIELDS = ['card_token', 'card_token_key_id', 'card_bin', 'card_last4'];

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

function omit(schema: JsonSchema, names: readonly string[]): void {
  for (const n of names) delete schema.properties?.[n];
  schema.required = (schema.required ?? []).filter((r) => !names.includes(r));
}

/** The property at `path`: dot-separated names, `[]` after a name steps into its array items. */
function at(schema: JsonSchema, path: string): JsonSchema {
  let s = schema;
  for (const segment of path.split('.')) {
    const isArray = segment.endsWith('[]');
    const name = isArray ? segment.slice(0, -2) : segment;
    const next = s.properties?.[name];
    const target = isArray ? next?.items : next;
    if (target === undefined) throw new AvroConversionError(`no field ${path} in the Avro schema`);
    s = target;
  }
  return s;
}

function patch(schema: JsonSchema, path: string, changes: JsonSchema): void {
  Object.assign(at(schema, path), structuredClone(changes));
}

function note(schema: JsonSchema, path: string, text: string): void {
  const s = at(schema, path);
  s.description = s.description === undefined ? text : `${s.description} ${text}`;
}

/** Every string without its own limit gets the default one: nothing unbounded reaches Kafka. */
function limitStrings(schema: JsonSchema): void {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('string') && schema.enum === undefined && schema.maxLength === undefined) {
    schema.maxLength = INPUT_LIMITS.defaultMaxLength;
  }
  for (const child of Object.values(schema.properties ?? {})) limitStrings(child);
  if (schema.items !== undefined) limitStrings(schema.items);
  for (const branch of schema.anyOf ?? []) limitStrings(branch);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const EVENT_ID: JsonSchema = {
  description:
    'Unique id of this event (UUID, any version), chosen by the client. The gateway deduplicates on it, so resending an event with the same id is safe. Stored in lower case.',
  type: 'string',
  format: 'uuid',
  pattern: UUID_PATTERN,
  maxLength: 36,
};

const ID = { minLength: 1, maxLength: INPUT_LIMITS.idMaxLength } satisfies JsonSchema;
const TIMESTAMP_NOTE =
  'Send integer epoch milliseconds or an RFC 3339 date-time string with an offset or Z (e.g. "2026-11-01T09:00:00.123Z").';
const AMOUNT: JsonSchema = {
  type: ['integer', 'string'],
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  pattern: '^[0-9]+$',
  maxLength: INPUT_LIMITS.amountStringMaxLength,
};
const AMOUNT_NOTE =
  'A JSON integer or a string of decimal digits, not negative, at most 9007199254740991 (2^53 - 1), the largest amount the pipeline carries exactly.';

function buildTransactionInputSchema(avro: unknown): JsonSchema {
  const s = avroToJsonSchema(avro);
  omit(s, [...GATEWAY_FIELDS, ...CARD_FIELDS]);
  s.description =
    'One authorization attempt as a client sends it to POST /v1/transactions. The gateway adds gateway_id, ingest_channel and gateway_received_time, and turns `pan` into card_token, card_token_key_id, card_bin and card_last4.';
  patch(s, 'event_id', EVENT_ID);
  for (const f of ['terminal_serial', 'merchant_id', 'acquirer_id', 'region']) patch(s, f, ID);
  patch(s, 'cashier_id', { maxLength: INPUT_LIMITS.idMaxLength });
  patch(s, 'latitude', { minimum: -90, maximum: 90 });
  patch(s, 'longitude', { minimum: -180, maximum: 180 });
  patch(s, 'mcc', { pattern: '^[0-9]{4}$', maxLength: 4 });
  patch(s, 'currency', { pattern: '^[A-Z]{3}$', maxLength: 3 });
  // Field sizes of ISO 8583: 39 is an 2, 38 an 6, 11 n 6, 37 an 12.
  patch(s, 'response_code', { pattern: '^[0-9A-Za-z]{2}$', maxLength: 2 });
  patch(s, 'auth_code', { pattern: '^[0-9A-Za-z]{1,6}$', maxLength: 6 });
  patch(s, 'stan', { pattern: '^[0-9]{1,6}$', maxLength: 6 });
  patch(s, 'rrn', { pattern: '^[0-9A-Za-z]{1,12}$', maxLength: 12 });
  for (const f of ['request_time', 'response_time']) note(s, f, TIMESTAMP_NOTE);
  for (const f of ['amount_minor', 'basket.discount_minor', 'basket.items[].unit_price_minor']) {
    patch(s, f, AMOUNT);
    note(s, f, AMOUNT_NOTE);
  }
  patch(s, 'basket.item_count', { minimum: 0 });
  patch(s, 'basket.items', { maxItems: INPUT_LIMITS.maxBasketItems });
  patch(s, 'basket.items[].sku', ID);
  patch(s, 'basket.items[].quantity', { minimum: 1, maximum: INPUT_LIMITS.maxQuantity });
  patch(s, 'basket.coupon_codes', { maxItems: INPUT_LIMITS.maxCouponCodes });
  patch(s, 'basket.coupon_codes[]', ID);
  s.properties!['pan'] = {
    description:
      'Card number (PAN), 12 to 19 digits, Luhn-valid. Tokenized by the gateway (card_token, card_bin, card_last4) and never stored or forwarded. Omit or null for payments without a card.',
    type: ['string', 'null'],
    pattern: '^[0-9]{12,19}$',
    maxLength: 19,
  };
  for (const f of DROPPED_FIELDS) {
    // Any JSON value: the field is discarded unread, so refusing it for its type would only lose events.
    s.properties![f] = {
      description: `Accepted for compatibility with terminals that send it, then dropped: never stored or forwarded. Listed in the result's \`dropped\`.`,
    };
  }
  limitStrings(s);
  return s;
}

function buildHeartbeatInputSchema(avro: unknown): JsonSchema {
  const s = avroToJsonSchema(avro);
  omit(s, GATEWAY_FIELDS);
  s.description =
    'Periodic health report of one POS terminal as a client sends it to POST /v1/heartbeats. The gateway adds gateway_id, ingest_channel and gateway_received_time.';
  patch(s, 'event_id', EVENT_ID);
  patch(s, 'terminal_serial', ID);
  for (const f of ['merchant_id', 'last_error_code']) patch(s, f, { maxLength: INPUT_LIMITS.idMaxLength });
  for (const f of ['firmware_version', 'app_version']) patch(s, f, ID);
  note(s, 'event_time', TIMESTAMP_NOTE);
  patch(s, 'battery_pct', { minimum: 0, maximum: 100 });
  patch(s, 'signal_strength_dbm', { minimum: -150, maximum: 0 });
  patch(s, 'offline_queue_length', { minimum: 0 });
  limitStrings(s);
  return s;
}

// Built once when the module loads, from the same catalog loader the codec uses, so the input
// format cannot drift from the .avsc files. These are immutable data, not stateful singletons.
const catalog = loadSchemaCatalog();

/** JSON Schema of one transaction in a POST /v1/transactions body. Frozen: clone before editing. */
export const transactionInputSchema: JsonSchema = deepFreeze(
  buildTransactionInputSchema(catalog.getSchema('TransactionEvent').json),
);

/** JSON Schema of one heartbeat in a POST /v1/heartbeats body. Frozen: clone before editing. */
export const heartbeatInputSchema: JsonSchema = deepFreeze(
  buildHeartbeatInputSchema(catalog.getSchema('TerminalHeartbeat').json),
);

/** A timestamp as the client may send it. */
export type TimestampInput = number | string;
/** An amount as the client may send it. */
export type AmountInput = number | string;

export interface LineItemInput {
  sku: string;
  quantity: number;
  unit_price_minor: AmountInput;
}

export interface BasketInput {
  item_count: number;
  items: LineItemInput[];
  discount_minor: AmountInput;
  coupon_codes: string[];
}

/** What {@link transactionInputSchema} accepts, as a TypeScript type. */
export interface TransactionInput {
  event_id: string;
  terminal_serial: string;
  merchant_id: string;
  merchant_name: string;
  acquirer_id: string;
  region: string;
  latitude?: number | null;
  longitude?: number | null;
  mcc: string;
  cashier_id?: string | null;
  transaction_type: TransactionType;
  payment_method: PaymentMethod;
  entry_mode: EntryMode;
  amount_minor: AmountInput;
  currency: string;
  pan?: string | null;
  response_code?: string | null;
  response_message?: string | null;
  auth_code?: string | null;
  status: TransactionStatus;
  request_time: TimestampInput;
  response_time?: TimestampInput | null;
  stan?: string | null;
  rrn?: string | null;
  basket?: BasketInput | null;
  track1?: unknown;
  track2?: unknown;
  cvv?: unknown;
  pin_block?: unknown;
  expiry?: unknown;
}

/** What {@link heartbeatInputSchema} accepts, as a TypeScript type. */
export interface HeartbeatInput {
  event_id: string;
  terminal_serial: string;
  merchant_id?: string | null;
  event_time: TimestampInput;
  online: boolean;
  firmware_version: string;
  app_version: string;
  battery_pct?: number | null;
  paper_state: PaperState;
  signal_strength_dbm?: number | null;
  connection_type: ConnectionType;
  last_error_code?: string | null;
  offline_queue_length: number;
}
