import { createHash } from 'node:crypto';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, startStoreServer, TEST_USERS, type RunningStore } from '../../support/store-server.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('users created over SQL on the store', () => {
  let server: RunningStore;
  const clients: ClickHouseClient[] = [];
  const as = (username: string, password: string) => {
    const c = createClient({ url: server.url, username, password, log: { level: ClickHouseLogLevel.OFF } });
    clients.push(c);
    return c;
  };
  const rows = async (c: ClickHouseClient, query: string) =>
    (await c.query({ query, format: 'JSONEachRow' })).json<Record<string, unknown>>();

  beforeAll(async () => {
    server = await startStoreServer();
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await server?.close();
  });

  it('lets a user run queries only once granted SELECT', async () => {
    const svc = server.client('service');
    await svc.command({
      query: `CREATE USER carol IDENTIFIED WITH sha256_hash BY '${sha('carol-pw')}' SETTINGS readonly = 1`,
    });
    const carol = as('carol', 'carol-pw');
    expect(await errorCode(rows(carol, 'SELECT 1'))).toBe('497');
    await svc.command({ query: 'GRANT SELECT ON default.* TO carol' });
    expect(await rows(carol, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(await errorCode(rows(as('carol', 'wrong'), 'SELECT 1'))).toBe('516');
  });

  // Regression: these went down the streaming path, which chDB refuses for anything but SELECT.
  it('answers SHOW, DESCRIBE, EXPLAIN and EXISTS, which BI tools send to browse tables', async () => {
    const analyst = server.client('analyst');
    await server.client('service').command({ query: 'CREATE TABLE default.browse (a Int8) ENGINE = Memory' });
    expect(await rows(analyst, 'SHOW TABLES FROM default')).toContainEqual({ name: 'browse' });
    expect(await rows(analyst, 'DESCRIBE default.browse')).toMatchObject([{ name: 'a', type: 'Int8' }]);
    expect(await rows(analyst, 'EXISTS default.browse')).toEqual([{ result: 1 }]);
    expect((await rows(analyst, 'EXPLAIN SELECT 1')).length).toBeGreaterThan(0);
  });

  it('refuses access SQL from analysts, in GET requests, and when malformed', async () => {
    const analyst = server.client('analyst');
    const create = `CREATE USER dave IDENTIFIED WITH sha256_hash BY '${sha('x')}' SETTINGS readonly = 1`;
    expect(await errorCode(analyst.command({ query: create }))).toBe('497');
    expect(await errorCode(analyst.command({ query: 'CREATE USER oops' }))).toBe('497');
    // A GET is read-only, as on a ClickHouse server.
    const get = await fetch(`${server.url}/?query=${encodeURIComponent(create)}`, {
      headers: {
        'X-ClickHouse-User': TEST_USERS.service.username,
        'X-ClickHouse-Key': TEST_USERS.service.password,
      },
    });
    expect(get.headers.get('x-clickhouse-exception-code')).toBe('164');
    const svc = server.client('service');
    expect(
      await errorCode(svc.command({ query: "CREATE USER dave IDENTIFIED WITH sha256_hash BY 'abc'" })),
    ).toBe('62');
    expect(await errorCode(svc.command({ query: `DROP USER ${TEST_USERS.analyst.username}` }))).toBe('495');
    expect(await errorCode(svc.command({ query: 'DROP USER nobody' }))).toBe('192');
  });

  it('gives a user dropped and created again its new limits, not the old sessions', async () => {
    const svc = server.client('service');
    const make = (rowsLimit: number) =>
      svc.command({
        query: `CREATE USER erin IDENTIFIED WITH sha256_hash BY '${sha('erin-pw')}' SETTINGS readonly = 1, max_result_rows = ${rowsLimit}`,
      });
    await make(3);
    await svc.command({ query: 'GRANT SELECT ON *.* TO erin' });
    const erin = as('erin', 'erin-pw');
    expect(await errorCode(rows(erin, 'SELECT number FROM numbers(10)'))).toBe('396');
    await svc.command({ query: 'DROP USER erin' });
    expect(await errorCode(rows(erin, 'SELECT 1'))).toBe('516');
    await make(100);
    await svc.command({ query: 'GRANT SELECT ON *.* TO erin' });
    expect(await rows(erin, 'SELECT number FROM numbers(10)')).toHaveLength(10);
  });
});
