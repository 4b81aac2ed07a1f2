import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createBrotliCompress,
  createBrotliDecompress,
  createDeflate,
  createGzip,
  createGunzip,
  createInflate,
} from 'node:zlib';
import type { Logger } from '../shared/logger.ts';
import { CH, ClickHouseHttpError, errorBody, fromEngineError, httpStatusFor } from './clickhouse-error.ts';
import { parseAccessStatement } from './access-sql.ts';
import { SessionPool, type Engine, type Lease } from './engine.ts';
import type { IssuedUser, IssuedUsers } from './issued-users.ts';
import { bindValues } from './query-params.ts';
import { scanSql, type SqlShape } from './sql-scan.ts';
import { authenticate, basicCredentials, type Credentials, type StoreUser } from './users.ts';

/** URL parameters the HTTP layer consumes; every other one is an engine setting. */
const HTTP_PARAMS = new Set([
  'query',
  'database',
  'default_format',
  'query_id',
  'user',
  'password',
  'quota_key',
  'enable_http_compression',
  'http_zlib_compression_level',
  'wait_end_of_query',
  'http_wait_end_of_query',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'cancel_http_readonly_queries_on_client_close',
  'buffer_size',
  'http_response_buffer_size',
  'add_http_cors_header',
  'stacktrace',
  'role',
]);

/** Asked for but not provided by this store; refused with a clear error rather than ignored. */
const UNSUPPORTED_PARAMS: Record<string, string> = {
  session_id: 'HTTP sessions are not supported by the pospulse store: each request stands alone',
  compress:
    "ClickHouse's native compression is not supported: use gzip (Content-Encoding / enable_http_compression)",
  decompress: "ClickHouse's native compression is not supported: use gzip (Content-Encoding)",
};

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface HttpInterfaceOptions {
  engine: Engine;
  users: readonly StoreUser[];
  /** Users created over SQL by a service user (CREATE USER / GRANT / DROP USER). */
  issued: IssuedUsers;
  logger: Logger;
  maxQueryBytes: number;
  maxInsertBytes: number;
  maxQueued: number;
  queueTimeoutMs: number;
  /** Called once per finished query, for metrics. */
  onQuery?: (q: { user: string; kind: string; ok: boolean; seconds: number; code?: number }) => void;
}

interface Summary {
  read_rows: number;
  read_bytes: number;
  written_rows: number;
  written_bytes: number;
  result_rows: number;
  result_bytes: number;
  elapsed_ns: number;
}

function summaryHeader(s: Partial<Summary>): string {
  const full: Record<string, string> = {};
  for (const k of [
    'read_rows',
    'read_bytes',
    'written_rows',
    'written_bytes',
    'total_rows_to_read',
    'result_rows',
    'result_bytes',
    'elapsed_ns',
  ])
    full[k] = String((s as Record<string, number>)[k] ?? 0);
  return JSON.stringify(full);
}

function contentType(format: string): string {
  const f = format.toLowerCase();
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f.startsWith('csv')) return 'text/csv; charset=UTF-8; header=absent';
  if (f.includes('eachrow') || f === 'ndjson' || f === 'jsonlines')
    return 'application/x-ndjson; charset=UTF-8';
  if (f.startsWith('json')) return 'application/json; charset=UTF-8';
  if (f.startsWith('pretty') || f === 'vertical' || f === 'markdown' || f === 'values')
    return 'text/plain; charset=UTF-8';
  return 'application/octet-stream';
}

function credentials(req: IncomingMessage, params: URLSearchParams): Credentials | undefined {
  const header = req.headers['x-clickhouse-user'];
  if (typeof header === 'string') {
    const key = req.headers['x-clickhouse-key'];
    return { user: header, password: typeof key === 'string' ? key : '' };
  }
  const basic = basicCredentials(req.headers.authorization);
  if (basic) return basic;
  const user = params.get('user');
  if (user !== null) return { user, password: params.get('password') ?? '' };
  return undefined;
}

function decoded(req: IncomingMessage): Readable {
  const enc = (req.headers['content-encoding'] ?? '').toLowerCase().trim();
  if (enc === '' || enc === 'identity') return req;
  const codec =
    enc === 'gzip' || enc === 'x-gzip'
      ? createGunzip()
      : enc === 'deflate'
        ? createInflate()
        : enc === 'br'
          ? createBrotliDecompress()
          : undefined;
  if (!codec) throw ClickHouseHttpError.of(CH.UNKNOWN_COMPRESSION_METHOD, `unknown Content-Encoding ${enc}`);
  req.pipe(codec);
  req.on('error', (e) => codec.destroy(e));
  return codec;
}

function limit(max: number, what: string, kind: readonly [number, string]): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(ClickHouseHttpError.of(kind, `${what} is larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
}

async function readText(body: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max)
      throw ClickHouseHttpError.of(
        CH.QUERY_IS_TOO_LARGE,
        `query is larger than ${max} bytes (STORE_MAX_QUERY_BYTES)`,
      );
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function quoteString(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function quoteIdent(v: string): string {
  return `\`${v.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

function isIssued(user: StoreUser): user is IssuedUser {
  return 'poolKey' in user;
}

/** Statement kinds that may be access-control SQL (checked further by parseAccessStatement). */
const ACCESS_KINDS = new Set(['CREATE', 'ALTER', 'DROP', 'GRANT', 'REVOKE']);

interface Request {
  user: StoreUser;
  params: URLSearchParams;
  queryId: string;
  database: string;
  defaultFormat: string;
  settings: [string, string][];
  bind: Record<string, string> | undefined;
  waitEnd: boolean;
}

/** The ClickHouse HTTP interface over the engine; see docs/STORE.md for what it supports. */
export class HttpInterface {
  private readonly tmpRoot: Promise<string>;

  constructor(private readonly o: HttpInterfaceOptions) {
    this.tmpRoot = mkdtemp(join(tmpdir(), 'pospulse-store-'));
  }

  async close(): Promise<void> {
    await rm(await this.tmpRoot, { recursive: true, force: true });
  }

  private poolFor(user: StoreUser, readOnlyRequest: boolean): SessionPool {
    // A writer's GET runs on read-only sessions (readonly=2), as a ClickHouse server treats GET.
    const ro = readOnlyRequest && user.profile.readonly === 0;
    const name = isIssued(user) ? user.poolKey : user.name;
    const key = ro ? `${name}#get` : name;
    const profile = ro ? { ...user.profile, readonly: 2 as const } : user.profile;
    return this.o.engine.pool(
      key,
      () =>
        new SessionPool(
          this.o.engine.path,
          profile,
          user.maxConcurrentQueries,
          this.o.maxQueued,
          this.o.queueTimeoutMs,
        ),
    );
  }

  /** Serves one request of the HTTP interface (`/` with a query). Never throws. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://store');
    const params = url.searchParams;
    const queryId = params.get('query_id') || randomUUID();
    res.setHeader('X-ClickHouse-Query-Id', queryId);
    res.setHeader('X-ClickHouse-Server-Display-Name', 'pospulse-store');
    let user: StoreUser | undefined;
    let kind = '';
    try {
      user = this.authenticate(req, params);
      for (const [name, why] of Object.entries(UNSUPPORTED_PARAMS))
        if (
          params.has(name) &&
          !(name === 'compress' && params.get(name) === '0') &&
          !(name === 'decompress' && params.get(name) === '0')
        )
          throw ClickHouseHttpError.of(CH.NOT_IMPLEMENTED, why);
      const request = this.describe(user, params, queryId);
      const readOnlyRequest = req.method === 'GET' || req.method === 'HEAD';
      const queryParam = params.get('query') ?? '';
      const headerShape = queryParam ? scanSql(queryParam) : undefined;
      if (!readOnlyRequest && headerShape?.insert?.dataOutside && !headerShape.forbidden) {
        kind = 'INSERT';
        await this.insertBody(req, res, request, queryParam, headerShape);
      } else {
        const body = readOnlyRequest ? '' : await readText(decoded(req), this.o.maxQueryBytes);
        const sql = [queryParam, body].filter((p) => p.trim() !== '').join('\n');
        if (Buffer.byteLength(sql) > this.o.maxQueryBytes)
          throw ClickHouseHttpError.of(
            CH.QUERY_IS_TOO_LARGE,
            `query is larger than ${this.o.maxQueryBytes} bytes (STORE_MAX_QUERY_BYTES)`,
          );
        const shape = scanSql(sql);
        kind = shape.kind;
        if (shape.kind === '') throw ClickHouseHttpError.of(CH.SYNTAX_ERROR, 'Empty query');
        if (shape.forbidden) throw ClickHouseHttpError.of(CH.ACCESS_DENIED, shape.forbidden);
        const access = ACCESS_KINDS.has(shape.kind) ? this.accessStatement(user, sql) : undefined;
        if (access !== undefined) {
          if (readOnlyRequest)
            throw ClickHouseHttpError.of(
              CH.READONLY,
              'Cannot execute query in readonly mode (a GET request)',
            );
          const dropped = await this.o.issued.apply(access);
          if (dropped) this.o.engine.closePool(dropped.poolKey);
          this.o.logger.info(
            { queryId, user: user.name, statement: access.kind, target: access.name },
            'access changed',
          );
          this.sendBody(res, request, 200, request.defaultFormat, {}, Buffer.alloc(0));
        } else await this.run(res, request, this.poolFor(user, readOnlyRequest), sql, shape);
      }
      this.o.onQuery?.({
        user: user.name,
        kind,
        ok: true,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    } catch (err) {
      const e = fromEngineError(err);
      this.o.onQuery?.({
        user: user?.name ?? '(anonymous)',
        kind,
        ok: false,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        code: e.chCode,
      });
      this.o.logger.info({ queryId, user: user?.name, code: e.chCode, type: e.chType }, 'query failed');
      this.sendError(res, e);
      // An unread request body would otherwise keep the connection busy.
      if (!req.readableEnded) req.resume();
    }
  }

  private authenticate(req: IncomingMessage, params: URLSearchParams): StoreUser {
    const creds = credentials(req, params);
    if (!creds || creds.user === '')
      throw ClickHouseHttpError.of(
        CH.REQUIRED_PASSWORD,
        'Authentication required: give a user and password (Basic auth or X-ClickHouse-User/X-ClickHouse-Key)',
      );
    const user = authenticate(this.o.users, creds) ?? this.o.issued.authenticate(creds);
    if (!user)
      throw ClickHouseHttpError.of(
        CH.AUTHENTICATION_FAILED,
        `${creds.user}: Authentication failed: password is incorrect, or there is no user with such name`,
      );
    if (isIssued(user) && user.grants.length === 0)
      throw ClickHouseHttpError.of(
        CH.ACCESS_DENIED,
        `${user.name}: Not enough privileges: the user has not been granted SELECT on any database`,
      );
    return user;
  }

  /** The access statement `sql` is, if any; only service users may send one. */
  private accessStatement(user: StoreUser, sql: string) {
    if (user.role === 'service') return parseAccessStatement(sql);
    let access: boolean;
    try {
      access = parseAccessStatement(sql) !== undefined;
    } catch {
      // Malformed or unsupported access SQL: still access SQL, and not this user's to send.
      access = true;
    }
    if (access)
      throw ClickHouseHttpError.of(
        CH.ACCESS_DENIED,
        `${user.name}: Not enough privileges: only service users may create, grant or drop users`,
      );
    return undefined;
  }

  private describe(user: StoreUser, params: URLSearchParams, queryId: string): Request {
    const settings: [string, string][] = [];
    let bind: Record<string, string> | undefined;
    for (const [name, value] of params) {
      if (name.startsWith('param_')) {
        (bind ??= {})[name.slice(6)] = value;
        continue;
      }
      if (HTTP_PARAMS.has(name) || name in UNSUPPORTED_PARAMS) continue;
      if (!SETTING_NAME.test(name))
        throw ClickHouseHttpError.of(CH.BAD_ARGUMENTS, `invalid setting name ${JSON.stringify(name)}`);
      settings.push([name, value]);
    }
    const database = params.get('database') || 'default';
    return {
      user,
      params,
      queryId,
      database,
      defaultFormat: params.get('default_format') || 'TabSeparated',
      settings,
      bind,
      waitEnd: params.get('wait_end_of_query') === '1',
    };
  }

  /**
   * Puts the session in the request's database and settings. A session keeps the settings of its
   * last request, so only the differences are sent — one SET, often none at all (services send
   * the same settings every time). SET k = DEFAULT would go back to the engine default, not to
   * the session's profile value, so a setting leaving is reset to the profile's value.
   */
  private async prepare(
    lease: Lease,
    pool: SessionPool,
    request: Request,
    extra: [string, string][],
  ): Promise<void> {
    if (lease.database !== request.database) {
      await lease.session.queryAsync(`USE ${quoteIdent(request.database)}`);
      lease.database = request.database;
    }
    const desired = new Map([...request.settings, ...extra]);
    const changes: string[] = [];
    for (const [k, v] of desired) if (lease.applied.get(k) !== v) changes.push(`${k} = ${quoteString(v)}`);
    for (const k of lease.applied.keys())
      if (!desired.has(k))
        changes.push(k in pool.settings ? `${k} = ${quoteString(pool.settings[k]!)}` : `${k} = DEFAULT`);
    if (changes.length === 0) return;
    try {
      await lease.session.queryAsync(`SET ${changes.join(', ')}`);
    } catch (err) {
      // What the session now carries is unknown: start the next request on a fresh one.
      lease.retire = true;
      throw err;
    }
    lease.applied = desired;
  }

  private async withLease<T>(
    pool: SessionPool,
    request: Request,
    extra: [string, string][],
    fn: (lease: Lease) => Promise<T>,
  ): Promise<T> {
    const lease = await pool.acquire();
    try {
      await this.prepare(lease, pool, request, extra);
      return await fn(lease);
    } finally {
      lease.release();
    }
  }

  private async run(
    res: ServerResponse,
    request: Request,
    pool: SessionPool,
    sql: string,
    shape: SqlShape,
  ): Promise<void> {
    const format = shape.format ?? request.defaultFormat;
    await this.withLease(pool, request, [], async (lease) => {
      // Over HTTP a SET or USE statement lasts one request (no sessions); on a pooled engine
      // session it would outlive it, so that session is not reused.
      if (shape.kind === 'SET' || shape.kind === 'USE') lease.retire = true;
      if (shape.streamable && !request.waitEnd) return this.stream(res, request, lease, sql, format);
      const r = request.bind
        ? await lease.session.queryBindAsync(sql, bindValues(sql, request.bind), {
            format: request.defaultFormat,
          })
        : await lease.session.queryAsync(sql, { format: request.defaultFormat });
      const bytes = r.bytes();
      const summary: Partial<Summary> = {
        read_rows: r.rowsRead,
        read_bytes: r.bytesRead,
        result_bytes: bytes.length,
        elapsed_ns: Math.round(r.elapsed * 1e9),
      };
      if (!shape.streamable)
        Object.assign(summary, { written_rows: shape.kind === 'INSERT' ? r.rowsRead : 0 });
      this.sendBody(
        res,
        request,
        200,
        format,
        summary,
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
    });
  }

  private async stream(
    res: ServerResponse,
    request: Request,
    lease: Lease,
    sql: string,
    format: string,
  ): Promise<void> {
    const stream = request.bind
      ? lease.session.queryStreamBind(sql, bindValues(sql, request.bind), { format: request.defaultFormat })
      : lease.session.queryStream(sql, { format: request.defaultFormat });
    try {
      await this.pump(
        res,
        request,
        stream[Symbol.asyncIterator](),
        () => stream.cancel(),
        () => (lease.retire = true),
        format,
      );
    } catch (err) {
      // chDB hands a failed stream's leftover output to the session's next stream: retire it.
      lease.retire = true;
      throw err;
    } finally {
      if (!stream.closed) stream.cancel();
    }
  }

  private async pump(
    res: ServerResponse,
    request: Request,
    it: AsyncIterator<{ raw(): Uint8Array }>,
    cancel: () => void,
    retire: () => void,
    format: string,
  ): Promise<void> {
    // The first chunk decides the status: an error before any row is a plain error response.
    let next = await it.next();
    const tag = randomBytes(8).toString('hex');
    const out = this.startBody(res, request, 200, format, {}, { 'X-ClickHouse-Exception-Tag': tag });
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    try {
      while (!next.done) {
        if (clientGone) {
          cancel();
          retire();
          break;
        }
        const raw = next.value.raw();
        if (!out.write(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)))
          await new Promise<void>((r) => {
            const done = () => {
              out.off('drain', done);
              res.off('close', done);
              r();
            };
            out.once('drain', done);
            res.once('close', done);
          });
        next = await it.next();
      }
    } catch (err) {
      // Rows went out already; ClickHouse's in-band exception block tells the client it failed.
      retire();
      const e = fromEngineError(err);
      const message = errorBody(e, this.o.engine.version).trimEnd();
      out.write(
        `\r\n__exception__\r\n${tag}\n${message}\n${Buffer.byteLength(message) + 1} ${tag}\r\n__exception__\r\n`,
      );
      this.o.logger.info({ queryId: request.queryId, code: e.chCode }, 'query failed while streaming');
    }
    await new Promise<void>((r) => out.end(r));
  }

  private async insertBody(
    req: IncomingMessage,
    res: ServerResponse,
    request: Request,
    header: string,
    shape: SqlShape,
  ): Promise<void> {
    const insert = shape.insert!;
    const dir = await this.tmpRoot;
    const file = join(
      dir,
      `${request.queryId.replace(/[^A-Za-z0-9-]/g, '_')}-${randomBytes(4).toString('hex')}`,
    );
    try {
      // The body goes to disk as it arrives, so a large insert never sits in memory whole.
      await pipeline(
        decoded(req),
        limit(this.o.maxInsertBytes, 'INSERT body', CH.QUERY_IS_TOO_LARGE),
        createWriteStream(file),
      );
      const sql =
        `${header.slice(0, insert.spliceAt)} FROM INFILE ${quoteString(file)} ${header.slice(insert.spliceAt)}`.replace(
          /\bVALUES\s*$/i,
          'FORMAT Values',
        );
      // Values data may hold expressions; from a body, only literals are accepted.
      const extra: [string, string][] =
        insert.format.toLowerCase() === 'values'
          ? [
              ['input_format_values_interpret_expressions', '0'],
              ['input_format_values_deduce_templates_of_expressions', '0'],
            ]
          : [];
      await this.withLease(this.poolFor(request.user, false), request, extra, async (lease) => {
        const r = request.bind
          ? await lease.session.queryBindAsync(sql, bindValues(sql, request.bind), { format: 'TabSeparated' })
          : await lease.session.queryAsync(sql, { format: 'TabSeparated' });
        this.sendBody(
          res,
          request,
          200,
          request.defaultFormat,
          {
            read_rows: r.rowsRead,
            read_bytes: r.bytesRead,
            written_rows: r.rowsRead,
            written_bytes: r.bytesRead,
            elapsed_ns: Math.round(r.elapsed * 1e9),
          },
          Buffer.alloc(0),
        );
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Writes status and headers, and returns the stream to write the body to (compressed if asked). */
  private startBody(
    res: ServerResponse,
    request: Request,
    status: number,
    format: string,
    summary: Partial<Summary>,
    extraHeaders: Record<string, string> = {},
  ): NodeJS.WritableStream & { write(chunk: Buffer | string): boolean } {
    res.statusCode = status;
    res.setHeader('Content-Type', contentType(format));
    res.setHeader('X-ClickHouse-Format', format);
    res.setHeader('X-ClickHouse-Timezone', 'UTC');
    res.setHeader('X-ClickHouse-Summary', summaryHeader(summary));
    for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
    const encoder = this.encoder(request.params, res);
    if (!encoder) return res;
    encoder.pipe(res);
    return encoder;
  }

  private sendBody(
    res: ServerResponse,
    request: Request,
    status: number,
    format: string,
    summary: Partial<Summary>,
    body: Buffer,
  ): void {
    const out = this.startBody(res, request, status, format, summary);
    out.end(body);
  }

  private encoder(params: URLSearchParams, res: ServerResponse): Transform | undefined {
    if (params.get('enable_http_compression') !== '1') return undefined;
    const accept = String(res.req.headers['accept-encoding'] ?? '').toLowerCase();
    const level = Number(params.get('http_zlib_compression_level') ?? '3');
    const zlevel = Number.isInteger(level) && level >= 1 && level <= 9 ? level : 3;
    const pick = accept.includes('gzip')
      ? 'gzip'
      : accept.includes('deflate')
        ? 'deflate'
        : accept.includes('br')
          ? 'br'
          : undefined;
    if (!pick) return undefined;
    res.setHeader('Content-Encoding', pick);
    res.removeHeader('Content-Length');
    return pick === 'gzip'
      ? createGzip({ level: zlevel })
      : pick === 'deflate'
        ? createDeflate({ level: zlevel })
        : createBrotliCompress();
  }

  private sendError(res: ServerResponse, e: ClickHouseHttpError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorBody(e, this.o.engine.version);
    res.statusCode = httpStatusFor(e.chType);
    res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
    res.setHeader('X-ClickHouse-Exception-Code', String(e.chCode));
    if (e.chType === 'REQUIRED_PASSWORD') res.setHeader('WWW-Authenticate', 'Basic realm="pospulse-store"');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  }
}
