import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SchemaRegistryClient } from '../../../../../services/shared/avro/schema-registry.ts';
import { SchemaRegistryError, UnknownSchemaError } from '../../../../../services/shared/errors.ts';
import {
  type FakeSchemaRegistry,
  startFakeSchemaRegistry,
} from '../../../../support/fake-schema-registry.ts';

const SCHEMA = '{"type":"record","name":"R","fields":[]}';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('SchemaRegistryClient', () => {
  let registry: FakeSchemaRegistry;
  beforeEach(async () => {
    registry = await startFakeSchemaRegistry();
  });
  afterEach(async () => {
    await registry.close();
  });

  it('registers a schema under a subject with the registry content type and returns its id', async () => {
    const client = new SchemaRegistryClient({ url: registry.url });
    const id = await client.register('pp.tx-value', SCHEMA);
    expect(id).toBe(1);
    expect(registry.subjects.get('pp.tx-value')).toEqual([SCHEMA]);
    expect(registry.requests[0]).toMatchObject({
      method: 'POST',
      path: '/subjects/pp.tx-value/versions',
      contentType: 'application/vnd.schemaregistry.v1+json',
    });
  });

  it('asks once per subject and schema, even for concurrent callers', async () => {
    const client = new SchemaRegistryClient({ url: registry.url });
    const ids = await Promise.all([1, 2, 3].map(() => client.register('s-value', SCHEMA)));
    await client.register('s-value', SCHEMA);
    expect(new Set(ids)).toEqual(new Set([1]));
    expect(registry.requests).toHaveLength(1);
  });

  it('fetches a schema by id once and caches it', async () => {
    const id = registry.add(SCHEMA);
    const client = new SchemaRegistryClient({ url: registry.url });
    expect(await client.getSchemaById(id)).toEqual({ id, schema: SCHEMA, schemaType: 'AVRO' });
    await client.getSchemaById(id);
    expect(registry.requests.map((r) => r.path)).toEqual([`/schemas/ids/${id}`]);
  });

  it('reports the schema type the registry gives for non-Avro schemas', async () => {
    const id = registry.add('syntax = "proto3";', undefined, 'PROTOBUF');
    const client = new SchemaRegistryClient({ url: registry.url });
    expect((await client.getSchemaById(id)).schemaType).toBe('PROTOBUF');
  });

  it('turns a 404 for an id into an UnknownSchemaError with the registry error as cause', async () => {
    const client = new SchemaRegistryClient({ url: registry.url });
    const err = await rejection(client.getSchemaById(99));
    expect(err).toBeInstanceOf(UnknownSchemaError);
    expect((err as UnknownSchemaError).schemaRef).toBe('registry id 99');
    expect((err as Error).cause).toBeInstanceOf(SchemaRegistryError);
  });

  it('uses credentials from the URL for basic auth and keeps them out of its base URL', async () => {
    registry.requireAuth('svc:s3cr3t/+');
    const url = registry.url.replace('http://', 'http://svc:s3cr3t%2F%2B@');
    const client = new SchemaRegistryClient({ url });
    expect(client.baseUrl).toBe(registry.url);
    expect(await client.register('a-value', SCHEMA)).toBe(1);
  });

  it('prefers the auth option over credentials in the URL', async () => {
    registry.requireAuth('right:pw');
    const client = new SchemaRegistryClient({
      url: registry.url.replace('http://', 'http://wrong:pw@'),
      auth: 'right:pw',
    });
    expect(await client.register('a-value', SCHEMA)).toBe(1);
  });

  it('fails without retry on wrong credentials', async () => {
    registry.requireAuth('user:pw');
    const err = await rejection(
      new SchemaRegistryClient({ url: registry.url, auth: 'user:nope' }).register('a', SCHEMA),
    );
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect((err as SchemaRegistryError).retryable).toBe(false);
    expect((err as Error).message).toContain('HTTP 401');
    expect((err as Error).message).not.toContain('nope');
  });

  it.each([500, 503, 429, 408])('calls HTTP %d retryable', async (status) => {
    registry.failNext(status);
    const err = await rejection(new SchemaRegistryClient({ url: registry.url }).register('a-value', SCHEMA));
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect((err as SchemaRegistryError).retryable).toBe(true);
  });

  it.each([409, 422])('calls HTTP %d final', async (status) => {
    registry.failNext(status);
    const err = await rejection(new SchemaRegistryClient({ url: registry.url }).register('a-value', SCHEMA));
    expect((err as SchemaRegistryError).retryable).toBe(false);
    expect((err as Error).message).toContain(`error_code ${status * 100}`);
  });

  it('does not cache a failure: the next call asks again', async () => {
    registry.failNext(503);
    const client = new SchemaRegistryClient({ url: registry.url });
    await rejection(client.register('a-value', SCHEMA));
    expect(await client.register('a-value', SCHEMA)).toBe(1);
  });

  it('calls an unreachable registry retryable, without credentials in the message', async () => {
    await registry.close();
    const client = new SchemaRegistryClient({ url: registry.url.replace('http://', 'http://u:topsecret@') });
    const err = await rejection(client.getSchemaById(1));
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect((err as SchemaRegistryError).retryable).toBe(true);
    expect((err as Error).message).toContain('unreachable');
    expect((err as Error).message).not.toContain('topsecret');
    registry = await startFakeSchemaRegistry();
  });

  it('gives up after its timeout, retryable', async () => {
    registry.delay(500);
    const client = new SchemaRegistryClient({ url: registry.url, timeoutMs: 50 });
    const err = await rejection(client.getSchemaById(1));
    expect((err as SchemaRegistryError).retryable).toBe(true);
    expect((err as Error).message).toContain('timed out');
  });

  it('refuses an answer that is not the expected JSON', async () => {
    const client = new SchemaRegistryClient({
      url: 'http://registry.invalid',
      fetch: () => Promise.resolve(new Response('<html>proxy</html>', { status: 200 })),
    });
    const err = await rejection(client.getSchemaById(1));
    expect(err).toBeInstanceOf(SchemaRegistryError);
    expect((err as SchemaRegistryError).retryable).toBe(false);
  });
});
