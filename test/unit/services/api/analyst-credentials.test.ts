import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AnalystCredentials,
  createUserSql,
  DEFAULT_LIMITS,
} from '../../../../services/api/analyst-credentials.ts';
import { type Role } from '../../../../services/api/auth.ts';
import { ClickHouseStoreError } from '../../../../services/shared/errors.ts';
import { parseAccessStatement } from '../../../../services/store/access-sql.ts';
import { testApiApp } from '../../../support/api-app.ts';

const KEYS = {
  viewer: 'viewer-key-0123456789abcdef',
  analyst: 'analyst-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef',
};
const NOW = Date.UTC(2026, 11, 3, 12, 30);
const TABLE = 'db.analyst_credentials';

/** Shaped like @clickhouse/client's error, which is how the store code recognises one. */
class ClickHouseError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * A store that runs the access statements against a user list the way the store does, and keeps
 * the record table as rows, answering reads with FINAL semantics.
 */
function fakeStore(options: { failInsert?: boolean } = {}) {
  const users = new Map<string, { hash: string; grants: string[] }>();
  const commands: string[] = [];
  const rows: Record<string, unknown>[] = [];
  const ms = (t: unknown) => (t === null ? null : Date.parse(`${String(t).replace(' ', 'T')}Z`));
  const final = () => {
    const newest = new Map<string, Record<string, unknown>>();
    for (const r of rows) {
      const key = `${String(r['user_name'])}@${String(r['issued_time'])}`;
      if (((newest.get(key)?.['version'] as number | undefined) ?? 0) < (r['version'] as number))
        newest.set(key, r);
    }
    return [...newest.values()]
      .map((r): Record<string, unknown> & { issued_time: number | null } => ({
        ...r,
        issued_time: ms(r['issued_time']),
        revoked_time: ms(r['revoked_time']),
      }))
      .sort((a, b) => b.issued_time! - a.issued_time!);
  };
  return {
    users,
    commands,
    rows,
    async command(sql: string): Promise<void> {
      commands.push(sql);
      const s = parseAccessStatement(sql);
      if (s === undefined) throw new Error(`unexpected command ${sql}`);
      if (s.kind === 'CREATE USER') {
        if (users.has(s.name))
          throw new ClickHouseStoreError('exists', { cause: new ClickHouseError('exists', '493') });
        users.set(s.name, { hash: s.passwordSha256Hex, grants: [] });
      } else if (s.kind === 'GRANT') users.get(s.name)!.grants.push(s.database);
      else users.delete(s.name);
    },
    async insert<T extends object>(table: string, values: readonly T[]): Promise<void> {
      if (options.failInsert) throw new ClickHouseStoreError('insert failed', { retryable: true });
      expect(table).toBe(TABLE);
      rows.push(...values.map((v) => ({ ...v }) as Record<string, unknown>));
    },
    async query<T>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
      if (!sql.includes(TABLE)) return [];
      let out = final();
      if (params?.['u'] !== undefined)
        out = out.filter((r) => r['user_name'] === params['u'] && r['revoked_time'] === null);
      return out as T[];
    },
  };
}

function build(store = fakeStore()) {
  const credentials = new AnalystCredentials({
    store,
    table: TABLE,
    database: 'pospulse',
    clickhouseUrl: 'https://ch.example:8443',
    clock: () => NOW,
  });
  const { app, routes } = testApiApp(
    {
      store,
      tables: {
        kpi1m: 'db.kpi_1m',
        terminalStatus: 'db.terminal_status',
        terminalStatusLatest: 'db.terminal_status_latest',
        alerts: 'db.alerts',
        kpiDefinitions: 'db.kpi_definitions',
      },
      clock: () => NOW,
      analystCredentials: credentials,
    },
    Object.entries(KEYS).map(([role, key]) => ({ key, role: role as Role, id: `${role}-1` })),
    { maxBuckets: 100 },
  );
  return { app, routes, store };
}

const as = (role: keyof typeof KEYS) => ({ authorization: `Bearer ${KEYS[role]}` });

describe('analyst credential routes', () => {
  it('are admin-only, except GET /v1/sql which an analyst may read', async () => {
    const { app, routes } = build();
    await app.ready();
    const mine = routes.filter((r) => r.url.startsWith('/v1/analyst-credentials') || r.url === '/v1/sql');
    expect(mine.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url} ${r.role}`)).toEqual([
      'POST /v1/analyst-credentials admin',
      'GET /v1/analyst-credentials admin',
      'DELETE /v1/analyst-credentials/:user admin',
      'GET /v1/sql analyst',
    ]);
    for (const r of mine.filter((x) => x.method !== 'HEAD')) {
      const url = r.url.replace(':user', 'ana');
      const method = r.method as 'GET';
      expect((await app.inject({ method, url })).statusCode).toBe(401);
      expect((await app.inject({ method, url, headers: as('viewer') })).statusCode).toBe(403);
      if (r.role === 'admin')
        expect((await app.inject({ method, url, headers: as('analyst') })).statusCode).toBe(403);
    }
    await app.close();
  });

  it('issues a credential once: a random password whose SHA-256 alone reaches ClickHouse, read-only with limits', async () => {
    const { app, store } = build();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/analyst-credentials',
      headers: as('admin'),
      payload: { name: 'alice', note: 'fraud team', limits: { max_execution_time_s: 30 } },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      user: 'alice',
      password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      clickhouse_url: 'https://ch.example:8443',
      database: 'pospulse',
      note: 'fraud team',
      issued_by: 'admin-1',
      created_at: new Date(NOW).toISOString(),
      limits: { ...DEFAULT_LIMITS, max_execution_time_s: 30 },
      revoked_at: null,
      revoked_by: null,
    });
    expect(store.users.get('alice')).toEqual({
      hash: createHash('sha256').update(body.password).digest('hex'),
      grants: ['pospulse'],
    });
    expect(store.commands.join('\n')).not.toContain(body.password);
    expect(store.commands[0]).toMatch(/SETTINGS readonly = 1 CONST, max_execution_time = 30 CONST/);
    expect(store.rows).toHaveLength(1);
    expect(JSON.stringify(store.rows)).not.toContain(body.password);

    // A second credential gets a generated name and a different password.
    const other = (
      await app.inject({ method: 'POST', url: '/v1/analyst-credentials', headers: as('admin') })
    ).json();
    expect(other.user).toMatch(/^analyst_[0-9a-f]{12}$/);
    expect(other.password).not.toBe(body.password);
    expect(other.limits).toEqual(DEFAULT_LIMITS);
    await app.close();
  });

  it('lists credentials without passwords, revokes one (204, then 404), and records who did', async () => {
    const { app, store } = build();
    const issued = await app.inject({
      method: 'POST',
      url: '/v1/analyst-credentials',
      headers: as('admin'),
      payload: { name: 'alice' },
    });
    const list = await app.inject({ url: '/v1/analyst-credentials', headers: as('admin') });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(issued.json().password);
    expect(list.json().credentials).toEqual([
      expect.objectContaining({ user: 'alice', issued_by: 'admin-1', revoked_at: null }),
    ]);
    const del = await app.inject({
      method: 'DELETE',
      url: '/v1/analyst-credentials/alice',
      headers: as('admin'),
    });
    expect(del.statusCode).toBe(204);
    expect(store.users.has('alice')).toBe(false);
    expect(store.commands.at(-1)).toBe('DROP USER IF EXISTS alice');
    const after = (await app.inject({ url: '/v1/analyst-credentials', headers: as('admin') })).json();
    expect(after.credentials).toEqual([
      expect.objectContaining({
        user: 'alice',
        revoked_at: new Date(NOW).toISOString(),
        revoked_by: 'admin-1',
      }),
    ]);
    for (const user of ['alice', 'nobody', 'bad-name']) {
      const again = await app.inject({
        method: 'DELETE',
        url: `/v1/analyst-credentials/${user}`,
        headers: as('admin'),
      });
      expect(again.statusCode, user).toBe(404);
      expect(again.json().errors[0].code).toBe('unknown_credential');
    }
    // The name is free again once revoked.
    const reissued = await app.inject({
      method: 'POST',
      url: '/v1/analyst-credentials',
      headers: as('admin'),
      payload: { name: 'alice' },
    });
    expect(reissued.statusCode).toBe(201);
    await app.close();
  });

  it('refuses a name in force or taken in ClickHouse (409) and malformed requests (400)', async () => {
    const { app, store } = build();
    const post = (payload: object) =>
      app.inject({ method: 'POST', url: '/v1/analyst-credentials', headers: as('admin'), payload });
    expect((await post({ name: 'alice' })).statusCode).toBe(201);
    const again = await post({ name: 'alice' });
    expect(again.statusCode).toBe(409);
    expect(again.json().errors[0].code).toBe('credential_exists');
    store.users.set('bob', { hash: '', grants: [] });
    const taken = await post({ name: 'bob' });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().errors[0].code).toBe('credential_exists');
    for (const bad of [
      { name: 'bad-name' },
      { name: '1abc' },
      { limits: { max_execution_time_s: 0 } },
      { limits: { max_result_rows: 1.5 } },
    ])
      expect((await post(bad)).statusCode, JSON.stringify(bad)).toBe(400);
    // Fields the API does not know are dropped (fastify's removeAdditional): no chosen passwords.
    const chosen = await post({ name: 'carol', password: 'chosen-password' });
    expect(chosen.statusCode).toBe(201);
    expect(chosen.json().password).not.toBe('chosen-password');
    await app.close();
  });

  it('drops the user again when the record cannot be written, so no credential is left off the record', async () => {
    const { app, store } = build(fakeStore({ failInsert: true }));
    const res = await app.inject({
      method: 'POST',
      url: '/v1/analyst-credentials',
      headers: as('admin'),
      payload: { name: 'alice' },
    });
    expect(res.statusCode).toBe(500);
    expect(store.users.has('alice')).toBe(false);
    expect(store.commands.at(-1)).toBe('DROP USER IF EXISTS alice');
    await app.close();
  });

  it('tells analysts where to connect, with no secret', async () => {
    const { app } = build();
    const res = await app.inject({ url: '/v1/sql', headers: as('analyst') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      clickhouse_url: 'https://ch.example:8443',
      database: 'pospulse',
      default_limits: DEFAULT_LIMITS,
      docs: 'docs/ANALYSTS.md',
    });
    await app.close();
  });

  it('writes only statements the store’s parser accepts, and refuses to build one from bad input', () => {
    const sql = createUserSql('ana', 'f'.repeat(64), DEFAULT_LIMITS);
    expect(parseAccessStatement(sql)).toMatchObject({
      kind: 'CREATE USER',
      limits: { maxExecutionTime: 60, maxResultRows: 10_000_000, maxResultBytes: 2 * 1024 ** 3 },
    });
    expect(() => createUserSql("x' OR 1", 'f'.repeat(64), DEFAULT_LIMITS)).toThrow(/user name/);
    expect(() => createUserSql('ana', 'f'.repeat(64), { ...DEFAULT_LIMITS, max_result_rows: 0 })).toThrow(
      /limit/,
    );
  });
});
