import { createHash, randomBytes } from 'node:crypto';
import { clickhouseTime } from '../shared/clickhouse/rows.ts';
import { clickhouseCode, type Store } from '../shared/clickhouse/store.ts';

/** Limits every query of an issued credential runs under (ClickHouse user settings). */
export interface CredentialLimits {
  max_execution_time_s: number;
  max_result_rows: number;
  max_result_bytes: number;
}

/** The store's own analyst defaults (services/store/users.ts), so both kinds of analyst agree. */
export const DEFAULT_LIMITS: CredentialLimits = Object.freeze({
  max_execution_time_s: 60,
  max_result_rows: 10_000_000,
  max_result_bytes: 2 * 1024 ** 3,
});

export const USER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface CredentialRecord {
  user: string;
  note: string;
  issued_by: string;
  created_at: string;
  limits: CredentialLimits;
  revoked_at: string | null;
  revoked_by: string | null;
}

export interface IssuedCredential extends CredentialRecord {
  /** Shown once: only its SHA-256 reaches ClickHouse, and nothing of it is kept here. */
  password: string;
  clickhouse_url: string;
  database: string;
}

export type IssueResult =
  | { ok: true; credential: IssuedCredential }
  | { ok: false; code: 'credential_exists' | 'name_reserved'; message: string };

export interface AnalystCredentialsDeps {
  store: Pick<Store, 'query' | 'command' | 'insert'>;
  /** The record table (migration 0008), fully qualified. */
  table: string;
  /** Database the credentials may read (GRANT SELECT ON database.*). */
  database: string;
  /** The ClickHouse HTTP URL analysts connect to (API_ANALYST_CLICKHOUSE_URL). */
  clickhouseUrl: string;
  clock: () => number;
}

// ClickHouse error codes (ErrorCodes.cpp) the issuing statements may meet.
const ACCESS_ENTITY_ALREADY_EXISTS = '493';
const ACCESS_STORAGE_READONLY = '495';

/** `CREATE USER` for a read-only analyst, in the subset both ClickHouse and the store take. */
export function createUserSql(name: string, passwordSha256Hex: string, limits: CredentialLimits): string {
  if (!USER_NAME.test(name)) throw new Error(`not a user name: ${JSON.stringify(name)}`);
  if (!/^[0-9a-f]{64}$/.test(passwordSha256Hex)) throw new Error('not a SHA-256 in hex');
  const n = (v: number) => {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`not a limit: ${v}`);
    return String(v);
  };
  // CONST: an analyst cannot raise a limit for one query (readonly = 1 already freezes every setting).
  return (
    `CREATE USER ${name} IDENTIFIED WITH sha256_hash BY '${passwordSha256Hex}' ` +
    `SETTINGS readonly = 1 CONST, max_execution_time = ${n(limits.max_execution_time_s)} CONST, ` +
    `max_result_rows = ${n(limits.max_result_rows)} CONST, max_result_bytes = ${n(limits.max_result_bytes)} CONST`
  );
}

export function grantSql(database: string, name: string): string {
  if (!USER_NAME.test(database) || !USER_NAME.test(name)) throw new Error('not a database or user name');
  return `GRANT SELECT ON ${database}.* TO ${name}`;
}

export function dropUserSql(name: string): string {
  if (!USER_NAME.test(name)) throw new Error(`not a user name: ${JSON.stringify(name)}`);
  return `DROP USER IF EXISTS ${name}`;
}

interface Row {
  user_name: string;
  note: string;
  issued_by: string;
  issued_time: string | number;
  max_execution_time_s: number | string;
  max_result_rows: number | string;
  max_result_bytes: number | string;
  revoked_by: string | null;
  revoked_time: string | number | null;
}

const SELECT = `SELECT user_name, note, issued_by, toUnixTimestamp64Milli(issued_time) AS issued_time,
  max_execution_time_s, max_result_rows, max_result_bytes, revoked_by,
  toUnixTimestamp64Milli(revoked_time) AS revoked_time`;

function record(r: Row): CredentialRecord {
  return {
    user: r.user_name,
    note: r.note,
    issued_by: r.issued_by,
    created_at: new Date(Number(r.issued_time)).toISOString(),
    limits: {
      max_execution_time_s: Number(r.max_execution_time_s),
      max_result_rows: Number(r.max_result_rows),
      max_result_bytes: Number(r.max_result_bytes),
    },
    revoked_at: r.revoked_time === null ? null : new Date(Number(r.revoked_time)).toISOString(),
    revoked_by: r.revoked_by,
  };
}

/**
 * Issues and revokes analysts' SQL credentials: read-only ClickHouse users, made with access
 * SQL sent through the api's own service connection, so the same code serves a ClickHouse server
 * and the embedded store. Each credential is recorded (no secret) in the analyst_credentials table.
 */
export class AnalystCredentials {
  constructor(private readonly deps: AnalystCredentialsDeps) {}

  get connection(): { clickhouse_url: string; database: string } {
    return { clickhouse_url: this.deps.clickhouseUrl, database: this.deps.database };
  }

  /** The credential of `user` still in force, if any. */
  async active(user: string): Promise<CredentialRecord | undefined> {
    const [row] = await this.deps.store.query<Row>(
      `${SELECT} FROM ${this.deps.table} FINAL WHERE user_name = {u:String} AND revoked_time IS NULL
       ORDER BY issued_time DESC LIMIT 1`,
      { u: user },
    );
    return row === undefined ? undefined : record(row);
  }

  async list(): Promise<CredentialRecord[]> {
    const rows = await this.deps.store.query<Row>(
      `${SELECT} FROM ${this.deps.table} FINAL ORDER BY issued_time DESC, user_name LIMIT 10000`,
    );
    return rows.map(record);
  }

  async issue(o: {
    name?: string | undefined;
    note: string;
    limits: CredentialLimits;
    issuedBy: string;
  }): Promise<IssueResult> {
    const name = o.name ?? `analyst_${randomBytes(6).toString('hex')}`;
    if ((await this.active(name)) !== undefined)
      return { ok: false, code: 'credential_exists', message: `${name} already has a credential in force` };
    // 32 characters of base64url: 192 random bits.
    const password = randomBytes(24).toString('base64url');
    const hash = createHash('sha256').update(password, 'utf8').digest('hex');
    try {
      await this.deps.store.command(createUserSql(name, hash, o.limits));
    } catch (err) {
      const code = clickhouseCode(err);
      if (code === ACCESS_ENTITY_ALREADY_EXISTS)
        return { ok: false, code: 'credential_exists', message: `ClickHouse already has a user ${name}` };
      if (code === ACCESS_STORAGE_READONLY)
        return {
          ok: false,
          code: 'name_reserved',
          message: `${name} is a user from the store's configuration; pick another name`,
        };
      throw err;
    }
    const now = this.deps.clock();
    try {
      await this.deps.store.command(grantSql(this.deps.database, name));
      await this.deps.store.insert(this.deps.table, [
        {
          user_name: name,
          note: o.note,
          issued_by: o.issuedBy,
          issued_time: clickhouseTime(now),
          max_execution_time_s: o.limits.max_execution_time_s,
          max_result_rows: o.limits.max_result_rows,
          max_result_bytes: o.limits.max_result_bytes,
          revoked_by: null,
          revoked_time: null,
          version: 1,
        },
      ]);
    } catch (err) {
      // A user nobody has on record would be a credential nobody can revoke through the api.
      await this.deps.store.command(dropUserSql(name)).catch(() => undefined);
      throw err;
    }
    return {
      ok: true,
      credential: {
        user: name,
        password,
        ...this.connection,
        note: o.note,
        issued_by: o.issuedBy,
        created_at: new Date(now).toISOString(),
        limits: { ...o.limits },
        revoked_at: null,
        revoked_by: null,
      },
    };
  }

  /** Drops the user, then records the revocation; false when `user` has no credential in force. */
  async revoke(user: string, by: string): Promise<boolean> {
    const current = await this.active(user);
    if (current === undefined) return false;
    // IF EXISTS: a revocation retried after the user was dropped but before it was recorded completes.
    await this.deps.store.command(dropUserSql(user));
    await this.deps.store.insert(this.deps.table, [
      {
        user_name: user,
        note: current.note,
        issued_by: current.issued_by,
        issued_time: clickhouseTime(Date.parse(current.created_at)),
        max_execution_time_s: current.limits.max_execution_time_s,
        max_result_rows: current.limits.max_result_rows,
        max_result_bytes: current.limits.max_result_bytes,
        revoked_by: by,
        revoked_time: clickhouseTime(this.deps.clock()),
        version: 2,
      },
    ]);
    return true;
  }
}
