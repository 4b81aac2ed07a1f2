import { packageRoot } from '../package-root.ts';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Type } from 'avsc';
import { parsingCanonicalForm } from './canonical-form.ts';
import { type Fingerprint, fingerprintOfCanonical } from './fingerprint.ts';
import { parseSchema } from './parse-schema.ts';
import { SCHEMA_NAMES, type SchemaName } from './types.generated.ts';

export { SCHEMA_NAMES, type SchemaName };

/** One parsed schema: a published version from schemas/history/, or the current file. */
export interface SchemaEntry {
  readonly name: SchemaName;
  /**
   * N of schemas/history/<name>/vN.avsc. The current schema gets the number of the history entry
   * with the same fingerprint, or `null` while it is not published there yet.
   */
  readonly version: number | null;
  /** The record's full name, e.g. `pospulse.events.TransactionEvent`. */
  readonly fullName: string;
  /** The schema JSON exactly as in its file (docs and defaults included). */
  readonly json: unknown;
  readonly canonicalForm: string;
  readonly fingerprint: Fingerprint;
  readonly type: Type;
  /** Where it was loaded from, for error messages. */
  readonly file: string;
}

/**
 * Every schema pospulse knows: the current version of each record (the reader schema) and every
 * published version (possible writer schemas of bytes already in topics).
 */
export interface SchemaCatalog {
  readonly dir: string;
  /** The current schema of a record: what we write and what every read resolves to. */
  getSchema(name: SchemaName): SchemaEntry;
  /** The published versions of a record, v1 first. */
  history(name: SchemaName): readonly SchemaEntry[];
  /** The writer schema named by a single-object fingerprint (value or 8 wire bytes), if known. */
  byFingerprint(fp: bigint | Uint8Array): SchemaEntry | undefined;
  /** All distinct writer schemas (by fingerprint). */
  entries(): readonly SchemaEntry[];
}

/** Thrown at start-up when schemas/ is missing, unreadable or inconsistent. */
export class SchemaCatalogError extends Error {
  override readonly name = 'SchemaCatalogError';
}

/**
 * The repository's schemas/ directory, found by walking up from this module to the first
 * directory holding a package.json: works from services/ (tsx) and from dist/services/ (tsc).
 */
export function findSchemasDir(from: string = fileURLToPath(import.meta.url)): string {
  const root = packageRoot(from);
  if (root === undefined) throw new SchemaCatalogError(`no package.json above ${from}; pass the schemas dir`);
  return join(root, 'schemas');
}

function fullNameOf(json: unknown, file: string): string {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SchemaCatalogError(`${file}: not a record schema`);
  }
  const { type, name, namespace } = json as Record<string, unknown>;
  if (type !== 'record' || typeof name !== 'string') {
    throw new SchemaCatalogError(`${file}: not a record schema`);
  }
  return name.includes('.') || typeof namespace !== 'string' || namespace === ''
    ? name
    : `${namespace}.${name}`;
}

function loadFile(file: string, name: SchemaName, version: number | null): SchemaEntry {
  let json: unknown;
  let type: Type;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
    type = parseSchema(json);
  } catch (err) {
    throw new SchemaCatalogError(`${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const fullName = fullNameOf(json, file);
  if (fullName.slice(fullName.lastIndexOf('.') + 1) !== name) {
    throw new SchemaCatalogError(`${file}: holds record ${fullName}, expected ${name}`);
  }
  const canonicalForm = parsingCanonicalForm(json);
  return Object.freeze({
    name,
    version,
    fullName,
    json,
    canonicalForm,
    fingerprint: fingerprintOfCanonical(canonicalForm),
    type,
    file,
  });
}

function isSchemaName(s: string): s is SchemaName {
  return (SCHEMA_NAMES as readonly string[]).includes(s);
}

/**
 * Loads schemas/<Name>.avsc and schemas/history/<Name>/v<N>.avsc for every record, once, at
 * start-up (synchronously: nothing can be decoded before this is done).
 */
export function loadSchemaCatalog(dir: string = findSchemasDir()): SchemaCatalog {
  const currentFiles = readdirSync(dir).filter((f) => f.endsWith('.avsc'));
  for (const f of currentFiles) {
    const base = f.slice(0, -'.avsc'.length);
    if (!isSchemaName(base)) {
      throw new SchemaCatalogError(
        `${join(dir, f)}: ${base} is not a known record; run \`npm run schemas:types\` after adding a schema`,
      );
    }
  }

  const current = new Map<SchemaName, SchemaEntry>();
  const histories = new Map<SchemaName, SchemaEntry[]>();
  const byFp = new Map<bigint, SchemaEntry>();

  for (const name of SCHEMA_NAMES) {
    const historyDir = join(dir, 'history', name);
    const versions = existsSync(historyDir)
      ? readdirSync(historyDir)
          .filter((f) => f.endsWith('.avsc'))
          .map((f) => {
            const m = /^v([1-9]\d*)\.avsc$/.exec(f);
            if (!m) throw new SchemaCatalogError(`${join(historyDir, f)}: history files are named v<N>.avsc`);
            return loadFile(join(historyDir, f), name, Number(m[1]));
          })
          .sort((a, b) => (a.version ?? 0) - (b.version ?? 0))
      : [];
    for (const entry of versions) {
      // Versions differing only in docs or defaults share a fingerprint and read bytes alike.
      if (!byFp.has(entry.fingerprint.value)) byFp.set(entry.fingerprint.value, entry);
    }
    histories.set(name, versions);

    const file = join(dir, `${name}.avsc`);
    if (!existsSync(file)) throw new SchemaCatalogError(`${file}: missing`);
    const draft = loadFile(file, name, null);
    const published = [...versions].reverse().find((v) => v.canonicalForm === draft.canonicalForm);
    const entry = published ? Object.freeze({ ...draft, version: published.version }) : draft;
    current.set(name, entry);
    if (!byFp.has(entry.fingerprint.value)) byFp.set(entry.fingerprint.value, entry);
  }

  const all = Object.freeze([...byFp.values()]);
  return Object.freeze({
    dir,
    getSchema(name: SchemaName): SchemaEntry {
      const entry = current.get(name);
      if (!entry) throw new SchemaCatalogError(`unknown schema ${String(name)}`);
      return entry;
    },
    history(name: SchemaName): readonly SchemaEntry[] {
      return histories.get(name) ?? [];
    },
    byFingerprint(fp: bigint | Uint8Array): SchemaEntry | undefined {
      if (typeof fp === 'bigint') return byFp.get(fp);
      if (fp.length !== 8) return undefined;
      return byFp.get(Buffer.from(fp.buffer, fp.byteOffset, 8).readBigUInt64LE(0));
    },
    entries: () => all,
  });
}
