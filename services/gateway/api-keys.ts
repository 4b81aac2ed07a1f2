import { createHash, randomBytes } from 'node:crypto';
import { bearerToken } from '../shared/bearer.ts';
import { parseKeyEntries } from '../shared/hashed-keys.ts';

/**
 * One API key as configured: only the SHA-256 of the secret is stored, so a leaked config file or
 * environment dump does not hand out working keys. Keys are long random strings, so a plain
 * (unsalted) hash is enough; a slow password hash would only slow every request down.
 */
export interface ApiKey {
  id: string;
  /** Merchant ids whose events this key may send; `*` in the file means any merchant. */
  merchants: ReadonlySet<string>;
  anyMerchant: boolean;
  /** Terminal serials this key may send for, whatever their merchant. */
  terminals: ReadonlySet<string>;
  /** May read `/metrics` and the OpenAPI document without an ingest scope. */
  metrics: boolean;
  /** Events per second for this key; the gateway default when absent. */
  ratePerSecond: number | undefined;
}

export interface ApiKeyRing {
  /** The key whose secret hashes to `sha256hex`, if any. */
  byHash: ReadonlyMap<string, ApiKey>;
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '' && v.length <= 128))
    throw new Error(`${where} must be an array of non-empty strings`);
  return value as string[];
}

/**
 * Parses the key file: a JSON array of
 * `{ "id", "key_sha256", "merchants"?: [...|"*"], "terminals"?: [...], "metrics"?: bool, "rate_per_second"?: n }`.
 * A key must have a scope (merchants, terminals or metrics); errors name the entry and field.
 */
export function parseApiKeys(raw: string): ApiKeyRing {
  const byHash = new Map<string, ApiKey>();
  for (const { id, hash, fields: e } of parseKeyEntries(raw, [
    'merchants',
    'terminals',
    'metrics',
    'rate_per_second',
  ])) {
    const merchants = stringList(e['merchants'], `key ${id}: "merchants"`);
    const terminals = stringList(e['terminals'], `key ${id}: "terminals"`);
    const metrics = e['metrics'] ?? false;
    if (typeof metrics !== 'boolean') throw new Error(`key ${id}: "metrics" must be true or false`);
    const rate = e['rate_per_second'];
    if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0))
      throw new Error(`key ${id}: "rate_per_second" must be a positive number`);
    if (merchants.length === 0 && terminals.length === 0 && !metrics)
      throw new Error(`key ${id} has no scope: give "merchants", "terminals" or "metrics": true`);
    byHash.set(hash, {
      id,
      merchants: new Set(merchants.filter((m) => m !== '*')),
      anyMerchant: merchants.includes('*'),
      terminals: new Set(terminals),
      metrics,
      ratePerSecond: rate,
    });
  }
  return { byHash };
}

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A new random key (shown once to its owner) and the hash that goes into the key file. */
export function generateKey(id: string): { secret: string; sha256: string } {
  const secret = `pp_${id}_${randomBytes(24).toString('base64url')}`;
  return { secret, sha256: hashKey(secret) };
}

/** `Authorization: Bearer <key>` or `X-API-Key: <key>`; undefined when neither is usable. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers['authorization'];
  const bearer = typeof auth === 'string' ? bearerToken(auth) : undefined;
  if (bearer !== undefined) return bearer;
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0 && header.length <= 512) return header.trim();
  return undefined;
}

export function authenticateKey(ring: ApiKeyRing, secret: string | undefined): ApiKey | undefined {
  return secret === undefined ? undefined : ring.byHash.get(hashKey(secret));
}

/** Whether the key may send events for this terminal and merchant. */
export function inScope(key: ApiKey, merchantId: string | null | undefined, terminal: string): boolean {
  if (key.terminals.has(terminal)) return true;
  if (merchantId === null || merchantId === undefined) return key.anyMerchant;
  return key.anyMerchant || key.merchants.has(merchantId);
}

/** May this key send events at all (as opposed to a metrics-only key)? */
export function canIngest(key: ApiKey): boolean {
  return key.anyMerchant || key.merchants.size > 0 || key.terminals.size > 0;
}
