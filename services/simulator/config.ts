import { parseArgs } from 'node:util';
import {
  bool,
  custom,
  duration,
  int,
  num,
  oneOf,
  optional,
  optionalStr,
  parseConfig,
  port,
  str,
  url,
  type Env,
  type Parsed,
} from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { parseTokenKeys, type TokenKeys } from '../gateway/card-data.ts';
import { parseRfc3339 } from '../gateway/http/timestamps.ts';
import { FLEET_LIMITS } from './fleet.ts';

/**
 * The simulator's settings: SIMULATOR_* variables (the README's table), each of which a command-line
 * flag may override (`--terminals 500` for SIMULATOR_TERMINALS). Secrets (the API key, the token
 * keys) come from the environment only: a flag would leave them in shell history and `ps`.
 */

const startTime = custom<number>(
  {
    key: 'SIMULATOR_START',
    doc: 'Simulated start as an RFC 3339 time with zone; default: now (realtime at speed 1), the duration before now (backfill), or so that a faster-than-real-time run ends now.',
  },
  'an RFC 3339 time with a zone, e.g. 2026-03-02T09:00:00Z',
  (raw) => parseRfc3339(raw),
  (v) => new Date(v).toISOString(),
);

export const simulatorSpec = {
  seed: str({
    key: 'SIMULATOR_SEED',
    doc: 'Seed of the fleet, traffic and incidents: the same seed and options give the same events.',
    default: '1',
    pattern: /^[A-Za-z0-9._-]{1,64}$/,
  }),
  terminals: int({
    key: 'SIMULATOR_TERMINALS',
    doc: 'Terminals in the simulated fleet.',
    default: 200,
    min: 1,
    max: FLEET_LIMITS.maxTerminals,
  }),
  merchants: optional(
    int({
      key: 'SIMULATOR_MERCHANTS',
      doc: 'Merchants the terminals belong to (at most the number of terminals); default one per 2.5 terminals.',
      min: 1,
      max: FLEET_LIMITS.maxTerminals,
    }),
  ),
  regions: int({
    key: 'SIMULATOR_REGIONS',
    doc: `Regions (European cities with their coordinates, time zone and currency), 1 to ${FLEET_LIMITS.maxRegions}.`,
    default: 6,
    min: 1,
    max: FLEET_LIMITS.maxRegions,
  }),
  acquirers: int({
    key: 'SIMULATOR_ACQUIRERS',
    doc: `Acquirers the merchants are split between, 1 to ${FLEET_LIMITS.maxAcquirers}.`,
    default: 3,
    min: 1,
    max: FLEET_LIMITS.maxAcquirers,
  }),
  cards: optional(
    int({
      key: 'SIMULATOR_CARDS',
      doc: 'Cards in the population that pays; default 1,000 per terminal, between 1,000 and 200,000. Fewer, at a high rate, make normal traffic look like card velocity (one card at several merchants within minutes).',
      min: FLEET_LIMITS.minCards,
      max: FLEET_LIMITS.maxCards,
    }),
  ),
  rate: num({
    key: 'SIMULATOR_RATE',
    doc: 'Average transactions per second of the whole fleet over a week; the daily load curve varies it by hour and weekday.',
    default: 5,
    min: 0.001,
    max: 1_000_000,
  }),
  heartbeatIntervalMs: duration({
    key: 'SIMULATOR_HEARTBEAT_INTERVAL',
    doc: 'Time between two heartbeats of one terminal.',
    default: 60_000,
    min: 5_000,
    max: 86_400_000,
  }),
  durationMs: duration({
    key: 'SIMULATOR_DURATION',
    doc: 'Simulated time to run; 0 runs until stopped (realtime at speed 1 only).',
    default: 600_000,
    min: 0,
  }),
  start: optional(startTime),
  speed: num({
    key: 'SIMULATOR_SPEED',
    doc: 'Simulated seconds per wall-clock second in realtime mode (1: real time).',
    default: 1,
    min: 0.01,
    max: 100_000,
  }),
  backfill: bool({
    key: 'SIMULATOR_BACKFILL',
    doc: 'Generate as fast as the sink takes it, with event times in the past window, instead of pacing with the clock.',
    default: false,
  }),
  sink: oneOf({
    key: 'SIMULATOR_SINK',
    doc: "Where events go: the gateway's HTTP API, its ISO 8583 port, or Kafka directly.",
    default: 'http',
    values: ['http', 'iso', 'kafka'] as const,
  }),
  gatewayUrl: url({
    key: 'SIMULATOR_GATEWAY_URL',
    doc: 'Base URL of the gateway for the http sink.',
    default: 'http://127.0.0.1:8080',
  }),
  apiKey: optional(
    str({
      key: 'SIMULATOR_API_KEY',
      secret: true,
      doc: 'Gateway API key for the http sink, scoped to all merchants (`npm run gateway:keygen -- --id simulator --merchants "*"`).',
    }),
  ),
  httpFormat: oneOf({
    key: 'SIMULATOR_HTTP_FORMAT',
    doc: 'Body format of the http sink.',
    default: 'json',
    values: ['json', 'ndjson'] as const,
  }),
  batch: int({
    key: 'SIMULATOR_BATCH',
    doc: 'Events per request (http) or produce request (kafka); at most GATEWAY_MAX_BATCH for http.',
    default: 500,
    min: 1,
    max: 100_000,
  }),
  isoHost: str({
    key: 'SIMULATOR_ISO_HOST',
    doc: 'Host of the gateway’s ISO 8583 port.',
    default: '127.0.0.1',
  }),
  isoPort: port({ key: 'SIMULATOR_ISO_PORT', doc: 'The gateway’s ISO 8583 port.', default: 8583 }),
  isoBitmap: oneOf({
    key: 'SIMULATOR_ISO_BITMAP',
    doc: 'ISO 8583 bitmap encoding; must match GATEWAY_ISO_BITMAP.',
    default: 'binary',
    values: ['binary', 'hex'] as const,
  }),
  tokenKeys: optional(
    custom<TokenKeys>(
      {
        key: 'SIMULATOR_TOKEN_KEYS',
        secret: true,
        doc: "The gateway's card-token keys (GATEWAY_TOKEN_KEYS format; GATEWAY_TOKEN_KEYS itself is used when unset): labels of card incidents name tokens, and the kafka sink tokenizes as the gateway would.",
      },
      'id:base64 key pairs, comma-separated',
      parseTokenKeys,
      (k) => `current key ${k.current.id}`,
    ),
  ),
  gatewayId: str({
    key: 'SIMULATOR_GATEWAY_ID',
    doc: 'gateway_id written into events by the kafka sink.',
    default: 'simulator',
    pattern: /^[A-Za-z0-9._-]{1,64}$/,
  }),
  incidents: str({
    key: 'SIMULATOR_INCIDENTS',
    doc: 'Incidents: `auto` (drawn from the seed, one after another with gaps), `none`, or the path of a schedule file (docs/SIMULATOR.md).',
    default: 'auto',
  }),
  incidentGapMs: duration({
    key: 'SIMULATOR_INCIDENT_GAP',
    doc: 'Mean quiet time between automatic incidents.',
    default: 600_000,
    min: 0,
  }),
  labels: optionalStr({
    key: 'SIMULATOR_LABELS',
    doc: 'Path of the label file (JSONL, one line per incident); unset: no file.',
  }),
  mixFile: optionalStr({
    key: 'SIMULATOR_MIX_FILE',
    doc: 'Path of a JSON file overriding the traffic mix (payment methods, entry modes, decline and timeout shares…).',
  }),
  progressIntervalMs: duration({
    key: 'SIMULATOR_PROGRESS_INTERVAL',
    doc: 'How often a progress line goes to stderr on long runs; 0 never.',
    default: 5_000,
    min: 0,
  }),
} as const;

export type SimulatorConfig = Parsed<typeof simulatorSpec> & {
  /** Incidents on demand (`--inject`, repeatable). */
  readonly inject: readonly string[];
  /** `--write-registry <file>`: write the gateway's terminal registry for the fleet and exit. */
  readonly writeRegistry: string | undefined;
  readonly help: boolean;
};

type Key = keyof typeof simulatorSpec;

/** Flag → config field. Flags are the variable names without SIMULATOR_, lower case, `-` for `_`. */
const FLAGS: Readonly<Record<string, Key>> = {
  seed: 'seed',
  terminals: 'terminals',
  merchants: 'merchants',
  regions: 'regions',
  acquirers: 'acquirers',
  cards: 'cards',
  rate: 'rate',
  'heartbeat-interval': 'heartbeatIntervalMs',
  duration: 'durationMs',
  start: 'start',
  speed: 'speed',
  sink: 'sink',
  'gateway-url': 'gatewayUrl',
  format: 'httpFormat',
  batch: 'batch',
  'iso-host': 'isoHost',
  'iso-port': 'isoPort',
  'iso-bitmap': 'isoBitmap',
  'gateway-id': 'gatewayId',
  incidents: 'incidents',
  'incident-gap': 'incidentGapMs',
  labels: 'labels',
  mix: 'mixFile',
  'progress-interval': 'progressIntervalMs',
};

const SECRET_FLAGS = new Set(['api-key', 'token-keys', 'key']);

export const USAGE = `Usage: npm run simulate -- [options]

Simulates a fleet of POS terminals and sends its transactions and heartbeats, with injected
incidents, to the gateway (HTTP or ISO 8583) or straight to Kafka. Every option has a SIMULATOR_*
variable (docs/SIMULATOR.md); a flag wins over the variable.

  --seed <text>              seed (same seed and options: same events)            [1]
  --terminals <n>            terminals in the fleet                                 [200]
  --merchants <n> --regions <n> --acquirers <n> --cards <n>
  --rate <tx/s>              average transactions per second of the fleet          [5]
  --heartbeat-interval <d>   per terminal                                           [60s]
  --duration <d>             simulated time to run; 0 = until stopped               [10m]
  --start <time>             simulated start (RFC 3339)
  --speed <x>                simulated seconds per wall second                      [1]
  --backfill                 as fast as possible, over the window before now
  --sink http|iso|kafka                                                             [http]
  --gateway-url <url>  --format json|ndjson  --batch <n>
  --iso-host <host>  --iso-port <port>  --iso-bitmap binary|hex
  --gateway-id <id>          gateway_id of events published by the kafka sink
  --incidents auto|none|<file>                                                      [auto]
  --incident-gap <d>         mean gap between automatic incidents                   [10m]
  --inject <spec>            one incident on demand (repeatable):
                             kind[@+offset|@time][/duration][,target=id][,param=n]
                             e.g. card_testing@+1m/10m,terminal=T0000005,cards=60
  --labels <file>            label file (JSONL)
  --mix <file>               traffic mix overrides (JSON)
  --progress-interval <d>    progress line to stderr; 0 = never                     [5s]
  --write-registry <file>    write the gateway's terminal registry for the fleet and exit
  --help

From the environment only: SIMULATOR_API_KEY (http sink), SIMULATOR_TOKEN_KEYS or
GATEWAY_TOKEN_KEYS (labels of card incidents, kafka sink), KAFKA_* and SCHEMA_REGISTRY_* (kafka sink).
While running, a line on standard input such as "inject card_testing/5m" adds an incident now.
`;

/**
 * Parses the environment and the command line. A bad flag value is a ConfigError naming the flag
 * (and its variable); an unknown flag or a secret passed as a flag is one too.
 */
export function parseSimulatorConfig(env: Env, argv: readonly string[] = []): SimulatorConfig {
  let parsed: ReturnType<typeof parseArgs>;
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    backfill: { type: 'boolean' },
    help: { type: 'boolean' },
    inject: { type: 'string', multiple: true },
    'write-registry': { type: 'string' },
  };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: 'string' };
  for (const arg of argv) {
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (name !== undefined && SECRET_FLAGS.has(name)) {
      throw new ConfigError(
        `--${name}`,
        '(hidden)',
        'nothing: secrets come from the environment only (SIMULATOR_API_KEY, SIMULATOR_TOKEN_KEYS), never from flags',
      );
    }
  }
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
  } catch (err) {
    throw new ConfigError(
      'command line',
      argv.join(' '),
      `known options (${(err as Error).message}); see --help`,
    );
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const merged: Record<string, string | undefined> = { ...env };
  const fromFlag = new Map<string, string>();
  for (const [flag, key] of Object.entries(FLAGS)) {
    const v = values[flag];
    if (typeof v === 'string') {
      const variable = simulatorSpec[key].key;
      merged[variable] = v;
      fromFlag.set(variable, flag);
    }
  }
  if (values['backfill'] === true) {
    merged['SIMULATOR_BACKFILL'] = 'true';
    fromFlag.set('SIMULATOR_BACKFILL', 'backfill');
  }
  let config: Parsed<typeof simulatorSpec>;
  try {
    config = parseConfig(simulatorSpec, merged);
  } catch (err) {
    if (err instanceof ConfigError && fromFlag.has(err.variable)) {
      throw new ConfigError(`--${fromFlag.get(err.variable)} (${err.variable})`, err.value, err.expected);
    }
    throw err;
  }
  let tokenKeys = config.tokenKeys;
  if (
    tokenKeys === undefined &&
    env['GATEWAY_TOKEN_KEYS'] !== undefined &&
    env['GATEWAY_TOKEN_KEYS'].trim() !== ''
  ) {
    try {
      tokenKeys = parseTokenKeys(env['GATEWAY_TOKEN_KEYS']);
    } catch (err) {
      throw new ConfigError(
        'GATEWAY_TOKEN_KEYS',
        '(hidden)',
        `id:base64 key pairs, comma-separated: ${(err as Error).message}`,
      );
    }
  }
  const name = (variable: string) =>
    fromFlag.has(variable) ? `--${fromFlag.get(variable)} (${variable})` : variable;
  const help = values['help'] === true;
  const writeRegistry = typeof values['write-registry'] === 'string' ? values['write-registry'] : undefined;
  const result: SimulatorConfig = Object.freeze({
    ...config,
    tokenKeys,
    inject: (values['inject'] as string[] | undefined) ?? [],
    writeRegistry,
    help,
  });
  if (help || writeRegistry !== undefined) return result;

  if (config.merchants !== undefined && config.merchants > config.terminals) {
    throw new ConfigError(
      name('SIMULATOR_MERCHANTS'),
      String(config.merchants),
      `at most the number of terminals (${config.terminals})`,
    );
  }
  if (config.sink === 'http' && config.apiKey === undefined) {
    throw new ConfigError(
      'SIMULATOR_API_KEY',
      undefined,
      `a gateway API key for the http sink, scoped to all merchants (npm run gateway:keygen -- --id simulator --merchants '*')`,
    );
  }
  if (config.sink === 'kafka' && tokenKeys === undefined) {
    throw new ConfigError(
      'SIMULATOR_TOKEN_KEYS',
      undefined,
      "the gateway's token keys (GATEWAY_TOKEN_KEYS format) for the kafka sink: it tokenizes card numbers as the gateway would",
    );
  }
  if (config.backfill) {
    if (config.sink === 'iso') {
      throw new ConfigError(
        name('SIMULATOR_BACKFILL'),
        'true',
        'false with the iso sink: the gateway stamps ISO 8583 events with its own clock, so they cannot be backfilled',
      );
    }
    if (config.durationMs === 0)
      throw new ConfigError(name('SIMULATOR_DURATION'), '0', 'a duration above 0 with --backfill');
  } else if (config.durationMs === 0 && config.speed !== 1) {
    throw new ConfigError(
      name('SIMULATOR_SPEED'),
      String(config.speed),
      '1 when the run has no end (a duration of 0): faster than real time, event times would run into the future',
    );
  }
  if (config.batch > 5_000 && config.sink === 'http') {
    throw new ConfigError(
      name('SIMULATOR_BATCH'),
      String(config.batch),
      'at most 5000 for the http sink (the gateway’s default GATEWAY_MAX_BATCH)',
    );
  }
  return result;
}

/**
 * The simulated window: explicit start, else now for realtime at speed 1, the duration before now
 * for a backfill, and for speed N the start that makes simulated time reach `now` as the run ends
 * (so no event is in the future when it is sent).
 */
export function simulatedWindow(
  config: Pick<SimulatorConfig, 'start' | 'durationMs' | 'backfill' | 'speed'>,
  now: number,
): { start: number; end: number } {
  const d = config.durationMs;
  const start =
    config.start ??
    (config.backfill
      ? now - d
      : config.speed === 1 || d === 0
        ? now
        : Math.round(now - d + d / config.speed));
  return { start, end: d === 0 ? Infinity : start + d };
}
