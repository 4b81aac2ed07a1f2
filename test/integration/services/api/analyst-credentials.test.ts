import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalystCredentials } from '../../../../services/api/analyst-credentials.ts';
import { testApiApp } from '../../../support/api-app.ts';
import { terminalStatusRow } from '../../../../services/processor/status/rows.ts';
import { processorTables } from '../../../../services/processor/tables.ts';
import { runMigrations } from '../../../../services/shared/clickhouse/migrations.ts';
import { ISSUED_USERS_FILE } from '../../../../services/store/embedded.ts';
import { status } from '../../../unit/services/live/statuses.ts';
import { errorCode, startStoreServer, type RunningStore } from '../../support/store-server.ts';

const ADMIN = 'admin-key-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN}` };

describe('analyst credentials issued through the api, used with @clickhouse/client on the real store', () => {
  const db = `apicreds_${Math.random().toString(36).slice(2, 10)}`;
  const tables = processorTables(db);
  const dataDir = mkdtempSync(join(tmpdir(), 'pospulse-creds-test-'));
  const clients: ClickHouseClient[] = [];
  let server: RunningStore;
  let app: ReturnType<typeof testApiApp>['app'];

  function analyst(url: string, username: string, password: string): ClickHouseClient {
    const c = createClient({ url, username, password, log: { level: ClickHouseLogLevel.OFF } });
    clients.push(c);
    return c;
  }

  function buildApp(store: RunningStore) {
    return testApiApp(
      {
        store: store.store('service'),
        tables,
        analystCredentials: new AnalystCredentials({
          store: store.store('service'),
          table: tables.analystCredentials,
          database: db,
          clickhouseUrl: store.url,
          clock: Date.now,
        }),
      },
      [{ key: ADMIN, role: 'admin', id: 'ops' }],
    ).app;
  }

  async function issue(payload: object) {
    const res = await app.inject({ method: 'POST', url: '/v1/analyst-credentials', headers: admin, payload });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { user: string; password: string; clickhouse_url: string; database: string };
  }

  beforeAll(async () => {
    server = await startStoreServer({ dataDir });
    const service = server.store('service');
    await runMigrations(service, { database: db, rawTtlDays: 365 });
    await service.insert(tables.terminalStatus, [
      terminalStatusRow(status('T1', 'ONLINE', 1)),
      terminalStatusRow(status('T2', 'OFFLINE', 1)),
    ]);
    app = buildApp(server);
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await app?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lets the credential SELECT, refuses INSERT, DROP and user management, and refuses everything once revoked', async () => {
    const cred = await issue({ name: 'alice', note: 'fraud team' });
    expect(cred.clickhouse_url).toBe(server.url);
    const ch = analyst(cred.clickhouse_url, cred.user, cred.password);

    const rs = await ch.query({
      query: `SELECT count() AS n FROM ${tables.terminalStatus}`,
      format: 'JSONEachRow',
    });
    expect(Number((await rs.json<{ n: string }>())[0]!.n)).toBe(2);

    const row = terminalStatusRow(status('T3', 'ONLINE', 1));
    expect(['164', '497']).toContain(
      await errorCode(ch.insert({ table: tables.terminalStatus, values: [row] })),
    );
    expect(['164', '497']).toContain(
      await errorCode(
        ch.command({ query: `INSERT INTO ${tables.terminalStatus} SELECT * FROM ${tables.terminalStatus}` }),
      ),
    );
    expect(['164', '497']).toContain(
      await errorCode(ch.command({ query: `DROP TABLE ${tables.terminalStatus}` })),
    );
    expect(
      await errorCode(
        ch.command({
          query: `CREATE USER mallory IDENTIFIED WITH sha256_hash BY '${'0'.repeat(64)}' SETTINGS readonly = 1`,
        }),
      ),
    ).toBe('497');
    expect(await errorCode(ch.command({ query: 'DROP USER alice' }))).toBe('497');
    // Nothing was written or dropped.
    const again = await server.client('service').query({
      query: `SELECT count() AS n FROM ${tables.terminalStatus}`,
      format: 'JSONEachRow',
    });
    expect(Number((await again.json<{ n: string }>())[0]!.n)).toBe(2);

    const list = await app.inject({ url: '/v1/analyst-credentials', headers: admin });
    expect(list.json().credentials).toEqual([
      expect.objectContaining({ user: 'alice', note: 'fraud team', issued_by: 'ops', revoked_at: null }),
    ]);

    const del = await app.inject({ method: 'DELETE', url: '/v1/analyst-credentials/alice', headers: admin });
    expect(del.statusCode).toBe(204);
    expect(await errorCode(ch.query({ query: 'SELECT 1' }))).toBe('516');
    const after = await app.inject({ url: '/v1/analyst-credentials', headers: admin });
    expect(after.json().credentials[0]).toMatchObject({ user: 'alice', revoked_by: 'ops' });
    expect(after.json().credentials[0].revoked_at).not.toBeNull();
    const twice = await app.inject({
      method: 'DELETE',
      url: '/v1/analyst-credentials/alice',
      headers: admin,
    });
    expect(twice.statusCode).toBe(404);
  });

  it('runs the queries docs/ANALYSTS.md shows, as an issued credential', async () => {
    const cred = await issue({});
    const ch = createClient({
      url: cred.clickhouse_url,
      username: cred.user,
      password: cred.password,
      database: cred.database,
      log: { level: ClickHouseLogLevel.OFF },
    });
    clients.push(ch);
    const byStatus = await ch.query({
      query:
        'SELECT status, count() AS terminals FROM terminal_status_latest FINAL GROUP BY status ORDER BY status',
      format: 'JSONEachRow',
    });
    expect(await byStatus.json()).toEqual([
      { status: 'OFFLINE', terminals: '1' },
      { status: 'ONLINE', terminals: '1' },
    ]);
    const perMerchant = await ch.query({
      query: `SELECT merchant_id, count() AS tx, round(countIf(status = 'APPROVED') / tx, 4) AS approval_rate
          FROM transactions FINAL
          WHERE request_time >= now() - INTERVAL 1 HOUR
          GROUP BY merchant_id ORDER BY tx DESC LIMIT {limit:UInt32}`,
      query_params: { limit: 20 },
      format: 'JSONEachRow',
    });
    expect(await perMerchant.json()).toEqual([]);
    const count = await fetch(
      `${cred.clickhouse_url}/?database=${cred.database}&query=${encodeURIComponent('SELECT count() FROM transactions FORMAT JSONEachRow')}`,
      { headers: { 'X-ClickHouse-User': cred.user, 'X-ClickHouse-Key': cred.password } },
    );
    expect(await count.json()).toEqual({ 'count()': '0' });
  });

  it('applies the credential’s limits in the engine', async () => {
    const cred = await issue({ limits: { max_result_rows: 5 } });
    const ch = analyst(cred.clickhouse_url, cred.user, cred.password);
    const small = await ch.query({ query: 'SELECT number FROM numbers(5)', format: 'JSONEachRow' });
    expect(await small.json()).toHaveLength(5);
    expect(
      await errorCode(ch.query({ query: 'SELECT number FROM numbers(100)', format: 'JSONEachRow' })),
    ).toBe('396');
  });

  it('keeps issued users across a store restart, in a 0600 file without passwords', async () => {
    const cred = await issue({ name: 'bob' });
    const file = join(dataDir, ISSUED_USERS_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(cred.password);

    await app.close();
    await server.close();
    server = await startStoreServer({ dataDir });
    app = buildApp(server);

    const ch = analyst(server.url, cred.user, cred.password);
    const rs = await ch.query({
      query: `SELECT count() AS n FROM ${tables.terminalStatus}`,
      format: 'JSONEachRow',
    });
    expect(Number((await rs.json<{ n: string }>())[0]!.n)).toBe(2);
    // alice was revoked before the restart and stays revoked.
    const list = (await app.inject({ url: '/v1/analyst-credentials', headers: admin })).json();
    expect(list.credentials.map((c: { user: string }) => c.user)).toEqual(
      expect.arrayContaining(['alice', 'bob']),
    );

    const del = await app.inject({ method: 'DELETE', url: '/v1/analyst-credentials/bob', headers: admin });
    expect(del.statusCode).toBe(204);
    expect(await errorCode(ch.query({ query: 'SELECT 1' }))).toBe('516');
  }, 120_000);
});
