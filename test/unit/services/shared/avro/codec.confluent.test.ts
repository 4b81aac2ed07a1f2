import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AvroCodec, createAvroCodec } from '../../../../../services/shared/avro/codec.ts';
import { parseSchema } from '../../../../../services/shared/avro/parse-schema.ts';
import { SchemaRegistryClient } from '../../../../../services/shared/avro/schema-registry.ts';
import { SCHEMA_NAMES, loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';
import { type TerminalHeartbeat } from '../../../../../services/shared/avro/types.generated.ts';
import {
  DecodeError,
  SchemaRegistryError,
  UnknownSchemaError,
} from '../../../../../services/shared/errors.ts';
import { arbitraryFor } from '../../../../support/avro-arbitrary.ts';
import {
  type FakeSchemaRegistry,
  startFakeSchemaRegistry,
} from '../../../../support/fake-schema-registry.ts';
import { evolvedTransactionEvent } from '../../../../support/schemas-fixture.ts';

const catalog = loadSchemaCatalog();
const where = { topic: 'pp.heartbeats', partition: 2, offset: '99' };

const heartbeat: TerminalHeartbeat = {
  event_id: '9d7c1a4e-0f3b-4c2d-8e5f-6a7b8c9d0e1f',
  terminal_serial: 'TRM-1',
  merchant_id: 'M-1',
  gateway_id: 'gw-1',
  event_time: 1_700_000_000_000,
  online: true,
  firmware_version: '4.2.0',
  app_version: '1.9.3',
  battery_pct: 87,
  paper_state: 'LOW',
  signal_strength_dbm: -71,
  connection_type: 'CELLULAR_4G',
  last_error_code: null,
  offline_queue_length: 0,
  ingest_channel: 'HTTP',
  gateway_received_time: 1_700_000_000_040,
};

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('AvroCodec in Confluent wire format', () => {
  let registry: FakeSchemaRegistry;
  let codec: AvroCodec;
  beforeEach(async () => {
    registry = await startFakeSchemaRegistry();
    codec = new AvroCodec({ catalog, registry: new SchemaRegistryClient({ url: registry.url }) });
  });
  afterEach(async () => {
    await registry.close();
  });

  it('registers the current schema under <topic>-value and frames records as 00, the id big-endian, the body', async () => {
    registry.add('{"type":"string"}'); // another schema holds id 1, so ours is 2
    const bytes = await codec.encode('TerminalHeartbeat', heartbeat, 'pp.heartbeats');
    expect(codec.wireFormat).toBe('confluent');
    expect(bytes.subarray(0, 5).toString('hex')).toBe('0000000002');
    expect(bytes.subarray(5)).toEqual(catalog.getSchema('TerminalHeartbeat').type.toBuffer(heartbeat));
    const [registered] = registry.subjects.get('pp.heartbeats-value')!;
    expect(JSON.parse(registered!)).toEqual(catalog.getSchema('TerminalHeartbeat').json);
  });

  it('registers once per topic, not per record', async () => {
    for (let i = 0; i < 5; i++) await codec.encode('TerminalHeartbeat', heartbeat, 'pp.heartbeats');
    await codec.encode('TerminalHeartbeat', heartbeat, 'pp.heartbeats.replay');
    expect(registry.requests.map((r) => r.path)).toEqual([
      '/subjects/pp.heartbeats-value/versions',
      '/subjects/pp.heartbeats.replay-value/versions',
    ]);
  });

  it('needs the topic to name the subject', async () => {
    await expect(codec.encode('TerminalHeartbeat', heartbeat)).rejects.toThrow(TypeError);
  });

  it.each(SCHEMA_NAMES)('round-trips every valid %s', async (name) => {
    await fc.assert(
      fc.asyncProperty(arbitraryFor(catalog.getSchema(name).type), async (value) => {
        const bytes = await codec.encode(name, value as never, `pp.${name}`);
        expect(await codec.decode(bytes, name)).toEqual(value);
      }),
      { numRuns: 50 },
    );
  });

  it('fetches a writer schema by id once, however many records and concurrent decodes use it', async () => {
    const producer = new AvroCodec({ catalog, registry: new SchemaRegistryClient({ url: registry.url }) });
    const bytes = await producer.encode('TerminalHeartbeat', heartbeat, 'pp.heartbeats');
    registry.requests.length = 0;
    const decoded = await Promise.all(
      Array.from({ length: 20 }, () => codec.decode(bytes, 'TerminalHeartbeat', where)),
    );
    await codec.decode(bytes, 'TerminalHeartbeat', where);
    expect(decoded.every((d) => d.terminal_serial === 'TRM-1')).toBe(true);
    expect(registry.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /schemas/ids/1']);
  });

  it('resolves a newer writer schema from the registry to the current reader', async () => {
    const v2 = evolvedTransactionEvent(catalog.getSchema('TransactionEvent').json as Record<string, unknown>);
    const id = registry.add(JSON.stringify(v2), 'pp.tx-value');
    const value = (fc.sample(arbitraryFor(parseSchema(v2)), { numRuns: 1, seed: 7 })[0] ?? {}) as Record<
      string,
      unknown
    >;
    const written = { ...value, payment_method: 'BNPL', tip_minor: 250 };
    const header = Buffer.from([0, 0, 0, 0, id]);
    const bytes = Buffer.concat([header, parseSchema(v2).toBuffer(written)]);
    const decoded = (await codec.decode(bytes, 'TransactionEvent', where)) as unknown as Record<
      string,
      unknown
    >;
    const { tip_minor: _dropped, ...expected } = written;
    expect(decoded).toEqual({ ...expected, payment_method: 'UNKNOWN' });
  });

  it('still reads single-object records, so a topic can migrate between framings', async () => {
    const singleObject = await new AvroCodec({ catalog }).encode('TerminalHeartbeat', heartbeat);
    expect(await codec.decode(singleObject, 'TerminalHeartbeat')).toEqual(heartbeat);
    expect(registry.requests).toHaveLength(0);
  });

  it('throws a DecodeError caused by UnknownSchemaError for an id the registry does not have', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0x30, 0x39]), Buffer.alloc(20)]);
    const err = await rejection(codec.decode(bytes, 'TerminalHeartbeat', where));
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toContain('registry id 12345');
    expect((err as Error).message).toContain('topic pp.heartbeats, partition 2, offset 99');
    expect((err as Error).cause).toBeInstanceOf(UnknownSchemaError);
  });

  it('throws a retryable SchemaRegistryError, not a DecodeError, while the registry is down', async () => {
    const bytes = Buffer.concat([
      Buffer.from([0, 0, 0, 0, 1]),
      catalog.getSchema('TerminalHeartbeat').type.toBuffer(heartbeat),
    ]);
    registry.add(JSON.stringify(catalog.getSchema('TerminalHeartbeat').json));
    registry.failNext(503);
    const err = await rejection(codec.decode(bytes, 'TerminalHeartbeat', where));
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect((err as SchemaRegistryError).retryable).toBe(true);
    // Once it answers again, the same record decodes: the failure was not cached.
    expect(await codec.decode(bytes, 'TerminalHeartbeat', where)).toEqual(heartbeat);
  });

  it('throws a retryable SchemaRegistryError on encode when the registry is unreachable', async () => {
    await registry.close();
    const err = await rejection(codec.encode('TerminalHeartbeat', heartbeat, 'pp.heartbeats'));
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect((err as SchemaRegistryError).retryable).toBe(true);
    registry = await startFakeSchemaRegistry();
  });

  it('refuses a writer schema of another record than expected', async () => {
    const id = registry.add(JSON.stringify(catalog.getSchema('Alert').json));
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, id]), Buffer.alloc(10)]);
    const err = await rejection(codec.decode(bytes, 'TerminalHeartbeat', where));
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toMatch(
      /expected TerminalHeartbeat, but the writer schema is registry id 1 = pospulse\.events\.Alert/,
    );
  });

  it('refuses writer schemas it cannot use: foreign records, non-Avro, unparseable, unresolvable', async () => {
    const foreign = registry.add('{"type":"record","name":"com.acme.Order","fields":[]}');
    const proto = registry.add('syntax = "proto3";', undefined, 'PROTOBUF');
    const broken = registry.add('{"type":"record","name":"pospulse.events.TerminalHeartbeat"');
    const incompatible = registry.add(
      JSON.stringify({
        type: 'record',
        name: 'pospulse.events.TerminalHeartbeat',
        fields: [{ name: 'online', type: 'string' }],
      }),
    );
    const decodeWith = (id: number) =>
      rejection(codec.decode(Buffer.from([0, 0, 0, 0, id, 0]), 'TerminalHeartbeat', where)) as Promise<Error>;
    expect((await decodeWith(foreign)).message).toMatch(/com\.acme\.Order\) is not a pospulse record/);
    expect((await decodeWith(proto)).message).toMatch(/PROTOBUF schema, not Avro/);
    expect((await decodeWith(broken)).message).toMatch(/cannot be read/);
    expect((await decodeWith(incompatible)).message).toMatch(/cannot be read/);
    for (const id of [foreign, proto, broken, incompatible]) {
      expect(await decodeWith(id)).toBeInstanceOf(DecodeError);
    }
  });

  it('refuses a Confluent header cut short', async () => {
    const err = await rejection(codec.decode(Buffer.from([0, 0, 1]), 'TerminalHeartbeat', where));
    expect((err as Error).message).toMatch(/too short for a Confluent header/);
  });

  it('sends basic auth from SCHEMA_REGISTRY_AUTH when built from config', async () => {
    registry.requireAuth('pp:pw');
    const fromConfig = createAvroCodec(
      { schemaRegistryUrl: registry.url, schemaRegistryAuth: 'pp:pw', schemaRegistryTimeoutMs: 1000 },
      { catalog },
    );
    await fromConfig.encode('TerminalHeartbeat', heartbeat, 'pp.heartbeats');
    expect(registry.requests[0]!.authorization).toBe(`Basic ${Buffer.from('pp:pw').toString('base64')}`);
  });
});
