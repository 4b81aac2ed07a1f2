import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../../services/shared/avro/types.generated.ts';
import {
  bootstrapStatements,
  checksum,
  findMigrationsDir,
  loadMigrations,
  renderMigration,
  runMigrations,
  type RenderContext,
} from '../../../../../services/shared/clickhouse/migrations.ts';
import { heartbeatRow, transactionRow } from '../../../../../services/shared/clickhouse/rows.ts';
import { clickhouseCode, type Store } from '../../../../../services/shared/clickhouse/store.ts';
import { ErrorCodes, MigrationError } from '../../../../../services/shared/errors.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../../support/fixtures.ts';
import { openTestStore, type TestStore } from '../../../support/store.ts';

const REAL_DIR = findMigrationsDir();

interface TableRow {
  name: string;
  engine: string;
  partition_key: string;
  sorting_key: string;
  primary_key: string;
  create_table_query: string;
}

interface ColumnRow {
  name: string;
  type: string;
  default_kind: string;
}

/** The example queries of docs/CLICKHOUSE.md, verbatim (database `pospulse`). */
const ANALYST_QUERIES = {
  approvalRatePerMerchantHour: `
SELECT
    merchant_id,
    toStartOfHour(request_time) AS hour,
    count() AS attempts,
    countIf(status = 'APPROVED') AS approved,
    round(approved / attempts, 4) AS approval_rate
FROM pospulse.transactions FINAL
WHERE request_time >= {from:DateTime64(3, 'UTC')} AND request_time < {to:DateTime64(3, 'UTC')}
GROUP BY merchant_id, hour
ORDER BY merchant_id, hour`,
  p95LatencyPerAcquirer: `
SELECT
    acquirer_id,
    count(host_latency_ms) AS responses,
    quantileExact(0.95)(host_latency_ms) AS p95_ms
FROM pospulse.transactions FINAL
WHERE request_time >= {from:DateTime64(3, 'UTC')} AND request_time < {to:DateTime64(3, 'UTC')}
GROUP BY acquirer_id
ORDER BY acquirer_id`,
  declinesByResponseCode: `
SELECT
    response_code,
    any(response_message) AS message,
    count() AS declines,
    round(declines / sum(declines) OVER (), 4) AS share
FROM pospulse.transactions FINAL
WHERE status = 'DECLINED'
  AND request_time >= {from:DateTime64(3, 'UTC')} AND request_time < {to:DateTime64(3, 'UTC')}
GROUP BY response_code
ORDER BY declines DESC, response_code`,
};

function avroFields(file: string): { name: string; optional: boolean }[] {
  const schema = JSON.parse(readFileSync(join(REAL_DIR, '..', '..', '..', 'schemas', file), 'utf8')) as {
    fields: { name: string; type: unknown }[];
  };
  return schema.fields.map((f) => ({
    name: f.name,
    optional: Array.isArray(f.type) && f.type.includes('null'),
  }));
}

describe('ClickHouse migrations on the real engine', () => {
  let test: TestStore;
  let store: Store;
  const databases: string[] = [];
  const dirs: string[] = [];

  function newDatabase(): string {
    const db = `pp_test_${Math.random().toString(36).slice(2, 10)}`;
    databases.push(db);
    return db;
  }

  /** A private copy of the real migrations, to edit. */
  /** A directory holding only the first real migration: the mechanism tests add their own after it. */
  function copyOfMigrations(): string {
    const dir = mkdtempSync(join(tmpdir(), 'pospulse-migrations-'));
    dirs.push(dir);
    cpSync(join(REAL_DIR, '0001_raw_events.sql'), join(dir, '0001_raw_events.sql'));
    return dir;
  }

  async function tables(db: string): Promise<Map<string, TableRow>> {
    const rows = await store.query<TableRow>(
      `SELECT name, engine, partition_key, sorting_key, primary_key, create_table_query
         FROM system.tables WHERE database = {db:String}`,
      { db },
    );
    return new Map(rows.map((r) => [r.name, r]));
  }

  async function columns(db: string, table: string): Promise<Map<string, ColumnRow>> {
    const rows = await store.query<ColumnRow>(
      `SELECT name, type, default_kind FROM system.columns WHERE database = {db:String} AND table = {table:String}`,
      { db, table },
    );
    return new Map(rows.map((r) => [r.name, r]));
  }

  beforeAll(async () => {
    test = await openTestStore();
    store = test.store;
  });

  afterAll(async () => {
    for (const db of databases) await store.command(`DROP DATABASE IF EXISTS ${db}`);
    await test.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the raw tables on an empty database with their engine, partitions, order and TTL', async () => {
    const db = newDatabase();
    const report = await runMigrations(store, { database: db, rawTtlDays: 30, dir: copyOfMigrations() });
    expect(report).toEqual({ applied: ['0001_raw_events'], skipped: [] });

    const t = await tables(db);
    expect([...t.keys()].sort()).toEqual(['schema_migrations', 'terminal_heartbeats', 'transactions']);
    expect(t.get('transactions')).toMatchObject({
      engine: 'ReplacingMergeTree',
      partition_key: 'toDate(request_time)',
      sorting_key: 'merchant_id, terminal_serial, request_time, event_id',
      primary_key: 'merchant_id, terminal_serial, request_time',
    });
    expect(t.get('transactions')!.create_table_query).toContain(
      'TTL toDate(request_time) + toIntervalDay(30) SETTINGS ttl_only_drop_parts = 1',
    );
    expect(t.get('terminal_heartbeats')).toMatchObject({
      engine: 'ReplacingMergeTree',
      partition_key: 'toDate(event_time)',
      sorting_key: 'terminal_serial, event_time, event_id',
      primary_key: 'terminal_serial, event_time',
    });
    expect(t.get('terminal_heartbeats')!.create_table_query).toContain(
      'TTL toDate(event_time) + toIntervalDay(30) SETTINGS ttl_only_drop_parts = 1',
    );
    expect(t.get('schema_migrations')).toMatchObject({
      engine: 'ReplacingMergeTree',
      sorting_key: 'version',
    });

    const indices = await store.query<{ table: string; name: string; type_full: string; expr: string }>(
      `SELECT table, name, type_full, expr FROM system.data_skipping_indices WHERE database = {db:String}`,
      { db },
    );
    expect(indices).toEqual([
      {
        table: 'transactions',
        name: 'idx_terminal_serial',
        type_full: 'bloom_filter(0.01)',
        expr: 'terminal_serial',
      },
    ]);
  });

  it('gives every Avro field a column of the same name, Nullable exactly where the field is optional', async () => {
    const db = newDatabase();
    await runMigrations(store, { database: db, rawTtlDays: 90 });
    for (const [table, file] of [
      ['transactions', 'TransactionEvent.avsc'],
      ['terminal_heartbeats', 'TerminalHeartbeat.avsc'],
    ] as const) {
      const cols = await columns(db, table);
      for (const field of avroFields(file)) {
        if (field.name === 'basket') continue;
        const col = cols.get(field.name);
        expect(col, `${table}.${field.name}`).toBeDefined();
        expect(col!.type.includes('Nullable'), `${table}.${field.name}: ${col!.type}`).toBe(field.optional);
      }
    }
    const tx = await columns(db, 'transactions');
    expect(tx.get('event_id')?.type).toBe('UUID');
    expect(tx.get('request_time')?.type).toBe("DateTime64(3, 'UTC')");
    expect(tx.get('response_time')?.type).toBe("Nullable(DateTime64(3, 'UTC'))");
    expect(tx.get('status')?.type).toBe('LowCardinality(String)');
    expect(tx.get('basket_item_count')?.type).toBe('Nullable(Int32)');
    expect(tx.get('basket_items')?.type).toBe(
      'Array(Tuple(sku String, quantity Int32, unit_price_minor Int64))',
    );
    expect(tx.get('basket_coupon_codes')?.type).toBe('Array(String)');
    expect(tx.get('host_latency_ms')).toMatchObject({
      type: 'Nullable(Int64)',
      default_kind: 'MATERIALIZED',
    });
  });

  it('applies nothing on a second run and records each migration once with its checksum', async () => {
    const db = newDatabase();
    const first = await runMigrations(store, { database: db, rawTtlDays: 90 });
    const files = loadMigrations(REAL_DIR);
    expect(first).toEqual({ applied: files.map((f) => f.id), skipped: [] });
    const again = await runMigrations(store, { database: db, rawTtlDays: 90 });
    expect(again).toEqual({ applied: [], skipped: files.map((f) => f.id) });

    const recorded = await store.query<{ version: number; name: string; checksum: string; age_s: string }>(
      `SELECT version, name, checksum, dateDiff('second', applied_at, now64(3)) AS age_s
         FROM ${db}.schema_migrations ORDER BY version`,
    );
    expect(recorded).toEqual(
      files.map((f) => ({
        version: f.version,
        name: f.name,
        checksum: checksum(f.text),
        age_s: expect.any(String) as string,
      })),
    );
    expect(Number(recorded[0]!.age_s)).toBeLessThan(60);
  });

  it('applies a migration added later, and only that one', async () => {
    const db = newDatabase();
    const dir = copyOfMigrations();
    await runMigrations(store, { database: db, rawTtlDays: 90, dir });
    writeFileSync(
      join(dir, '0002_cashier_note.sql'),
      // Storage table, then the queried one: the same table on a single node, so IF NOT EXISTS.
      'ALTER TABLE {{table:transactions}}{{on_cluster}} ADD COLUMN IF NOT EXISTS note String;\n' +
        'ALTER TABLE {{database}}.transactions{{on_cluster}} ADD COLUMN IF NOT EXISTS note String;\n',
    );
    expect(await runMigrations(store, { database: db, rawTtlDays: 90, dir })).toEqual({
      applied: ['0002_cashier_note'],
      skipped: ['0001_raw_events'],
    });
    expect((await columns(db, 'transactions')).get('note')?.type).toBe('String');
  });

  it('does not record a migration whose statement failed, and applies it once fixed', async () => {
    const db = newDatabase();
    const dir = copyOfMigrations();
    await runMigrations(store, { database: db, rawTtlDays: 90, dir });
    const file = join(dir, '0002_broken.sql');
    writeFileSync(
      file,
      'CREATE TABLE IF NOT EXISTS {{database}}.scratch (a UInt8) ENGINE = MergeTree ORDER BY a;\n' +
        'ALTER TABLE {{database}}.no_such_table ADD COLUMN b String;\n',
    );
    const err = await runMigrations(store, { database: db, rawTtlDays: 90, dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: ErrorCodes.MIGRATION, retryable: false });
    expect((err as Error).message).toContain('0002_broken, statement 2 of 2');
    expect(clickhouseCode((err as Error).cause)).toBe('60'); // UNKNOWN_TABLE
    const versions = await store.query<{ version: number }>(`SELECT version FROM ${db}.schema_migrations`);
    expect(versions).toEqual([{ version: 1 }]);

    // The first statement ran already; IF NOT EXISTS lets the whole migration run again.
    writeFileSync(
      file,
      'CREATE TABLE IF NOT EXISTS {{database}}.scratch (a UInt8) ENGINE = MergeTree ORDER BY a;\n' +
        'ALTER TABLE {{database}}.scratch ADD COLUMN IF NOT EXISTS b String;\n',
    );
    expect(await runMigrations(store, { database: db, rawTtlDays: 90, dir })).toEqual({
      applied: ['0002_broken'],
      skipped: ['0001_raw_events'],
    });
  });

  it('refuses to run when an applied migration file has changed since', async () => {
    const db = newDatabase();
    const dir = copyOfMigrations();
    await runMigrations(store, { database: db, rawTtlDays: 90, dir });
    appendFileSync(join(dir, '0001_raw_events.sql'), '\n-- an innocent-looking edit\n');
    writeFileSync(
      join(dir, '0002_later.sql'),
      'CREATE TABLE IF NOT EXISTS {{database}}.later (a UInt8) ENGINE = Memory;',
    );

    const err = await runMigrations(store, { database: db, rawTtlDays: 90, dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: ErrorCodes.MIGRATION });
    expect((err as Error).message).toMatch(/0001_raw_events was applied with checksum [0-9a-f]{64}, but/);
    // Nothing after the check ran.
    expect((await tables(db)).has('later')).toBe(false);
  });

  it('refuses a database that has a migration this build does not know', async () => {
    const db = newDatabase();
    const dir = copyOfMigrations();
    writeFileSync(join(dir, '0002_newer.sql'), 'SELECT 1;');
    await runMigrations(store, { database: db, rawTtlDays: 90, dir });
    rmSync(join(dir, '0002_newer.sql'));
    const err = await runMigrations(store, { database: db, rawTtlDays: 90, dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toContain('0002_newer is recorded as applied but has no file');
  });

  describe('the raw tables', () => {
    let db: string;
    beforeAll(async () => {
      db = newDatabase();
      await runMigrations(store, { database: db, rawTtlDays: 90 });
    });

    it('stores a TransactionEvent and reads it back field by field, with its host latency', async () => {
      const withBasket = sampleTransaction(1);
      const timedOut = sampleTransaction(23);
      expect(withBasket.basket).not.toBeNull();
      expect(timedOut.response_time).toBeNull();
      await store.insert(`${db}.transactions`, [transactionRow(withBasket), transactionRow(timedOut)]);

      const got = await store.query<Record<string, unknown>>(
        `SELECT * EXCEPT ingested_at,
                toUnixTimestamp64Milli(request_time) AS request_ms,
                toUnixTimestamp64Milli(response_time) AS response_ms,
                toUnixTimestamp64Milli(gateway_received_time) AS received_ms,
                host_latency_ms, basket_gross_minor, ingested_at > now64(3) - INTERVAL 1 MINUTE AS fresh
           FROM ${db}.transactions WHERE event_id IN ({ids:Array(UUID)}) ORDER BY request_time`,
        { ids: [withBasket.event_id, timedOut.event_id] },
      );
      expect(got).toHaveLength(2);
      const back = (row: Record<string, unknown>): TransactionEvent => {
        const items = row.basket_items as { sku: string; quantity: number; unit_price_minor: string }[];
        return {
          ...(row as unknown as TransactionEvent),
          amount_minor: Number(row.amount_minor),
          request_time: Number(row.request_ms),
          response_time: row.response_ms === null ? null : Number(row.response_ms),
          gateway_received_time: Number(row.received_ms),
          basket:
            row.basket_item_count === null
              ? null
              : {
                  item_count: row.basket_item_count as number,
                  items: items.map((i) => ({ ...i, unit_price_minor: Number(i.unit_price_minor) })),
                  discount_minor: Number(row.basket_discount_minor),
                  coupon_codes: row.basket_coupon_codes as string[],
                },
        };
      };
      for (const [row, ev] of [
        [got[0]!, withBasket],
        [got[1]!, timedOut],
      ] as const) {
        const fields = Object.keys(ev) as (keyof TransactionEvent)[];
        const roundTrip = back(row);
        for (const f of fields) expect(roundTrip[f], f).toEqual(ev[f]);
        expect(row.fresh).toBe(1);
      }
      expect(got[0]!.host_latency_ms).toBe(String(withBasket.response_time! - withBasket.request_time));
      expect(got[0]!.basket_gross_minor).toBe(String(1 * 250 + 3 * 99));
      expect(got[1]!.host_latency_ms).toBeNull();
      expect(got[1]!.basket_gross_minor).toBeNull();
    });

    it('stores a TerminalHeartbeat and reads it back', async () => {
      const hb = sampleHeartbeat(6);
      await store.insert(`${db}.terminal_heartbeats`, [heartbeatRow(hb)]);
      const [got] = await store.query<Record<string, unknown>>(
        `SELECT * EXCEPT ingested_at, toUnixTimestamp64Milli(event_time) AS event_ms
           FROM ${db}.terminal_heartbeats WHERE event_id = {id:UUID}`,
        { id: hb.event_id },
      );
      expect({ ...got, event_time: Number(got!.event_ms), event_ms: undefined }).toMatchObject({
        ...hb,
        gateway_received_time: heartbeatRow(hb).gateway_received_time,
      });
    });

    it('keeps one row per event after the processor delivers it twice', async () => {
      const ev = sampleTransaction(7, { terminal_serial: 'TRM-DUP' });
      await store.insert(`${db}.transactions`, [transactionRow(ev)]);
      await store.insert(`${db}.transactions`, [transactionRow(ev)]); // a second part
      const count = async (final: string): Promise<number> => {
        const [r] = await store.query<{ n: string }>(
          `SELECT count() AS n FROM ${db}.transactions ${final} WHERE terminal_serial = 'TRM-DUP'`,
        );
        return Number(r!.n);
      };
      expect(await count('FINAL')).toBe(1);
      await store.command(`OPTIMIZE TABLE ${db}.transactions FINAL`);
      expect(await count('')).toBe(1);
    });

    it('answers the analyst queries of docs/CLICKHOUSE.md', async () => {
      const events = Array.from({ length: 400 }, (_, i) => {
        const ev = sampleTransaction(1000 + i);
        // every other decline is "insufficient funds" rather than "do not honour"
        return ev.status === 'DECLINED' && i % 2 === 1
          ? { ...ev, response_code: '51', response_message: 'Insufficient funds' }
          : ev;
      });
      // re-delivered: must not count twice
      await store.insert(`${db}.transactions`, events.map(transactionRow));
      await store.insert(`${db}.transactions`, events.slice(0, 50).map(transactionRow));
      const from = Math.min(...events.map((e) => e.request_time));
      const to = Math.max(...events.map((e) => e.request_time)) + 1;
      const params = {
        from: new Date(from).toISOString().slice(0, 23).replace('T', ' '),
        to: new Date(to).toISOString().slice(0, 23).replace('T', ' '),
      };
      const run = <T>(sql: string) => store.query<T>(sql.replaceAll('pospulse.', `${db}.`), params);

      const rates = await run<{
        merchant_id: string;
        hour: string;
        attempts: string;
        approved: string;
        approval_rate: number;
      }>(ANALYST_QUERIES.approvalRatePerMerchantHour);
      const merchants = [...new Set(events.map((e) => e.merchant_id))].sort();
      const hours = [...new Set(events.map((e) => Math.floor(e.request_time / 3_600_000)))];
      expect(rates).toHaveLength(merchants.length * hours.length);
      for (const r of rates) {
        const mine = events.filter(
          (e) =>
            e.merchant_id === r.merchant_id &&
            new Date(Math.floor(e.request_time / 3_600_000) * 3_600_000)
              .toISOString()
              .slice(0, 19)
              .replace('T', ' ') === r.hour,
        );
        const approved = mine.filter((e) => e.status === 'APPROVED').length;
        expect(r).toMatchObject({ attempts: String(mine.length), approved: String(approved) });
        expect(r.approval_rate).toBeCloseTo(approved / mine.length, 4);
      }

      const latencies = await run<{ acquirer_id: string; responses: string; p95_ms: string }>(
        ANALYST_QUERIES.p95LatencyPerAcquirer,
      );
      expect(latencies.map((l) => l.acquirer_id)).toEqual(['ACQ0', 'ACQ1']);
      for (const l of latencies) {
        const sorted = events
          .filter((e) => e.acquirer_id === l.acquirer_id && e.response_time !== null)
          .map((e) => e.response_time! - e.request_time)
          .sort((a, b) => a - b);
        expect(l.responses).toBe(String(sorted.length));
        // quantileExact(0.95): the element at index floor(0.95 * n) of the sorted values
        expect(Number(l.p95_ms)).toBe(sorted[Math.floor(0.95 * sorted.length)]);
      }

      const declines = await run<{ response_code: string; message: string; declines: string; share: number }>(
        ANALYST_QUERIES.declinesByResponseCode,
      );
      const declined = events.filter((e) => e.status === 'DECLINED');
      const by51 = declined.filter((e) => e.response_code === '51').length;
      expect(by51).toBeGreaterThan(0);
      expect(declines).toEqual([
        {
          response_code: '05',
          message: 'Do not honour',
          declines: String(declined.length - by51),
          share: expect.closeTo((declined.length - by51) / declined.length, 4) as number,
        },
        {
          response_code: '51',
          message: 'Insufficient funds',
          declines: String(by51),
          share: expect.closeTo(by51 / declined.length, 4) as number,
        },
      ]);
    });
  });

  it('renders cluster statements the engine parses, with ON CLUSTER, Replicated engines and Distributed tables', async () => {
    const ctx: RenderContext = { database: 'pospulse', cluster: 'pospulse_cluster', rawTtlDays: 90 };
    const statements = [
      ...bootstrapStatements(ctx),
      ...loadMigrations(REAL_DIR).flatMap((m) => renderMigration(m, ctx)),
    ];
    const formatted: string[] = [];
    for (const q of statements) {
      const [r] = await store.query<{ f: string }>('SELECT formatQuery({q:String}) AS f', { q });
      formatted.push(r!.f);
    }
    for (const f of formatted) expect(f).toMatch(/ ON CLUSTER pospulse_cluster\b/);
    const creates = formatted.filter((f) => f.startsWith('CREATE TABLE'));
    const named = (name: string) =>
      creates.find((f) => f.startsWith(`CREATE TABLE IF NOT EXISTS pospulse.${name} `))!;
    expect(named('schema_migrations')).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{shard}_{replica}')",
    );
    for (const table of ['transactions', 'terminal_heartbeats']) {
      expect(named(`${table}_local`)).toContain(
        `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/${table}_local', '{replica}')`,
      );
      expect(named(`${table}_local`)).toMatch(/\nTTL toDate\((request|event)_time\) \+ toIntervalDay\(90\)/);
      expect(named(table)).toContain(
        `AS pospulse.${table}_local\nENGINE = Distributed('pospulse_cluster', 'pospulse', '${table}_local', cityHash64(terminal_serial))`,
      );
    }
    // Every table a statement names is qualified with the database.
    for (const f of creates) expect(f).toMatch(/^CREATE TABLE IF NOT EXISTS pospulse\.\w+ /);
  });
});
