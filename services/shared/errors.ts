/**
 * Every error pospulse raises on purpose. Callers branch on `code` (stable, documented in
 * docs/ERRORS.md), never on message text. `retryable` tells a caller whether trying the same
 * operation again can succeed without changing the input.
 */
export const ErrorCodes = {
  CONFIG: 'PP_ERR_CONFIG',
  DECODE: 'PP_ERR_DECODE',
  ENCODE: 'PP_ERR_ENCODE',
  UNKNOWN_SCHEMA: 'PP_ERR_UNKNOWN_SCHEMA',
  SCHEMA_REGISTRY: 'PP_ERR_SCHEMA_REGISTRY',
  VALIDATION: 'PP_ERR_VALIDATION',
  AUTH: 'PP_ERR_AUTH',
  KAFKA: 'PP_ERR_KAFKA',
  CLICKHOUSE: 'PP_ERR_CLICKHOUSE',
  SHUTDOWN: 'PP_ERR_SHUTDOWN',
  MIGRATION: 'PP_ERR_MIGRATION',
  ISO8583: 'PP_ERR_ISO8583',
  OVERLOADED: 'PP_ERR_OVERLOADED',
  RULES: 'PP_ERR_RULES',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface PosPulseErrorOptions {
  cause?: unknown;
  retryable?: boolean;
}

export abstract class PosPulseError extends Error {
  static readonly code: ErrorCode;
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(message: string, options: PosPulseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const ctor = this.constructor as typeof PosPulseError;
    this.name = ctor.name;
    this.code = ctor.code;
    this.retryable = options.retryable ?? false;
  }
}

/** A configuration variable is missing, malformed or out of range. Fatal at start-up. */
export class ConfigError extends PosPulseError {
  static override readonly code = ErrorCodes.CONFIG;
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    readonly expected: string,
  ) {
    super(
      `${variable}=${value === undefined ? '(unset)' : JSON.stringify(value)} is invalid: expected ${expected}`,
    );
  }
}

/** Where a record came from, so a bad one can be found again. */
export interface RecordLocation {
  topic?: string;
  partition?: number;
  offset?: string;
}

function describeLocation(loc: RecordLocation): string {
  if (loc.topic === undefined) return '';
  return ` (topic ${loc.topic}, partition ${loc.partition ?? '?'}, offset ${loc.offset ?? '?'})`;
}

/** Bytes that cannot be turned into a record: wrong framing, unknown writer schema, truncated body. */
export class DecodeError extends PosPulseError {
  static override readonly code = ErrorCodes.DECODE;
  constructor(
    readonly reason: string,
    readonly location: RecordLocation = {},
    options: PosPulseErrorOptions = {},
  ) {
    super(`cannot decode record${describeLocation(location)}: ${reason}`, options);
  }
}

/** A value that does not fit its Avro schema; `paths` names every offending field. */
export class EncodeError extends PosPulseError {
  static override readonly code = ErrorCodes.ENCODE;
  constructor(
    readonly schemaName: string,
    readonly paths: readonly string[],
    options: PosPulseErrorOptions = {},
  ) {
    super(`value does not match ${schemaName}: ${paths.length > 0 ? paths.join(', ') : 'invalid'}`, options);
  }
}

/** The writer schema named on the wire (fingerprint or registry id) is not one we know. */
export class UnknownSchemaError extends PosPulseError {
  static override readonly code = ErrorCodes.UNKNOWN_SCHEMA;
  constructor(
    readonly schemaRef: string,
    options: PosPulseErrorOptions = {},
  ) {
    super(`unknown writer schema ${schemaRef}`, options);
  }
}

/** The schema registry could not be reached or answered with an error. */
export class SchemaRegistryError extends PosPulseError {
  static override readonly code = ErrorCodes.SCHEMA_REGISTRY;
}

/** Input that is well-formed but breaks a domain rule. */
export class ValidationError extends PosPulseError {
  static override readonly code = ErrorCodes.VALIDATION;
  constructor(
    message: string,
    readonly path: string,
    options: PosPulseErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** Missing or wrong credentials. */
export class AuthError extends PosPulseError {
  static override readonly code = ErrorCodes.AUTH;
}

/** A Kafka operation failed; the kafkajs error is the `cause`. */
export class KafkaError extends PosPulseError {
  static override readonly code = ErrorCodes.KAFKA;
}

/** A ClickHouse operation failed; the client's `ClickHouseError` (with its numeric code) is the `cause`. */
export class ClickHouseStoreError extends PosPulseError {
  static override readonly code = ErrorCodes.CLICKHOUSE;
}

/** An operation was refused because the component is shutting down. */
export class ShutdownError extends PosPulseError {
  static override readonly code = ErrorCodes.SHUTDOWN;
}

/**
 * Work refused because a bounded resource is full or a deadline passed (a gateway's publish queue
 * while Kafka is slow or down). Always retryable: the same input can succeed later; `retryAfterMs`
 * is the caller's hint for when.
 */
export class OverloadError extends PosPulseError {
  static override readonly code = ErrorCodes.OVERLOADED;
  constructor(
    readonly reason: 'queue_full' | 'timeout',
    message: string,
    readonly retryAfterMs: number,
    options: PosPulseErrorOptions = {},
  ) {
    super(message, { ...options, retryable: true });
  }
}

export function isPosPulseError(err: unknown): err is PosPulseError {
  return err instanceof PosPulseError;
}

/**
 * A schema migration cannot be applied: a malformed or duplicate file name, a template that does not
 * render, an applied migration whose file changed since, or a failed statement (the store's error is
 * the `cause`, and `retryable` is its). Apart from the last, it needs a person, not a retry.
 */
export class MigrationError extends PosPulseError {
  static override readonly code = ErrorCodes.MIGRATION;
}

/**
 * Why an ISO 8583 frame or message was refused. The first group is about one message (the
 * connection goes on); `BAD_FRAME_LENGTH` and `TRUNCATED_FRAME` mean the byte stream itself can no
 * longer be split into frames, so the connection must be closed.
 */
export type Iso8583ErrorReason =
  | 'BAD_MTI'
  | 'BAD_BITMAP'
  | 'UNKNOWN_FIELD'
  | 'TRUNCATED'
  | 'BAD_LENGTH_PREFIX'
  | 'LENGTH_OVER_MAX'
  | 'BAD_LENGTH'
  | 'BAD_CHARACTER'
  | 'BAD_VALUE'
  | 'TRAILING_BYTES'
  | 'MISSING_FIELD'
  | 'UNKNOWN_CURRENCY'
  | 'UNSUPPORTED_MTI'
  | 'MISMATCHED_RESPONSE'
  | 'BAD_FRAME_LENGTH'
  | 'TRUNCATED_FRAME';

const ISO8583_STREAM_REASONS: ReadonlySet<Iso8583ErrorReason> = new Set([
  'BAD_FRAME_LENGTH',
  'TRUNCATED_FRAME',
]);

/**
 * An ISO 8583 frame or message that cannot be read, written or mapped. `reason` is stable (metrics
 * label it), `field` names the data element when there is one. `closeConnection` is true when the
 * framing is broken and no later byte on the stream can be trusted. The message never quotes card
 * data (it names the field and byte offset instead), so it is safe to log.
 */
export class Iso8583Error extends PosPulseError {
  static override readonly code = ErrorCodes.ISO8583;
  readonly closeConnection: boolean;
  constructor(
    readonly reason: Iso8583ErrorReason,
    detail: string,
    readonly field?: number,
    readonly offset?: number,
    options: PosPulseErrorOptions = {},
  ) {
    super(
      `ISO 8583 ${reason}${field === undefined ? '' : ` in field ${field}`}${offset === undefined ? '' : ` at byte ${offset}`}: ${detail}`,
      options,
    );
    this.closeConnection = ISO8583_STREAM_REASONS.has(reason);
  }
}

/**
 * A detection rules file is refused: not readable, not JSON, an unknown rule, or a parameter out of
 * its range. `problems` lists every one, each naming the rule and parameter. The processor keeps
 * the rules it runs; a person must fix the file.
 */
export class RulesError extends PosPulseError {
  static override readonly code = ErrorCodes.RULES;
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    options: PosPulseErrorOptions = {},
  ) {
    super(`rules file ${source} refused: ${problems.join('; ')}`, options);
  }
}
