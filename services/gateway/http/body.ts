import { BODY_ERRORS, type BodyErrorCode, type Rejection } from './reasons.ts';

/**
 * Raw request body → the events in it, each still unvalidated JSON (validate.ts takes it from
 * there). Whole-body problems throw {@link BodyError}; problems of one event become a per-item
 * rejection so the others still go on.
 *
 * - `application/json`: one event object, or an array of them. An empty array, or a body that is
 *   neither object nor array, is a body error; an array element that is not an object is a
 *   per-item `not_an_object`.
 * - `application/x-ndjson` / `application/ndjson`: one event per line (LF or CRLF). Lines holding
 *   only whitespace are skipped and take no index, so item i is the i-th non-blank line (`line`
 *   gives its 1-based line number). A line that is not JSON is a per-item `invalid_json`, one
 *   nested too deep a per-item `too_deep`, one that is not an object a per-item `not_an_object`.
 *
 * Nesting depth is checked with a linear scan before anything parses, so a body of a million `[`
 * costs one pass and no recursion. `maxDepth` is the depth of one event (an event object is 1, its
 * basket 2, the basket's items array 3, one line item 4); the array around a JSON batch does not
 * count. JSON.parse makes `__proto__` keys own properties, and nothing here copies objects, so no
 * key in a body can reach a prototype.
 */

export class BodyError extends Error {
  override readonly name = 'BodyError';
  /** HTTP status to answer with. */
  readonly status: number;
  constructor(
    readonly code: BodyErrorCode,
    message: string,
  ) {
    super(message);
    this.status = BODY_ERRORS[code].status;
  }
}

export interface BodyLimits {
  /** Most events in one body (array elements or non-blank NDJSON lines); more is `too_many_events`. */
  maxEvents: number;
  /** Deepest nesting of objects and arrays within one event; deeper is `too_deep`. */
  maxDepth: number;
}

export type BodyFormat = 'json' | 'ndjson';

/** One event of the body: its parsed JSON, or why it could not be read. `line` is set for NDJSON. */
export type ParsedItem =
  { ok: true; value: unknown; line?: number } | { ok: false; rejection: Rejection; line?: number };

export interface ParsedBody {
  format: BodyFormat;
  items: ParsedItem[];
}

const MEDIA_TYPES: Readonly<Record<string, BodyFormat>> = {
  'application/json': 'json',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
};

const UNSUPPORTED = 'Content-Type must be application/json, application/x-ndjson or application/ndjson';

/**
 * The body format named by a Content-Type header. Type and parameter names are case-insensitive
 * (RFC 9110); a `charset` other than utf-8 is refused (we decode UTF-8 only and would otherwise
 * misread the bytes), other parameters are ignored.
 */
export function bodyFormatOf(contentType: string | undefined): BodyFormat {
  if (contentType === undefined) throw new BodyError('unsupported_media_type', `${UNSUPPORTED} (none given)`);
  const [type = '', ...params] = contentType.split(';');
  const format = MEDIA_TYPES[type.trim().toLowerCase()];
  if (format === undefined) throw new BodyError('unsupported_media_type', UNSUPPORTED);
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const value = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (value !== 'utf-8')
      throw new BodyError('unsupported_media_type', 'the only charset accepted is utf-8');
  }
  return format;
}

const NOT_AN_OBJECT: Rejection = {
  code: 'not_an_object',
  path: '',
  message: 'the event must be a JSON object',
};

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function item(value: unknown, line?: number): ParsedItem {
  const at = line === undefined ? {} : { line };
  return isObject(value) ? { ok: true, value, ...at } : { ok: false, rejection: NOT_AN_OBJECT, ...at };
}

const isJsonWhitespace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isJsonWhitespace(text.charCodeAt(i))) return false;
  return true;
}

/**
 * Offset of the first `[` or `{` (outside strings) that opens level `maxDepth + 1`, or -1. One
 * pass, constant memory; unbalanced or otherwise broken JSON is scanned all the same (JSON.parse
 * reports it afterwards).
 */
export function tooDeepAt(text: string, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped, even if it is a quote
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth > 0) depth--;
    }
  }
  return -1;
}

class SyntaxAt {
  constructor(readonly offset: number) {}
}

/**
 * Offset of the first JSON syntax error in `text`, or -1 if there is none. Needed because
 * JSON.parse's messages are not a stable interface and, in Node 20, quote the input around the
 * error, which may be card data. Recursive descent: only called after {@link tooDeepAt} has
 * bounded the nesting, so the recursion is at most `maxDepth` deep.
 */
export function syntaxErrorAt(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw new SyntaxAt(i);
  };
  const skipWhitespace = (): void => {
    while (i < text.length && isJsonWhitespace(text.charCodeAt(i))) i++;
  };
  const expect = (ch: string): void => {
    if (text[i] !== ch) fail();
    i++;
  };
  const literal = (word: string): void => {
    for (const ch of word) expect(ch);
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const HEX = /^[0-9a-fA-F]$/;
  const string = (): void => {
    expect('"');
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail(); // control characters must be escaped
      if (c !== 0x5c) {
        i++;
        continue;
      }
      i++;
      const e = text[i];
      if (e === 'u') {
        i++;
        for (let k = 0; k < 4; k++, i++) if (!HEX.test(text[i] ?? '')) fail();
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
        i++;
      } else {
        fail();
      }
    }
  };
  const value = (): void => {
    skipWhitespace();
    const c = text[i];
    if (c === '{') {
      i++;
      skipWhitespace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipWhitespace();
        string();
        skipWhitespace();
        expect(':');
        value();
        skipWhitespace();
        if (text[i] !== ',') break;
        i++;
      }
      expect('}');
    } else if (c === '[') {
      i++;
      skipWhitespace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        skipWhitespace();
        if (text[i] !== ',') break;
        i++;
      }
      expect(']');
    } else if (c === '"') {
      string();
    } else if (c === 't') {
      literal('true');
    } else if (c === 'f') {
      literal('false');
    } else if (c === 'n') {
      literal('null');
    } else {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) fail();
      i = NUMBER.lastIndex;
    }
  };
  try {
    value();
    skipWhitespace();
    if (i < text.length) fail();
    return -1;
  } catch (err) {
    if (err instanceof SyntaxAt) return err.offset;
    throw err;
  }
}

/** 1-based line and column of an offset; columns count UTF-16 code units, as editors mostly do. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

/** JSON.parse, or the position of the first syntax error (never the text around it). */
function parseJson(text: string): { ok: true; value: unknown } | { ok: false; line: number; column: number } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    const offset = syntaxErrorAt(text);
    return { ok: false, ...lineAndColumn(text, offset < 0 ? text.length : offset) };
  }
}

function tooMany(count: number, limits: BodyLimits): BodyError {
  return new BodyError(
    'too_many_events',
    `the body holds ${count} events, at most ${limits.maxEvents} are accepted`,
  );
}

function parseJsonBody(text: string, limits: BodyLimits): ParsedItem[] {
  let first = 0;
  while (first < text.length && isJsonWhitespace(text.charCodeAt(first))) first++;
  const batch = text[first] === '[';
  const deep = tooDeepAt(text, limits.maxDepth + (batch ? 1 : 0));
  if (deep >= 0) {
    const { line, column } = lineAndColumn(text, deep);
    throw new BodyError(
      'too_deep',
      `the body nests objects and arrays deeper than ${limits.maxDepth} levels per event (line ${line}, column ${column})`,
    );
  }
  const parsed = parseJson(text);
  if (!parsed.ok) {
    throw new BodyError(
      'invalid_json',
      `the body is not valid JSON (line ${parsed.line}, column ${parsed.column})`,
    );
  }
  const { value } = parsed;
  if (Array.isArray(value)) {
    if (value.length === 0) throw new BodyError('empty_body', 'the body is an empty array: no events');
    if (value.length > limits.maxEvents) throw tooMany(value.length, limits);
    return value.map((v) => item(v));
  }
  if (!isObject(value)) {
    throw new BodyError('not_an_object', 'the body must be an event object or an array of event objects');
  }
  return [item(value)];
}

function parseNdjsonBody(text: string, limits: BodyLimits): ParsedItem[] {
  const lines: { line: number; text: string }[] = [];
  text.split('\n').forEach((t, i) => {
    if (!isBlank(t)) lines.push({ line: i + 1, text: t });
  });
  if (lines.length === 0) throw new BodyError('empty_body', 'the body holds no events (only blank lines)');
  if (lines.length > limits.maxEvents) throw tooMany(lines.length, limits);
  return lines.map(({ line, text: t }): ParsedItem => {
    const deep = tooDeepAt(t, limits.maxDepth);
    if (deep >= 0) {
      return {
        ok: false,
        line,
        rejection: {
          code: 'too_deep',
          path: '',
          message: `line ${line} nests objects and arrays deeper than ${limits.maxDepth} levels (column ${deep + 1})`,
        },
      };
    }
    const parsed = parseJson(t);
    if (!parsed.ok) {
      return {
        ok: false,
        line,
        rejection: {
          code: 'invalid_json',
          path: '',
          message: `line ${line} is not valid JSON (column ${parsed.column})`,
        },
      };
    }
    return item(parsed.value, line);
  });
}

/**
 * Reads a request body: checks the media type, decodes strict UTF-8 (a leading BOM is dropped),
 * and splits it into events as described at the top of this module.
 *
 * @throws BodyError for a problem with the body as a whole; nothing else for any input
 */
export function parseBody(body: Uint8Array, contentType: string | undefined, limits: BodyLimits): ParsedBody {
  const format = bodyFormatOf(contentType);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new BodyError('invalid_utf8', 'the body is not valid UTF-8');
  }
  if (isBlank(text)) throw new BodyError('empty_body', 'the body is empty');
  return { format, items: format === 'json' ? parseJsonBody(text, limits) : parseNdjsonBody(text, limits) };
}
