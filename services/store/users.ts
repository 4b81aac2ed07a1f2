import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDuration } from '../shared/config.ts';
import type { Profile } from './engine.ts';

export type Role = 'service' | 'analyst';

export interface StoreUser {
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the password; the password itself is not kept. */
  readonly passwordSha256: Buffer;
  readonly profile: Profile;
  /** Queries this user can run at once; more wait in a queue. */
  readonly maxConcurrentQueries: number;
}

export const DEFAULTS: Record<Role, { profile: Profile; maxConcurrentQueries: number }> = {
  // Services write in batches and must not be cut off mid-insert by a short timeout.
  service: {
    profile: { readonly: 0, maxExecutionTime: 0, maxResultRows: 0, maxResultBytes: 0, maxThreads: 0 },
    maxConcurrentQueries: 4,
  },
  // Analysts get bounded queries: a forgotten WHERE must not hold the engine for hours.
  analyst: {
    profile: {
      readonly: 1,
      maxExecutionTime: 60,
      maxResultRows: 10_000_000,
      maxResultBytes: 2 * 1024 ** 3,
      maxThreads: 0,
    },
    maxConcurrentQueries: 2,
  },
};

const FIELDS = new Set([
  'name',
  'password',
  'password_sha256_hex',
  'role',
  'max_execution_time',
  'max_result_rows',
  'max_result_bytes',
  'max_threads',
  'max_concurrent_queries',
]);

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function nonNegativeInt(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new Error(`${where} must be an integer >= 0`);
  return v;
}

/** Parses the users JSON; throws an Error naming the entry and field that is wrong. */
export function parseUsers(json: string): StoreUser[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(raw) || raw.length === 0) throw new Error('must be a non-empty JSON array of users');
  const names = new Set<string>();
  return raw.map((entry: unknown, i) => {
    const at = `users[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new Error(`${at} must be an object`);
    const u = entry as Record<string, unknown>;
    for (const key of Object.keys(u))
      if (!FIELDS.has(key)) throw new Error(`${at}.${key} is not a known field`);
    const name = u['name'];
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name))
      throw new Error(`${at}.name must be a user name ([A-Za-z_][A-Za-z0-9_.-]*)`);
    if (names.has(name)) throw new Error(`${at}.name "${name}" is defined twice`);
    names.add(name);
    const role = u['role'] ?? 'analyst';
    if (role !== 'service' && role !== 'analyst')
      throw new Error(`${at}.role must be "service" or "analyst"`);
    let passwordSha256: Buffer;
    if (typeof u['password'] === 'string' && u['password_sha256_hex'] === undefined) {
      if (u['password'].length < 8) throw new Error(`${at}.password must have at least 8 characters`);
      passwordSha256 = sha256(u['password']);
    } else if (typeof u['password_sha256_hex'] === 'string' && u['password'] === undefined) {
      if (!/^[0-9a-fA-F]{64}$/.test(u['password_sha256_hex']))
        throw new Error(`${at}.password_sha256_hex must be 64 hex digits`);
      passwordSha256 = Buffer.from(u['password_sha256_hex'], 'hex');
    } else {
      throw new Error(`${at} needs exactly one of password, password_sha256_hex (no anonymous users)`);
    }
    const base = DEFAULTS[role];
    let maxExecutionTime = base.profile.maxExecutionTime;
    const met = u['max_execution_time'];
    if (typeof met === 'string') {
      const ms = parseDuration(met);
      if (ms === undefined) throw new Error(`${at}.max_execution_time must be a duration like 30s or 5m`);
      maxExecutionTime = Math.ceil(ms / 1000);
    } else if (met !== undefined) maxExecutionTime = nonNegativeInt(met, `${at}.max_execution_time`);
    const pick = (key: string, dflt: number) =>
      u[key] === undefined ? dflt : nonNegativeInt(u[key], `${at}.${key}`);
    const maxConcurrentQueries = pick('max_concurrent_queries', base.maxConcurrentQueries);
    if (maxConcurrentQueries < 1 || maxConcurrentQueries > 64)
      throw new Error(`${at}.max_concurrent_queries must be between 1 and 64`);
    return Object.freeze({
      name,
      role,
      passwordSha256,
      maxConcurrentQueries,
      profile: Object.freeze({
        readonly: base.profile.readonly,
        maxExecutionTime,
        maxResultRows: pick('max_result_rows', base.profile.maxResultRows),
        maxResultBytes: pick('max_result_bytes', base.profile.maxResultBytes),
        maxThreads: pick('max_threads', base.profile.maxThreads),
      }),
    });
  });
}

export interface Credentials {
  user: string;
  password: string;
}

/** The user these credentials name, or undefined; the comparison takes the same time either way. */
export function authenticate(users: readonly StoreUser[], creds: Credentials): StoreUser | undefined {
  const digest = sha256(creds.password);
  let found: StoreUser | undefined;
  for (const u of users) {
    const match = timingSafeEqual(u.passwordSha256, digest);
    if (u.name === creds.user && match) found = u;
  }
  return found;
}

/** User and password from an `Authorization: Basic …` header, if it holds one. */
export function basicCredentials(header: string | undefined): Credentials | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) } : undefined;
}
