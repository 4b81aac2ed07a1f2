import { parseDuration } from '../../shared/config.ts';
import type { RuleSeverity } from './hit.ts';

/**
 * Typed parameters of detection rules, as written in the rules file (JSON). Each parser returns the
 * value or a message saying what was expected; the loader prefixes it with the rule and parameter.
 */
export interface Param<T> {
  readonly doc: string;
  /** How the default is written in the docs and the shipped file. */
  show(v: T): unknown;
  parse(raw: unknown): { ok: true; value: T } | { ok: false; expected: string };
}

function numberParam(opts: { doc: string; min?: number; max?: number; integer?: boolean }): Param<number> {
  const range = `${opts.min ?? '-∞'}..${opts.max ?? '∞'}`;
  const expected = `${opts.integer ? 'an integer' : 'a number'} in ${range}`;
  return {
    doc: opts.doc,
    show: (v) => v,
    parse(raw) {
      if (typeof raw !== 'number' || !Number.isFinite(raw)) return { ok: false, expected };
      if (opts.integer && !Number.isInteger(raw)) return { ok: false, expected };
      if (opts.min !== undefined && raw < opts.min) return { ok: false, expected };
      if (opts.max !== undefined && raw > opts.max) return { ok: false, expected };
      return { ok: true, value: raw };
    },
  };
}

export const int = (opts: { doc: string; min?: number; max?: number }): Param<number> =>
  numberParam({ ...opts, integer: true });

export const num = (opts: { doc: string; min?: number; max?: number }): Param<number> => numberParam(opts);

/** A share in (0, 1]. */
export const share = (doc: string): Param<number> => {
  const inner = numberParam({ doc, min: 0, max: 1 });
  return {
    ...inner,
    parse(raw) {
      const r = inner.parse(raw);
      return r.ok && r.value === 0 ? { ok: false, expected: 'a share in (0, 1]' } : r;
    },
  };
};

/** A duration: "90s", "10m", "2h", "1d" or whole milliseconds. */
export function duration(opts: { doc: string; min?: number; max?: number }): Param<number> {
  const expected = `a duration like "90s", "10m" or "2h"${opts.min !== undefined ? ` of at least ${opts.min} ms` : ''}${opts.max !== undefined ? ` and at most ${opts.max} ms` : ''}`;
  return {
    doc: opts.doc,
    show: (v) =>
      v % 3_600_000 === 0 ? `${v / 3_600_000}h` : v % 60_000 === 0 ? `${v / 60_000}m` : `${v / 1000}s`,
    parse(raw) {
      const ms =
        typeof raw === 'number' && Number.isInteger(raw) && raw >= 0
          ? raw
          : typeof raw === 'string'
            ? parseDuration(raw)
            : undefined;
      if (ms === undefined) return { ok: false, expected };
      if (opts.min !== undefined && ms < opts.min) return { ok: false, expected };
      if (opts.max !== undefined && ms > opts.max) return { ok: false, expected };
      return { ok: true, value: ms };
    },
  };
}

/** A non-empty list of strings matching `item`. */
export function stringList(opts: { doc: string; item: RegExp }): Param<readonly string[]> {
  const expected = `a non-empty array of strings matching ${String(opts.item)}`;
  return {
    doc: opts.doc,
    show: (v) => v,
    parse(raw) {
      if (!Array.isArray(raw) || raw.length === 0) return { ok: false, expected };
      if (!raw.every((x) => typeof x === 'string' && opts.item.test(x))) return { ok: false, expected };
      return { ok: true, value: Object.freeze([...new Set(raw as string[])]) };
    },
  };
}

export const bool = (doc: string): Param<boolean> => ({
  doc,
  show: (v) => v,
  parse: (raw) =>
    typeof raw === 'boolean' ? { ok: true, value: raw } : { ok: false, expected: 'true or false' },
});

const SEVERITIES: readonly RuleSeverity[] = ['INFO', 'WARNING', 'CRITICAL'];

export const severity = (doc: string): Param<RuleSeverity> => ({
  doc,
  show: (v) => v,
  parse: (raw) =>
    typeof raw === 'string' && (SEVERITIES as readonly string[]).includes(raw)
      ? { ok: true, value: raw as RuleSeverity }
      : { ok: false, expected: `one of ${SEVERITIES.join(', ')}` },
});

export type ParamSpecs = Readonly<Record<string, Param<unknown>>>;
export type ParamValues<S extends ParamSpecs> = {
  readonly [K in keyof S]: S[K] extends Param<infer T> ? T : never;
};
