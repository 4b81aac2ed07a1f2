import { describe, expect, it } from 'vitest';
import {
  CanonicalFormError,
  parsingCanonicalForm,
} from '../../../../../services/shared/avro/canonical-form.ts';

/** Input and canonical form, from Apache Avro's share/test/data/schema-tests.txt (cases 000-033). */
const AVRO_CASES: readonly [string, string][] = [
  ['"null"', '"null"'],
  ['{"type":"null"}', '"null"'],
  ['"boolean"', '"boolean"'],
  ['{"type":"boolean"}', '"boolean"'],
  ['"int"', '"int"'],
  ['{"type":"int"}', '"int"'],
  ['"long"', '"long"'],
  ['{"type":"long"}', '"long"'],
  ['"float"', '"float"'],
  ['{"type":"float"}', '"float"'],
  ['"double"', '"double"'],
  ['{"type":"double"}', '"double"'],
  ['"bytes"', '"bytes"'],
  ['{"type":"bytes"}', '"bytes"'],
  ['"string"', '"string"'],
  ['{"type":"string"}', '"string"'],
  ['[  ]', '[]'],
  ['[ "int"  ]', '["int"]'],
  ['[ "int" , {"type":"boolean"} ]', '["int","boolean"]'],
  ['{"fields":[], "type":"record", "name":"foo"}', '{"name":"foo","type":"record","fields":[]}'],
  [
    '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
    '{"name":"x.y.foo","type":"record","fields":[]}',
  ],
  [
    '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
    '{"name":"a.b.foo","type":"record","fields":[]}',
  ],
  [
    '{"fields":[], "type":"record", "name":"foo", "doc":"Useful info"}',
    '{"name":"foo","type":"record","fields":[]}',
  ],
  [
    '{"fields":[], "type":"record", "name":"foo", "aliases":["foo","bar"]}',
    '{"name":"foo","type":"record","fields":[]}',
  ],
  [
    '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
    '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
  ],
  [
    `{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},
            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],
  "type":"record", "name":"foo"
}`,
    '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
  ],
  ['{"type":"enum", "name":"foo", "symbols":["A1"]}', '{"name":"foo","type":"enum","symbols":["A1"]}'],
  [
    '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
  ],
  ['{"name":"foo","type":"fixed","size":15}', '{"name":"foo","type":"fixed","size":15}'],
  [
    '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
    '{"name":"x.y.z.foo","type":"fixed","size":32}',
  ],
  ['{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}'],
  ['{ "values":"string", "type":"map"}', '{"type":"map","values":"string"}'],
  [
    `{"name":"PigValue","type":"record",
   "fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}`,
    '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
  ],
];

describe('parsingCanonicalForm', () => {
  it.each(AVRO_CASES)('turns Apache Avro test case %s into its canonical form', (input, canonical) => {
    expect(parsingCanonicalForm(JSON.parse(input))).toBe(canonical);
  });

  it('writes attributes in the order name, type, fields/symbols/items/values/size whatever the input order', () => {
    const schema = {
      fields: [
        { type: { values: { symbols: ['B', 'A'], name: 'E', type: 'enum' }, type: 'map' }, name: 'm' },
      ],
      name: 'R',
      type: 'record',
    };
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"R","type":"record","fields":[{"name":"m","type":{"type":"map","values":{"name":"E","type":"enum","symbols":["B","A"]}}}]}',
    );
  });

  it('strips doc, aliases, defaults, order, enum defaults, logical types and custom attributes', () => {
    const schema = {
      type: 'record',
      name: 'R',
      doc: 'd',
      aliases: ['Old'],
      'x-owner': 'team',
      fields: [
        {
          name: 'ts',
          type: { type: 'long', logicalType: 'timestamp-millis' },
          doc: 'd',
          order: 'descending',
        },
        { name: 'id', type: { type: 'string', logicalType: 'uuid' }, default: '' },
        {
          name: 'e',
          type: { type: 'enum', name: 'E', symbols: ['A', 'UNKNOWN'], default: 'UNKNOWN', doc: 'x' },
        },
      ],
    };
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"R","type":"record","fields":[{"name":"ts","type":"long"},{"name":"id","type":"string"},' +
        '{"name":"e","type":{"name":"E","type":"enum","symbols":["A","UNKNOWN"]}}]}',
    );
  });

  it('folds namespaces into full names, nested types inheriting the enclosing one', () => {
    const schema = {
      type: 'record',
      name: 'Outer',
      namespace: 'a.b',
      fields: [
        { name: 'inner', type: { type: 'record', name: 'Inner', fields: [] } },
        { name: 'other', type: { type: 'enum', name: 'Other', namespace: 'c', symbols: ['X'] } },
        { name: 'dotted', type: { type: 'fixed', name: 'd.e.F', namespace: 'ignored', size: 2 } },
        { name: 'again', type: 'Inner' },
        { name: 'byFullName', type: 'c.Other' },
      ],
    };
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"a.b.Outer","type":"record","fields":[' +
        '{"name":"inner","type":{"name":"a.b.Inner","type":"record","fields":[]}},' +
        '{"name":"other","type":{"name":"c.Other","type":"enum","symbols":["X"]}},' +
        '{"name":"dotted","type":{"name":"d.e.F","type":"fixed","size":2}},' +
        '{"name":"again","type":"a.b.Inner"},' +
        '{"name":"byFullName","type":"c.Other"}]}',
    );
  });

  it('writes a named type in full once, then by its full name', () => {
    const e = { type: 'enum', name: 'E', namespace: 'n', symbols: ['A'] };
    const schema = {
      type: 'record',
      name: 'n.R',
      fields: [
        { name: 'a', type: e },
        { name: 'b', type: ['null', 'E'] },
      ],
    };
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"n.R","type":"record","fields":[{"name":"a","type":{"name":"n.E","type":"enum","symbols":["A"]}},' +
        '{"name":"b","type":["null","n.E"]}]}',
    );
  });

  it('keeps non-ASCII characters as UTF-8 instead of escapes', () => {
    expect(parsingCanonicalForm({ type: 'enum', name: 'E', symbols: ['\u00e9'] })).toBe(
      '{"name":"E","type":"enum","symbols":["é"]}',
    );
  });

  it('refuses things that are not schemas', () => {
    expect(() => parsingCanonicalForm(42)).toThrow(CanonicalFormError);
    expect(() => parsingCanonicalForm({ type: 'record', fields: [] })).toThrow(CanonicalFormError);
    expect(() => parsingCanonicalForm({ type: 'enum', name: 'E' })).toThrow(CanonicalFormError);
  });
});
