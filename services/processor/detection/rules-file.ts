import { readFile, stat } from 'node:fs/promises';
import { RulesError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { RuleSeverity } from './hit.ts';
import { bool, duration, severity, type Param, type ParamSpecs, type ParamValues } from './rule-params.ts';

/** Settings every rule has, besides its own parameters. */
export const COMMON_PARAMS = {
  enabled: bool('Run the rule.'),
  severity: severity('Severity of its alerts.'),
  resolve_after: duration({
    doc: 'An open alert resolves once the rule has not fired for this long (event time).',
    min: 1_000,
    max: 7 * 86_400_000,
  }),
} as const;

export interface CommonSettings {
  readonly enabled: boolean;
  readonly severity: RuleSeverity;
  readonly resolve_after: number;
}

/** A rule as the rules file sees it: name, parameters with their checks, defaults. */
export interface RuleDefinition<S extends ParamSpecs = ParamSpecs> {
  readonly name: string;
  readonly doc: string;
  readonly params: S;
  readonly defaults: CommonSettings & ParamValues<S>;
}

/** Defines a rule, typed by its parameter specs. */
export function defineRule<const S extends ParamSpecs>(def: RuleDefinition<S>): RuleDefinition<S> {
  return def;
}

export type SettingsOf<D> = D extends RuleDefinition<infer S> ? CommonSettings & ParamValues<S> : never;

/** The parsed rules file: every known rule's settings (defaults where the file is silent). */
export class RuleSet {
  constructor(
    private readonly settings: ReadonlyMap<string, CommonSettings & Record<string, unknown>>,
    /** Where it came from ("defaults" or the file path) and its content hash, for logs. */
    readonly source: string,
  ) {}

  get<D extends RuleDefinition>(def: D): SettingsOf<D> {
    const s = this.settings.get(def.name);
    if (s === undefined) throw new Error(`rule ${def.name} is not part of this rule set`);
    return s as SettingsOf<D>;
  }

  /** Names of the enabled rules. */
  get enabled(): string[] {
    return [...this.settings].filter(([, s]) => s.enabled).map(([n]) => n);
  }
}

/** Every rule with its defaults. */
export function defaultRules(defs: readonly RuleDefinition[]): RuleSet {
  return new RuleSet(
    new Map(defs.map((d) => [d.name, { ...d.defaults } as CommonSettings & Record<string, unknown>])),
    'defaults',
  );
}

/**
 * Parses a rules file: `{"rules": {"<rule>": {"enabled": …, "severity": …, "resolve_after": …,
 * <parameters>…}}}`. A rule the file does not name keeps its defaults; a parameter it does not
 * name too. Every problem is collected (unknown rule or parameter, wrong type, out of range) and
 * thrown together as one RulesError.
 */
export function parseRules(text: string, source: string, defs: readonly RuleDefinition[]): RuleSet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RulesError(source, [`not JSON: ${(err as Error).message}`], { cause: err });
  }
  const problems: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new RulesError(source, ['expected a JSON object with a "rules" object']);
  }
  for (const key of Object.keys(doc)) {
    if (key !== 'rules' && key !== '$comment')
      problems.push(`unknown top-level key "${key}" (expected "rules")`);
  }
  const rules = (doc as { rules?: unknown }).rules;
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    throw new RulesError(source, [...problems, '"rules" must be an object keyed by rule name']);
  }
  const byName = new Map(defs.map((d) => [d.name, d]));
  for (const name of Object.keys(rules)) {
    if (!byName.has(name)) problems.push(`unknown rule "${name}" (known: ${[...byName.keys()].join(', ')})`);
  }
  const out = new Map<string, CommonSettings & Record<string, unknown>>();
  for (const def of defs) {
    const given = (rules as Record<string, unknown>)[def.name];
    const settings: Record<string, unknown> = { ...def.defaults };
    if (given !== undefined) {
      if (typeof given !== 'object' || given === null || Array.isArray(given)) {
        problems.push(`${def.name}: expected an object of settings`);
      } else {
        const specs: Record<string, Param<unknown>> = { ...COMMON_PARAMS, ...def.params };
        for (const [key, raw] of Object.entries(given)) {
          if (key === '$comment') continue;
          // Own keys only: "constructor" or "__proto__" must be unknown parameters, not Object's.
          const spec = Object.hasOwn(specs, key) ? specs[key] : undefined;
          if (spec === undefined) {
            problems.push(`${def.name}.${key}: unknown parameter (known: ${Object.keys(specs).join(', ')})`);
            continue;
          }
          const r = spec.parse(raw);
          if (r.ok) settings[key] = r.value;
          else problems.push(`${def.name}.${key}: expected ${r.expected}, got ${JSON.stringify(raw)}`);
        }
      }
    }
    out.set(def.name, Object.freeze(settings) as CommonSettings & Record<string, unknown>);
  }
  if (problems.length > 0) throw new RulesError(source, problems);
  return new RuleSet(out, source);
}

/** The rules file as JSON with every rule and its defaults: the shipped file and the docs' reference. */
export function renderDefaults(defs: readonly RuleDefinition[]): string {
  const rules: Record<string, Record<string, unknown>> = {};
  for (const def of defs) {
    const specs: Record<string, Param<unknown>> = { ...COMMON_PARAMS, ...def.params };
    rules[def.name] = Object.fromEntries(
      Object.entries(def.defaults).map(([k, v]) => [k, specs[k]?.show(v) ?? v]),
    );
  }
  return `${JSON.stringify({ rules }, null, 2)}\n`;
}

/**
 * The rules the processor runs: the file at `path` (or the defaults when there is none), checked
 * for changes with `reloadIfChanged()` — a file that fails to parse is logged and refused, and the
 * rules in force stay.
 */
export class RulesSource {
  private rules: RuleSet;
  private seen: string | undefined;

  private constructor(
    private readonly path: string | undefined,
    private readonly defs: readonly RuleDefinition[],
    private readonly logger: Logger,
    initial: RuleSet,
    private readonly onReload?: (outcome: 'applied' | 'refused') => void,
  ) {
    this.rules = initial;
  }

  /** The built-in defaults, never reloaded. */
  static defaults(defs: readonly RuleDefinition[], logger: Logger): RulesSource {
    return new RulesSource(undefined, defs, logger, defaultRules(defs));
  }

  /** Loads the file once; a bad file at start is an error (the caller refuses to start). */
  static async open(
    path: string | undefined,
    defs: readonly RuleDefinition[],
    logger: Logger,
    onReload?: (outcome: 'applied' | 'refused') => void,
  ): Promise<RulesSource> {
    if (path === undefined) return new RulesSource(undefined, defs, logger, defaultRules(defs), onReload);
    const { text, stamp } = await readRules(path);
    const source = new RulesSource(path, defs, logger, parseRules(text, path, defs), onReload);
    source.seen = stamp;
    return source;
  }

  get current(): RuleSet {
    return this.rules;
  }

  /** Re-reads the file when its size or mtime changed; true when new rules were applied. */
  async reloadIfChanged(): Promise<boolean> {
    if (this.path === undefined) return false;
    let read: { text: string; stamp: string };
    try {
      const st = await stat(this.path);
      if (`${st.mtimeMs}:${st.size}` === this.seen) return false;
      read = await readRules(this.path);
    } catch (err) {
      this.logger.error({ err, path: this.path }, 'rules file unreadable; the rules in force stay');
      this.onReload?.('refused');
      return false;
    }
    this.seen = read.stamp;
    try {
      this.rules = parseRules(read.text, this.path, this.defs);
    } catch (err) {
      const problems = err instanceof RulesError ? err.problems : [(err as Error).message];
      this.logger.error(
        { path: this.path, problems, code: (err as { code?: string }).code },
        'rules file refused; the rules in force stay',
      );
      this.onReload?.('refused');
      return false;
    }
    this.logger.info({ path: this.path, enabled: this.rules.enabled }, 'rules reloaded');
    this.onReload?.('applied');
    return true;
  }
}

async function readRules(path: string): Promise<{ text: string; stamp: string }> {
  try {
    const st = await stat(path);
    return { text: await readFile(path, 'utf8'), stamp: `${st.mtimeMs}:${st.size}` };
  } catch (err) {
    throw new RulesError(path, [`cannot read: ${(err as Error).message}`], { cause: err });
  }
}
