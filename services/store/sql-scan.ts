/**
 * A lexical look at one SQL statement — enough to route it and to fence the store's host, not a
 * parser. Read-only access is enforced by the engine (`readonly` on the analyst's connection);
 * this scan adds what a ClickHouse *server* refuses but the embedded engine (clickhouse-local)
 * allows: writing or reading files of the store's host, and several statements in one request.
 */

export interface SqlShape {
  /** First keyword, upper-cased (`SELECT`, `INSERT`, `CREATE`, …); '' for an empty text. */
  readonly kind: string;
  /** Produces rows the engine can stream (SELECT and WITH … SELECT). */
  readonly streamable: boolean;
  /** The statement's own top-level `FORMAT <name>`, if any. */
  readonly format: string | undefined;
  /** Why the statement is refused, if it is. */
  readonly forbidden: string | undefined;
  /** Where the data of an `INSERT … FORMAT x` / `INSERT … VALUES` begins, for a body sent apart. */
  readonly insert: InsertShape | undefined;
}

export interface InsertShape {
  /** Index in the text where `FROM INFILE '…'` may be spliced (before SETTINGS/FORMAT/VALUES). */
  readonly spliceAt: number;
  /** Data format the INSERT declares (`Values` for a bare VALUES). */
  readonly format: string;
  /** Nothing follows `FORMAT x` / `VALUES` in the text: the data is entirely elsewhere (the body). */
  readonly dataOutside: boolean;
}

// chDB streams only queries with a SELECT plan: SHOW, DESCRIBE, EXPLAIN and EXISTS fail in a
// stream ("Streaming query is not supported"), so they are answered whole; their results are small.
const STREAMABLE = new Set(['SELECT', 'WITH']);

/**
 * Table functions and engines that reach outside the database: the host's files, other servers,
 * programs. A ClickHouse server confines or grants these per user; the embedded engine cannot.
 */
const HOST_ACCESS = new Set(
  [
    'file',
    'fileCluster',
    'url',
    'urlCluster',
    's3',
    's3Cluster',
    'gcs',
    'hdfs',
    'hdfsCluster',
    'azureBlobStorage',
    'azureBlobStorageCluster',
    'executable',
    'executablePool',
    'remote',
    'remoteSecure',
    'cluster',
    'clusterAllReplicas',
    'mysql',
    'postgresql',
    'sqlite',
    'mongodb',
    'redis',
    'jdbc',
    'odbc',
    'iceberg',
    'deltaLake',
    'hudi',
    'paimon',
    'arrowFlight',
    'ytsaurus',
  ].map((s) => s.toLowerCase()),
);

export interface Token {
  kind: 'word' | 'punct' | 'string' | 'quoted' | 'number';
  text: string;
  start: number;
  end: number;
  depth: number;
}

/** The tokens of `sql`, with their parenthesis depth; comments and whitespace are skipped. */
export function* tokens(sql: string): Generator<Token> {
  let i = 0;
  let depth = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if ((c === '-' && sql[i + 1] === '-') || c === '#') {
      while (i < n && sql[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      // ClickHouse comments nest.
      let level = 1;
      i += 2;
      while (i < n && level > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          level++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          level--;
          i += 2;
        } else i++;
      }
      continue;
    }
    const start = i;
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < n) {
        if (sql[i] === '\\') i += 2;
        else if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else {
            i++;
            break;
          }
        } else i++;
      }
      yield { kind: c === "'" ? 'string' : 'quoted', text: sql.slice(start, i), start, end: i, depth };
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$]/.test(sql[i]!)) i++;
      yield { kind: 'word', text: sql.slice(start, i), start, end: i, depth };
      continue;
    }
    if (/[0-9]/.test(c)) {
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) i++;
      yield { kind: 'number', text: sql.slice(start, i), start, end: i, depth };
      continue;
    }
    if (c === '(' || c === '[') depth++;
    i++;
    yield { kind: 'punct', text: c, start, end: i, depth: c === '(' || c === '[' ? depth - 1 : depth };
    if (c === ')' || c === ']') depth = Math.max(0, depth - 1);
  }
}

function upper(t: Token | undefined): string {
  return t?.kind === 'word' ? t.text.toUpperCase() : '';
}

function unquote(t: Token | undefined): string | undefined {
  if (!t) return undefined;
  if (t.kind === 'word') return t.text;
  if (t.kind === 'quoted' || t.kind === 'string') return t.text.slice(1, -1);
  return undefined;
}

export function scanSql(sql: string): SqlShape {
  const seen: Token[] = [];
  let forbidden: string | undefined;
  let format: string | undefined;
  let insert: InsertShape | undefined;
  let kind = '';
  let afterStatementEnd = false;

  for (const t of tokens(sql)) {
    if (afterStatementEnd) {
      forbidden ??= 'multi-statement queries are not allowed: send one statement per request';
      break;
    }
    if (t.kind === 'punct' && t.text === ';' && t.depth === 0) {
      afterStatementEnd = true;
      continue;
    }
    if (seen.length === 0) kind = t.kind === 'punct' && t.text === '(' ? 'SELECT' : upper(t);
    const prev = seen[seen.length - 1];
    const word = upper(t);

    if (word === 'OUTFILE' && upper(prev) === 'INTO') forbidden ??= 'INTO OUTFILE is not allowed over HTTP';
    if (word === 'INFILE' && upper(prev) === 'FROM') forbidden ??= 'FROM INFILE is not allowed over HTTP';
    if (
      t.kind === 'punct' &&
      t.text === '(' &&
      prev?.kind === 'word' &&
      HOST_ACCESS.has(prev.text.toLowerCase())
    ) {
      forbidden ??= `${prev.text}() reaches outside the database and is not allowed by the pospulse store`;
    }
    if (t.depth === 0 && upper(prev) === 'FORMAT' && (t.kind === 'word' || t.kind === 'quoted')) {
      format = unquote(t);
      if (kind === 'INSERT' && insert === undefined) {
        const formatToken = seen[seen.length - 1]!;
        insert = {
          spliceAt: spliceBefore(seen, formatToken),
          format: format!,
          dataOutside: sql.slice(t.end).trim() === '',
        };
        // What follows FORMAT in an INSERT is data, not SQL.
        seen.push(t);
        break;
      }
    }
    if (kind === 'INSERT' && insert === undefined && t.depth === 0 && word === 'VALUES') {
      // VALUES tuples may hold expressions (the engine evaluates them), so scanning goes on.
      insert = {
        spliceAt: spliceBefore(seen, t),
        format: 'Values',
        dataOutside: sql.slice(t.end).trim() === '',
      };
    }
    seen.push(t);
  }
  return {
    kind,
    streamable: STREAMABLE.has(kind),
    format,
    forbidden,
    insert,
  };
}

/** Where `FROM INFILE` goes: before a top-level SETTINGS clause that precedes `anchor`, else before `anchor`. */
function spliceBefore(seen: readonly Token[], anchor: Token): number {
  for (const t of seen)
    if (t.depth === 0 && upper(t) === 'SETTINGS' && t.start < anchor.start) return t.start;
  return anchor.start;
}
