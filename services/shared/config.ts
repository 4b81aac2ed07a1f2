import { ConfigError } from './errors.ts';

/** The environment a config is parsed from; `main.ts` passes `process.env`, tests pass a literal. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable: its name, what it means, its default, and how to parse it. */
export interface Var<T> {
  readonly key: string;
  readonly doc: string;
  /** Shown in the README; `undefined` means the variable is required. */
  readonly defaultText: string | undefined;
  parse(env: Env): T;
}

interface Common<T> {
  key: string;
  doc: string;
  default?: T;
  /** Holds a secret: an invalid value is not repeated in the error. */
  secret?: boolean;
}

function make<T>(
  opts: Common<T>,
  expected: string,
  convert: (raw: string) => T | undefined,
  show: (v: T) => string = String,
): Var<T> {
  return {
    key: opts.key,
    doc: opts.doc,
    defaultText: opts.default === undefined ? undefined : show(opts.default),
    parse(env) {
      const raw = env[opts.key];
      if (raw === undefined || raw.trim() === '') {
        if (opts.default !== undefined) return opts.default;
        throw new ConfigError(opts.key, raw, `${expected} (required)`);
      }
      const shown = opts.secret ? '(hidden)' : raw;
      let value: T | undefined;
      try {
        value = convert(raw.trim());
      } catch (err) {
        throw new ConfigError(opts.key, shown, `${expected}: ${(err as Error).message}`);
      }
      if (value === undefined) throw new ConfigError(opts.key, shown, expected);
      return value;
    },
  };
}

/**
 * A variable with its own parser; `convert` returns undefined for a value it refuses, or throws an
 * Error whose message says what exactly is wrong.
 */
export function custom<T>(
  opts: Common<T>,
  expected: string,
  convert: (raw: string) => T | undefined,
  show?: (v: T) => string,
): Var<T> {
  return make(opts, expected, convert, show);
}

export function str(opts: Common<string> & { pattern?: RegExp }): Var<string> {
  const expected = opts.pattern ? `a string matching ${String(opts.pattern)}` : 'a non-empty string';
  return make(opts, expected, (raw) => (opts.pattern && !opts.pattern.test(raw) ? undefined : raw));
}

/** Makes a variable optional: unset or blank gives `undefined`; a value set must still parse. */
export function optional<T>(inner: Var<T>): Var<T | undefined> {
  return {
    key: inner.key,
    doc: inner.doc,
    defaultText: '(unset)',
    parse: (env) => {
      const raw = env[inner.key];
      return raw === undefined || raw.trim() === '' ? undefined : inner.parse(env);
    },
  };
}

/** A string that may legitimately be absent (no default, not required). */
export function optionalStr(opts: { key: string; doc: string; pattern?: RegExp }): Var<string | undefined> {
  return optional(str(opts));
}

export function num(opts: Common<number> & { min?: number; max?: number; integer?: boolean }): Var<number> {
  const { min = -Infinity, max = Infinity, integer = false } = opts;
  const kind = integer ? 'an integer' : 'a number';
  const range =
    min > -Infinity && max < Infinity
      ? ` between ${min} and ${max}`
      : min > -Infinity
        ? ` >= ${min}`
        : max < Infinity
          ? ` <= ${max}`
          : '';
  return make(opts, `${kind}${range}`, (raw) => {
    if (!/^[-+]?\d+(\.\d+)?$/.test(raw)) return undefined;
    const n = Number(raw);
    if (integer && !Number.isInteger(n)) return undefined;
    return n >= min && n <= max ? n : undefined;
  });
}

export function int(opts: Common<number> & { min?: number; max?: number }): Var<number> {
  return num({ ...opts, integer: true });
}

export function port(opts: Common<number>): Var<number> {
  return num({ ...opts, integer: true, min: 0, max: 65535 });
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

export function bool(opts: Common<boolean>): Var<boolean> {
  return make(opts, 'one of true/false/1/0/yes/no/on/off', (raw) => {
    const v = raw.toLowerCase();
    return TRUE.has(v) ? true : FALSE.has(v) ? false : undefined;
  });
}

export function oneOf<const T extends string>(opts: Common<T> & { values: readonly T[] }): Var<T> {
  return make(opts, `one of ${opts.values.join(', ')}`, (raw) =>
    (opts.values as readonly string[]).includes(raw) ? (raw as T) : undefined,
  );
}

export function url(opts: Common<string> & { protocols?: readonly string[] }): Var<string> {
  const protocols = opts.protocols ?? ['http:', 'https:'];
  return make(opts, `a URL (${protocols.join(' or ')})`, (raw) => {
    try {
      return protocols.includes(new URL(raw).protocol) ? raw : undefined;
    } catch {
      return undefined;
    }
  });
}

export function optionalUrl(opts: {
  key: string;
  doc: string;
  protocols?: readonly string[];
}): Var<string | undefined> {
  return optional(url(opts));
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `5s`, `2m`, `1h`, `1d`, or a bare number of milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) return undefined;
  const factor = UNIT_MS[m[2] ?? 'ms'];
  return factor === undefined ? undefined : Math.round(Number(m[1]) * factor);
}

/** A duration in milliseconds. */
export function duration(opts: Common<number> & { min?: number; max?: number }): Var<number> {
  const { min = 0, max = Infinity } = opts;
  return make(
    opts,
    `a duration like 500ms, 5s, 2m, 1h (between ${min}ms and ${max === Infinity ? 'unbounded' : `${max}ms`})`,
    (raw) => {
      const ms = parseDuration(raw);
      return ms !== undefined && ms >= min && ms <= max ? ms : undefined;
    },
    (v) => `${v}ms`,
  );
}

/** A comma-separated list of non-empty items. */
export function list(opts: Common<readonly string[]> & { item?: RegExp }): Var<readonly string[]> {
  return make(
    opts,
    `a comma-separated list${opts.item ? ` of items matching ${String(opts.item)}` : ''}`,
    (raw) => {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      if (items.length === 0) return undefined;
      if (opts.item && !items.every((s) => opts.item!.test(s))) return undefined;
      return Object.freeze(items);
    },
    (v) => v.join(','),
  );
}

export type Spec = Readonly<Record<string, Var<unknown>>>;
export type Parsed<S extends Spec> = { readonly [K in keyof S]: S[K] extends Var<infer T> ? T : never };

/**
 * Parses every variable of `spec` from `env`. All problems are collected so an operator fixes
 * them in one go; the first is thrown with the rest attached as `cause`.
 */
export function parseConfig<S extends Spec>(spec: S, env: Env): Parsed<S> {
  const out: Record<string, unknown> = {};
  const errors: ConfigError[] = [];
  for (const [name, v] of Object.entries(spec)) {
    try {
      out[name] = v.parse(env);
    } catch (err) {
      if (err instanceof ConfigError) errors.push(err);
      else throw err;
    }
  }
  const [first, ...rest] = errors;
  if (first) {
    if (rest.length > 0) {
      throw new ConfigError(
        first.variable,
        first.value,
        `${first.expected}; also invalid: ${rest.map((e) => e.variable).join(', ')}`,
      );
    }
    throw first;
  }
  return Object.freeze(out) as Parsed<S>;
}
