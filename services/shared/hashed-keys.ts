/*
 * The common part of the key files the gateway and the API read (GATEWAY_API_KEYS, API_KEYS): a
 * JSON array of objects, each with an `id` and the SHA-256 of its secret (`key_sha256`), plus fields
 * of their own. Errors name the entry and the field.
 */

const ID = /^[A-Za-z0-9._-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export interface KeyEntry {
  id: string;
  hash: string;
  /** The entry's other fields, for the caller to check. */
  fields: Record<string, unknown>;
}

/** The entries of a key file, ids and hashes checked and unique; `allowed` are the fields besides id and key_sha256. */
export function parseKeyEntries(raw: string, allowed: readonly string[]): KeyEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (err) {
    throw new Error(`not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new Error('expected a non-empty JSON array of keys');
  const known = new Set(['id', 'key_sha256', ...allowed]);
  const ids = new Set<string>();
  const hashes = new Set<string>();
  return doc.map((entry: unknown, i) => {
    const where = `key ${i + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      throw new Error(`${where} must be an object`);
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!known.has(k)) throw new Error(`${where} has unknown field "${k}"`);
    const id = e['id'];
    if (typeof id !== 'string' || !ID.test(id))
      throw new Error(`${where}: "id" must be 1-64 letters, digits, . _ -`);
    if (ids.has(id)) throw new Error(`key id ${id} appears twice`);
    ids.add(id);
    const hash = e['key_sha256'];
    if (typeof hash !== 'string' || !HEX64.test(hash))
      throw new Error(`key ${id}: "key_sha256" must be 64 lowercase hex digits (the SHA-256 of the key)`);
    if (hashes.has(hash)) throw new Error(`key ${id}: the same secret is configured twice`);
    hashes.add(hash);
    return { id, hash, fields: e };
  });
}
