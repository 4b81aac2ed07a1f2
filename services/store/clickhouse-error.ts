/**
 * Errors in ClickHouse's own shape, so @clickhouse/client, curl and BI tools read them as they
 * would from a ClickHouse server: `Code: N. DB::Exception: <text>. (TYPE_NAME) (version V)` with
 * the HTTP status the server would pick for that error type.
 */

/** The numeric codes the store raises itself (from ClickHouse's ErrorCodes.cpp). */
export const CH = {
  SYNTAX_ERROR: [62, 'SYNTAX_ERROR'],
  BAD_ARGUMENTS: [36, 'BAD_ARGUMENTS'],
  NOT_IMPLEMENTED: [48, 'NOT_IMPLEMENTED'],
  UNKNOWN_USER: [192, 'UNKNOWN_USER'],
  UNKNOWN_SETTING: [115, 'UNKNOWN_SETTING'],
  READONLY: [164, 'READONLY'],
  ACCESS_ENTITY_ALREADY_EXISTS: [493, 'ACCESS_ENTITY_ALREADY_EXISTS'],
  ACCESS_STORAGE_READONLY: [495, 'ACCESS_STORAGE_READONLY'],
  REQUIRED_PASSWORD: [194, 'REQUIRED_PASSWORD'],
  TOO_MANY_SIMULTANEOUS_QUERIES: [202, 'TOO_MANY_SIMULTANEOUS_QUERIES'],
  TIMEOUT_EXCEEDED: [159, 'TIMEOUT_EXCEEDED'],
  QUERY_IS_TOO_LARGE: [230, 'QUERY_IS_TOO_LARGE'],
  ACCESS_DENIED: [497, 'ACCESS_DENIED'],
  AUTHENTICATION_FAILED: [516, 'AUTHENTICATION_FAILED'],
  UNKNOWN_COMPRESSION_METHOD: [273, 'UNKNOWN_COMPRESSION_METHOD'],
  CANNOT_DECOMPRESS: [271, 'CANNOT_DECOMPRESS'],
  ABORTED: [236, 'ABORTED'],
  UNKNOWN_EXCEPTION: [1002, 'UNKNOWN_EXCEPTION'],
} as const satisfies Record<string, readonly [number, string]>;

export class ClickHouseHttpError extends Error {
  constructor(
    readonly chCode: number,
    readonly chType: string,
    readonly text: string,
  ) {
    super(text);
  }

  static of(kind: readonly [number, string], text: string): ClickHouseHttpError {
    return new ClickHouseHttpError(kind[0], kind[1], text);
  }
}

// Mirrors exceptionCodeToHTTPStatus in ClickHouse's HTTP server, keyed by the error type name
// (which the engine puts in every message) rather than by number.
const BAD_REQUEST = new Set([
  'BAD_ARGUMENTS',
  'CANNOT_COMPILE_REGEXP',
  'CANNOT_PARSE_TEXT',
  'CANNOT_PARSE_ESCAPE_SEQUENCE',
  'CANNOT_PARSE_QUOTED_STRING',
  'CANNOT_PARSE_DATE',
  'CANNOT_PARSE_DATETIME',
  'CANNOT_PARSE_NUMBER',
  'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING',
  'CANNOT_PARSE_IPV4',
  'CANNOT_PARSE_IPV6',
  'CANNOT_PARSE_INPUT_ASSERTION_FAILED',
  'CANNOT_PARSE_UUID',
  'DUPLICATE_COLUMN',
  'ILLEGAL_COLUMN',
  'UNKNOWN_ELEMENT_IN_AST',
  'UNKNOWN_TYPE_OF_AST_NODE',
  'THERE_IS_NO_COLUMN',
  'TOO_DEEP_AST',
  'TOO_BIG_AST',
  'UNEXPECTED_AST_STRUCTURE',
  'SYNTAX_ERROR',
  'INCORRECT_DATA',
  'TYPE_MISMATCH',
  'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  'UNKNOWN_COMPRESSION_METHOD',
  'CANNOT_DECOMPRESS',
]);
const NOT_FOUND = new Set([
  'UNKNOWN_TABLE',
  'UNKNOWN_FUNCTION',
  'UNKNOWN_IDENTIFIER',
  'UNKNOWN_TYPE',
  'UNKNOWN_STORAGE',
  'UNKNOWN_DATABASE',
  'UNKNOWN_SETTING',
  'UNKNOWN_DIRECTION_OF_SORTING',
  'UNKNOWN_AGGREGATE_FUNCTION',
  'UNKNOWN_FORMAT',
  'UNKNOWN_DATABASE_ENGINE',
  'UNKNOWN_TYPE_OF_QUERY',
  'UNKNOWN_ROLE',
]);
const FORBIDDEN = new Set([
  'UNKNOWN_USER',
  'WRONG_PASSWORD',
  'AUTHENTICATION_FAILED',
  'SET_NON_GRANTED_ROLE',
  'ACCESS_DENIED',
]);

export function httpStatusFor(type: string): number {
  if (type === 'REQUIRED_PASSWORD') return 401;
  if (FORBIDDEN.has(type)) return 403;
  if (BAD_REQUEST.has(type)) return 400;
  if (NOT_FOUND.has(type)) return 404;
  if (type === 'QUERY_IS_TOO_LARGE') return 413;
  if (type === 'NOT_IMPLEMENTED') return 501;
  if (type === 'SOCKET_TIMEOUT' || type === 'CANNOT_OPEN_FILE' || type === 'CANNOT_SCHEDULE_TASK') return 503;
  if (type === 'TOO_MANY_SIMULTANEOUS_QUERIES') return 503;
  if (type === 'TIMEOUT_EXCEEDED') return 408;
  return 500;
}

const ENGINE_MESSAGE =
  /^Code: (\d+)\. DB::Exception: ([\s\S]*?)(?: \(([A-Z0-9_]+)\))?(?: \(version [^)]*\))?\.?\s*$/;

/**
 * Turns whatever the engine threw into code, type and text. chDB errors carry `clickhouseCode`
 * and a message in the server's format (sometimes wrapped twice: the inner one is the real one).
 */
export function fromEngineError(err: unknown): ClickHouseHttpError {
  if (err instanceof ClickHouseHttpError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { clickhouseCode?: unknown } | null)?.clickhouseCode;
  let text = message.trim();
  let type: string | undefined;
  let numeric = typeof code === 'number' ? code : undefined;
  // Unwrap "Code: N. DB::Exception: Code: N. DB::Exception: … (T) (version V). (T)".
  for (let m = ENGINE_MESSAGE.exec(text); m; m = ENGINE_MESSAGE.exec(text)) {
    numeric ??= Number(m[1]);
    type ??= m[3];
    if (m[2] === text) break;
    text = m[2]!.trim();
    if (m[3]) type = m[3];
  }
  if (numeric === undefined) return ClickHouseHttpError.of(CH.UNKNOWN_EXCEPTION, text);
  return new ClickHouseHttpError(numeric, type ?? 'UNKNOWN_EXCEPTION', text.replace(/\.$/, ''));
}

/** The body ClickHouse sends for an error, which the client's parseError reads back. */
export function errorBody(err: ClickHouseHttpError, version: string): string {
  return `Code: ${err.chCode}. DB::Exception: ${err.text}. (${err.chType}) (version ${version})\n`;
}
