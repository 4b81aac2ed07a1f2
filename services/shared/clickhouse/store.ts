import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { ClickHouseStoreError } from '../errors.ts';
import { LOCAL_STORE_URL, type ClickHouseConfig } from './config.ts';

/**
 * ClickHouse error codes worth retrying unchanged: the server was busy, overloaded or cut off,
 * not told something wrong. (Codes from ClickHouse's ErrorCodes.cpp.)
 */
const RETRYABLE_CODES = new Set([
  '3', // UNEXPECTED_END_OF_FILE
  '159', // TIMEOUT_EXCEEDED
  '202', // TOO_MANY_SIMULTANEOUS_QUERIES
  '209', // SOCKET_TIMEOUT
  '210', // NETWORK_ERROR
  '241', // MEMORY_LIMIT_EXCEEDED
  '242', // TABLE_IS_READ_ONLY
  '252', // TOO_MANY_PARTS
  '319', // UNKNOWN_STATUS_OF_INSERT
  '425', // SYSTEM_ERROR
]);

const RETRYABLE_NODE_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** What a ClickHouse server (or chDB) said went wrong: numeric code as a string, and its type name. */
export interface ServerError {
  code: string;
  type: string | undefined;
}

/**
 * Recognises a ClickHouseError by shape: @clickhouse/client bundles its own copy of the class, and
 * chdb/connection raises the one from @clickhouse/client-common, so `instanceof` is not reliable.
 */
export function serverError(err: unknown): ServerError | undefined {
  if (!(err instanceof Error) || err.constructor.name !== 'ClickHouseError') return undefined;
  const { code, type } = err as Error & { code?: unknown; type?: unknown };
  if (typeof code !== 'string' || !/^\d+$/.test(code)) return undefined;
  return { code, type: typeof type === 'string' ? type : undefined };
}

export function isRetryableClickHouseError(err: unknown): boolean {
  const server = serverError(err);
  if (server) return RETRYABLE_CODES.has(server.code);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && RETRYABLE_NODE_ERRORS.has(code)) return true;
  return err instanceof Error && /timeout/i.test(err.name);
}

/** The numeric ClickHouse error code behind a store error, if the server gave one. */
export function clickhouseCode(err: unknown): string | undefined {
  return serverError(err instanceof ClickHouseStoreError ? err.cause : err)?.code;
}

function wrap(what: string, err: unknown): ClickHouseStoreError {
  const detail = err instanceof Error ? err.message : String(err);
  return new ClickHouseStoreError(`ClickHouse ${what} failed: ${detail}`, {
    cause: err,
    retryable: isRetryableClickHouseError(err),
  });
}

export type QueryParams = Record<string, unknown>;

/**
 * The one door to ClickHouse for every service. Thin on purpose: it fixes the wire format
 * (JSONEachRow), keeps errors typed with the client's ClickHouseError as `cause`, and leaves
 * SQL to the caller.
 */
export class Store {
  constructor(readonly client: ClickHouseClient) {}

  async command(sql: string, params?: QueryParams): Promise<void> {
    try {
      await this.client.command({ query: sql, query_params: params });
    } catch (err) {
      throw wrap('command', err);
    }
  }

  async query<T>(sql: string, params?: QueryParams): Promise<T[]> {
    try {
      const rs = await this.client.query({
        query: sql,
        query_params: params,
        format: 'JSONEachRow',
        // 64-bit integers as strings: exact beyond 2^53, and the same whatever the server's default.
        clickhouse_settings: { output_format_json_quote_64bit_integers: 1 },
      });
      return await rs.json<T>();
    } catch (err) {
      throw wrap('query', err);
    }
  }

  /**
   * Inserts rows as JSONEachRow. `dedupToken` (insert_deduplication_token) makes a retried insert
   * of the same rows a no-op on tables with a deduplication window, so a batch written again after
   * a crash between the insert and the Kafka commit is not stored twice.
   */
  async insert<T extends object>(
    table: string,
    rows: readonly T[],
    options: { dedupToken?: string } = {},
  ): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.client.insert({
        table,
        values: rows as T[],
        format: 'JSONEachRow',
        ...(options.dedupToken === undefined
          ? {}
          : { clickhouse_settings: { insert_deduplication_token: options.dedupToken } }),
      });
    } catch (err) {
      throw wrap(`insert into ${table}`, err);
    }
  }

  /** True when the server answers; never throws (readiness probes call it). */
  async ping(): Promise<boolean> {
    try {
      const r = await this.client.ping();
      return r.success;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Connects over HTTP to `CLICKHOUSE_URL`, or to pospulse's own store service when it is unset. */
export function createStore(config: ClickHouseConfig): Store {
  return new Store(
    createClient({
      url: config.url ?? LOCAL_STORE_URL,
      username: config.user,
      password: config.password,
      database: config.database,
      request_timeout: config.requestTimeoutMs,
      compression: { request: config.compression, response: config.compression },
      clickhouse_settings: {
        // Inserts are acknowledged only once written, so an acknowledged batch is durable.
        wait_end_of_query: 1,
        date_time_input_format: 'best_effort',
      },
    }),
  );
}
