import { Iso8583Error } from '../../shared/errors.ts';
import { ISO8583_FIELDS, type FieldSpec, type FieldSpecTable, type FieldType } from './fields.ts';

/**
 * One ISO 8583 message: its MTI and its data elements by number (2-128). `b` fields are Buffers,
 * all others strings exactly as on the wire (no padding removed), so encode and decode are inverse.
 */
export interface Iso8583Message {
  mti: string;
  fields: Map<number, string | Buffer>;
}

export interface Iso8583CodecOptions {
  /**
   * How the bitmaps are written: `binary` (8 bytes each, the usual form on TCP) or `hex`
   * (16 uppercase hex characters each; either case is read).
   * @default 'binary'
   */
  bitmap?: 'binary' | 'hex';
  /** Field table to use instead of the built-in one. @default ISO8583_FIELDS */
  fields?: FieldSpecTable;
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

function isDigit(byte: number): boolean {
  return byte >= DIGIT_0 && byte <= DIGIT_9;
}

/** The first character outside each field type's set; a byte read as latin1 is one character. */
const OUTSIDE_CHARSET: Record<Exclude<FieldType, 'b'>, RegExp> = {
  n: /[^0-9]/,
  an: /[^0-9A-Za-z ]/,
  ans: /[^\x20-\x7e]/,
  z: /[^0-9=D]/,
};

/** Index of the first character outside the field's character set, or -1. */
function badCharacterAt(type: Exclude<FieldType, 'b'>, content: string): number {
  return content.search(OUTSIDE_CHARSET[type]);
}

function prefixDigits(spec: FieldSpec): number {
  return spec.lengthKind === 'LLVAR' ? 2 : spec.lengthKind === 'LLLVAR' ? 3 : 0;
}

function describeSpec(spec: FieldSpec): string {
  const len = spec.lengthKind === 'fixed' ? String(spec.length) : `..${spec.length}`;
  return `${spec.type} ${len}`;
}

/** Reads one message body (no length prefix). Throws only `Iso8583Error`. */
export function decodeMessage(buf: Buffer, options: Iso8583CodecOptions = {}): Iso8583Message {
  const table = options.fields ?? ISO8583_FIELDS;
  const hexBitmap = options.bitmap === 'hex';
  if (buf.length < 4) throw new Iso8583Error('TRUNCATED', `${buf.length} bytes, shorter than an MTI`, 0, 0);
  for (let i = 0; i < 4; i++) {
    if (!isDigit(buf[i]!)) throw new Iso8583Error('BAD_MTI', 'MTI is not 4 ASCII digits', 0, i);
  }
  const mti = buf.toString('latin1', 0, 4);
  let offset = 4;

  const readBitmap = (index: 1 | 2): Buffer => {
    const size = hexBitmap ? 16 : 8;
    if (offset + size > buf.length) {
      throw new Iso8583Error(
        'TRUNCATED',
        `${index === 1 ? 'primary' : 'secondary'} bitmap is cut short`,
        1,
        offset,
      );
    }
    const raw = buf.subarray(offset, offset + size);
    let bits: Buffer;
    if (hexBitmap) {
      const text = raw.toString('latin1');
      if (!/^[0-9A-Fa-f]{16}$/.test(text)) {
        throw new Iso8583Error('BAD_BITMAP', 'bitmap is not 16 hex characters', 1, offset);
      }
      bits = Buffer.from(text, 'hex');
    } else {
      bits = raw;
    }
    offset += size;
    return bits;
  };

  const primary = readBitmap(1);
  const bitmap = (primary[0]! & 0x80) !== 0 ? Buffer.concat([primary, readBitmap(2)]) : primary;
  const fieldCount = bitmap.length * 8;

  const fields = new Map<number, string | Buffer>();
  for (let number = 2; number <= fieldCount; number++) {
    const bit = number - 1;
    if ((bitmap[bit >> 3]! & (0x80 >> (bit & 7))) === 0) continue;
    // Bit 65 marks a tertiary bitmap, which 1987 reserves; it is not in the table and fails here.
    const spec = table.get(number);
    if (spec === undefined) {
      throw new Iso8583Error(
        'UNKNOWN_FIELD',
        'bitmap announces a field with no known format',
        number,
        offset,
      );
    }
    let length = spec.length;
    const digits = prefixDigits(spec);
    if (digits > 0) {
      if (offset + digits > buf.length) {
        throw new Iso8583Error('TRUNCATED', 'length prefix is cut short', number, offset);
      }
      length = 0;
      for (let i = 0; i < digits; i++) {
        const byte = buf[offset + i]!;
        if (!isDigit(byte)) {
          throw new Iso8583Error('BAD_LENGTH_PREFIX', 'length prefix is not ASCII digits', number, offset);
        }
        length = length * 10 + (byte - DIGIT_0);
      }
      if (length > spec.length) {
        throw new Iso8583Error(
          'LENGTH_OVER_MAX',
          `length ${length} exceeds the maximum of ${describeSpec(spec)}`,
          number,
          offset,
        );
      }
      offset += digits;
    }
    if (offset + length > buf.length) {
      throw new Iso8583Error(
        'TRUNCATED',
        `needs ${length} bytes, ${buf.length - offset} left`,
        number,
        offset,
      );
    }
    const content = buf.subarray(offset, offset + length);
    if (spec.type === 'b') {
      // A copy, so the message does not pin the (possibly much larger) network chunk in memory.
      fields.set(number, Buffer.from(content));
    } else {
      const value = content.toString('latin1');
      const bad = badCharacterAt(spec.type, value);
      if (bad >= 0) {
        throw new Iso8583Error(
          'BAD_CHARACTER',
          `byte outside the character set of ${describeSpec(spec)}`,
          number,
          offset + bad,
        );
      }
      fields.set(number, value);
    }
    offset += length;
  }
  if (offset !== buf.length) {
    throw new Iso8583Error(
      'TRAILING_BYTES',
      `${buf.length - offset} bytes after the last field`,
      undefined,
      offset,
    );
  }
  return { mti, fields };
}

/**
 * Writes one message body (no length prefix): MTI, bitmap(s), fields in ascending order. The
 * secondary bitmap is written when any field above 64 is present. Throws only `Iso8583Error`.
 */
export function encodeMessage(msg: Iso8583Message, options: Iso8583CodecOptions = {}): Buffer {
  const table = options.fields ?? ISO8583_FIELDS;
  if (typeof msg.mti !== 'string' || !/^[0-9]{4}$/.test(msg.mti)) {
    throw new Iso8583Error('BAD_MTI', 'MTI is not 4 ASCII digits', 0);
  }
  const numbers = [...msg.fields.keys()].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let secondary = false;
  for (const number of numbers) {
    if (!Number.isInteger(number) || number < 2 || number > 128) {
      throw new Iso8583Error('BAD_VALUE', 'field numbers run from 2 to 128 (1 is the bitmap)', number);
    }
    const spec = table.get(number);
    if (spec === undefined) throw new Iso8583Error('UNKNOWN_FIELD', 'field has no known format', number);
    if (number > 64) secondary = true;
    parts.push(encodeField(spec, msg.fields.get(number)));
  }

  const bitmap = Buffer.alloc(secondary ? 16 : 8);
  if (secondary) bitmap[0] = 0x80;
  for (const number of numbers) {
    const bit = number - 1;
    bitmap[bit >> 3]! |= 0x80 >> (bit & 7);
  }
  const bitmapBytes =
    options.bitmap === 'hex' ? Buffer.from(bitmap.toString('hex').toUpperCase(), 'latin1') : bitmap;
  return Buffer.concat([Buffer.from(msg.mti, 'latin1'), bitmapBytes, ...parts]);
}

function encodeField(spec: FieldSpec, value: string | Buffer | undefined): Buffer {
  let content: Buffer;
  if (spec.type === 'b') {
    if (!Buffer.isBuffer(value)) throw new Iso8583Error('BAD_VALUE', 'a b field takes a Buffer', spec.number);
    content = value;
  } else {
    if (typeof value !== 'string') {
      throw new Iso8583Error('BAD_VALUE', `an ${spec.type} field takes a string`, spec.number);
    }
    // Checked on the string, before latin1 would silently cut a character above U+00FF to one byte.
    if (badCharacterAt(spec.type, value) >= 0) {
      throw new Iso8583Error('BAD_CHARACTER', `character outside ${describeSpec(spec)}`, spec.number);
    }
    content = Buffer.from(value, 'latin1');
  }
  if (spec.lengthKind === 'fixed') {
    if (content.length !== spec.length) {
      throw new Iso8583Error(
        'BAD_LENGTH',
        `has ${content.length}, ${describeSpec(spec)} needs exactly ${spec.length}`,
        spec.number,
      );
    }
    return content;
  }
  if (content.length > spec.length) {
    throw new Iso8583Error(
      'LENGTH_OVER_MAX',
      `length ${content.length} exceeds the maximum of ${describeSpec(spec)}`,
      spec.number,
    );
  }
  const prefix = String(content.length).padStart(prefixDigits(spec), '0');
  return Buffer.concat([Buffer.from(prefix, 'latin1'), content]);
}
