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
