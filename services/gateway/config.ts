import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from '../shared/errors.ts';
import {
  custom,
  duration,
  int,
  optional,
  parseConfig,
  port,
  str,
  type Env,
  type Parsed,
} from '../shared/config.ts';
import { parseApiKeys, type ApiKeyRing } from './api-keys.ts';
import { parseTokenKeys, type TokenKeys } from './card-data.ts';

const apiKeysVar = custom<ApiKeyRing>(
  {
    key: 'GATEWAY_API_KEYS',
    secret: true,
    doc: 'API keys as JSON (see docs/GATEWAY.md): `[{"id","key_sha256","merchants":[…|"*"],"terminals":[…],"metrics":bool,"rate_per_second":n}]`. Only hashes are stored; `npm run gateway:keygen` makes a key. Either this or GATEWAY_API_KEYS_FILE is required.',
  },
  'a JSON array of hashed API keys',
  parseApiKeys,
  (ring) => `${ring.byHash.size} keys`,
);

export const gatewaySpec = {
  gatewayId: str({
    key: 'GATEWAY_ID',
    doc: 'Id of this gateway instance, written into every event (`gateway_id`).',
    default: hostname(),
    pattern: /^[A-Za-z0-9._-]{1,64}$/,
  }),
  host: str({ key: 'GATEWAY_HOST', doc: 'Address the HTTP API listens on.', default: '127.0.0.1' }),
  port: port({ key: 'GATEWAY_PORT', doc: 'Port of the HTTP ingest API.', default: 8080 }),
  tokenKeys: custom<TokenKeys>(
    {
      key: 'GATEWAY_TOKEN_KEYS',
      secret: true,
      doc: 'HMAC keys that turn a PAN into `card_token`: `id:base64secret[,id:base64secret…]`, at least 32 bytes each; the first is current, the others are kept during a rotation.',
    },
    'id:base64 key pairs, comma-separated',
    parseTokenKeys,
    (k) => `current key ${k.current.id}`,
  ),
  apiKeys: optional(apiKeysVar),
  apiKeysFile: optional(
    str({
      key: 'GATEWAY_API_KEYS_FILE',
      doc: 'Path of a file holding the API keys JSON (same format as GATEWAY_API_KEYS); read at start.',
    }),
  ),
  maxBodyBytes: int({
    key: 'GATEWAY_MAX_BODY_BYTES',
    doc: 'Largest request body accepted (413 above).',
    default: 4 * 1024 * 1024,
    min: 1024,
  }),
  maxBatch: int({
    key: 'GATEWAY_MAX_BATCH',
    doc: 'Most events in one request (413 above).',
    default: 5_000,
    min: 1,
  }),
  maxJsonDepth: int({
    key: 'GATEWAY_MAX_JSON_DEPTH',
    doc: 'Deepest JSON nesting accepted in a body (the event format needs 5).',
    default: 16,
    min: 5,
    max: 1_000,
  }),
  maxClockSkewMs: duration({
    key: 'GATEWAY_CLOCK_SKEW',
    doc: 'How far in the future (gateway clock) an event timestamp may be before it is rejected (`clock_skew`).',
    default: 5 * 60_000,
    min: 0,
  }),
  maxEventAgeMs: duration({
    key: 'GATEWAY_MAX_EVENT_AGE',
    doc: 'How old an event may be (terminals forward offline transactions late) before it is rejected (`clock_skew`).',
    default: 7 * 86_400_000,
    min: 60_000,
  }),
  dedupeWindowMs: duration({
    key: 'GATEWAY_DEDUPE_WINDOW',
    doc: 'How long an accepted event_id is remembered; a repeat within it is answered `duplicate` and not published again.',
    default: 10 * 60_000,
    min: 0,
  }),
  dedupeMaxIds: int({
    key: 'GATEWAY_DEDUPE_MAX_IDS',
    doc: 'Most event ids remembered (about 100 bytes each); the oldest are forgotten first when full.',
    default: 1_000_000,
    min: 1_000,
  }),
  queueMax: int({
    key: 'GATEWAY_QUEUE_MAX',
    doc: 'Events waiting for a Kafka acknowledgement beyond which requests get 503 with Retry-After.',
    default: 100_000,
    min: 1,
  }),
  publishTimeoutMs: duration({
    key: 'GATEWAY_PUBLISH_TIMEOUT',
    doc: 'How long a request waits for Kafka to acknowledge its events before it gets 503 (nothing acknowledged).',
    default: 10_000,
    min: 100,
  }),
  produceBatch: int({
    key: 'GATEWAY_PRODUCE_BATCH',
    doc: 'Most events sent to Kafka in one produce request.',
    default: 5_000,
    min: 1,
  }),
  rateLimit: int({
    key: 'GATEWAY_RATE_LIMIT',
    doc: 'Events per second each API key may send (a key may set its own `rate_per_second`); 429 above.',
    default: 20_000,
    min: 1,
  }),
  rateBurst: int({
    key: 'GATEWAY_RATE_BURST',
    doc: 'Events a key may send at once above its rate (must be at least GATEWAY_MAX_BATCH).',
    default: 40_000,
    min: 1,
  }),
  requestTimeoutMs: duration({
    key: 'GATEWAY_REQUEST_TIMEOUT',
    doc: 'Time limit to receive a whole request, headers and body (408 and close: defeats slow-body clients).',
    default: 30_000,
    min: 100,
  }),
  shutdownTimeoutMs: duration({
    key: 'GATEWAY_SHUTDOWN_TIMEOUT',
    doc: 'On SIGTERM, how long to wait for queued events to reach Kafka before exiting.',
    default: 15_000,
    min: 0,
  }),
} as const;

export type GatewayConfig = Omit<Parsed<typeof gatewaySpec>, 'apiKeys'> & {
  readonly apiKeys: ApiKeyRing;
};

/** Parses the gateway's variables; the key file, when named, is read here (once, at start). */
export function parseGatewayConfig(
  env: Env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): GatewayConfig {
  const config = parseConfig(gatewaySpec, env);
  let apiKeys = config.apiKeys;
  if (config.apiKeysFile !== undefined) {
    if (apiKeys !== undefined)
      throw new ConfigError(
        'GATEWAY_API_KEYS_FILE',
        config.apiKeysFile,
        'only one of GATEWAY_API_KEYS and GATEWAY_API_KEYS_FILE',
      );
    let raw: string;
    try {
      raw = readFile(config.apiKeysFile);
    } catch (err) {
      throw new ConfigError(
        'GATEWAY_API_KEYS_FILE',
        config.apiKeysFile,
        `a readable file (${(err as Error).message})`,
      );
    }
    try {
      apiKeys = parseApiKeys(raw);
    } catch (err) {
      throw new ConfigError(
        'GATEWAY_API_KEYS_FILE',
        config.apiKeysFile,
        `a file of hashed API keys: ${(err as Error).message}`,
      );
    }
  }
  if (apiKeys === undefined)
    throw new ConfigError(
      'GATEWAY_API_KEYS',
      undefined,
      'API keys (or GATEWAY_API_KEYS_FILE): every client must authenticate',
    );
  if (config.rateBurst < config.maxBatch)
    throw new ConfigError(
      'GATEWAY_RATE_BURST',
      String(config.rateBurst),
      `at least GATEWAY_MAX_BATCH (${config.maxBatch}), or a full batch could never pass`,
    );
  if (config.queueMax < config.maxBatch)
    throw new ConfigError(
      'GATEWAY_QUEUE_MAX',
      String(config.queueMax),
      `at least GATEWAY_MAX_BATCH (${config.maxBatch})`,
    );
  return Object.freeze({ ...config, apiKeys });
}
