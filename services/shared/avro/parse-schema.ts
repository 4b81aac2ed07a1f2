import avro, { type Schema, type Type } from 'avsc';
import { safeLongType } from './long-type.ts';

/**
 * `Type.forSchema` with pospulse's type overrides. Every schema the codec uses — from `schemas/`,
 * `schemas/history/` or the schema registry — goes through here, so decoding is strict everywhere:
 *
 * - `long` (with or without a logical type) is {@link safeLongType}: exact or refused. A `typeHook`
 *   is needed because avsc builds `{"type": "long", ...}` objects with its own `LongType` and only
 *   consults `registry.long` for the bare string `"long"`.
 * - `timestamp-millis` and `uuid` register no logical type on purpose: avsc then uses the
 *   underlying type, so timestamps are plain numbers (ms since the epoch) and uuids plain strings.
 * - `int` refuses varints that do not fit 32 bits, `boolean` refuses bytes other than 0 and 1:
 *   avsc returns e.g. 2^40 for an `int` or `true` for 0x7f, so garbage would pass as a value.
 * - arrays and maps refuse a block count larger than the bytes left (each item takes at least one
 *   byte, except items of a zero-size type such as `null`, which no pospulse schema has): avsc
 *   would loop over a garbage count of up to 2^53, i.e. hang. Maps also keep a `__proto__` key as
 *   data instead of dropping it.
 *
 * Decoded records are instances of avsc's generated record classes with no methods
 * (`omitRecordMethods`): plain data as far as callers can tell.
 */
export function parseSchema(schema: unknown): Type {
  return avro.Type.forSchema(schema as Schema, { typeHook, omitRecordMethods: true, wrapUnions: 'auto' });
}

/** avsc's internal cursor over a buffer (not part of its typings). */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  readString(): string;
  skipString(): void;
}

/** An avsc type or resolver as seen from inside a `_read`/`_skip` (not part of its typings). */
interface Reader {
  _read(tap: Tap): unknown;
  _skip(tap: Tap): void;
}

function tooManyItems(kind: string, n: number, tap: Tap): Error {
  return new RangeError(
    `${kind} block of ${n} items is larger than the ${tap.buf.length - tap.pos} bytes left`,
  );
}

/** Reads a block count; skips the block byte size that follows a negative count. */
function readBlockCount(tap: Tap): number {
  const n = tap.readLong();
  if (n >= 0) return n;
  tap.readLong();
  return -n;
}

/** Skips a block given its byte size, or returns the count when the block has no byte size. */
function skipSizedBlock(tap: Tap): number | 'skipped' | 0 {
  const n = tap.readLong();
  if (n >= 0) return n;
  const size = tap.readLong();
  if (size < 0) throw new RangeError(`negative block size ${size}`);
  tap.pos += size;
  return 'skipped';
}

function readArray(this: { itemsType: Reader }, tap: Tap): unknown[] {
  const items = this.itemsType;
  const out: unknown[] = [];
  for (let n = readBlockCount(tap); n !== 0; n = readBlockCount(tap)) {
    if (n > tap.buf.length - tap.pos) throw tooManyItems('array', n, tap);
    for (; n > 0; n--) out.push(items._read(tap));
  }
  return out;
}

function skipArray(this: { itemsType: Reader }, tap: Tap): void {
  for (let n = skipSizedBlock(tap); n !== 0; n = skipSizedBlock(tap)) {
    if (n === 'skipped') continue;
    if (n > tap.buf.length - tap.pos) throw tooManyItems('array', n, tap);
    for (; n > 0; n--) this.itemsType._skip(tap);
  }
}

function readMap(this: { valuesType: Reader }, tap: Tap): Record<string, unknown> {
  const values = this.valuesType;
  const out: Record<string, unknown> = {};
  for (let n = readBlockCount(tap); n !== 0; n = readBlockCount(tap)) {
    if (n > tap.buf.length - tap.pos) throw tooManyItems('map', n, tap);
    for (; n > 0; n--) {
      const key = tap.readString();
      const value = values._read(tap);
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = value;
      }
    }
  }
  return out;
}

function skipMap(this: { valuesType: Reader }, tap: Tap): void {
  for (let n = skipSizedBlock(tap); n !== 0; n = skipSizedBlock(tap)) {
    if (n === 'skipped') continue;
    if (n > tap.buf.length - tap.pos) throw tooManyItems('map', n, tap);
    for (; n > 0; n--) {
      tap.skipString();
      this.valuesType._skip(tap);
    }
  }
}

function readInt(tap: Tap): number {
  const n = tap.readLong();
  if (n !== (n | 0)) throw new RangeError(`int ${n} does not fit 32 bits`);
  return n;
}

function readBoolean(tap: Tap): boolean {
  const b = tap.buf[tap.pos++];
  if (b === 0) return false;
  if (b === 1) return true;
  if (b === undefined) return false; // past the end: avsc reports the truncation afterwards
  throw new RangeError(`invalid boolean byte 0x${b.toString(16)}`);
}

// avsc's resolvers copy `_read` from the reader type (`resolver._read = this._read`) and call it on
// the resolver, so these overrides must live on the prototype and only use `this.itemsType` /
// `this.valuesType`, which resolvers carry too. avsc freezes instances, not prototypes.
class StrictArrayType extends avro.types.ArrayType {}
class StrictMapType extends avro.types.MapType {}
class StrictIntType extends avro.types.IntType {}
class StrictBooleanType extends avro.types.BooleanType {}
Object.defineProperties(StrictArrayType.prototype, {
  _read: { value: readArray },
  _skip: { value: skipArray },
});
Object.defineProperties(StrictMapType.prototype, { _read: { value: readMap }, _skip: { value: skipMap } });
Object.defineProperty(StrictIntType.prototype, '_read', { value: readInt });
Object.defineProperty(StrictBooleanType.prototype, '_read', { value: readBoolean });

const strictInt = new StrictIntType();
const strictBoolean = new StrictBooleanType();

function typeHook(schema: Schema, opts: object): Type | undefined {
  const typeName =
    typeof schema === 'string'
      ? schema
      : typeof schema === 'object' && schema !== null && !Array.isArray(schema) && 'type' in schema
        ? schema.type
        : undefined;
  switch (typeName) {
    case 'long':
      return safeLongType;
    case 'int':
      return strictInt;
    case 'boolean':
      return strictBoolean;
    case 'array':
      return typeof schema === 'object' ? new StrictArrayType(schema, opts) : undefined;
    case 'map':
      return typeof schema === 'object' ? new StrictMapType(schema, opts) : undefined;
    default:
      return undefined;
  }
}
