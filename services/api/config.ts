import {
  custom,
  duration,
  int,
  optional,
  optionalUrl,
  parseConfig,
  port,
  str,
  type Env,
} from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { parseApiKeys, type ApiKeyEntry } from './auth.ts';
import { parseSecretsKey } from './webhooks/secret-box.ts';

function parseJwtSecret(raw: string): Uint8Array {
  const bytes = new TextEncoder().encode(raw);
  if (bytes.length < 32) throw new Error('at least 32 bytes (HS256)');
  return bytes;
}

export const apiSpec = {
  host: str({ key: 'API_HOST', doc: 'Address the KPI API listens on.', default: '127.0.0.1' }),
  port: port({ key: 'API_PORT', doc: 'Port of the KPI API (`/v1/…`, `/docs`).', default: 8070 }),
  keys: optional(
    custom<ReadonlyMap<string, ApiKeyEntry>>(
      {
        key: 'API_KEYS',
        secret: true,
        doc: 'API keys as JSON: `[{"id","key_sha256","role":"viewer"|"analyst"|"admin"}]` (only hashes are stored). API_KEYS or API_JWT_SECRET is required.',
      },
      'a JSON array of hashed API keys with roles',
      parseApiKeys,
      (k) => `${k.size} keys`,
    ),
  ),
  jwtSecret: optional(
    custom<Uint8Array>(
      {
        key: 'API_JWT_SECRET',
        secret: true,
        doc: 'HS256 secret of the JWTs the API accepts (a `role` claim, `sub`, `exp`, the issuer and audience below).',
      },
      'a secret of at least 32 bytes',
      parseJwtSecret,
      () => '(set)',
    ),
  ),
  secretsKey: custom<Uint8Array>(
    {
      key: 'API_SECRETS_KEY',
      secret: true,
      doc: 'Key (32 bytes, base64: `openssl rand -base64 32`) that seals the webhook signing secrets stored in ClickHouse, where anyone with SQL access could otherwise read them. Keep it: a new key cannot open the secrets sealed with the old one.',
    },
    '32 bytes in base64',
    parseSecretsKey,
    () => '(set)',
  ),
  jwtIssuer: str({ key: 'API_JWT_ISSUER', doc: 'Issuer (`iss`) a JWT must carry.', default: 'pospulse' }),
  jwtAudience: str({
    key: 'API_JWT_AUDIENCE',
    doc: 'Audience (`aud`) a JWT must carry.',
    default: 'pospulse-api',
  }),
  alertmanagerUrl: optionalUrl({
    key: 'API_ALERTMANAGER_URL',
    doc: 'Prometheus Alertmanager to forward alerts to (its base URL); unset: none. Needs KAFKA_* (the alerts topic).',
  }),
  alertmanagerResendMs: duration({
    key: 'API_ALERTMANAGER_RESEND',
    doc: 'Firing alerts are sent to Alertmanager again this often, with an end three times as far ahead.',
    default: 60_000,
    min: 1_000,
    max: 3_600_000,
  }),
  analystClickhouseUrl: optionalUrl({
    key: 'API_ANALYST_CLICKHOUSE_URL',
    doc: 'ClickHouse HTTP URL analysts connect to with the credentials the API issues (shown by `GET /v1/sql`). Unset: CLICKHOUSE_URL, or the store at http://127.0.0.1:8124.',
  }),
  maxBuckets: int({
    key: 'API_MAX_BUCKETS',
    doc: 'Time buckets one `/v1/kpis` reply may hold; a longer range is refused (`range_too_large`).',
    default: 2_000,
    min: 1,
    max: 1_000_000,
  }),
} as const;

export type ApiConfig = ReturnType<typeof parseApiConfig>;

export function parseApiConfig(env: Env) {
  const config = parseConfig(apiSpec, env);
  if (config.keys === undefined && config.jwtSecret === undefined)
    throw new ConfigError(
      'API_KEYS',
      undefined,
      'API_KEYS or API_JWT_SECRET (required: no endpoint is open)',
    );
  return config;
}
