import { duration, optionalUrl, parseConfig, str, bool, type Env } from '../config.ts';

/** Where pospulse's own store (embedded ClickHouse over HTTP) listens when no server is named. */
export const LOCAL_STORE_URL = 'http://127.0.0.1:8124';

export const clickhouseSpec = {
  url: optionalUrl({
    key: 'CLICKHOUSE_URL',
    doc: "ClickHouse HTTP endpoint. Unset: pospulse's own store service (embedded engine) at http://127.0.0.1:8124.",
  }),
  user: str({ key: 'CLICKHOUSE_USER', doc: 'ClickHouse user the service connects as.', default: 'pospulse' }),
  password: str({
    secret: true,
    key: 'CLICKHOUSE_PASSWORD',
    doc: 'Password of CLICKHOUSE_USER. Required: no anonymous access.',
  }),
  database: str({
    key: 'CLICKHOUSE_DATABASE',
    doc: 'Database holding the pospulse tables.',
    default: 'pospulse',
    pattern: /^[A-Za-z_][A-Za-z0-9_]*$/,
  }),
  requestTimeoutMs: duration({
    key: 'CLICKHOUSE_REQUEST_TIMEOUT',
    doc: 'Time limit of one HTTP request to ClickHouse.',
    default: 30_000,
    min: 100,
  }),
  compression: bool({
    key: 'CLICKHOUSE_COMPRESSION',
    doc: 'gzip request bodies and responses.',
    default: true,
  }),
} as const;

export type ClickHouseConfig = ReturnType<typeof parseClickHouseConfig>;

export function parseClickHouseConfig(env: Env) {
  return parseConfig(clickhouseSpec, env);
}
