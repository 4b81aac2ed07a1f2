/**
 * The slice of ClickHouse's access-control SQL the store implements, so the api issues analyst
 * credentials with the same statements against the store and against a ClickHouse server:
 *
 *   CREATE USER [IF NOT EXISTS] name IDENTIFIED WITH sha256_hash BY '<64 hex>'
 *     SETTINGS readonly = 1 [CONST], max_execution_time = N, max_result_rows = N, …
 *   GRANT SELECT ON db.* TO name
 *   DROP USER [IF EXISTS] name
 *
 * Parsed strictly: anything else in such a statement is a SYNTAX_ERROR naming what is wrong, so
 * a statement the store cannot honour as written is never half-applied.
 */
import { CH, ClickHouseHttpError } from './clickhouse-error.ts';
import { tokens, type Token } from './sql-scan.ts';

/** Limits of an issued user; the engine settings of its sessions. 0 = unlimited. */
export interface IssuedLimits {
  readonly maxExecutionTime: number;
  readonly maxResultRows: number;
  readonly maxResultBytes: number;
  readonly maxThreads: number;
  readonly maxConcurrentQueries: number;
}

export type AccessStatement =
  | {
      readonly kind: 'CREATE USER';
      readonly name: string;
      readonly ifNotExists: boolean;
      readonly passwordSha256Hex: string;
      /** Only the settings the statement names; the registry fills in the defaults. */
      readonly limits: Partial<IssuedLimits>;
    }
  | { readonly kind: 'GRANT'; readonly database: string; readonly name: string }
  | { readonly kind: 'DROP USER'; readonly name: string; readonly ifExists: boolean };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_NAME = 64;

/** Setting name → limit, with the largest value accepted. */
const SETTINGS: Record<string, { key: keyof IssuedLimits; max: number; min?: number }> = {
  max_execution_time: { key: 'maxExecutionTime', max: 86_400 },
  max_result_rows: { key: 'maxResultRows', max: Number.MAX_SAFE_INTEGER },
  max_result_bytes: { key: 'maxResultBytes', max: Number.MAX_SAFE_INTEGER },
  max_threads: { key: 'maxThreads', max: 1_024 },
  max_concurrent_queries_for_user: { key: 'maxConcurrentQueries', min: 1, max: 64 },
};

const SUPPORTED =
  "the pospulse store supports CREATE USER … IDENTIFIED WITH sha256_hash BY '…' SETTINGS readonly = 1 …, GRANT SELECT ON db.* TO …, and DROP USER …";

function syntax(message: string): ClickHouseHttpError {
  return ClickHouseHttpError.of(CH.SYNTAX_ERROR, message);
}

function describe(t: Token | undefined): string {
  return t === undefined ? 'end of query' : JSON.stringify(t.text);
}

/** Walks the tokens of one statement, up to a top-level `;`. */
class Cursor {
  private i = 0;
  constructor(private readonly list: readonly Token[]) {}

  peek(ahead = 0): Token | undefined {
    return this.list[this.i + ahead];
  }

  next(): Token | undefined {
    return this.list[this.i++];
  }

  /** Consumes the keyword if it comes next. */
  accept(word: string): boolean {
    const t = this.peek();
    if (t?.kind === 'word' && t.text.toUpperCase() === word) {
      this.i++;
      return true;
    }
    return false;
  }

  expect(word: string, after: string): void {
    if (!this.accept(word)) throw syntax(`expected ${word} ${after}, found ${describe(this.peek())}`);
  }

  acceptPunct(p: string): boolean {
    const t = this.peek();
    if (t?.kind === 'punct' && t.text === p) {
      this.i++;
      return true;
    }
    return false;
  }

  /** A user or database name: `[A-Za-z_][A-Za-z0-9_]*`, bare or in backquotes. */
  name(what: string): string {
    const t = this.next();
    const text =
      t?.kind === 'word' ? t.text : t?.kind === 'quoted' && t.text.startsWith('`') ? t.text.slice(1, -1) : '';
    if (!NAME.test(text) || text.length > MAX_NAME)
      throw syntax(`expected ${what} (letters, digits and _, at most ${MAX_NAME}), found ${describe(t)}`);
    return text;
  }

  end(statement: string): void {
    const t = this.peek();
    if (t !== undefined) throw syntax(`unexpected ${describe(t)} at the end of ${statement}: ${SUPPORTED}`);
  }
}

/** The statement's tokens before a top-level `;` (what follows was refused by scanSql already). */
function statementTokens(sql: string): Token[] {
  const out: Token[] = [];
  for (const t of tokens(sql)) {
    if (t.kind === 'punct' && t.text === ';' && t.depth === 0) break;
    out.push(t);
  }
  return out;
}

/**
 * The access statement `sql` is, or undefined when it is not one (then it is an ordinary query).
 * Throws SYNTAX_ERROR for a malformed one and NOT_IMPLEMENTED for access SQL outside the subset.
 */
export function parseAccessStatement(sql: string): AccessStatement | undefined {
  const list = statementTokens(sql);
  const first = list[0]?.kind === 'word' ? list[0].text.toUpperCase() : '';
  const second = list[1]?.kind === 'word' ? list[1].text.toUpperCase() : '';
  const c = new Cursor(list.slice(first === 'GRANT' || first === 'REVOKE' ? 1 : 2));
  if (first === 'CREATE' && second === 'USER') return createUser(c);
  if (first === 'DROP' && second === 'USER') return dropUser(c);
  if (first === 'GRANT') return grant(c);
  const other = first === 'REVOKE' ? 'REVOKE' : `${first} ${second}`;
  if (
    other === 'REVOKE' ||
    (['CREATE', 'ALTER', 'DROP'].includes(first) &&
      ['USER', 'ROLE', 'QUOTA', 'POLICY', 'ROW', 'PROFILE', 'SETTINGS'].includes(second))
  )
    throw ClickHouseHttpError.of(CH.NOT_IMPLEMENTED, `${other} is not supported: ${SUPPORTED}`);
  return undefined;
}

function createUser(c: Cursor): AccessStatement {
  let ifNotExists = false;
  if (c.accept('IF')) {
    c.expect('NOT', 'after IF');
    c.expect('EXISTS', 'after IF NOT');
    ifNotExists = true;
  }
  const name = c.name('a user name');
  if (c.peek()?.kind === 'punct' && c.peek()?.text === ',')
    throw syntax('CREATE USER takes one user name in the pospulse store');
  c.expect('IDENTIFIED', `after the user name (users without a password are not allowed)`);
  c.expect('WITH', 'after IDENTIFIED');
  const method = c.next();
  if (method?.kind !== 'word' || method.text.toLowerCase() !== 'sha256_hash')
    throw syntax(
      `expected sha256_hash after IDENTIFIED WITH, found ${describe(method)}: the store only takes the SHA-256 of a password`,
    );
  c.expect('BY', 'after sha256_hash');
  const hash = c.next();
  const hex = hash?.kind === 'string' ? hash.text.slice(1, -1) : '';
  if (!/^[0-9A-Fa-f]{64}$/.test(hex))
    throw syntax(`expected the password's SHA-256 as a string of 64 hex digits, found ${describe(hash)}`);
  if (c.accept('SALT')) throw syntax('SALT is not supported: send the unsalted SHA-256 of the password');
  if (!c.accept('SETTINGS'))
    throw syntax(
      `expected SETTINGS readonly = 1 after the password hash, found ${describe(c.peek())}: the store issues read-only users only`,
    );
  const limits: Partial<Record<keyof IssuedLimits, number>> = {};
  const seen = new Set<string>();
  do {
    const nameToken = c.next();
    const setting = nameToken?.kind === 'word' ? nameToken.text.toLowerCase() : '';
    if (setting === '') throw syntax(`expected a setting name after SETTINGS, found ${describe(nameToken)}`);
    if (seen.has(setting)) throw syntax(`setting ${setting} is given twice`);
    seen.add(setting);
    if (!c.acceptPunct('=')) throw syntax(`expected = after ${setting}, found ${describe(c.peek())}`);
    const valueToken = c.next();
    const value =
      valueToken?.kind === 'number' && /^\d+$/.test(valueToken.text) ? Number(valueToken.text) : NaN;
    if (!Number.isSafeInteger(value))
      throw syntax(`expected a whole number >= 0 for ${setting}, found ${describe(valueToken)}`);
    // Everything an issued user runs is read-only with frozen settings, so CONST/READONLY only
    // restate that; WRITABLE, MIN and MAX would promise what the store does not do.
    if (!c.accept('CONST')) c.accept('READONLY');
    const modifier = c.peek();
    if (modifier?.kind === 'word')
      throw syntax(`${modifier.text} is not supported after ${setting} = ${value}: ${SUPPORTED}`);
    if (setting === 'readonly') {
      if (value !== 1) throw syntax('readonly must be 1: the store issues read-only users only');
      continue;
    }
    const spec = SETTINGS[setting];
    if (spec === undefined)
      throw ClickHouseHttpError.of(
        CH.UNKNOWN_SETTING,
        `setting ${setting} cannot be given to a user of the pospulse store; it takes readonly, ${Object.keys(SETTINGS).join(', ')}`,
      );
    if (value < (spec.min ?? 0) || value > spec.max)
      throw syntax(`${setting} must be between ${spec.min ?? 0} and ${spec.max}, not ${value}`);
    limits[spec.key] = value;
  } while (c.acceptPunct(','));
  if (!seen.has('readonly'))
    throw syntax('SETTINGS must include readonly = 1: the store issues read-only users only');
  c.end('CREATE USER');
  return { kind: 'CREATE USER', name, ifNotExists, passwordSha256Hex: hex.toLowerCase(), limits };
}

function grant(c: Cursor): AccessStatement {
  c.expect('SELECT', 'after GRANT (the store grants SELECT only)');
  c.expect('ON', 'after GRANT SELECT');
  const database = c.acceptPunct('*') ? '*' : c.name('a database name or *');
  if (!c.acceptPunct('.') || !c.acceptPunct('*'))
    throw syntax(`expected .* after ${database}: the store grants SELECT on whole databases`);
  c.expect('TO', `after ON ${database}.*`);
  const name = c.name('a user name');
  c.end('GRANT');
  return { kind: 'GRANT', database, name };
}

function dropUser(c: Cursor): AccessStatement {
  let ifExists = false;
  if (c.accept('IF')) {
    c.expect('EXISTS', 'after IF');
    ifExists = true;
  }
  const name = c.name('a user name');
  c.end('DROP USER');
  return { kind: 'DROP USER', name, ifExists };
}
