import { packageRoot } from '../package-root.ts';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigrationError, PosPulseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Store } from './store.ts';

/**
 * Versioned schema migrations: `infra/clickhouse/migrations/NNNN_name.sql`, applied in version
 * order, each recorded in `<database>.schema_migrations` with a checksum of its text.
 *
 * A file is a list of statements separated by `;` (ClickHouse's HTTP interface runs one statement
 * per request). `--` and `/* *\/` comments are removed before anything is sent. Each statement is
 * then rendered with a fixed set of placeholders, so the same file gives the single-node tables or
 * the cluster ones:
 *
 * | Placeholder                      | Single node                  | Cluster `c` (CLICKHOUSE_CLUSTER)                                                                  |
 * | -------------------------------- | ---------------------------- | ------------------------------------------------------------------------------------------------- |
 * | `{{database}}`                   | `pospulse`                   | `pospulse`                                                                                        |
 * | `{{on_cluster}}`                 | (empty)                      | ` ON CLUSTER 'c'`                                                                                 |
 * | `{{raw_ttl_days}}`               | `90` (CLICKHOUSE_RAW_TTL)    | `90`                                                                                              |
 * | `{{table:T}}`                    | `pospulse.T`                 | `pospulse.T_local` (the table holding the rows)                                                   |
 * | `{{engine:T:XMergeTree(args)}}`  | `XMergeTree(args)`           | `ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/T_local', '{replica}', args)`        |
 * | `{{distributed:T:sharding_key}}` | (empty: statement dropped)   | `CREATE TABLE IF NOT EXISTS pospulse.T ON CLUSTER 'c' AS pospulse.T_local ENGINE = Distributed('c', 'pospulse', 'T_local', sharding_key)` |
 *
 * Anything else between `{{` and `}}` fails rendering with a MigrationError naming the file.
 * Single braces (`{shard}`, `{replica}`, query parameters) pass through untouched.
 */

/** What a migration is rendered with. */
export interface RenderContext {
  /** Database holding the tables; every statement names it explicitly. */
  readonly database: string;
  /** Cluster name: set, render the cluster variant (Replicated local tables + Distributed ones). */
  readonly cluster?: string | undefined;
  /** Retention of raw event rows, in days. */
  readonly rawTtlDays: number;
}

export interface Migration {
  readonly version: number;
  /** The part of the file name after the version, e.g. `raw_events`. */
  readonly name: string;
  /** The file name without `.sql`, e.g. `0001_raw_events`; what reports list. */
  readonly id: string;
  readonly file: string;
  readonly text: string;
  /** sha256 (hex) of the file text with line endings normalised to `\n`. */
  readonly checksum: string;
}

export interface MigrationReport {
  /** Migrations applied by this run, in order (ids like `0001_raw_events`). */
  applied: string[];
  /** Migrations found already applied (same checksum), in order. */
  skipped: string[];
}

export interface MigrationOptions extends RenderContext {
  /** Directory of the .sql files; default: infra/clickhouse/migrations of this checkout. */
  readonly dir?: string;
  readonly logger?: Pick<Logger, 'info'>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLUSTER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const FILE_NAME = /^(\d{4})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$/;
const MERGE_TREE = /^([A-Za-z]*MergeTree)\s*(?:\(([\s\S]*)\))?$/;

/** `0001_raw_events.sql` → version 1, name `raw_events`; anything else is a MigrationError. */
export function parseMigrationFileName(file: string): { version: number; name: string } {
  const m = FILE_NAME.exec(file);
  const version = Number(m?.[1]);
  if (!m || version < 1) {
    throw new MigrationError(
      `migration file name ${JSON.stringify(file)} is malformed: expected NNNN_lower_snake_name.sql with NNNN from 0001`,
    );
  }
  return { version, name: m[2]! };
}

export function checksum(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n')).digest('hex');
}

/**
 * The repository's infra/clickhouse/migrations, found by walking up from this module to the first
 * directory holding a package.json: works from services/ (tsx) and from dist/services/ (tsc).
 */
export function findMigrationsDir(from: string = fileURLToPath(import.meta.url)): string {
  const root = packageRoot(from);
  if (root === undefined) throw new MigrationError(`no package.json above ${from}; pass the migrations dir`);
  return join(root, 'infra', 'clickhouse', 'migrations');
}

/** Every `.sql` file of `dir` as a migration, in version order. Other files are ignored. */
export function loadMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) throw new MigrationError(`migrations directory ${dir} does not exist`);
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file): Migration => {
      const { version, name } = parseMigrationFileName(file);
      const text = readFileSync(join(dir, file), 'utf8');
      return { version, name, id: file.slice(0, -'.sql'.length), file, text, checksum: checksum(text) };
    });
  return sortMigrations(migrations);
}

/** Orders by version; two files with one version are an error (two branches both took the number). */
export function sortMigrations(migrations: readonly Migration[]): Migration[] {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (prev.version === cur.version) {
      throw new MigrationError(`migrations ${prev.file} and ${cur.file} have the same version; renumber one`);
    }
  }
  return sorted;
}

/**
 * Splits SQL text into statements at each `;` outside string literals, quoted identifiers and
 * comments, and drops the comments (a statement left with only whitespace disappears). Knows
 * ClickHouse's quoting: '…', "…" and `…` with backslash escapes or a doubled quote, `--` to the end
 * of the line and non-nested block comments.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  const flush = (): void => {
    const s = current.trim();
    if (s !== '') statements.push(s);
    current = '';
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) throw new MigrationError(`unterminated ${c} quote in SQL: ${excerpt(sql, i)}`);
        const d = sql[j]!;
        if (d === '\\') j += 2;
        else if (d === c && sql[j + 1] === c) j += 2;
        else if (d === c) break;
        else j += 1;
      }
      current += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      current = current.replace(/[ \t]+$/, '');
      // A comment on a line of its own goes with its line; after code, the newline stays (it may
      // be the only separator between two tokens).
      const ownLine = current === '' || current.endsWith('\n');
      i = end < 0 ? sql.length : ownLine ? end + 1 : end;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new MigrationError(`unterminated /* comment in SQL: ${excerpt(sql, i)}`);
      current += ' ';
      i = end + 2;
    } else if (c === ';') {
      flush();
      i += 1;
    } else {
      current += c;
      i += 1;
    }
  }
  flush();
  return statements;
}

function excerpt(sql: string, at: number): string {
  return JSON.stringify(sql.slice(at, at + 40));
}

function checkContext(ctx: RenderContext): void {
  if (!IDENTIFIER.test(ctx.database)) {
    throw new MigrationError(`database name ${JSON.stringify(ctx.database)} is not a plain identifier`);
  }
  if (ctx.cluster !== undefined && !CLUSTER_NAME.test(ctx.cluster)) {
    throw new MigrationError(`cluster name ${JSON.stringify(ctx.cluster)} is not a plain name`);
  }
  if (!Number.isInteger(ctx.rawTtlDays) || ctx.rawTtlDays < 1) {
    throw new MigrationError(`raw TTL must be a whole number of days >= 1, got ${ctx.rawTtlDays}`);
  }
}

function onCluster(ctx: RenderContext): string {
  return ctx.cluster === undefined ? '' : ` ON CLUSTER '${ctx.cluster}'`;
}

/** Splits `T:rest` at the first colon; T must be an identifier. */
function tableAndRest(arg: string | undefined, what: string): [string, string] {
  const at = arg?.indexOf(':') ?? -1;
  const table = arg === undefined ? '' : at < 0 ? arg : arg.slice(0, at);
  const rest = arg === undefined || at < 0 ? '' : arg.slice(at + 1).trim();
  if (!IDENTIFIER.test(table) || rest === '') throw new Error(`expected {{${what}:<table>:<…>}}`);
  return [table, rest];
}

function renderPlaceholder(name: string, arg: string | undefined, ctx: RenderContext): string {
  const db = ctx.database;
  const local = (t: string): string => (ctx.cluster === undefined ? t : `${t}_local`);
  const noArg = (value: string): string => {
    if (arg !== undefined) throw new Error(`{{${name}}} takes no argument`);
    return value;
  };
  switch (name) {
    case 'database':
      return noArg(db);
    case 'on_cluster':
      return noArg(onCluster(ctx));
    case 'raw_ttl_days':
      return noArg(String(ctx.rawTtlDays));
    case 'table': {
      if (arg === undefined || !IDENTIFIER.test(arg)) throw new Error('expected {{table:<table>}}');
      return `${db}.${local(arg)}`;
    }
    case 'engine': {
      const [table, engine] = tableAndRest(arg, 'engine');
      const m = MERGE_TREE.exec(engine);
      if (!m) throw new Error(`engine ${JSON.stringify(engine)} is not a MergeTree family engine`);
      if (engine.startsWith('Replicated')) {
        throw new Error(`write ${engine.slice('Replicated'.length)}: the cluster variant adds Replicated`);
      }
      if (ctx.cluster === undefined) return engine;
      const [, family, params = ''] = m;
      const path = `'/clickhouse/tables/{shard}/{database}/${local(table)}'`;
      const args = [path, "'{replica}'", ...(params.trim() === '' ? [] : [params.trim()])];
      return `Replicated${family!}(${args.join(', ')})`;
    }
    case 'distributed': {
      const [table, key] = tableAndRest(arg, 'distributed');
      if (ctx.cluster === undefined) return '';
      const c = ctx.cluster;
      return (
        `CREATE TABLE IF NOT EXISTS ${db}.${table}${onCluster(ctx)} AS ${db}.${local(table)} ` +
        `ENGINE = Distributed('${c}', '${db}', '${local(table)}', ${key})`
      );
    }
    default:
      throw new Error(`unknown placeholder {{${name}}}`);
  }
}

/**
 * Replaces every `{{name}}` / `{{name:argument}}` of `text` (see the table at the top of this
 * file). `source` names the file in errors.
 */
export function renderTemplate(text: string, ctx: RenderContext, source = 'template'): string {
  checkContext(ctx);
  const out = text.replace(/\{\{([\s\S]*?)\}\}/g, (whole, inner: string) => {
    const m = /^([a-z_]+)(?::([\s\S]*))?$/.exec(inner.trim());
    try {
      if (!m) throw new Error(`malformed placeholder ${whole}`);
      return renderPlaceholder(m[1]!, m[2], ctx);
    } catch (err) {
      if (err instanceof PosPulseError) throw err;
      const known =
        '{{database}}, {{on_cluster}}, {{raw_ttl_days}}, {{table:T}}, {{engine:T:E}}, {{distributed:T:K}}';
      throw new MigrationError(`${source}: ${(err as Error).message} (known: ${known})`);
    }
  });
  const open = out.indexOf('{{');
  if (open >= 0) throw new MigrationError(`${source}: unclosed placeholder at ${excerpt(out, open)}`);
  return out;
}

/** The statements of one migration, rendered for `ctx`; statements that render empty are dropped. */
export function renderMigration(migration: Migration, ctx: RenderContext): string[] {
  return splitStatements(migration.text)
    .map((s) => renderTemplate(s, ctx, migration.file).trim())
    .filter((s) => s !== '');
}

/**
 * The database and the record table. In the cluster variant the record table is replicated to
 * every node of every shard (no {shard} in its path), so a run from any node sees every record;
 * the shard in the replica name keeps replica names unique when `{replica}` repeats across shards.
 */
export function bootstrapStatements(ctx: RenderContext): string[] {
  checkContext(ctx);
  const engine =
    ctx.cluster === undefined
      ? 'ReplacingMergeTree'
      : "ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{shard}_{replica}')";
  return [
    `CREATE DATABASE IF NOT EXISTS ${ctx.database}${onCluster(ctx)}`,
    `CREATE TABLE IF NOT EXISTS ${ctx.database}.schema_migrations${onCluster(ctx)} (
  version UInt32,
  name String,
  checksum String,
  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ${engine}
ORDER BY version`,
  ];
}

interface Recorded {
  version: number;
  name: string;
  checksum: string;
}

/** Compares the record with the files; anything but "a prefix of the files is applied, unchanged" is an error. */
function pendingMigrations(migrations: readonly Migration[], recorded: readonly Recorded[], dir: string) {
  const byVersion = new Map(migrations.map((m) => [m.version, m]));
  const applied = new Set<number>();
  for (const r of recorded) {
    const m = byVersion.get(r.version);
    const id = `${String(r.version).padStart(4, '0')}_${r.name}`;
    if (!m) {
      throw new MigrationError(
        `migration ${id} is recorded as applied but has no file in ${dir}: is this build older than the database?`,
      );
    }
    if (m.name !== r.name) {
      throw new MigrationError(
        `migration ${id} is recorded as applied, but the file of version ${r.version} is now ${m.file}: ` +
          'applied migrations must not change; write a new migration instead',
      );
    }
    if (m.checksum !== r.checksum) {
      throw new MigrationError(
        `migration ${id} was applied with checksum ${r.checksum}, but ${m.file} now has ${m.checksum}: ` +
          'applied migrations must not change; write a new migration instead',
      );
    }
    applied.add(r.version);
  }
  const lastApplied = Math.max(0, ...applied);
  const pending = migrations.filter((m) => !applied.has(m.version));
  const early = pending.find((m) => m.version < lastApplied);
  if (early) {
    throw new MigrationError(
      `migration ${early.file} is not applied but a later version (${lastApplied}) is: renumber it after the last applied one`,
    );
  }
  return { pending, skipped: migrations.filter((m) => applied.has(m.version)) };
}

function firstLine(sql: string): string {
  const line = sql.split('\n', 1)[0] ?? '';
  return line.length > 80 ? `${line.slice(0, 80)}…` : line;
}

/**
 * Creates the database and the record table if needed, then applies, in version order, every
 * migration not recorded yet, recording each once all its statements ran. Every statement names
 * the database itself, so the store's client may be connected to any database (`default`).
 *
 * Templates are rendered and the record checked before anything is applied. A migration
 * interrupted between its statements and its record is re-run next time, which is why migrations
 * use `IF NOT EXISTS` wherever ClickHouse has it.
 */
export async function runMigrations(store: Store, options: MigrationOptions): Promise<MigrationReport> {
  const ctx: RenderContext = {
    database: options.database,
    cluster: options.cluster,
    rawTtlDays: options.rawTtlDays,
  };
  const dir = options.dir ?? findMigrationsDir();
  const migrations = loadMigrations(dir);
  const statements = new Map(migrations.map((m) => [m.version, renderMigration(m, ctx)]));

  for (const sql of bootstrapStatements(ctx)) await store.command(sql);
  const recorded = await store.query<Recorded>(
    `SELECT version, name, checksum FROM ${ctx.database}.schema_migrations FINAL ORDER BY version`,
  );
  const { pending, skipped } = pendingMigrations(migrations, recorded, dir);

  const report: MigrationReport = { applied: [], skipped: skipped.map((m) => m.id) };
  for (const m of pending) {
    const list = statements.get(m.version) ?? [];
    for (const [i, sql] of list.entries()) {
      try {
        await store.command(sql);
      } catch (err) {
        throw new MigrationError(
          `migration ${m.id}, statement ${i + 1} of ${list.length} (${firstLine(sql)}) failed: ${(err as Error).message}`,
          { cause: err, retryable: err instanceof PosPulseError && err.retryable },
        );
      }
    }
    await store.insert(`${ctx.database}.schema_migrations`, [
      { version: m.version, name: m.name, checksum: m.checksum },
    ]);
    options.logger?.info({ migration: m.id, statements: list.length }, 'migration applied');
    report.applied.push(m.id);
  }
  return report;
}
