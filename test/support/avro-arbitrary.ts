import { type Type } from 'avsc';
import fc from 'fast-check';

/**
 * A fast-check arbitrary of valid values for an avsc type, built from the schema itself so every
 * record, including ones added later, is covered by the round-trip properties.
 */

const MAX = Number.MAX_SAFE_INTEGER;
const MIN = Number.MIN_SAFE_INTEGER;

/** Safe integers, biased towards the places where float-based longs break (±2^52, ±2^53). */
export const safeLong: fc.Arbitrary<number> = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.integer({ min: MAX - 2 ** 16, max: MAX }),
  fc.integer({ min: MIN, max: MIN + 2 ** 16 }),
  fc.integer({ min: 2 ** 52 - 2 ** 16, max: 2 ** 52 + 2 ** 16 }),
  fc.integer({ min: -(2 ** 52) - 2 ** 16, max: -(2 ** 52) + 2 ** 16 }),
  fc.constantFrom(0, -1, 1, -6010213679171096, 6010213679171096, 1_700_000_000_000),
);

const text: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  // Any code point but lone surrogates, which UTF-8 cannot carry.
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '00', '05', '5411', 'EUR', '*'),
);

/** Map keys, including ones that are special on plain objects. */
const mapKey: fc.Arbitrary<string> = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'toString'));

/** Builds a plain object with own properties only, even for a key named `__proto__`. */
function toMap(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

interface Inspectable {
  typeName: string;
  fields?: { name: string; type: Type }[];
  symbols?: string[];
  types?: Type[];
  itemsType?: Type;
  valuesType?: Type;
  size?: number;
  branchName?: string;
}

export function arbitraryFor(type: Type): fc.Arbitrary<unknown> {
  const t = type as unknown as Inspectable;
  switch (t.typeName) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'int':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'long':
    case 'abstract:long':
      return safeLong;
    case 'float':
      return fc.float();
    case 'double':
      // Includes -0, ±Infinity and NaN: Avro doubles are IEEE 754 bits and carry them all.
      return fc.double();
    case 'bytes':
      return fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a));
    case 'fixed':
      return fc.uint8Array({ minLength: t.size!, maxLength: t.size! }).map((a) => Buffer.from(a));
    case 'string':
      return text;
    case 'enum':
      return fc.constantFrom(...t.symbols!);
    case 'array':
      return fc.array(arbitraryFor(t.itemsType!), { maxLength: 4 });
    case 'map':
      return fc
        .uniqueArray(fc.tuple(mapKey, arbitraryFor(t.valuesType!)), { selector: ([k]) => k, maxLength: 4 })
        .map(toMap);
    case 'record':
    case 'error':
      return fc.record(Object.fromEntries(t.fields!.map((f) => [f.name, arbitraryFor(f.type)])));
    case 'union:unwrapped':
      return fc.oneof(...t.types!.map(arbitraryFor));
    case 'union:wrapped':
      return fc.oneof(
        ...t.types!.map((branch) => {
          const b = branch as unknown as Inspectable;
          return b.typeName === 'null'
            ? fc.constant(null)
            : arbitraryFor(branch).map((v) => ({ [b.branchName!]: v }));
        }),
      );
    default:
      throw new Error(`arbitraryFor: unsupported Avro type ${t.typeName}`);
  }
}
