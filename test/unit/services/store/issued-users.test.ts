import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAccessStatement, type AccessStatement } from '../../../../services/store/access-sql.ts';
import type { ClickHouseHttpError } from '../../../../services/store/clickhouse-error.ts';
import { ISSUED_DEFAULTS, IssuedUsers } from '../../../../services/store/issued-users.ts';
import { parseUsers } from '../../../../services/store/users.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const statics = parseUsers(JSON.stringify([{ name: 'svc', password: 'svc-password', role: 'service' }]));
const T = Date.UTC(2026, 11, 3, 12);

function stmt(sql: string): AccessStatement {
  const s = parseAccessStatement(sql);
  if (s === undefined) throw new Error(`not an access statement: ${sql}`);
  return s;
}

const create = (name: string, password: string, extra = '') =>
  stmt(`CREATE USER ${name} IDENTIFIED WITH sha256_hash BY '${sha(password)}' SETTINGS readonly = 1${extra}`);

async function refusal(p: Promise<unknown>): Promise<ClickHouseHttpError> {
  try {
    await p;
  } catch (err) {
    return err as ClickHouseHttpError;
  }
  throw new Error('accepted');
}

describe('IssuedUsers', () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), 'issued-users-'));
    dirs.push(d);
    return join(d, 'users.json');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('creates read-only users with their limits, authenticates them, and forgets them on DROP', async () => {
    const file = fresh();
    const users = await IssuedUsers.load(file, statics, () => T);
    await users.apply(create('ana', 'ana-password', ', max_execution_time = 5, max_result_rows = 10'));
    const ana = users.authenticate({ user: 'ana', password: 'ana-password' });
    expect(ana).toMatchObject({
      name: 'ana',
      role: 'analyst',
      grants: [],
      createdAt: new Date(T).toISOString(),
      maxConcurrentQueries: ISSUED_DEFAULTS.maxConcurrentQueries,
      profile: {
        readonly: 1,
        maxExecutionTime: 5,
        maxResultRows: 10,
        maxResultBytes: ISSUED_DEFAULTS.maxResultBytes,
      },
    });
    expect(users.authenticate({ user: 'ana', password: 'wrong' })).toBeUndefined();
    await users.apply(stmt('GRANT SELECT ON pospulse.* TO ana'));
    await users.apply(stmt('GRANT SELECT ON pospulse.* TO ana'));
    expect(users.authenticate({ user: 'ana', password: 'ana-password' })?.grants).toEqual(['pospulse']);
    const dropped = await users.apply(stmt('DROP USER ana'));
    expect(dropped?.name).toBe('ana');
    expect(users.authenticate({ user: 'ana', password: 'ana-password' })).toBeUndefined();
  });

  it('keeps the users in a 0600 file that a new instance loads, and never the passwords', async () => {
    const file = fresh();
    const first = await IssuedUsers.load(file, statics);
    await first.apply(create('ana', 'ana-password'));
    await first.apply(stmt('GRANT SELECT ON pospulse.* TO ana'));
    await first.apply(create('bob', 'bob-password'));
    await first.apply(stmt('DROP USER bob'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('ana-password');
    expect(text).toContain(sha('ana-password'));
    // Written through a temporary file renamed into place: nothing else is left behind.
    expect(readdirSync(join(file, '..'))).toEqual(['users.json']);
    const again = await IssuedUsers.load(file, statics);
    expect(again.all.map((u) => u.name)).toEqual(['ana']);
    expect(again.authenticate({ user: 'ana', password: 'ana-password' })?.grants).toEqual(['pospulse']);
  });

  it('gives a re-created user a new pool, so old sessions with old limits are never reused', async () => {
    const users = await IssuedUsers.load(fresh(), statics);
    await users.apply(create('ana', 'p1'));
    const before = users.all[0]!.poolKey;
    await users.apply(stmt('DROP USER ana'));
    await users.apply(create('ana', 'p2'));
    expect(users.all[0]!.poolKey).not.toBe(before);
  });

  it('answers like ClickHouse for existing, unknown and configured users', async () => {
    const users = await IssuedUsers.load(fresh(), statics);
    await users.apply(create('ana', 'p1'));
    expect((await refusal(users.apply(create('ana', 'p2')))).chType).toBe('ACCESS_ENTITY_ALREADY_EXISTS');
    await users.apply(
      stmt(
        `CREATE USER IF NOT EXISTS ana IDENTIFIED WITH sha256_hash BY '${sha('p2')}' SETTINGS readonly = 1`,
      ),
    );
    expect(users.authenticate({ user: 'ana', password: 'p1' })?.name).toBe('ana');
    expect((await refusal(users.apply(stmt('DROP USER nobody')))).chType).toBe('UNKNOWN_USER');
    expect(await users.apply(stmt('DROP USER IF EXISTS nobody'))).toBeUndefined();
    expect((await refusal(users.apply(stmt('GRANT SELECT ON db.* TO nobody')))).chType).toBe('UNKNOWN_USER');
    for (const sql of [
      `CREATE USER svc IDENTIFIED WITH sha256_hash BY '${sha('x')}' SETTINGS readonly = 1`,
      'DROP USER svc',
      'GRANT SELECT ON db.* TO svc',
    ])
      expect((await refusal(users.apply(stmt(sql)))).chType, sql).toBe('ACCESS_STORAGE_READONLY');
  });

  it('applies concurrent statements one after the other', async () => {
    const users = await IssuedUsers.load(fresh(), statics);
    await Promise.all(Array.from({ length: 20 }, (_, i) => users.apply(create(`u${i}`, `p${i}`))));
    expect(users.all).toHaveLength(20);
    const again = await IssuedUsers.load(join(dirs[0]!, 'users.json'), statics);
    expect(again.all).toHaveLength(20);
  });

  it('refuses to start on a malformed file or one naming a STORE_USERS user', async () => {
    const file = fresh();
    writeFileSync(file, '{"users": [{"name": "x"}]}');
    await expect(IssuedUsers.load(file, statics)).rejects.toThrow(/users\[0\]\.id/);
    writeFileSync(file, 'not json');
    await expect(IssuedUsers.load(file, statics)).rejects.toThrow(/not valid JSON/);
    const ok = await IssuedUsers.load(fresh(), []);
    await ok.apply(create('svc', 'x'));
    await expect(IssuedUsers.load(join(dirs[1]!, 'users.json'), statics)).rejects.toThrow(
      /also in STORE_USERS/,
    );
  });
});
