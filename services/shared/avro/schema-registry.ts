import { SchemaRegistryError, UnknownSchemaError } from '../errors.ts';

/**
 * Minimal client for the Confluent Schema Registry REST API — only what the codec needs:
 *
 *   POST /subjects/{subject}/versions  {"schema": "<json>"}  -> {"id": N}  (register or look up)
 *   GET  /schemas/ids/{id}                                   -> {"schema": "<json>", "schemaType"?}
 *
 * Results are cached for the life of the client: an id names one schema forever, and registering
 * the same schema under the same subject again returns the same id.
 */

export interface SchemaRegistryClientOptions {
  /** Base URL, e.g. `http://registry:8081`. Credentials in it (`http://user:pass@host`) are used for basic auth. */
  readonly url: string;
  /** `user:password` for basic auth; wins over credentials in `url`. */
  readonly auth?: string | undefined;
  /** Per-request timeout. @default 5000 */
  readonly timeoutMs?: number | undefined;
  /** For tests; the global fetch otherwise. */
  readonly fetch?: typeof globalThis.fetch | undefined;
}

/** A schema as stored in the registry. */
export interface RegistrySchema {
  readonly id: number;
  /** The schema JSON text. */
  readonly schema: string;
  /** `AVRO` unless the registry says otherwise (it omits the field for Avro). */
  readonly schemaType: string;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

function describe(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

export class SchemaRegistryClient {
  /** The base URL without credentials: safe to log. */
  readonly baseUrl: string;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly ids = new Map<number, Promise<RegistrySchema>>();
  private readonly registered = new Map<string, Promise<number>>();

  constructor(options: SchemaRegistryClientOptions) {
    const url = new URL(options.url);
    let auth = options.auth;
    if (auth === undefined && (url.username !== '' || url.password !== '')) {
      auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    }
    // fetch refuses URLs with credentials, and they must not end up in logs either.
    url.username = '';
    url.password = '';
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.headers = {
      accept: CONTENT_TYPE,
      ...(auth === undefined
        ? {}
        : { authorization: `Basic ${Buffer.from(auth, 'utf8').toString('base64')}` }),
    };
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  /** Registers `schema` under `subject` (or finds it there) and returns its global id. */
  register(subject: string, schema: string): Promise<number> {
    const key = `${subject}\n${schema}`;
    let pending = this.registered.get(key);
    if (!pending) {
      pending = this.post(subject, schema);
      this.registered.set(key, pending);
      pending.catch(() => this.registered.delete(key));
    }
    return pending;
  }

  /** The schema with this id; {@link UnknownSchemaError} when the registry has none. */
  getSchemaById(id: number): Promise<RegistrySchema> {
    let pending = this.ids.get(id);
    if (!pending) {
      pending = this.get(id);
      this.ids.set(id, pending);
      pending.catch(() => this.ids.delete(id));
    }
    return pending;
  }

  private async post(subject: string, schema: string): Promise<number> {
    const what = `registering a schema under subject ${subject}`;
    const body = await this.request(what, `/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { ...this.headers, 'content-type': CONTENT_TYPE },
      body: JSON.stringify({ schema }),
    });
    const id = (body as { id?: unknown } | null)?.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new SchemaRegistryError(`schema registry: unexpected answer when ${what} (no id)`);
    }
    return id;
  }

  private async get(id: number): Promise<RegistrySchema> {
    const body = await this.request(`fetching schema id ${id}`, `/schemas/ids/${id}`, {
      method: 'GET',
      headers: this.headers,
    });
    const { schema, schemaType } = (body ?? {}) as { schema?: unknown; schemaType?: unknown };
    if (typeof schema !== 'string') {
      throw new SchemaRegistryError(`schema registry: unexpected answer for schema id ${id} (no schema)`);
    }
    return { id, schema, schemaType: typeof schemaType === 'string' ? schemaType : 'AVRO' };
  }

  private async request(what: string, path: string, init: RequestInit): Promise<unknown> {
    let status: number;
    let text: string;
    try {
      const res = await this.fetchImpl(`${this.baseUrl}${path}`, {
        ...init,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      throw new SchemaRegistryError(
        `schema registry ${this.baseUrl} unreachable when ${what}: ${describe(err)}`,
        {
          cause: err,
          retryable: true,
        },
      );
    }
    let body: unknown;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (status >= 200 && status < 300) {
      if (body === undefined) {
        throw new SchemaRegistryError(`schema registry answered ${status} with invalid JSON when ${what}`);
      }
      return body;
    }
    const { error_code: code, message } = (body ?? {}) as { error_code?: unknown; message?: unknown };
    const detail = `HTTP ${status}${typeof code === 'number' ? ` (error_code ${code})` : ''}${
      typeof message === 'string' ? `: ${message}` : ''
    }`;
    const failure = new SchemaRegistryError(`schema registry refused ${what}: ${detail}`, {
      retryable: status >= 500 || status === 408 || status === 429,
    });
    // 40403 "Schema not found"; a bare 404 on /schemas/ids means the same.
    if (status === 404 && path.startsWith('/schemas/ids/')) {
      throw new UnknownSchemaError(`registry id ${path.slice('/schemas/ids/'.length)}`, { cause: failure });
    }
    throw failure;
  }
}
