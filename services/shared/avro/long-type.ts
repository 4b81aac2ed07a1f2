import avro from 'avsc';

/**
 * Avro `long` carried as a plain JS number, exact or refused.
 *
 * avsc's built-in long does float arithmetic on the zigzag value, which is exact only while that
 * value stays below 2^53, i.e. for |n| < 2^52: `-6010213679171096` is written as the bytes of
 * `+6010213679171096`, and longs written by Java/Python beyond that range decode to a wrong number
 * with no error (see /work/shared/NOTES.md). This type encodes and decodes the varint itself:
 * every safe integer (|n| <= 2^53 - 1) round-trips exactly, anything else is refused — invalid on
 * encode, {@link UnsafeLongError} on decode. Refusing instead of carrying a bigint keeps the
 * application's values plain numbers; nothing pospulse counts gets near 2^53.
 */

/** A long on the wire that has no exact JS number (outside ±(2^53 - 1)), or a malformed varint. */
export class UnsafeLongError extends RangeError {
  override readonly name = 'UnsafeLongError';
}

const MAX_VARINT_BYTES = 10; // 64 bits in 7-bit groups
const REST_LIMIT = 2 ** 40; // beyond this, one more 7-bit group cannot stay below 2^47
const MAX_REST = 2 ** 47 - 1; // magnitude = rest * 64 + low6 <= 2^53 - 1

function exactValue(bytes: Uint8Array): bigint {
  let z = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) z = (z << 7n) | BigInt(bytes[i]! & 0x7f);
  return (z >> 1n) ^ -(z & 1n);
}

function outOfRange(bytes: Uint8Array): UnsafeLongError {
  return new UnsafeLongError(
    `long ${exactValue(bytes)} is outside the exactly representable range ±(2^53 - 1)`,
  );
}

/**
 * Decodes one zigzag varint (all its bytes, continuation bits included) to a safe integer.
 * Works on the magnitude split as `rest * 64 + low6` so every intermediate stays exact in float.
 */
export function decodeZigZagVarint(bytes: Uint8Array): number {
  const len = bytes.length;
  if (len === 0 || len > MAX_VARINT_BYTES) {
    throw new UnsafeLongError(`invalid long encoding: ${len} bytes`);
  }
  const b0 = bytes[0]!;
  let rest = 0;
  for (let i = len - 1; i >= 1; i--) {
    if (rest >= REST_LIMIT) throw outOfRange(bytes);
    rest = rest * 128 + (bytes[i]! & 0x7f);
  }
  if (rest > MAX_REST) throw outOfRange(bytes);
  const magnitude = rest * 64 + ((b0 & 0x7f) >> 1);
  if ((b0 & 1) === 0) return magnitude;
  if (magnitude > Number.MAX_SAFE_INTEGER - 1) throw outOfRange(bytes);
  return -magnitude - 1;
}

/** Encodes a safe integer as a zigzag varint. The caller guarantees `Number.isSafeInteger(n)`. */
export function encodeZigZagVarint(n: number): Buffer {
  const out = Buffer.allocUnsafe(MAX_VARINT_BYTES);
  // zigzag(n) = 2a + s with s the sign bit and a = n (n >= 0) or -n - 1 (n < 0); splitting off
  // the low 6 bits of a first keeps every step exact where 2a + 1 itself would not be.
  const negative = n < 0;
  const a = negative ? -n - 1 : n;
  let byte = (a % 64) * 2 + (negative ? 1 : 0);
  let rest = Math.floor(a / 64);
  let i = 0;
  while (rest > 0) {
    out[i++] = byte | 0x80;
    byte = rest % 128;
    rest = Math.floor(rest / 128);
  }
  out[i++] = byte;
  return out.subarray(0, i);
}

const isSafeLong = (v: unknown): v is number => Number.isSafeInteger(v);

/**
 * The long type to use everywhere (plugged in by `parseSchema`). `noUnpack` = true: avsc hands us
 * the raw varint bytes and writes ours verbatim, so its own float zigzag code is never involved.
 */
export const safeLongType = avro.types.LongType.__with(
  {
    fromBuffer: (buf: Buffer): number => decodeZigZagVarint(buf),
    toBuffer: (n: number): Buffer => encodeZigZagVarint(n),
    // Used for schema defaults and for reading an `int` writer as a `long` reader.
    fromJSON: (v: unknown): number => {
      if (isSafeLong(v)) return v;
      throw new UnsafeLongError(`not a safe integer: ${String(v)}`);
    },
    toJSON: (n: number): number => n,
    isValid: isSafeLong,
    compare: (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0),
  },
  true,
);
