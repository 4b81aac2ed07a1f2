/**
 * Formulas of user-defined KPIs: arithmetic (`+ - * /`, parentheses, numbers) over the base
 * metrics of a window. The processor (thresholds) and the api (`/v1/kpis`) evaluate the same tree,
 * so a definition means the same number in an alert and in a query.
 */

/** The numbers a formula may name; each has one meaning in both evaluators (docs/API.md). */
export const BASE_METRICS = [
  'count',
  'approved',
  'declined',
  'timeouts',
  'refunds',
  'reversals',
  'responses',
  'tps',
  'latency_p50_ms',
  'latency_p95_ms',
  'latency_p99_ms',
] as const;
export type BaseMetric = (typeof BASE_METRICS)[number];

/** The latency metrics and the quantile of the merged DDSketch each one is. */
export const LATENCY_QUANTILES = {
  latency_p50_ms: 0.5,
  latency_p95_ms: 0.95,
  latency_p99_ms: 0.99,
} as const;
export type LatencyQuantileMetric = keyof typeof LATENCY_QUANTILES;

/** The quantile a metric name stands for, or undefined for any other metric. */
export const quantileOf = (metric: string): number | undefined =>
  Object.hasOwn(LATENCY_QUANTILES, metric) ? LATENCY_QUANTILES[metric as LatencyQuantileMetric] : undefined;

export type Formula =
  | { readonly kind: 'metric'; readonly metric: BaseMetric }
  | { readonly kind: 'number'; readonly value: number }
  | {
      readonly kind: 'op';
      readonly op: '+' | '-' | '*' | '/';
      readonly left: Formula;
      readonly right: Formula;
    }
  | { readonly kind: 'neg'; readonly operand: Formula };

export class FormulaError extends Error {
  constructor(
    message: string,
    /** Character offset in the formula where the problem is. */
    readonly at: number,
  ) {
    super(message);
  }
}

const MAX_LENGTH = 500;
const MAX_DEPTH = 32;

type Token = { kind: 'num'; value: number; at: number } | { kind: 'name' | 'sym'; text: string; at: number };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/()]))/y;
  let i = 0;
  while (i < text.length) {
    if (/^\s*$/.test(text.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null) {
      const at = i + (text.slice(i).length - text.slice(i).trimStart().length);
      throw new FormulaError(`unexpected character "${text[at]}" at ${at}`, at);
    }
    const at = m.index + (m[0].length - m[0].trimStart().length);
    if (m[1] !== undefined) out.push({ kind: 'num', value: Number(m[1]), at });
    else if (m[2] !== undefined) out.push({ kind: 'name', text: m[2], at });
    else out.push({ kind: 'sym', text: m[3] as string, at });
    i = re.lastIndex;
  }
  return out;
}

/** Parses a formula; a FormulaError says what is wrong and where. */
export function parseFormula(text: string): Formula {
  if (text.length > MAX_LENGTH) throw new FormulaError(`longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const isSym = (t: Token | undefined, s: string) => t?.kind === 'sym' && t.text === s;
  const end = () => text.length;

  const primary = (depth: number): Formula => {
    if (depth > MAX_DEPTH) throw new FormulaError(`nested deeper than ${MAX_DEPTH}`, peek()?.at ?? end());
    const t = tokens[pos++];
    if (t === undefined) throw new FormulaError('ends where a metric or number was expected', end());
    if (t.kind === 'num') return { kind: 'number', value: t.value };
    if (t.kind === 'name') {
      if (!(BASE_METRICS as readonly string[]).includes(t.text))
        throw new FormulaError(`unknown metric "${t.text}" (known: ${BASE_METRICS.join(', ')})`, t.at);
      return { kind: 'metric', metric: t.text as BaseMetric };
    }
    if (t.text === '(') {
      const inner = sum(depth + 1);
      if (!isSym(peek(), ')')) throw new FormulaError(`missing ")" for "(" at ${t.at}`, peek()?.at ?? end());
      pos += 1;
      return inner;
    }
    if (t.text === '-') return { kind: 'neg', operand: primary(depth + 1) };
    throw new FormulaError(`unexpected "${t.text}" at ${t.at}`, t.at);
  };
  const product = (depth: number): Formula => {
    let left = primary(depth);
    while (isSym(peek(), '*') || isSym(peek(), '/')) {
      const op = (tokens[pos++] as { text: '*' | '/' }).text;
      left = { kind: 'op', op, left, right: primary(depth) };
    }
    return left;
  };
  const sum = (depth: number): Formula => {
    let left = product(depth);
    while (isSym(peek(), '+') || isSym(peek(), '-')) {
      const op = (tokens[pos++] as { text: '+' | '-' }).text;
      left = { kind: 'op', op, left, right: product(depth) };
    }
    return left;
  };

  if (tokens.length === 0) throw new FormulaError('is empty', 0);
  const f = sum(0);
  const rest = peek();
  if (rest !== undefined) throw new FormulaError(`unexpected "${tokenText(rest)}" at ${rest.at}`, rest.at);
  if (metricsOf(f).size === 0) throw new FormulaError('names no metric: it would be a constant', 0);
  return f;
}

function tokenText(t: Token): string {
  return t.kind === 'num' ? String(t.value) : t.text;
}

/** The base metrics a formula reads. */
export function metricsOf(f: Formula, into = new Set<BaseMetric>()): Set<BaseMetric> {
  if (f.kind === 'metric') into.add(f.metric);
  else if (f.kind === 'op') {
    metricsOf(f.left, into);
    metricsOf(f.right, into);
  } else if (f.kind === 'neg') metricsOf(f.operand, into);
  return into;
}

/**
 * The formula's value; null when a metric it reads has none (no latency without responses) or it
 * divides by zero: an empty window has no decline share, not an infinite one.
 */
export function evaluateFormula(f: Formula, value: (m: BaseMetric) => number | null): number | null {
  switch (f.kind) {
    case 'number':
      return f.value;
    case 'metric':
      return value(f.metric);
    case 'neg': {
      const v = evaluateFormula(f.operand, value);
      return v === null ? null : -v;
    }
    case 'op': {
      const l = evaluateFormula(f.left, value);
      const r = evaluateFormula(f.right, value);
      if (l === null || r === null) return null;
      if (f.op === '/') return r === 0 ? null : l / r;
      return f.op === '+' ? l + r : f.op === '-' ? l - r : l * r;
    }
  }
}
