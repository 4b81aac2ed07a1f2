import avro from 'avsc';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DecodeError, EncodeError, UnknownSchemaError } from '../../../../../services/shared/errors.ts';
import { AvroCodec, createAvroCodec } from '../../../../../services/shared/avro/codec.ts';
import { fingerprintOf } from '../../../../../services/shared/avro/fingerprint.ts';
import { parseSchema } from '../../../../../services/shared/avro/parse-schema.ts';
import {
  SCHEMA_NAMES,
  type SchemaName,
  loadSchemaCatalog,
} from '../../../../../services/shared/avro/schemas.ts';
import { type TransactionEvent } from '../../../../../services/shared/avro/types.generated.ts';
import { arbitraryFor } from '../../../../support/avro-arbitrary.ts';
import {
  evolvedTransactionEvent,
  readSchemaJson,
  tempSchemasDir,
  writeSchemaJson,
} from '../../../../support/schemas-fixture.ts';
import { zigzagVarint } from '../../../../support/zigzag.ts';

const catalog = loadSchemaCatalog();
const codec = new AvroCodec({ catalog });
const where = { topic: 'pp.transactions', partition: 7, offset: '123456' };

const sampleTx: TransactionEvent = {
  event_id: '3b241101-e2bb-4255-8caf-4136c566a962',
  terminal_serial: 'TRM-000123',
  merchant_id: 'M-42',
  merchant_name: 'Corner Bakery',
  acquirer_id: 'ACQ-1',
  gateway_id: 'gw-eu-1',
  region: 'eu-west',
  latitude: 48.8566,
  longitude: 2.3522,
  mcc: '5411',
  cashier_id: null,
  transaction_type: 'SALE',
  payment_method: 'CONTACTLESS',
  entry_mode: 'CONTACTLESS',
  amount_minor: 1250,
  currency: 'EUR',
  card_token: 'a'.repeat(64),
  card_token_key_id: 'k1',
  card_bin: '497010',
  card_last4: '0119',
  response_code: '00',
  response_message: 'APPROVED',
  auth_code: 'A1B2C3',
  status: 'APPROVED',
  request_time: 1_700_000_000_000,
  response_time: 1_700_000_000_180,
  stan: '000042',
  rrn: '331712345678',
  ingest_channel: 'HTTP',
  gateway_received_time: 1_700_000_000_005,
  basket: {
    item_count: 3,
    items: [
      { sku: 'BREAD-1', quantity: 2, unit_price_minor: 350 },
      { sku: 'MILK-1', quantity: 1, unit_price_minor: 600 },
    ],
    discount_minor: 50,
    coupon_codes: ['WELCOME'],
  },
};

async function decodeError(promise: Promise<unknown>): Promise<DecodeError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DecodeError);
  return err as DecodeError;
}

/** Replaces the one occurrence of `from` in `bytes` with `to`. */
function splice(bytes: Buffer, from: Buffer, to: Buffer): Buffer {
  const at = bytes.indexOf(from);
  expect(at).toBeGreaterThan(0);
  expect(bytes.lastIndexOf(from)).toBe(at);
  return Buffer.concat([bytes.subarray(0, at), to, bytes.subarray(at + from.length)]);
}

describe('AvroCodec in single-object encoding', () => {
  it.each(SCHEMA_NAMES)('round-trips every valid %s exactly', async (name) => {
    await fc.assert(
      fc.asyncProperty(arbitraryFor(catalog.getSchema(name).type), async (value) => {
        const bytes = await codec.encode(name, value as never);
        expect(await codec.decode(bytes, name)).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it('frames a record as C3 01, the writer fingerprint little-endian, then the Avro body', async () => {
    const bytes = await codec.encode('TransactionEvent', sampleTx);
    const entry = catalog.getSchema('TransactionEvent');
    expect(bytes.subarray(0, 2).toString('hex')).toBe('c301');
    expect(bytes.subarray(2, 10)).toEqual(entry.fingerprint.bytes);
    expect(bytes.subarray(10)).toEqual(entry.type.toBuffer(sampleTx));
    expect(codec.wireFormat).toBe('single-object');
  });

  it('stamps the fingerprint of the schema file’s canonical form, as any Avro implementation would', async () => {
    const bytes = await codec.encode('TransactionEvent', sampleTx);
    const json = readSchemaJson(catalog.dir, 'TransactionEvent.avsc');
    expect(bytes.readBigUInt64LE(2)).toBe(fingerprintOf(json).value);
  });

  it('reads bodies written by plain avsc (no overrides) for values within its safe range', async () => {
    const plain = avro.Type.forSchema(readSchemaJson(catalog.dir, 'TransactionEvent.avsc') as never);
    const header = (await codec.encode('TransactionEvent', sampleTx)).subarray(0, 10);
    const bytes = Buffer.concat([header, plain.toBuffer(sampleTx)]);
    expect(await codec.decode(bytes, 'TransactionEvent')).toEqual(sampleTx);
  });

  it('returns timestamps as numbers of milliseconds, not Dates', async () => {
    const decoded = await codec.decode(await codec.encode('TransactionEvent', sampleTx), 'TransactionEvent');
    expect(decoded.request_time).toBe(1_700_000_000_000);
    expect(typeof decoded.response_time).toBe('number');
  });

  it('parses no schema per record: the hot path only looks up caches', async () => {
    const bytes = await codec.encode('TransactionEvent', sampleTx);
    const forSchema = vi.spyOn(avro.Type, 'forSchema');
    try {
      for (let i = 0; i < 50; i++) {
        await codec.decode(
          await codec.encode('TransactionEvent', { ...sampleTx, amount_minor: i }),
          'TransactionEvent',
        );
      }
      await codec.decode(bytes, 'TransactionEvent');
      expect(forSchema).not.toHaveBeenCalled();
    } finally {
      forSchema.mockRestore();
    }
  });

  it('encodes records larger than its scratch buffer', async () => {
    const items = Array.from({ length: 5000 }, (_, i) => ({
      sku: `SKU-${i}-${'x'.repeat(20)}`,
      quantity: i,
      unit_price_minor: i,
    }));
    const big = { ...sampleTx, basket: { ...sampleTx.basket!, items } };
    const bytes = await codec.encode('TransactionEvent', big);
    expect(bytes.length).toBeGreaterThan(128 * 1024);
    expect(await codec.decode(bytes, 'TransactionEvent')).toEqual(big);
  });

  describe('longs', () => {
    it.each([
      -6010213679171096,
      6010213679171096,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      -(2 ** 52) - 1,
    ])('round-trips amount_minor = %d exactly', async (amount) => {
      const value = { ...sampleTx, amount_minor: amount };
      expect(
        (await codec.decode(await codec.encode('TransactionEvent', value), 'TransactionEvent')).amount_minor,
      ).toBe(amount);
    });

    it.each([2 ** 53, -(2 ** 53), 1.5, Number.NaN])('refuses to encode amount_minor = %d', async (amount) => {
      await expect(
        codec.encode('TransactionEvent', { ...sampleTx, amount_minor: amount }),
      ).rejects.toMatchObject({
        constructor: EncodeError,
        paths: ['amount_minor'],
      });
    });

    it.each([
      ['2^53', 2n ** 53n],
      ['2^53 + 1', 2n ** 53n + 1n],
      ['-(2^53) - 1', -(2n ** 53n) - 1n],
      ['2^63 - 1', 2n ** 63n - 1n],
      ['-(2^63)', -(2n ** 63n)],
    ])('fails with a DecodeError when a 64-bit writer sent amount_minor = %s', async (_, n) => {
      const marker = 0x5a5a5a5a5a5a;
      const valid = await codec.encode('TransactionEvent', { ...sampleTx, amount_minor: marker });
      const bytes = splice(valid, zigzagVarint(BigInt(marker)), zigzagVarint(n));
      const err = await decodeError(codec.decode(bytes, 'TransactionEvent', where));
      expect(err.message).toContain('unrepresentable long');
      expect(err.message).toContain(n.toString());
      expect(err.message).toContain('offset 123456');
      expect(err.cause).toBeInstanceOf(RangeError);
    });
  });

  describe('corrupt input', () => {
    const valid = () => codec.encode('TransactionEvent', sampleTx);

    it('refuses an empty buffer', async () => {
      const err = await decodeError(codec.decode(Buffer.alloc(0), 'TransactionEvent', where));
      expect(err.message).toMatch(/0 bytes/);
      expect(err.message).toContain('topic pp.transactions, partition 7, offset 123456');
      expect(err.location).toEqual(where);
    });

    it('refuses a null value (a Kafka tombstone) with a DecodeError', async () => {
      const err = await decodeError(codec.decode(null as unknown as Buffer, 'TransactionEvent', where));
      expect(err.message).toMatch(/no value \(null\)/);
    });

    it('refuses a header cut short', async () => {
      const err = await decodeError(codec.decode((await valid()).subarray(0, 6), 'TransactionEvent', where));
      expect(err.message).toMatch(/too short/);
      expect(err.message).toContain('partition 7');
    });

    it('refuses a flipped marker byte', async () => {
      const bytes = await valid();
      bytes[1] = 0x02;
      expect((await decodeError(codec.decode(bytes, 'TransactionEvent', where))).message).toMatch(
        /marker C3 02/,
      );
      bytes[1] = 0x01;
      bytes[0] = 0xc2;
      expect((await decodeError(codec.decode(bytes, 'TransactionEvent', where))).message).toMatch(
        /unknown framing/,
      );
    });

    it('refuses an unknown writer fingerprint, with an UnknownSchemaError as cause', async () => {
      const bytes = await valid();
      bytes[5] = bytes[5]! ^ 0x10;
      const err = await decodeError(codec.decode(bytes, 'TransactionEvent', where));
      expect(err.message).toMatch(/unknown writer schema fingerprint [0-9a-f]{16}/);
      expect(err.message).toContain('offset 123456');
      expect(err.cause).toBeInstanceOf(UnknownSchemaError);
    });

    it('refuses a record of another type than expected', async () => {
      const alert = await codec.encode('Alert', {
        alert_id: '5f8a1c2e-9b7d-4e3f-8a6b-1c2d3e4f5a6b',
        rule: 'approval_rate_drop',
        severity: 'CRITICAL',
        state: 'FIRING',
        entity_level: 'MERCHANT',
        entity_id: 'M-42',
        window_start: 0,
        window_end: 60_000,
        fired_time: 60_001,
        resolved_time: null,
        summary: 'approval rate fell below 80%',
        value: 0.6,
        threshold: 0.8,
        evidence: { top_decline: '05' },
        labels: { region: 'eu-west' },
      });
      const err = await decodeError(codec.decode(alert, 'TransactionEvent', where));
      expect(err.message).toMatch(
        /expected TransactionEvent, but the writer schema is pospulse\.events\.Alert v2/,
      );
      expect(err.message).toContain('topic pp.transactions');
    });

    it('refuses every truncation of a valid record', async () => {
      const bytes = await valid();
      for (let cut = 10; cut < bytes.length; cut++) {
        const err = await decodeError(codec.decode(bytes.subarray(0, cut), 'TransactionEvent', where));
        expect(err.message).toContain('offset 123456');
      }
      expect(
        (await decodeError(codec.decode(bytes.subarray(0, 40), 'TransactionEvent', where))).message,
      ).toMatch(/truncated body/);
    });

    it('refuses trailing bytes after the record', async () => {
      const bytes = Buffer.concat([await valid(), Buffer.from([0])]);
      expect((await decodeError(codec.decode(bytes, 'TransactionEvent', where))).message).toMatch(
        /1 trailing bytes/,
      );
    });

    it('refuses Confluent-framed bytes when no registry is configured', async () => {
      const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), (await valid()).subarray(10)]);
      expect((await decodeError(codec.decode(bytes, 'TransactionEvent', where))).message).toMatch(
        /no schema registry is configured/,
      );
    });

    it('either decodes random bytes to a valid record or throws a DecodeError, never anything else', async () => {
      const names = fc.constantFrom(...SCHEMA_NAMES);
      const headers = new Map(
        await Promise.all(
          SCHEMA_NAMES.map(async (n) => [n, (await codec.encode(n, sampleFor(n))).subarray(0, 10)] as const),
        ),
      );
      const inputs = fc.oneof(
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        // A valid header followed by garbage gets past the framing checks into the body decoder.
        fc
          .tuple(names, fc.uint8Array({ maxLength: 200 }))
          .map(([n, body]) => Buffer.concat([headers.get(n)!, Buffer.from(body)])),
      );
      await fc.assert(
        fc.asyncProperty(inputs, names, async (bytes, expected) => {
          try {
            const value = await codec.decode(bytes, expected, where);
            expect(catalog.getSchema(expected).type.isValid(value)).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(DecodeError);
            expect((err as DecodeError).message).toContain('offset 123456');
          }
        }),
        { numRuns: 3000 },
      );
    });

    it('either decodes a valid record with flipped bytes to a valid record or throws a DecodeError', async () => {
      const bytes = await valid();
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 10, max: bytes.length - 1 }),
          fc.integer({ min: 1, max: 255 }),
          async (at, mask) => {
            const garbled = Buffer.from(bytes);
            garbled[at] = garbled[at]! ^ mask;
            try {
              const value = await codec.decode(garbled, 'TransactionEvent', where);
              expect(catalog.getSchema('TransactionEvent').type.isValid(value)).toBe(true);
            } catch (err) {
              expect(err).toBeInstanceOf(DecodeError);
            }
          },
        ),
        { numRuns: 2000 },
      );
    });
  });

  describe('invalid values', () => {
    it('lists every invalid field path in one EncodeError', async () => {
      const bad = {
        ...sampleTx,
        amount_minor: 12.5,
        status: 'MAYBE',
        response_time: new Date(),
        merchant_id: undefined,
        merchantId: 'M-42',
        basket: { ...sampleTx.basket!, items: [{ sku: 'X', quantity: 'two', unit_price_minor: 1 }] },
      };
      const err: unknown = await codec.encode('TransactionEvent', bad as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EncodeError);
      const { paths, schemaName, message } = err as EncodeError;
      expect(schemaName).toBe('TransactionEvent');
      expect([...paths].sort()).toEqual(
        [
          'amount_minor',
          'basket.items.0.quantity',
          'merchantId (undeclared)',
          'merchant_id',
          'response_time',
          'status',
        ].sort(),
      );
      for (const p of paths) expect(message).toContain(p);
    });

    it('never echoes field values in the error (they may be card data)', async () => {
      const token = 'f'.repeat(63) + 'Z';
      const err = (await codec
        .encode('TransactionEvent', { ...sampleTx, card_token: token, card_last4: 1234 } as never)
        .catch((e: unknown) => e)) as EncodeError;
      expect(err.paths).toEqual(['card_last4']);
      expect(err.message).not.toContain('1234');
      expect(err.message).not.toContain(token);
    });

    it('reports a value that is not a record at all as (root)', async () => {
      await expect(codec.encode('Alert', null as never)).rejects.toMatchObject({ paths: ['(root)'] });
    });

    it('fills an optional field left undefined with its default null', async () => {
      const { cashier_id: _omitted, ...rest } = sampleTx;
      const decoded = await codec.decode(
        await codec.encode('TransactionEvent', rest as never),
        'TransactionEvent',
      );
      expect(decoded.cashier_id).toBeNull();
    });
  });
});

describe('AvroCodec across schema versions', () => {
  const fixture = tempSchemasDir();
  afterAll(fixture.cleanup);
  const v1Json = readSchemaJson(fixture.dir, 'TransactionEvent.avsc');
  const v2Json = evolvedTransactionEvent(v1Json);
  writeSchemaJson(fixture.dir, 'TransactionEvent.avsc', v2Json);
  writeSchemaJson(fixture.dir, 'history/TransactionEvent/v2.avsc', v2Json);
  const evolved = new AvroCodec({ catalog: loadSchemaCatalog(fixture.dir) });

  const singleObject = (json: unknown, value: unknown) =>
    Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintOf(json).bytes, parseSchema(json).toBuffer(value)]);

  it('reads bytes written with a published older version, filling new fields with their defaults', async () => {
    const decoded = await evolved.decode(singleObject(v1Json, sampleTx), 'TransactionEvent', where);
    expect(decoded).toEqual({ ...sampleTx, tip_minor: null });
  });

  it('writes with the newest version', async () => {
    const bytes = await evolved.encode('TransactionEvent', { ...sampleTx, tip_minor: 100 } as never);
    expect(bytes.subarray(2, 10)).toEqual(fingerprintOf(v2Json).bytes);
    expect(await evolved.decode(bytes, 'TransactionEvent')).toEqual({ ...sampleTx, tip_minor: 100 });
  });

  it('cannot read a newer version it has not been given: publish schemas to readers first', async () => {
    const newer = singleObject(v2Json, { ...sampleTx, payment_method: 'BNPL', tip_minor: 1 });
    const err = await decodeError(codec.decode(newer, 'TransactionEvent', where));
    expect(err.cause).toBeInstanceOf(UnknownSchemaError);
  });

  it('reads an edited schema that is not yet published, and names it unpublished', async () => {
    const draft = tempSchemasDir();
    try {
      writeSchemaJson(draft.dir, 'TransactionEvent.avsc', v2Json);
      const drafted = loadSchemaCatalog(draft.dir);
      expect(drafted.getSchema('TransactionEvent').version).toBeNull();
      const draftCodec = new AvroCodec({ catalog: drafted });
      const bytes = await draftCodec.encode('TransactionEvent', { ...sampleTx, tip_minor: null } as never);
      expect(await draftCodec.decode(bytes, 'TransactionEvent')).toEqual({ ...sampleTx, tip_minor: null });
      const err = await decodeError(draftCodec.decode(bytes, 'Alert'));
      expect(err.message).toContain('(current, unpublished)');
    } finally {
      draft.cleanup();
    }
  });
});

describe('createAvroCodec', () => {
  it('builds a single-object codec when no registry URL is configured', () => {
    const c = createAvroCodec(
      { schemaRegistryUrl: undefined, schemaRegistryAuth: undefined, schemaRegistryTimeoutMs: 5000 },
      { catalog },
    );
    expect(c.wireFormat).toBe('single-object');
  });

  it('builds a Confluent codec when a registry URL is configured', () => {
    const c = createAvroCodec(
      {
        schemaRegistryUrl: 'http://registry:8081',
        schemaRegistryAuth: undefined,
        schemaRegistryTimeoutMs: 5000,
      },
      { catalog },
    );
    expect(c.wireFormat).toBe('confluent');
  });
});

function sampleFor(name: SchemaName): never {
  const [value] = fc.sample(arbitraryFor(catalog.getSchema(name).type), { numRuns: 1, seed: 42 });
  return value as never;
}
