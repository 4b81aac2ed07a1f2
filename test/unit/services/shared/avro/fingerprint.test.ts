import { describe, expect, it } from 'vitest';
import {
  crc64Avro,
  fingerprintOf,
  fingerprintOfCanonical,
  fingerprintOfValue,
} from '../../../../../services/shared/avro/fingerprint.ts';

/**
 * Schema, and its fingerprint as a signed 64-bit integer (Java `long`), from Apache Avro's
 * cross-language test data: share/test/data/schema-tests.txt (cases 000-033 that carry a
 * `<<fingerprint`). The Java implementation checks these against a direct implementation of the
 * algorithm, so every Avro library is expected to reproduce them.
 */
const AVRO_VECTORS: readonly [string, bigint][] = [
  ['"null"', 7195948357588979594n],
  ['"boolean"', -6970731678124411036n],
  ['"int"', 8247732601305521295n],
  ['"long"', -3434872931120570953n],
  ['"float"', 5583340709985441680n],
  ['"double"', -8181574048448539266n],
  ['"bytes"', 5746618253357095269n],
  ['"string"', -8142146995180207161n],
  ['[  ]', -1241056759729112623n],
  ['[ "int"  ]', -5232228896498058493n],
  ['[ "int" , {"type":"boolean"} ]', 5392556393470105090n],
  ['{"fields":[], "type":"record", "name":"foo"}', -4824392279771201922n],
  ['{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}', 5916914534497305771n],
  ['{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}', -4616218487480524110n],
  ['{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}', -4824392279771201922n],
  ['{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}', -4824392279771201922n],
  [
    '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
    -4824392279771201922n,
  ],
  [
    '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
    7843277075252814651n,
  ],
  [
    `{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},
            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
  "type":"record", "name":"foo"
}`,
    -4860222112080293046n,
  ],
  ['{"type":"enum", "name":"foo", "symbols":["A1"]}', -6342190197741309591n],
  [
    '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    -4448647247586288245n,
  ],
  ['{"name":"foo","type":"fixed","size":15}', 1756455273707447556n],
  ['{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}', -3064184465700546786n],
  ['{ "items":{"type":"null"}, "type":"array"}', -589620603366471059n],
  ['{ "values":"string", "type":"map"}', -8732877298790414990n],
  [
    `{"name":"PigValue","type":"record",
   "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}`,
    -1759257747318642341n,
  ],
];

describe('CRC-64-AVRO fingerprint', () => {
  it('gives 0x63dd24e7cc258f8a for the schema "null", as the spec says', () => {
    const fp = fingerprintOf('null');
    expect(fp.value).toBe(0x63dd24e7cc258f8an);
    expect(fp.hex).toBe('63dd24e7cc258f8a');
  });

  it('puts the fingerprint on the wire as 8 little-endian bytes', () => {
    expect(fingerprintOf('null').bytes.toString('hex')).toBe('8a8f25cce724dd63');
  });

  it.each(AVRO_VECTORS)('matches Apache Avro test vector %s', (schema, javaLong) => {
    const fp = fingerprintOf(JSON.parse(schema));
    expect(BigInt.asIntN(64, fp.value)).toBe(javaLong);
    expect(fp.bytes.readBigInt64LE(0)).toBe(javaLong);
  });

  it('keeps the initial value for empty input and stays within 64 bits', () => {
    expect(crc64Avro(new Uint8Array())).toBe(0xc15d213aa4d7a795n);
    const fp = crc64Avro(Buffer.from('x'.repeat(1000)));
    expect(fp >= 0n && fp < 1n << 64n).toBe(true);
  });

  it('is computed over the canonical form, so docs and defaults do not change it', () => {
    const withDocs = {
      type: 'record',
      name: 'T',
      namespace: 'a',
      doc: 'documented',
      fields: [{ name: 'f', type: ['null', 'long'], default: null, doc: 'field' }],
    };
    const bare = { type: 'record', name: 'a.T', fields: [{ name: 'f', type: ['null', 'long'] }] };
    expect(fingerprintOf(withDocs).value).toBe(fingerprintOf(bare).value);
    expect(fingerprintOfCanonical('"null"').value).toBe(fingerprintOf('null').value);
  });

  it('round-trips a value through its byte and hex forms', () => {
    const fp = fingerprintOfValue(0x0102030405060708n);
    expect(fp.bytes.toString('hex')).toBe('0807060504030201');
    expect(fp.hex).toBe('0102030405060708');
    expect(fp.bytes.readBigUInt64LE(0)).toBe(fp.value);
  });
});
