import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  AvroConversionError,
  avroToJsonSchema,
  DROPPED_FIELDS,
  heartbeatInputSchema,
  type JsonSchema,
  transactionInputSchema,
} from '../../../../../services/gateway/http/input-schema.ts';
import { loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';

const catalog = loadSchemaCatalog();

function avroFields(name: 'TransactionEvent' | 'TerminalHeartbeat'): { name: string; default?: unknown }[] {
  return (catalog.getSchema(name).json as { fields: { name: string; default?: unknown }[] }).fields;
}

/** Every sub-schema with the JSON Pointer of the data it describes. */
function* walk(schema: JsonSchema, path = ''): Generator<[string, JsonSchema]> {
  yield [path, schema];
  for (const [k, v] of Object.entries(schema.properties ?? {})) yield* walk(v, `${path}/${k}`);
  if (schema.items) yield* walk(schema.items, `${path}/*`);
  for (const [i, branch] of (schema.anyOf ?? []).entries()) yield* walk(branch, `${path}|${i}`);
}

describe('Avro → JSON Schema converter', () => {
  const avro = {
    type: 'record',
    name: 'Outer',
    namespace: 'ns',
    doc: 'An outer record.',
    fields: [
      { name: 'id', type: { type: 'string', logicalType: 'uuid' }, doc: 'The id.' },
      { name: 'n', type: 'int' },
      { name: 'big', type: 'long' },
      { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'maybe', type: ['null', 'string'], default: null },
      {
        name: 'kind',
        type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'], doc: 'Enum doc.' },
        doc: 'Field doc wins.',
      },
      { name: 'kind2', type: ['null', 'Kind'], default: null },
      {
        name: 'inner',
        type: { type: 'record', name: 'Inner', fields: [{ name: 'x', type: 'double', default: 0 }] },
      },
      { name: 'inners', type: { type: 'array', items: 'ns.Inner' } },
      { name: 'tags', type: { type: 'map', values: 'string' } },
      { name: 'either', type: ['null', 'int', 'string'], default: null },
      { name: 'flag', type: 'boolean', default: false },
      { name: 'decimal', type: { type: 'int', logicalType: 'date' } },
    ],
  };

  it('maps records, primitives, logical types, unions, enums, named references, arrays and maps', () => {
    const s = avroToJsonSchema(avro);
    expect(s).toMatchObject({
      description: 'An outer record.',
      type: 'object',
      additionalProperties: false,
      required: ['id', 'n', 'big', 'at', 'kind', 'inner', 'inners', 'tags', 'decimal'],
    });
    const p = s.properties!;
    expect(p['id']).toEqual({ description: 'The id.', type: 'string', format: 'uuid' });
    expect(p['n']).toEqual({ type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 });
    expect(p['big']).toEqual({
      type: 'integer',
      minimum: -Number.MAX_SAFE_INTEGER,
      maximum: Number.MAX_SAFE_INTEGER,
    });
    expect(p['at']).toMatchObject({ type: ['integer', 'string'], format: 'date-time' });
    expect(p['maybe']).toEqual({ type: ['string', 'null'] });
    expect(p['kind']).toEqual({ description: 'Field doc wins.', type: 'string', enum: ['A', 'B'] });
    expect(p['kind2']).toEqual({
      description: 'Enum doc.',
      type: ['string', 'null'],
      enum: ['A', 'B', null],
    });
    const inner = {
      type: 'object',
      additionalProperties: false,
      required: [],
      properties: { x: { type: 'number' } },
    };
    expect(p['inner']).toEqual(inner);
    expect(p['inners']).toEqual({ type: 'array', items: inner });
    expect(p['inners']!.items).not.toBe(p['inner']);
    expect(p['tags']).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(p['either']).toEqual({
      anyOf: [
        { type: 'null' },
        { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 },
        { type: 'string' },
      ],
    });
    expect(p['flag']).toEqual({ type: 'boolean' });
    expect(p['decimal']).toMatchObject({ type: 'integer' });
  });

  it('produces a schema Ajv accepts in strict mode and that validates the JSON form of the record', () => {
    const validate = new Ajv({ allowUnionTypes: true, formats: { uuid: true, 'date-time': true } }).compile(
      avroToJsonSchema(avro),
    );
    const good = {
      id: '0b6e6bd2-3e55-4c1b-9d3c-2f0c8f1c7a10',
      n: 1,
      big: 2 ** 40,
      at: 0,
      kind: 'A',
      inner: {},
      inners: [{ x: 1.5 }],
      tags: { a: 'b' },
      decimal: 3,
    };
    expect(validate(good)).toBe(true);
    expect(validate({ ...good, n: 2 ** 31 })).toBe(false);
    expect(validate({ ...good, extra: 1 })).toBe(false);
    expect(validate({ ...good, kind: 'C' })).toBe(false);
  });

  it('refuses Avro types that have no JSON input mapping, and unknown names', () => {
    expect(() => avroToJsonSchema('bytes')).toThrow(AvroConversionError);
    expect(() => avroToJsonSchema({ type: 'fixed', name: 'F', size: 4 })).toThrow(AvroConversionError);
    expect(() => avroToJsonSchema('Nope')).toThrow(/unknown Avro type Nope/);
  });
});

describe('input schemas', () => {
  const cases = [
    {
      name: 'TransactionEvent' as const,
      schema: transactionInputSchema,
      removed: [
        'gateway_id',
        'ingest_channel',
        'gateway_received_time',
        'card_token',
        'card_token_key_id',
        'card_bin',
        'card_last4',
      ],
      added: ['pan', ...DROPPED_FIELDS],
    },
    {
      name: 'TerminalHeartbeat' as const,
      schema: heartbeatInputSchema,
      removed: ['gateway_id', 'ingest_channel', 'gateway_received_time'],
      added: [] as string[],
    },
  ];

  for (const { name, schema, removed, added } of cases) {
    describe(name, () => {
      it('has the Avro fields minus the gateway-set ones, plus the input-only ones', () => {
        const fields = avroFields(name);
        expect(Object.keys(schema.properties!)).toEqual([
          ...fields.map((f) => f.name).filter((f) => !removed.includes(f)),
          ...added,
        ]);
        expect(schema.required).toEqual(
          fields.filter((f) => !('default' in f) && !removed.includes(f.name)).map((f) => f.name),
        );
        expect(schema.required).toContain('event_id');
        expect(schema.additionalProperties).toBe(false);
      });

      it('describes every field and bounds every string', () => {
        for (const [path, s] of walk(schema)) {
          if (path.split('/').length === 2) expect(s.description, path).toBeTruthy();
          const types = Array.isArray(s.type) ? s.type : [s.type];
          if (types.includes('string') && s.enum === undefined) expect(s.maxLength, path).toBeGreaterThan(0);
        }
      });

      it('is plain draft-07 / OpenAPI 3.1 JSON Schema (no OpenAPI 3.0 nullable) and frozen', () => {
        const ajv = new Ajv({ allowUnionTypes: true, formats: { uuid: true, 'date-time': true } });
        expect(ajv.validateSchema(schema)).toBe(true);
        expect(JSON.stringify(schema)).not.toContain('"nullable"');
        expect(Object.isFrozen(schema)).toBe(true);
        expect(Object.isFrozen(schema.properties!['event_id'])).toBe(true);
        expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
      });
    });
  }

  it('carries the per-field limits and formats of the input', () => {
    const t = transactionInputSchema.properties!;
    expect(t['mcc']).toMatchObject({ pattern: '^[0-9]{4}$' });
    expect(t['currency']).toMatchObject({ pattern: '^[A-Z]{3}$' });
    expect(t['terminal_serial']).toMatchObject({ minLength: 1, maxLength: 64 });
    expect(t['event_id']!.description).toMatch(/chosen by the client/);
    expect(t['amount_minor']).toMatchObject({ type: ['integer', 'string'], minimum: 0, pattern: '^[0-9]+$' });
    expect(t['request_time']).toMatchObject({ type: ['integer', 'string'], format: 'date-time' });
    expect(t['response_time']).toMatchObject({ type: ['integer', 'string', 'null'], format: 'date-time' });
    expect(t['pan']).toMatchObject({ type: ['string', 'null'], pattern: '^[0-9]{12,19}$' });
    const basket = t['basket']!;
    expect(basket.type).toEqual(['object', 'null']);
    expect(basket.properties!['items']).toMatchObject({ maxItems: 500 });
    expect(basket.properties!['items']!.items!.properties!['unit_price_minor']).toMatchObject({ minimum: 0 });
    const h = heartbeatInputSchema.properties!;
    expect(h['battery_pct']).toMatchObject({ type: ['integer', 'null'], minimum: 0, maximum: 100 });
    expect(h['signal_strength_dbm']).toMatchObject({ minimum: -150, maximum: 0 });
    expect(h['offline_queue_length']).toMatchObject({ minimum: 0 });
  });
});
