import { custom, duration, int, list, parseConfig, port, str, type Env } from '../shared/config.ts';

function parseTokens(raw: string): readonly string[] {
  const tokens = raw
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (tokens.length === 0) throw new Error('no token');
  for (const t of tokens) {
    // Tokens are bearer secrets: short ones are guessable.
    if (t.length < 16 || t.length > 512 || /\s/.test(t))
      throw new Error('each token must be 16–512 characters without spaces');
  }
  return tokens;
}

export const liveSpec = {
  host: str({
    key: 'LIVE_HOST',
    doc: 'Address the live service (WebSocket, probes, metrics) listens on.',
    default: '127.0.0.1',
  }),
  port: port({
    key: 'LIVE_PORT',
    doc: 'Port of the WebSocket endpoint (`/ws`, docs/LIVE_PROTOCOL.md), `/healthz`, `/readyz` and `/metrics`.',
    default: 8090,
  }),
  tokens: custom<readonly string[]>(
    {
      key: 'LIVE_TOKENS',
      secret: true,
      doc: 'Tokens a client may say hello with (and `/metrics` requires), comma-separated, 16–512 characters each. Required: no endpoint is open.',
    },
    'comma-separated tokens',
    parseTokens,
    (t) => `${t.length} tokens`,
  ),
  allowedOrigins: list({
    key: 'LIVE_ALLOWED_ORIGINS',
    doc: 'Origins (scheme://host:port) whose pages may open the WebSocket, comma-separated; the service’s own origin is always allowed, and clients without an Origin header (not browsers) are let through to authenticate.',
    default: [],
    item: /^https?:\/\/[A-Za-z0-9.[\]:-]+$/,
  }),
  maxConnectionsPerToken: int({
    key: 'LIVE_MAX_CONNECTIONS_PER_TOKEN',
    doc: 'Open connections one token may hold; more are closed with 4429.',
    default: 100,
    min: 1,
  }),
  maxSubscriptions: int({
    key: 'LIVE_MAX_SUBSCRIPTIONS',
    doc: 'Subscriptions one connection may hold.',
    default: 16,
    min: 1,
    max: 1_000,
  }),
  maxSubscriptionsPerToken: int({
    key: 'LIVE_MAX_SUBSCRIPTIONS_PER_TOKEN',
    doc: 'Subscriptions all connections of one token may hold together.',
    default: 1_000,
    min: 1,
  }),
  maxMessageBytes: int({
    key: 'LIVE_MAX_MESSAGE_BYTES',
    doc: 'Largest frame a client may send; a larger one closes the connection with 1009.',
    default: 64 * 1024,
    min: 1024,
    max: 16 * 1024 * 1024,
  }),
  coalesceMs: duration({
    key: 'LIVE_COALESCE',
    doc: "A terminal's changes reach a subscription at most once per this interval (the delta flush interval).",
    default: 1_000,
    min: 10,
    max: 60_000,
  }),
  maxBufferedBytes: int({
    key: 'LIVE_MAX_BUFFERED_BYTES',
    doc: "Bytes waiting in a client's send buffer past which it gets a snapshot when it has drained instead of deltas.",
    default: 1024 * 1024,
    min: 1024,
  }),
  slowCloseMs: duration({
    key: 'LIVE_SLOW_CLOSE',
    doc: 'A client still over LIVE_MAX_BUFFERED_BYTES this long after being switched to snapshots is closed with 4408.',
    default: 30_000,
    min: 100,
  }),
  authTimeoutMs: duration({
    key: 'LIVE_AUTH_TIMEOUT',
    doc: 'A connection must say hello with a valid token within this, or it is closed with 4401.',
    default: 5_000,
    min: 100,
    max: 60_000,
  }),
  pingMs: duration({
    key: 'LIVE_PING_INTERVAL',
    doc: 'Interval of WebSocket pings; a connection that did not answer the previous one is dropped.',
    default: 30_000,
    min: 100,
  }),
  wallDir: str({
    key: 'LIVE_WALL_DIR',
    doc: 'Directory of the built wall page (`npm run build:wall`; `npm run build` and `npm run start:live` build it).',
    default: 'dist/wall',
  }),
  history: int({
    key: 'LIVE_HISTORY',
    doc: 'Terminal changes kept for clients that resume after a reconnect; further behind, they get a snapshot.',
    default: 100_000,
    min: 1,
  }),
} as const;

export type LiveConfig = ReturnType<typeof parseLiveConfig>;

export function parseLiveConfig(env: Env) {
  return parseConfig(liveSpec, env);
}
