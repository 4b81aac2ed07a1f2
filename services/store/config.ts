import { custom, duration, int, parseConfig, port, str, type Env } from '../shared/config.ts';
import { parseUsers, type StoreUser } from './users.ts';

export const storeSpec = {
  host: str({ key: 'STORE_HOST', doc: 'Address the store listens on.', default: '127.0.0.1' }),
  port: port({
    key: 'STORE_PORT',
    doc: 'Port of the ClickHouse HTTP interface the store serves.',
    default: 8124,
  }),
  dataDir: str({
    key: 'STORE_DATA_DIR',
    doc: 'Data directory of the embedded ClickHouse engine (only the store opens it).',
    default: './data/clickhouse',
  }),
  users: custom<readonly StoreUser[]>(
    {
      key: 'STORE_USERS',
      secret: true,
      doc: 'JSON array of users: `{"name","password" or "password_sha256_hex","role":"service"|"analyst", optional "max_execution_time","max_result_rows","max_result_bytes","max_threads","max_concurrent_queries"}`. Analysts are read-only (engine `readonly=1`). See docs/STORE.md.',
    },
    'a JSON array of users (see docs/STORE.md)',
    parseUsers,
    (users) => `${users.length} users`,
  ),
  maxQueryBytes: int({
    key: 'STORE_MAX_QUERY_BYTES',
    doc: 'Largest SQL text (query parameter + body) accepted; INSERT data sent after `FORMAT` in the body is not limited by it.',
    default: 16 * 1024 * 1024,
    min: 1024,
  }),
  maxInsertBytes: int({
    key: 'STORE_MAX_INSERT_BYTES',
    doc: 'Largest INSERT body (after decompression) accepted in one request.',
    default: 4 * 1024 ** 3,
    min: 1024,
  }),
  maxQueued: int({
    key: 'STORE_MAX_QUEUED',
    doc: "Requests that may wait per user when all of that user's connections are busy.",
    default: 64,
    min: 0,
  }),
  queueTimeoutMs: duration({
    key: 'STORE_QUEUE_TIMEOUT',
    doc: 'How long a request waits for a free connection before it is refused (TOO_MANY_SIMULTANEOUS_QUERIES).',
    default: 30_000,
    min: 1,
  }),
} as const;

export type StoreConfig = ReturnType<typeof parseStoreConfig>;

export function parseStoreConfig(env: Env) {
  return parseConfig(storeSpec, env);
}
