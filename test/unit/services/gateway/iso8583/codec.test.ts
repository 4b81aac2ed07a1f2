import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Iso8583Error, type Iso8583ErrorReason } from '../../../../../services/shared/errors.ts';
import {
  decodeMessage,
  encodeMessage,
  type Iso8583CodecOptions,
  type Iso8583Message,
} from '../../../../../services/gateway/iso8583/codec.ts';
import {
  ISO8583_FIELDS,
  SENSITIVE_FIELDS,
  type FieldSpec,
} from '../../../../../services/gateway/iso8583/fields.ts';

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const msg = (mti: string, fields: [number, string | Buffer][]): Iso8583Message => ({
  mti,
  fields: new Map(fields),
});

/** Runs `fn` and returns the Iso8583Error it throws; fails if it throws anything else or nothing. */
function isoErrorOf(fn: () => unknown): Iso8583Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof Iso8583Error) return err;
    throw new Error(`expected an Iso8583Error, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an Iso8583Error, nothing was thrown');
}

// A 0200 built by hand: fields 2, 3, 4, 11, 22, 41, 49. Bitmap bytes: bits 2,3,4 → 0x70;
// bit 11 → 0x20; bit 22 → 0x04; bit 41 → 0x80 (byte 6); bit 49 → 0x80 (byte 7).
const SALE_BYTES = Buffer.concat([
  ascii('0200'),
  hex('70 20 04 00 00 80 80 00'),
  ascii('16' + '4111111111111111'),
  ascii('000000'),
  ascii('000000001234'),
  ascii('000123'),
  ascii('051'),
  ascii('TERM0001'),
  ascii('978'),
]);
const SALE = msg('0200', [
  [2, '4111111111111111'],
  [3, '000000'],
  [4, '000000001234'],
  [11, '000123'],
  [22, '051'],
  [41, 'TERM0001'],
  [49, '978'],
]);

// An echo test: bit 1 (secondary bitmap) + 7 + 11 in the primary, 70 in the secondary.
const ECHO_FIELDS = ascii('0614123456' + '000042' + '301');
const ECHO = msg('0800', [
  [7, '0614123456'],
  [11, '000042'],
  [70, '301'],
]);

describe('ISO 8583 field table', () => {
  it('knows every field the gateway maps or has to parse past', () => {
    for (const n of [
      2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 35, 37, 38, 39, 41, 42, 43, 45, 49, 52, 55, 70, 90,
    ]) {
      expect(ISO8583_FIELDS.get(n)?.number).toBe(n);
    }
  });

  it('marks PAN, expiry, both tracks, the PIN block and EMV data as sensitive, and nothing else', () => {
    expect([...SENSITIVE_FIELDS].sort((a, b) => a - b)).toEqual([2, 14, 35, 45, 52, 55]);
  });

  it('has no field 1 (the codec owns the bitmap) and only fields 2 to 128', () => {
    for (const n of ISO8583_FIELDS.keys()) expect(n >= 2 && n <= 128).toBe(true);
  });
});

describe('ISO 8583 codec: known answers', () => {
  it('reads a hand-built 0200 with a binary bitmap and an LLVAR PAN', () => {
    expect(decodeMessage(SALE_BYTES)).toEqual(SALE);
  });

  it('writes the same 0200 byte for byte', () => {
    expect(encodeMessage(SALE).toString('hex')).toBe(SALE_BYTES.toString('hex'));
  });

  it('writes a secondary bitmap only when a field above 64 is present (8220… 0400… for an echo test)', () => {
    const bytes = Buffer.concat([
      ascii('0800'),
      hex('82 20 00 00 00 00 00 00'),
      hex('04 00 00 00 00 00 00 00'),
      ECHO_FIELDS,
    ]);
    expect(encodeMessage(ECHO).toString('hex')).toBe(bytes.toString('hex'));
    expect(decodeMessage(bytes)).toEqual(ECHO);
  });

  it('reads and writes hex-ASCII bitmaps when asked, accepting lowercase on input', () => {
    const upper = Buffer.concat([ascii('0800' + '8220000000000000' + '0400000000000000'), ECHO_FIELDS]);
    const lower = Buffer.concat([
      ascii('0800' + '8220000000000000' + '0400000000000000'.toLowerCase()),
      ECHO_FIELDS,
    ]);
    expect(encodeMessage(ECHO, { bitmap: 'hex' }).toString('latin1')).toBe(upper.toString('latin1'));
    expect(decodeMessage(upper, { bitmap: 'hex' })).toEqual(ECHO);
    expect(decodeMessage(lower, { bitmap: 'hex' })).toEqual(ECHO);
  });

  it('reads an LLLVAR binary field (55) with its length in bytes and a fixed binary PIN block (52)', () => {
    const pin = hex('0123456789ABCDEF');
    const emv = hex('9F 02 06');
    // Bit 52 → byte 6, 0x10; bit 55 → byte 6, 0x02.
    const bytes = Buffer.concat([ascii('0200'), hex('00 00 00 00 00 00 12 00'), pin, ascii('003'), emv]);
    const decoded = decodeMessage(bytes);
    expect(decoded).toEqual(
      msg('0200', [
        [52, pin],
        [55, emv],
      ]),
    );
    expect(encodeMessage(decoded).toString('hex')).toBe(bytes.toString('hex'));
  });

  it('keeps the padding of fixed fields exactly as on the wire', () => {
    const m = msg('0210', [
      [38, 'A1B2  '],
      [39, '00'],
      [43, 'CAFE DU COIN           PARIS        75FR'],
    ]);
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  it('returns binary fields as copies that do not share memory with the input', () => {
    const bytes = Buffer.concat([ascii('0200'), hex('00 00 00 00 00 00 10 00'), hex('0011223344556677')]);
    const pin = decodeMessage(bytes).fields.get(52) as Buffer;
    bytes.fill(0);
    expect(pin.toString('hex')).toBe('0011223344556677');
  });
});

describe('ISO 8583 codec: malformed input', () => {
  const bitmapWith = (...bits: number[]): Buffer => {
    const b = Buffer.alloc(bits.some((n) => n > 64) ? 16 : 8);
    if (b.length === 16) b[0] = 0x80;
    for (const n of bits) b[(n - 1) >> 3]! |= 0x80 >> ((n - 1) & 7);
    return b;
  };
  const body = (...parts: (Buffer | string)[]): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? ascii(p) : p)));

  const cases: [string, Buffer, Iso8583ErrorReason, number | undefined, Iso8583CodecOptions?][] = [
    ['an empty body', Buffer.alloc(0), 'TRUNCATED', 0],
    ['an MTI with a letter', body('02X0', bitmapWith(3), '000000'), 'BAD_MTI', 0],
    ['a primary bitmap cut short', body('0200', hex('7020')), 'TRUNCATED', 1],
    ['a secondary bitmap cut short', body('0800', hex('8220000000000000 0400')), 'TRUNCATED', 1],
    [
      'a bitmap announcing field 5, which has no known format',
      body('0200', bitmapWith(5), '0'),
      'UNKNOWN_FIELD',
      5,
    ],
    ['bit 65 (a tertiary bitmap)', body('0800', bitmapWith(65)), 'UNKNOWN_FIELD', 65],
    [
      'an LLVAR prefix that is not digits',
      body('0200', bitmapWith(2), 'A6', '4111111111111111'),
      'BAD_LENGTH_PREFIX',
      2,
    ],
    [
      'an LLVAR prefix over the maximum (20 > 19)',
      body('0200', bitmapWith(2), '20', '4'.repeat(20)),
      'LENGTH_OVER_MAX',
      2,
    ],
    ['an LLLVAR prefix cut short', body('0200', bitmapWith(55), '00'), 'TRUNCATED', 55],
    [
      'an LLVAR value shorter than its prefix says',
      body('0200', bitmapWith(2), '16', '41111111'),
      'TRUNCATED',
      2,
    ],
    ['a fixed field cut short', body('0200', bitmapWith(3), '0000'), 'TRUNCATED', 3],
    ['a letter in a numeric field', body('0200', bitmapWith(3), '00A000'), 'BAD_CHARACTER', 3],
    ['a control byte in an ans field', body('0200', bitmapWith(41), 'TERM\n001'), 'BAD_CHARACTER', 41],
    ['a punctuation mark in an an field', body('0210', bitmapWith(39), '0!'), 'BAD_CHARACTER', 39],
    ['a byte outside the track 2 code set', body('0200', bitmapWith(35), '05', '41?11'), 'BAD_CHARACTER', 35],
    ['bytes after the last field', body('0200', bitmapWith(3), '000000', 'XX'), 'TRAILING_BYTES', undefined],
    [
      'a hex bitmap with a non-hex character',
      body('0200', '70200400008080G0'),
      'BAD_BITMAP',
      1,
      { bitmap: 'hex' },
    ],
  ];

  it.each(cases)(
    'refuses %s with a typed error naming the reason and the field',
    (_name, bytes, reason, field, opts) => {
      const err = isoErrorOf(() => decodeMessage(bytes, opts));
      expect(err.code).toBe('PP_ERR_ISO8583');
      expect(err.reason).toBe(reason);
      expect(err.field).toBe(field);
      expect(err.closeConnection).toBe(false);
    },
  );

  it('does not quote the PAN when field 2 holds a bad character', () => {
    const err = isoErrorOf(() => decodeMessage(body('0200', bitmapWith(2), '16', '411111111111111X')));
    expect(err.reason).toBe('BAD_CHARACTER');
    expect(err.message).not.toContain('411111111111111');
    expect(err.offset).toBe(4 + 8 + 2 + 15);
  });

  const encodeCases: [string, Iso8583Message, Iso8583ErrorReason, number][] = [
    ['an MTI of 3 digits', msg('200', []), 'BAD_MTI', 0],
    ['field 1 given by hand', msg('0200', [[1, 'x']]), 'BAD_VALUE', 1],
    ['a field with no known format', msg('0200', [[5, '000000000001']]), 'UNKNOWN_FIELD', 5],
    ['a string for a b field', msg('0200', [[52, '0123456789ABCDEF']]), 'BAD_VALUE', 52],
    ['a Buffer for an n field', msg('0200', [[3, ascii('000000')]]), 'BAD_VALUE', 3],
    ['a fixed field of the wrong length', msg('0200', [[4, '1234']]), 'BAD_LENGTH', 4],
    ['an LLVAR value over the maximum', msg('0200', [[2, '4'.repeat(20)]]), 'LENGTH_OVER_MAX', 2],
    ['a letter in a numeric field', msg('0200', [[11, '00012A']]), 'BAD_CHARACTER', 11],
    // U+0141 would become 0x41 ('A') if written as latin1 unchecked.
    ['a character above U+00FF in an ans field', msg('0200', [[41, 'TERM\u0141001']]), 'BAD_CHARACTER', 41],
  ];

  it.each(encodeCases)('refuses to write %s', (_name, m, reason, field) => {
    const err = isoErrorOf(() => encodeMessage(m));
    expect(err.reason).toBe(reason);
    expect(err.field).toBe(field);
  });
});

// ---- arbitraries ----------------------------------------------------------------------------

const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => String.fromCharCode(from + i));
const DIGITS = range(0x30, 0x39);
const CHARSETS: Record<Exclude<FieldSpec['type'], 'b'>, string[]> = {
  n: DIGITS,
  an: [...DIGITS, ...range(0x41, 0x5a), ...range(0x61, 0x7a), ' '],
  ans: range(0x20, 0x7e),
  z: [...DIGITS, '=', 'D'],
};

function valueOf(spec: FieldSpec): fc.Arbitrary<string | Buffer> {
  const minLength = spec.lengthKind === 'fixed' ? spec.length : 0;
  const maxLength = spec.length;
  if (spec.type === 'b') return fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
  return fc.string({ unit: fc.constantFrom(...CHARSETS[spec.type]), minLength, maxLength });
}

const messageArb: fc.Arbitrary<Iso8583Message> = fc
  .record({
    mti: fc.string({ unit: fc.constantFrom(...DIGITS), minLength: 4, maxLength: 4 }),
    fields: fc.record(
      Object.fromEntries([...ISO8583_FIELDS.values()].map((s) => [String(s.number), valueOf(s)])),
      {
        requiredKeys: [],
      },
    ),
  })
  .map(({ mti, fields }) => ({
    mti,
    fields: new Map(
      Object.entries(fields).flatMap(([k, v]): [number, string | Buffer][] =>
        v === undefined ? [] : [[Number(k), v]],
      ),
    ),
  }));

const bitmapMode = fc.constantFrom<Iso8583CodecOptions['bitmap']>('binary', 'hex');

describe('ISO 8583 codec: properties', () => {
  it('reads back every valid message it writes, with either bitmap form', () => {
    fc.assert(
      fc.property(messageArb, bitmapMode, (m, bitmap) => {
        expect(decodeMessage(encodeMessage(m, { bitmap }), { bitmap })).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });

  it('answers arbitrary bytes with a message or an Iso8583Error, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), bitmapMode, (bytes, bitmap) => {
        try {
          decodeMessage(Buffer.from(bytes), { bitmap });
        } catch (err) {
          expect(err).toBeInstanceOf(Iso8583Error);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('answers corrupted valid messages with a message or an Iso8583Error, and a message it accepts re-encodes to the same bytes', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        byte: fc.integer({ min: 0, max: 255 }),
      }),
    );
    fc.assert(
      fc.property(messageArb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (m, mutations) => {
        let bytes = encodeMessage(m);
        for (const mu of mutations) {
          const at = bytes.length === 0 ? 0 : mu.at % bytes.length;
          if (mu.kind === 'flip') {
            if (bytes.length > 0) bytes = Buffer.from(bytes).fill(mu.byte, at, at + 1);
          } else if (mu.kind === 'cut') bytes = bytes.subarray(0, at);
          else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([mu.byte]), bytes.subarray(at)]);
        }
        let decoded: Iso8583Message;
        try {
          decoded = decodeMessage(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(Iso8583Error);
          return;
        }
        // The only non-canonical form the decoder accepts: a secondary bitmap with no bit set.
        const emptySecondary = [...decoded.fields.keys()].every((n) => n <= 64) && (bytes[4]! & 0x80) !== 0;
        if (!emptySecondary) expect(encodeMessage(decoded).equals(bytes)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('decodes a maximal message (every known field at its longest) a thousand times in well under a second', () => {
    const longest = msg(
      '0200',
      [...ISO8583_FIELDS.values()].map((s) => [
        s.number,
        s.type === 'b' ? Buffer.alloc(s.length, 0xab) : '7'.repeat(s.length),
      ]),
    );
    const bytes = encodeMessage(longest);
    const started = performance.now();
    for (let i = 0; i < 1000; i++) decodeMessage(bytes);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(decodeMessage(bytes)).toEqual(longest);
  });
});
