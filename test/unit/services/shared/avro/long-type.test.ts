import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  UnsafeLongError,
  decodeZigZagVarint,
  encodeZigZagVarint,
  safeLongType,
} from '../../../../../services/shared/avro/long-type.ts';
import { safeLong } from '../../../../support/avro-arbitrary.ts';
import { zigzagVarint } from '../../../../support/zigzag.ts';

describe('safe long type', () => {
  it('writes the same bytes as exact 64-bit zigzag for every safe integer', () => {
    fc.assert(
      fc.property(safeLong, (n) => {
        expect(encodeZigZagVarint(n).toString('hex')).toBe(zigzagVarint(BigInt(n)).toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back every safe integer exactly', () => {
    fc.assert(
      fc.property(safeLong, (n) => {
        expect(safeLongType.fromBuffer(safeLongType.toBuffer(n))).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips -6010213679171096, which avsc’s default long writes as its positive twin', () => {
    const bytes = safeLongType.toBuffer(-6010213679171096);
    expect(bytes.toString('hex')).toBe(zigzagVarint(-6010213679171096n).toString('hex'));
    expect(safeLongType.fromBuffer(bytes)).toBe(-6010213679171096);
  });

  it.each([
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    2 ** 52,
    -(2 ** 52),
    -(2 ** 52) - 1,
    2 ** 52 + 1,
  ])('round-trips the edge value %d', (n) => {
    expect(safeLongType.fromBuffer(safeLongType.toBuffer(n))).toBe(n);
  });

  it.each([2 ** 53, -(2 ** 53), 2 ** 63, 1.5, -0.5, Number.NaN, Infinity, '1', 1n, null])(
    'calls %s invalid rather than write it inexactly',
    (v) => {
      expect(safeLongType.isValid(v)).toBe(false);
      expect(() => safeLongType.toBuffer(v)).toThrow();
    },
  );

  it.each([
    ['2^53', 2n ** 53n],
    ['-(2^53)', -(2n ** 53n)],
    ['2^53 + 1', 2n ** 53n + 1n],
    ['-(2^53) - 1', -(2n ** 53n) - 1n],
    ['2^63 - 1', 2n ** 63n - 1n],
    ['-(2^63)', -(2n ** 63n)],
    ['-6010213679171096 * 1000', -6010213679171096000n],
  ])('refuses to decode %s, written by a 64-bit writer, instead of returning a wrong number', (_, n) => {
    expect(() => decodeZigZagVarint(zigzagVarint(n))).toThrow(UnsafeLongError);
    expect(() => safeLongType.fromBuffer(zigzagVarint(n))).toThrow(UnsafeLongError);
  });

  it('refuses exactly the longs beyond ±(2^53 - 1), over the whole 64-bit range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (n) => {
        const bytes = zigzagVarint(n);
        if (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(decodeZigZagVarint(bytes)).toBe(Number(n));
        } else {
          expect(() => decodeZigZagVarint(bytes)).toThrow(UnsafeLongError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('names the exact out-of-range value in the error', () => {
    expect(() => decodeZigZagVarint(zigzagVarint(2n ** 53n + 1n))).toThrow('9007199254740993');
  });

  it('refuses a varint longer than 10 bytes', () => {
    const eleven = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    expect(() => decodeZigZagVarint(eleven)).toThrow(UnsafeLongError);
  });

  it('reads a non-minimal but valid encoding of a small value', () => {
    expect(decodeZigZagVarint(Buffer.from([0x84, 0x80, 0x00]))).toBe(2);
  });
});
