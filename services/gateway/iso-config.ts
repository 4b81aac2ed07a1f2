import { readFileSync } from 'node:fs';
import {
  bool,
  custom,
  duration,
  int,
  oneOf,
  optionalStr,
  parseConfig,
  port,
  str,
  type Env,
} from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { MAX_FRAME_LENGTH } from './iso8583/framing.ts';
import { parsePeerAllowList, type PeerAllowList } from './peer-allowlist.ts';

/** The ISO 8583 TCP listener of the gateway (docs/ISO8583.md, "Listener"). */
export const isoSpec = {
  enabled: bool({
    key: 'GATEWAY_ISO_ENABLED',
    doc: 'Run the ISO 8583 TCP listener.',
    default: true,
  }),
  host: str({
    key: 'GATEWAY_ISO_HOST',
    doc: 'Address the ISO 8583 listener binds to.',
    default: '127.0.0.1',
  }),
  port: port({ key: 'GATEWAY_ISO_PORT', doc: 'Port of the ISO 8583 listener.', default: 8583 }),
  allowedPeers: custom<PeerAllowList>(
    {
      key: 'GATEWAY_ISO_ALLOWED_PEERS',
      doc: 'IP addresses and CIDR blocks (IPv4, IPv6; comma-separated) allowed to connect to the ISO 8583 listener; any other peer is disconnected at once. An IPv4-mapped IPv6 peer matches its IPv4 entry.',
      default: parsePeerAllowList('127.0.0.1,::1'),
    },
    'a comma-separated list of IP addresses and CIDR blocks',
    parsePeerAllowList,
    (list) => list.entries.join(','),
  ),
  responseTimeoutMs: duration({
    key: 'GATEWAY_ISO_RESPONSE_TIMEOUT',
    doc: 'How long an ISO 8583 request waits for its response before it is published as a TIMEOUT transaction.',
    default: 30_000,
    min: 100,
    max: 600_000,
  }),
  maxPending: int({
    key: 'GATEWAY_ISO_MAX_PENDING',
    doc: 'Requests awaiting a response held at most (all connections together); when full, the oldest is published early as a TIMEOUT.',
    default: 100_000,
    min: 1,
    max: 10_000_000,
  }),
  maxConnections: int({
    key: 'GATEWAY_ISO_MAX_CONNECTIONS',
    doc: 'Simultaneous ISO 8583 connections; further ones are closed at once.',
    default: 64,
    min: 1,
    max: 100_000,
  }),
  idleTimeoutMs: duration({
    key: 'GATEWAY_ISO_IDLE_TIMEOUT',
    doc: 'Close an ISO 8583 connection that sent nothing for this long (peers keep theirs alive with 0800 echo tests); 0 never closes.',
    default: 300_000,
  }),
  maxFrameLength: int({
    key: 'GATEWAY_ISO_MAX_FRAME',
    doc: 'Largest ISO 8583 message body accepted; a length prefix announcing more closes the connection.',
    default: 8192,
    min: 16,
    max: MAX_FRAME_LENGTH,
  }),
  bitmap: oneOf({
    key: 'GATEWAY_ISO_BITMAP',
    doc: 'How ISO 8583 bitmaps are written on the wire: 8 raw bytes (`binary`) or 16 hex characters (`hex`).',
    default: 'binary',
    values: ['binary', 'hex'] as const,
  }),
  tlsCert: optionalStr({
    key: 'GATEWAY_ISO_TLS_CERT',
    doc: 'PEM certificate (chain) file of the ISO 8583 listener; with GATEWAY_ISO_TLS_KEY it serves TLS instead of plain TCP.',
  }),
  tlsKey: optionalStr({
    key: 'GATEWAY_ISO_TLS_KEY',
    doc: 'PEM private key file matching GATEWAY_ISO_TLS_CERT.',
  }),
  tlsCa: optionalStr({
    key: 'GATEWAY_ISO_TLS_CA',
    doc: 'PEM CA file: when set (with cert and key), peers must present a client certificate signed by it (mutual TLS).',
  }),
  terminalsFile: optionalStr({
    key: 'GATEWAY_TERMINALS_FILE',
    doc: 'JSON terminal registry (merchant, MCC, acquirer, region, coordinates, currency per terminal id; format in docs/ISO8583.md). Unset: every terminal gets the fallbacks.',
  }),
} as const;

export type IsoConfig = ReturnType<typeof parseIsoConfig>;

/** `none`: plain TCP; `tls`: server certificate only; `mutual`: client certificates required too. */
export type IsoTlsMode = 'none' | 'tls' | 'mutual';

export function parseIsoConfig(env: Env) {
  const config = parseConfig(isoSpec, env);
  if (config.tlsKey !== undefined && config.tlsCert === undefined) {
    throw new ConfigError(
      'GATEWAY_ISO_TLS_CERT',
      undefined,
      'a certificate file when GATEWAY_ISO_TLS_KEY is set',
    );
  }
  if (config.tlsCert !== undefined && config.tlsKey === undefined) {
    throw new ConfigError(
      'GATEWAY_ISO_TLS_KEY',
      undefined,
      'a private key file when GATEWAY_ISO_TLS_CERT is set',
    );
  }
  if (config.tlsCa !== undefined && config.tlsCert === undefined) {
    throw new ConfigError(
      'GATEWAY_ISO_TLS_CERT',
      undefined,
      'a certificate and key (GATEWAY_ISO_TLS_KEY) when GATEWAY_ISO_TLS_CA asks for mutual TLS',
    );
  }
  const tlsMode: IsoTlsMode =
    config.tlsCert === undefined ? 'none' : config.tlsCa === undefined ? 'tls' : 'mutual';
  return Object.freeze({ ...config, tlsMode });
}

/** PEM contents for the listener; `ca` only with mutual TLS. */
export interface IsoTlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

function readPem(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(variable, path, `a readable PEM file (${(err as Error).message})`);
  }
}

/**
 * Reads the TLS files the config names (once, at start-up); undefined for plain TCP. A file that
 * cannot be read is a ConfigError naming its variable.
 */
export function readIsoTls(
  config: Pick<IsoConfig, 'tlsCert' | 'tlsKey' | 'tlsCa'>,
): IsoTlsMaterial | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  const cert = readPem('GATEWAY_ISO_TLS_CERT', config.tlsCert);
  const key = readPem('GATEWAY_ISO_TLS_KEY', config.tlsKey);
  if (config.tlsCa === undefined) return { cert, key };
  return { cert, key, ca: readPem('GATEWAY_ISO_TLS_CA', config.tlsCa) };
}
