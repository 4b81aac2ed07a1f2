import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AccessStatement, IssuedLimits } from './access-sql.ts';
import { CH, ClickHouseHttpError } from './clickhouse-error.ts';
import { authenticate, DEFAULTS, type Credentials, type StoreUser } from './users.ts';

/** A read-only user created over SQL (`CREATE USER`), as opposed to one from STORE_USERS. */
export interface IssuedUser extends StoreUser {
  readonly role: 'analyst';
  /** Databases granted SELECT (`*` = all); a user with none may not run anything yet. */
  readonly grants: readonly string[];
  readonly limits: IssuedLimits;
  readonly createdAt: string;
  /**
   * Engine pool of this incarnation of the user: a name dropped and created again gets fresh
   * sessions opened with its new limits, never the old ones.
   */
  readonly poolKey: string;
}

interface Entry {
  id: string;
  name: string;
  password_sha256_hex: string;
  limits: IssuedLimits;
  grants: string[];
  created_at: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LIMIT_KEYS = [
  'maxExecutionTime',
  'maxResultRows',
  'maxResultBytes',
  'maxThreads',
  'maxConcurrentQueries',
] as const;

const analyst = DEFAULTS.analyst;
export const ISSUED_DEFAULTS: IssuedLimits = Object.freeze({
  maxExecutionTime: analyst.profile.maxExecutionTime,
  maxResultRows: analyst.profile.maxResultRows,
  maxResultBytes: analyst.profile.maxResultBytes,
  maxThreads: analyst.profile.maxThreads,
  maxConcurrentQueries: analyst.maxConcurrentQueries,
});

function toUser(e: Entry): IssuedUser {
  return Object.freeze({
    name: e.name,
    role: 'analyst' as const,
    passwordSha256: Buffer.from(e.password_sha256_hex, 'hex'),
    maxConcurrentQueries: e.limits.maxConcurrentQueries,
    profile: Object.freeze({
      readonly: 1 as const,
      maxExecutionTime: e.limits.maxExecutionTime,
      maxResultRows: e.limits.maxResultRows,
      maxResultBytes: e.limits.maxResultBytes,
      maxThreads: e.limits.maxThreads,
    }),
    grants: Object.freeze([...e.grants]),
    limits: Object.freeze({ ...e.limits }),
    createdAt: e.created_at,
    poolKey: `issued:${e.name}:${e.id}`,
  });
}

function toEntry(u: IssuedUser, id: string): Entry {
  return {
    id,
    name: u.name,
    password_sha256_hex: u.passwordSha256.toString('hex'),
    limits: { ...u.limits },
    grants: [...u.grants],
    created_at: u.createdAt,
  };
}

/** Checks one entry of the file; throws naming the entry and field. */
function checkEntry(raw: unknown, at: string): Entry {
  if (typeof raw !== 'object' || raw === null) throw new Error(`${at} must be an object`);
  const e = raw as Record<string, unknown>;
  if (typeof e['id'] !== 'string' || e['id'] === '') throw new Error(`${at}.id must be a string`);
  if (typeof e['name'] !== 'string' || !NAME.test(e['name']))
    throw new Error(`${at}.name is not a user name`);
  if (typeof e['password_sha256_hex'] !== 'string' || !/^[0-9a-f]{64}$/.test(e['password_sha256_hex']))
    throw new Error(`${at}.password_sha256_hex must be 64 lower-case hex digits`);
  if (typeof e['created_at'] !== 'string') throw new Error(`${at}.created_at must be a string`);
  const grants = e['grants'];
  if (!Array.isArray(grants) || !grants.every((g) => typeof g === 'string' && (g === '*' || NAME.test(g))))
    throw new Error(`${at}.grants must be a list of database names`);
  const limits = e['limits'] as Record<string, unknown> | null;
  if (typeof limits !== 'object' || limits === null) throw new Error(`${at}.limits must be an object`);
  for (const k of LIMIT_KEYS)
    if (!Number.isSafeInteger(limits[k]) || (limits[k] as number) < 0)
      throw new Error(`${at}.limits.${k} must be a whole number >= 0`);
  return e as unknown as Entry;
}

/**
 * The users created over SQL, kept in a JSON file in the store's data directory (mode 0600, only
 * password hashes). A file rather than a table: every analyst may read every table of the
 * embedded engine, and the hashes must not be one of them. Each change is written to a new file,
 * synced and renamed over the old one before it is acknowledged, so a crash leaves either the
 * old set or the new one, and a revocation that was answered stays revoked after a restart.
 */
export class IssuedUsers {
  private users: ReadonlyMap<string, { user: IssuedUser; id: string }>;
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly staticNames: ReadonlySet<string>,
    users: ReadonlyMap<string, { user: IssuedUser; id: string }>,
    private readonly clock: () => number,
  ) {
    this.users = users;
  }

  /** Reads `file` (absent: no users yet). A malformed file stops the store rather than lose revocations. */
  static async load(
    file: string,
    staticUsers: readonly StoreUser[],
    clock: () => number = Date.now,
  ): Promise<IssuedUsers> {
    const staticNames = new Set(staticUsers.map((u) => u.name));
    const users = new Map<string, { user: IssuedUser; id: string }>();
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        throw new Error(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
      }
      const list = (raw as { users?: unknown } | null)?.users;
      if (!Array.isArray(list)) throw new Error(`${file} must hold {"users": […]}`);
      list.forEach((item, i) => {
        const e = checkEntry(item, `${file}: users[${i}]`);
        if (staticNames.has(e.name))
          throw new Error(
            `${file}: user ${e.name} was created over SQL and is also in STORE_USERS; remove one of them`,
          );
        if (users.has(e.name)) throw new Error(`${file}: user ${e.name} is listed twice`);
        users.set(e.name, { user: toUser(e), id: e.id });
      });
    }
    return new IssuedUsers(file, staticNames, users, clock);
  }

  get all(): readonly IssuedUser[] {
    return [...this.users.values()].map((u) => u.user);
  }

  authenticate(creds: Credentials): IssuedUser | undefined {
    return authenticate(this.all, creds) as IssuedUser | undefined;
  }

  /**
   * Applies one statement, durably, one at a time. Returns the user a `DROP USER` removed (its
   * sessions are the caller's to close).
   */
  apply(statement: AccessStatement): Promise<IssuedUser | undefined> {
    const run = this.tail.then(() => this.applyNow(statement));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async applyNow(s: AccessStatement): Promise<IssuedUser | undefined> {
    if (this.staticNames.has(s.name))
      throw ClickHouseHttpError.of(
        CH.ACCESS_STORAGE_READONLY,
        `user ${s.name} is defined in STORE_USERS, which cannot be changed over SQL`,
      );
    const next = new Map(this.users);
    const existing = next.get(s.name);
    let dropped: IssuedUser | undefined;
    switch (s.kind) {
      case 'CREATE USER': {
        if (existing) {
          if (s.ifNotExists) return undefined;
          throw ClickHouseHttpError.of(
            CH.ACCESS_ENTITY_ALREADY_EXISTS,
            `user ${s.name}: cannot insert because user ${s.name} already exists`,
          );
        }
        const id = randomUUID();
        const entry: Entry = {
          id,
          name: s.name,
          password_sha256_hex: s.passwordSha256Hex,
          limits: { ...ISSUED_DEFAULTS, ...s.limits },
          grants: [],
          created_at: new Date(this.clock()).toISOString(),
        };
        next.set(s.name, { user: toUser(entry), id });
        break;
      }
      case 'GRANT': {
        if (!existing) throw unknownUser(s.name);
        if (existing.user.grants.includes(s.database)) return undefined;
        const entry = toEntry(existing.user, existing.id);
        entry.grants.push(s.database);
        next.set(s.name, { user: toUser(entry), id: existing.id });
        break;
      }
      case 'DROP USER': {
        if (!existing) {
          if (s.ifExists) return undefined;
          throw unknownUser(s.name);
        }
        next.delete(s.name);
        dropped = existing.user;
        break;
      }
    }
    await this.persist(next);
    this.users = next;
    return dropped;
  }

  private async persist(users: ReadonlyMap<string, { user: IssuedUser; id: string }>): Promise<void> {
    const body = JSON.stringify(
      { users: [...users.values()].map(({ user, id }) => toEntry(user, id)) },
      null,
      2,
    );
    const tmp = `${this.file}.${process.pid}.${randomUUID()}.tmp`;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(body, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    // The rename is durable only once the directory entry is.
    const dir = await open(dirname(this.file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

function unknownUser(name: string): ClickHouseHttpError {
  return ClickHouseHttpError.of(CH.UNKNOWN_USER, `There is no user ${name} in user directories`);
}
