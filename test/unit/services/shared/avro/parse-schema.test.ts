import { describe, expect, it } from 'vitest';
import { UnsafeLongError } from '../../../../../services/shared/avro/long-type.ts';
import { parseSchema } from '../../../../../services/shared/avro/parse-schema.ts';

const record = (fields: unknown[]) => ({ type: 'record', name: 'R', namespace: 't', fields });

describe('parseSchema', () => {
  it('decodes timestamp-millis to a plain number and uuid to a plain string', () => {
    const type = parseSchema(
      record([
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'id', type: { type: 'string', logicalType: 'uuid' } },
      ]),
    );
    const value = type.fromBuffer(
      type.toBuffer({ ts: 1_700_000_000_123, id: '0b7c2e55-4c1a-4a39-9f57-3c2f6b1f3e11' }),
    );
    expect(value.ts).toBe(1_700_000_000_123);
    expect(typeof value.id).toBe('string');
  });

  it('refuses a Date for a timestamp: timestamps are numbers of milliseconds', () => {
    const type = parseSchema(
      record([{ name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } }]),
    );
    expect(type.isValid({ ts: new Date() })).toBe(false);
  });

  it('uses the exact long for longs inside unions, arrays, maps and logical types', () => {
    const type = parseSchema(
      record([
        { name: 'a', type: ['null', 'long'] },
        { name: 'b', type: { type: 'array', items: 'long' } },
        { name: 'c', type: { type: 'map', values: { type: 'long', logicalType: 'timestamp-millis' } } },
      ]),
    );
    const value = { a: -6010213679171096, b: [-6010213679171096], c: { k: -6010213679171096 } };
    expect(type.fromBuffer(type.toBuffer(value))).toEqual(value);
    expect(type.isValid({ a: 2 ** 53, b: [], c: {} })).toBe(false);
  });

  it('reads an int writer as a long reader through the exact long', () => {
    const writer = parseSchema(record([{ name: 'n', type: 'int' }]));
    const reader = parseSchema(record([{ name: 'n', type: 'long' }]));
    expect(reader.fromBuffer(writer.toBuffer({ n: -123 }), reader.createResolver(writer))).toEqual({
      n: -123,
    });
  });

  it('refuses a long writer value beyond 2^53 even through a resolver', () => {
    const writer = parseSchema(
      record([
        { name: 'a', type: 'int' },
        { name: 'n', type: 'long' },
      ]),
    );
    const reader = parseSchema(record([{ name: 'n', type: 'long' }]));
    // a = 1, n = 2^60 as a zigzag varint
    const bytes = Buffer.from([0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    expect(() => reader.fromBuffer(bytes, reader.createResolver(writer))).toThrow(UnsafeLongError);
  });

  it('refuses an int varint that does not fit 32 bits', () => {
    const type = parseSchema('int');
    expect(type.fromBuffer(Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]))).toBe(2 ** 31 - 1);
    expect(() => type.fromBuffer(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(/32 bits/);
  });

  it('refuses a boolean byte other than 0 or 1', () => {
    const type = parseSchema('boolean');
    expect(type.fromBuffer(Buffer.from([1]))).toBe(true);
    expect(type.fromBuffer(Buffer.from([0]))).toBe(false);
    expect(() => type.fromBuffer(Buffer.from([0x7f]))).toThrow(/boolean/);
  });

  it('refuses an array block count larger than the bytes left instead of looping over it', () => {
    const type = parseSchema({ type: 'array', items: 'string' });
    // count = 2^50 (zigzag varint), then nothing.
    const bytes = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x04]);
    expect(() => type.fromBuffer(bytes)).toThrow(/larger than the/);
  });

  it('refuses a map block count larger than the bytes left, and a negative block size when skipping', () => {
    const map = parseSchema({ type: 'map', values: 'long' });
    expect(() => map.fromBuffer(Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/larger than the/);

    const writer = parseSchema(record([{ name: 'm', type: { type: 'map', values: 'long' } }]));
    const reader = parseSchema(record([]));
    // count -1 with byte size -1: skipping must not move backwards.
    expect(() => reader.fromBuffer(Buffer.from([0x01, 0x01, 0x00]), reader.createResolver(writer))).toThrow(
      /negative block size/,
    );
  });

  it('reads arrays and maps written in blocks with byte sizes (negative counts)', () => {
    const type = parseSchema(
      record([
        { name: 'a', type: { type: 'array', items: 'int' } },
        { name: 'm', type: { type: 'map', values: 'int' } },
      ]),
    );
    // a: block of -2 items, 2 bytes: [1, 2]; m: block of -1 entry, 3 bytes: {"k": 3}
    const bytes = Buffer.from([0x03, 0x04, 0x02, 0x04, 0x00, 0x01, 0x06, 0x02, 0x6b, 0x06, 0x00]);
    expect(type.fromBuffer(bytes)).toEqual({ a: [1, 2], m: { k: 3 } });
    const skipper = parseSchema(record([]));
    expect(skipper.fromBuffer(bytes, skipper.createResolver(type))).toEqual({});
  });

  it('keeps a map key named __proto__ as data instead of dropping it', () => {
    const type = parseSchema({ type: 'map', values: 'long' });
    const value = JSON.parse('{"__proto__": 5, "a": 1}') as Record<string, number>;
    const decoded = type.fromBuffer(type.toBuffer(value)) as Record<string, number>;
    expect(Object.keys(decoded)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toBe(5);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });
});
