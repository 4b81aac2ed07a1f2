import { pino, type Logger, type LevelWithSilent } from 'pino';
import { oneOf, parseConfig, type Env } from './config.ts';

export type { Logger };

export const loggingSpec = {
  level: oneOf({
    key: 'LOG_LEVEL',
    doc: 'Minimum level of the JSON log lines written to stdout.',
    default: 'info',
    values: [
      'fatal',
      'error',
      'warn',
      'info',
      'debug',
      'trace',
      'silent',
    ] as const satisfies readonly LevelWithSilent[],
  }),
} as const;

export function parseLoggingConfig(env: Env) {
  return parseConfig(loggingSpec, env);
}

/**
 * Field names that may carry card data or secrets anywhere in a log object. Redacted at any of the
 * first two levels of nesting so a mistaken `log.info({ body })` cannot leak them.
 */
const SENSITIVE_KEYS = [
  'pan',
  'card_number',
  'cardNumber',
  'track1',
  'track2',
  'track_data',
  'cvv',
  'cvc',
  'pin',
  'pin_block',
  'password',
  'secret',
  'token',
  'authorization',
  'apiKey',
  'api_key',
];
const REDACT_PATHS = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  service: string;
  level: LevelWithSilent;
  /** Where lines go; stdout unless a test captures them. */
  destination?: NodeJS.WritableStream;
}

/** Structured JSON logs, one line per event, with card data and secrets redacted by key. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? process.stdout,
  );
}
