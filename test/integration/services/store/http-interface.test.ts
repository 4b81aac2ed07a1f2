import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStoreServer, TEST_USERS, type RunningStore } from '../../support/store-server.ts';

/** The ClickHouse error the client raised, as code and type (the client's own class). */
async function chError(p: Promise<unknown>): Promise<{ code: string; type: string; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to fail').toBeInstanceOf(Error);
  expect((err as Error).constructor.name).toBe('ClickHouseError');
  return err as { code: string; type: string; message: string };
}

function raw(
  url: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  chunks: number;
}> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = request(u, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(parts),
          chunks: parts.length,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const basic = (who: keyof typeof TEST_USERS) =>
  `Basic ${Buffer.from(`${TEST_USERS[who].username}:${TEST_USERS[who].password}`).toString('base64')}`;

describe('store: the ClickHouse HTTP interface over the embedded engine', () => {
  let srv: RunningStore;
  let svc: ClickHouseClient;
  let analyst: ClickHouseClient;
  const table = `t_${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    srv = await startStoreServer();
    svc = srv.client('service');
    analyst = srv.client('analyst');
    await svc.command({
      query: `CREATE TABLE ${table} (id UInt64, terminal LowCardinality(String), amount Int64, at DateTime64(3, 'UTC'))
              ENGINE = MergeTree ORDER BY (terminal, at)`,
    });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('answers /ping and a bare GET / without credentials, like a ClickHouse server', async () => {
    expect((await raw(srv.url, '/ping')).body.toString()).toBe('Ok.\n');
    expect((await svc.ping()).success).toBe(true);
  });

  it('inserts 100k rows as JSONEachRow and reads them back', async () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => ({
      id: i,
      terminal: `T${i % 100}`,
      amount: (i % 1000) - 100,
      at: 1_767_225_600_000 + i,
    }));
    const r = await svc.insert({ table, values: rows, format: 'JSONEachRow' });
    expect(r.executed).toBe(true);
    expect(Number(r.summary?.written_rows)).toBe(100_000);
    const [count] = await (
      await svc.query({ query: `SELECT count() AS n, sum(amount) AS s FROM ${table}`, format: 'JSONEachRow' })
    ).json<{ n: string; s: string }>();
    expect(count).toEqual({ n: '100000', s: String(rows.reduce((a, r2) => a + r2.amount, 0)) });
  });

  it('returns results as JSON, JSONEachRow and CSV', async () => {
    const q = `SELECT id, terminal FROM ${table} WHERE id < 3 ORDER BY id`;
    const json = await (
      await svc.query({ query: q, format: 'JSON' })
    ).json<{ data: unknown[]; rows: number; meta: unknown[] }>();
    expect(json.rows).toBe(3);
    expect(json.data).toEqual([
      { id: '0', terminal: 'T0' },
      { id: '1', terminal: 'T1' },
      { id: '2', terminal: 'T2' },
    ]);
    const each = await (await svc.query({ query: q, format: 'JSONEachRow' })).json();
    expect(each).toEqual(json.data);
    const csv = await (await svc.query({ query: q, format: 'CSV' })).text();
    expect(csv).toBe('0,"T0"\n1,"T1"\n2,"T2"\n');
  });

  it('binds query parameters of several types', async () => {
    const rs = await svc.query({
      query: `SELECT count() AS n FROM ${table} WHERE terminal IN {terminals:Array(String)} AND amount >= {min:Int64} AND at < {before:DateTime64(3)}`,
      query_params: { terminals: ['T1', 'T2'], min: 0, before: '2026-01-01 00:00:01.000' },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string }>();
    // ids 0..999 fall before the cut-off; T1/T2 are ids ≡ 1,2 (mod 100); amount >= 0 drops ids ≡ 0..99 (mod 1000)
    let expected = 0;
    for (let i = 0; i < 1000; i++) if ((i % 100 === 1 || i % 100 === 2) && (i % 1000) - 100 >= 0) expected++;
    expect(Number(row?.n)).toBe(expected);
  });

  it('takes query parameters of hundreds of kilobytes in the URL, as ClickHouse does (regression: 431 from a batch of card tokens)', async () => {
    const tokens = Array.from({ length: 12_000 }, (_, i) => `tok_${i.toString(36).padStart(20, '0')}`);
    const rs = await svc.query({
      query: 'SELECT length({tokens:Array(String)}) AS n',
      query_params: { tokens },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([{ n: '12000' }]);
  });

  it('binds string parameters holding quotes, backslashes, tabs and newlines exactly (regression: raw escapes reached the engine)', async () => {
    const tricky = "it's a \\path\\ with\ttab\nand newline";
    const rs = await svc.query({
      query: 'SELECT {s:String} AS s, {a:Array(String)} AS a, length({s:String}) AS n',
      query_params: { s: tricky, a: [tricky, "o'k"] },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      { s: tricky, a: [tricky, "o'k"], n: String(Buffer.byteLength(tricky)) },
    ]);
  });

  it('runs commands and reports errors as ClickHouseError with the server code', async () => {
    await svc.command({ query: `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS note String DEFAULT ''` });
    const syntax = await chError(svc.query({ query: 'SELEC 1' }));
    expect(syntax).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' });
    const missing = await chError(svc.query({ query: 'SELECT * FROM no_such_table' }));
    expect(missing).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
    const bad = await raw(srv.url, '/?query=SELECT+*+FROM+no_such_table', {
      headers: { authorization: basic('service') },
    });
    expect(bad.status).toBe(404);
    expect(bad.headers['x-clickhouse-exception-code']).toBe('60');
  });

  it('compresses with gzip in both directions', async () => {
    const gz = srv.client('service', { compression: { request: true, response: true } });
    await gz.insert({
      table,
      values: [{ id: 1_000_000, terminal: 'GZ', amount: 7, at: 1_767_225_600_000 }],
      format: 'JSONEachRow',
    });
    const [row] = await (
      await gz.query({ query: `SELECT amount FROM ${table} WHERE terminal = 'GZ'`, format: 'JSONEachRow' })
    ).json<{ amount: string }>();
    expect(row?.amount).toBe('7');
    const res = await raw(srv.url, '/?enable_http_compression=1&query=SELECT+42', {
      headers: { authorization: basic('service'), 'accept-encoding': 'gzip' },
    });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(res.body).toString()).toBe('42\n');
  });

  it('streams a 1M-row result in many chunks rather than one buffered body', async () => {
    const rs = await svc.query({
      query: 'SELECT number, toString(number) AS s FROM numbers(1000000)',
      format: 'JSONEachRow',
    });
    let rows = 0;
    let last = -1;
    for await (const batch of rs.stream()) {
      for (const r of batch) {
        const { number } = r.json<{ number: string }>();
        last = Number(number);
        rows++;
      }
    }
    expect(rows).toBe(1_000_000);
    expect(last).toBe(999_999);
    const res = await raw(srv.url, '/?query=SELECT+number+FROM+numbers(1000000)+FORMAT+TSV', {
      headers: { authorization: basic('service') },
    });
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.chunks).toBeGreaterThan(1);
  });

  it('signals an error that happens after rows were sent, so the client raises it', async () => {
    const rs = await svc.query({
      query: 'SELECT throwIf(number = 900000) AS x FROM numbers(1000000)',
      format: 'JSONEachRow',
    });
    const err = await (async () => {
      for await (const _ of rs.stream()) void _;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '395', type: 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO' });
  });

  it("refuses an analyst's INSERT, ALTER and DROP through the engine's readonly setting", async () => {
    for (const query of [
      `INSERT INTO ${table} (id, terminal, amount, at) VALUES (1, 'x', 1, now())`,
      `ALTER TABLE ${table} DELETE WHERE 1`,
      `DROP TABLE ${table}`,
    ]) {
      const err = await chError(analyst.command({ query }));
      expect(err, query).toMatchObject({ code: '164', type: 'READONLY' });
    }
    const insert = await chError(
      analyst.insert({ table, values: [{ id: 1, terminal: 'x', amount: 1, at: 0 }], format: 'JSONEachRow' }),
    );
    expect(insert.code).toBe('164');
    const raise = await chError(
      analyst.query({ query: 'SELECT 1', clickhouse_settings: { max_execution_time: 100_000 } }),
    );
    expect(raise.code).toBe('164');
    const [row] = await (
      await analyst.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })
    ).json<{ n: string }>();
    expect(Number(row?.n)).toBeGreaterThan(100_000);
  });

  it('stops an analyst query at the user’s time and result limits', async () => {
    // The limit trips mid-stream (rows were already sent), so the error arrives in-band.
    const rs = await analyst.query({ query: 'SELECT number FROM numbers(3000000)', format: 'JSONEachRow' });
    const rows = await chError(
      (async () => {
        for await (const _ of rs.stream()) void _;
      })(),
    );
    expect(rows.code).toBe('396'); // TOO_MANY_ROWS_OR_BYTES
    const slow = await chError(
      analyst
        .query({ query: 'SELECT count() FROM numbers_mt(1e12) WHERE sipHash64(number) = 1' })
        .then((r) => r.text()),
    );
    expect(slow.code).toBe('159'); // TIMEOUT_EXCEEDED
  });

  it('serves Prometheus metrics only to a store user', async () => {
    expect((await raw(srv.url, '/metrics')).status).toBe(401);
    const wrong = `Basic ${Buffer.from(`${TEST_USERS.service.username}:nope`).toString('base64')}`;
    expect((await raw(srv.url, '/metrics', { headers: { authorization: wrong } })).status).toBe(401);
    const ok = await raw(srv.url, '/metrics', { headers: { authorization: basic('analyst') } });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toContain('pospulse_store_queries_total');
  });

  it('refuses anonymous and wrong-password requests', async () => {
    const anonymous = await raw(srv.url, '/?query=SELECT+1');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['x-clickhouse-exception-code']).toBe('194');
    const wrong = srv.client('service', { password: 'not-the-password' });
    expect(await chError(wrong.query({ query: 'SELECT 1' }))).toMatchObject({
      code: '516',
      type: 'AUTHENTICATION_FAILED',
    });
    const unknown = srv.client('service', { username: 'nobody' });
    expect((await chError(unknown.query({ query: 'SELECT 1' }))).code).toBe('516');
    const viaHeaders = await raw(srv.url, '/?query=SELECT+1', {
      headers: {
        'x-clickhouse-user': TEST_USERS.analyst.username,
        'x-clickhouse-key': TEST_USERS.analyst.password,
      },
    });
    expect(viaHeaders.body.toString()).toBe('1\n');
  });

  it('treats GET as read-only for a writer, as a ClickHouse server does', async () => {
    const res = await raw(
      srv.url,
      `/?query=${encodeURIComponent(`INSERT INTO ${table} (id, terminal, amount, at) VALUES (5, 'g', 1, now())`)}`,
      {
        headers: { authorization: basic('service') },
      },
    );
    expect(res.status).toBe(500);
    expect(res.headers['x-clickhouse-exception-code']).toBe('164');
  });

  it("keeps clients off the store's host: no files, no other servers, one statement per request", async () => {
    for (const query of [
      "SELECT 1 INTO OUTFILE '/tmp/pospulse-outfile-test'",
      "SELECT * FROM file('/etc/hostname', LineAsString)",
      "SELECT * FROM url('http://127.0.0.1:1/x', LineAsString)",
      `INSERT INTO ${table} FROM INFILE '/etc/hostname' FORMAT LineAsString`,
      'SELECT 1; SELECT 2',
    ]) {
      const err = await chError(svc.query({ query }));
      expect(err.code, query).toBe('497'); // ACCESS_DENIED
    }
    // The words themselves are fine inside strings and comments.
    const ok = await (
      await svc.query({ query: "SELECT 'INTO OUTFILE; file(' AS s -- ; file('x')", format: 'JSONEachRow' })
    ).json();
    expect(ok).toEqual([{ s: 'INTO OUTFILE; file(' }]);
  });

  it('applies settings sent as URL parameters to one query only', async () => {
    const get = async (settings?: Record<string, number>) =>
      String(
        (
          await (
            await svc.query({
              query: "SELECT getSetting('max_block_size') AS v",
              format: 'JSONEachRow',
              clickhouse_settings: settings,
            })
          ).json<{ v: unknown }>()
        )[0]?.v,
      );
    const before = await get();
    expect(await get({ max_block_size: 1234 })).toBe('1234');
    expect(await get()).toBe(before);
    expect(await get({ max_block_size: 999 })).toBe('999');
    expect(await get({ max_block_size: 999 })).toBe('999');
    expect(await get()).toBe(before);
    // A SET statement lasts its own request, as on a ClickHouse server without sessions.
    await svc.command({ query: 'SET max_block_size = 77' });
    for (let i = 0; i < 6; i++) expect(await get()).toBe(before);
    const unknown = await chError(
      svc.query({ query: 'SELECT 1', clickhouse_settings: { no_such_setting_xyz: 1 } as never }),
    );
    expect(unknown.code).toBe('115'); // UNKNOWN_SETTING
  });

  it('uses the database named in the request and echoes the query id', async () => {
    await svc.command({ query: 'CREATE DATABASE IF NOT EXISTS other_db' });
    const inOther = srv.client('service', { database: 'other_db' });
    const [row] = await (
      await inOther.query({
        query: 'SELECT currentDatabase() AS db',
        format: 'JSONEachRow',
        query_id: 'my-query-1',
      })
    ).json<{ db: string }>();
    expect(row?.db).toBe('other_db');
    const [again] = await (
      await svc.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })
    ).json<{ db: string }>();
    expect(again?.db).toBe('default');
    const rs = await svc.query({ query: 'SELECT 1', query_id: 'echo-me' });
    expect(rs.query_id).toBe('echo-me');
  });

  it('lets inserts finish while a long analyst query holds its own connection', async () => {
    const order: string[] = [];
    const long = analyst
      .query({
        query: 'SELECT count() FROM numbers_mt(1e12) WHERE sipHash64(number) = 1',
        format: 'TabSeparated',
      })
      .then((r) => r.text())
      .catch(() => undefined)
      .then(() => order.push('analyst query ended'));
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 5; i++)
      await svc.insert({
        table,
        values: [{ id: 2_000_000 + i, terminal: 'C', amount: 1, at: 0 }],
        format: 'JSONEachRow',
      });
    order.push('5 inserts acknowledged');
    await long;
    expect(order).toEqual(['5 inserts acknowledged', 'analyst query ended']);
  });
});
