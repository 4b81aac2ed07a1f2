import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../../../services/shared/errors.ts';
import { clickhouseCode, type Store } from '../../../../../services/shared/clickhouse/store.ts';
import { openTestStore, type TestStore } from '../../../support/store.ts';

describe('Store over HTTP to the real ClickHouse engine', () => {
  let test: TestStore;
  const table = `tx_${Math.random().toString(36).slice(2, 10)}`;
  let store: Store;

  beforeAll(async () => {
    test = await openTestStore();
    store = test.store;
    await store.command(
      `CREATE TABLE ${table} (
         event_id UUID, terminal_serial LowCardinality(String), amount_minor Int64,
         request_time DateTime64(3, 'UTC'), response_code Nullable(String)
       ) ENGINE = MergeTree ORDER BY (terminal_serial, request_time)`,
    );
  });

  afterAll(async () => {
    await store.command(`DROP TABLE IF EXISTS ${table}`);
    await test.close();
  });

  it('inserts rows as JSONEachRow and reads them back with bound parameters', async () => {
    const rows = Array.from({ length: 500 }, (_, i) => ({
      event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      terminal_serial: `T${i % 7}`,
      amount_minor: i * 100 - 3,
      request_time: 1_767_225_600_000 + i,
      response_code: i % 5 === 0 ? null : '00',
    }));
    await store.insert(table, rows);
    const got = await store.query<{ terminal_serial: string; n: string; total: string; nulls: string }>(
      `SELECT terminal_serial, count() AS n, sum(amount_minor) AS total, countIf(response_code IS NULL) AS nulls
         FROM ${table} WHERE terminal_serial = {serial:String} GROUP BY terminal_serial`,
      { serial: 'T3' },
    );
    const expected = rows.filter((r) => r.terminal_serial === 'T3');
    expect(got).toEqual([
      {
        terminal_serial: 'T3',
        n: String(expected.length),
        total: String(expected.reduce((s, r) => s + r.amount_minor, 0)),
        nulls: String(expected.filter((r) => r.response_code === null).length),
      },
    ]);
  });

  it('keeps millisecond timestamps exact', async () => {
    const got = await store.query<{ t: string }>(
      `SELECT toUnixTimestamp64Milli(request_time) AS t FROM ${table} WHERE event_id = {id:UUID}`,
      { id: '00000000-0000-4000-8000-000000000042' },
    );
    expect(Number(got[0]?.t)).toBe(1_767_225_600_042);
  });

  it('raises a typed, non-retryable error with the ClickHouse code for bad SQL', async () => {
    const err = await store.query('SELEKT 1').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.CLICKHOUSE, retryable: false });
    expect((err as Error).cause).toMatchObject({ code: '62', type: 'SYNTAX_ERROR' });
    expect(clickhouseCode(err)).toBe('62'); // SYNTAX_ERROR
  });

  it('names the missing table through the ClickHouse code, not the message', async () => {
    const err = await store.insert(`missing_${table}`, [{ a: 1 }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.CLICKHOUSE });
    expect(clickhouseCode(err)).toBe('60'); // UNKNOWN_TABLE
  });

  it('answers a ping', async () => {
    expect(await store.ping()).toBe(true);
  });
});
