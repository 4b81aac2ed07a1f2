import { FormulaError, parseFormula, type Formula } from './formula.ts';

export const DEFINITION_LEVELS = ['TERMINAL', 'MERCHANT', 'REGION', 'ACQUIRER', 'FLEET'] as const;
export type DefinitionLevel = (typeof DEFINITION_LEVELS)[number];

/** A user-defined KPI as stored (`kpi_definitions.definition`) and served by the api. */
export interface KpiDefinitionSpec {
  name: string;
  description: string;
  formula: string;
  unit: string;
  level: DefinitionLevel;
  /** `above`: a value above the thresholds is bad (a decline share); `below`: below (an approval rate). */
  direction: 'above' | 'below';
  target: number | null;
  warning: number;
  critical: number;
  /** Minutes (event time) the value is measured over, ending with the newest minute. */
  window_minutes: number;
  /** Transactions the window needs before its value is judged: a quiet window says little. */
  min_count: number;
  /** An open alert resolves once the value has been within the thresholds for this many minutes. */
  resolve_after_minutes: number;
  enabled: boolean;
}

/** A definition with its formula parsed. */
export interface KpiDefinition extends Readonly<KpiDefinitionSpec> {
  readonly parsed: Formula;
}

export interface DefinitionProblem {
  field: string;
  message: string;
}

export const DEFINITION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Rule name of a definition's alerts: `kpi:<name>`, apart from the built-in rules. */
export const definitionRule = (name: string): string => `kpi:${name}`;

const DEFAULTS = {
  description: '',
  unit: '',
  direction: 'above',
  target: null,
  window_minutes: 5,
  min_count: 30,
  resolve_after_minutes: 10,
  enabled: true,
} as const;

const FIELDS = new Set([
  'name',
  'description',
  'formula',
  'unit',
  'level',
  'direction',
  'target',
  'warning',
  'critical',
  'window_minutes',
  'min_count',
  'resolve_after_minutes',
  'enabled',
]);

/**
 * Checks a definition as a client sent it (defaults filled in) and collects every problem, each
 * naming its field. `reserved`: names that would shadow built-in metrics.
 */
export function checkDefinition(
  raw: unknown,
  reserved: readonly string[],
): { ok: true; definition: KpiDefinition } | { ok: false; problems: DefinitionProblem[] } {
  const problems: DefinitionProblem[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, problems: [{ field: '', message: 'a definition is a JSON object' }] };
  const r = { ...DEFAULTS, ...(raw as Record<string, unknown>) } as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!FIELDS.has(key)) bad(key, 'is not a field of a KPI definition');

  const name = r['name'];
  if (typeof name !== 'string' || !DEFINITION_NAME.test(name))
    bad('name', 'must be 1-63 characters of a-z, 0-9 and _, starting with a letter');
  else if (reserved.includes(name)) bad('name', `"${name}" is a built-in metric`);
  const text = (field: string, max: number) => {
    const v = r[field];
    if (typeof v !== 'string' || v.length > max) bad(field, `must be a string of at most ${max} characters`);
  };
  text('description', 1000);
  text('unit', 16);
  let parsed: Formula | undefined;
  if (typeof r['formula'] !== 'string') bad('formula', 'must be a string such as "declined / count * 100"');
  else {
    try {
      parsed = parseFormula(r['formula']);
    } catch (err) {
      if (!(err instanceof FormulaError)) throw err;
      bad('formula', err.message);
    }
  }
  if (!(DEFINITION_LEVELS as readonly unknown[]).includes(r['level']))
    bad('level', `must be one of ${DEFINITION_LEVELS.join(', ')}`);
  if (r['direction'] !== 'above' && r['direction'] !== 'below')
    bad('direction', 'must be "above" or "below"');
  const finite = (field: string) => {
    const v = r[field];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      bad(field, 'must be a finite number');
      return undefined;
    }
    return v;
  };
  if (r['target'] !== null) finite('target');
  const warning = finite('warning');
  const critical = finite('critical');
  if (warning !== undefined && critical !== undefined) {
    if (r['direction'] === 'above' && critical < warning)
      bad('critical', 'must be at least the warning threshold when direction is "above"');
    if (r['direction'] === 'below' && critical > warning)
      bad('critical', 'must be at most the warning threshold when direction is "below"');
  }
  const int = (field: string, min: number, max: number) => {
    const v = r[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      bad(field, `must be an integer from ${min} to ${max}`);
  };
  int('window_minutes', 1, 60);
  int('min_count', 0, 1_000_000);
  int('resolve_after_minutes', 1, 10_080);
  if (typeof r['enabled'] !== 'boolean') bad('enabled', 'must be true or false');

  if (problems.length > 0 || parsed === undefined) return { ok: false, problems };
  const spec: KpiDefinitionSpec = {
    name: name as string,
    description: r['description'] as string,
    formula: r['formula'] as string,
    unit: r['unit'] as string,
    level: r['level'] as DefinitionLevel,
    direction: r['direction'] as 'above' | 'below',
    target: r['target'] as number | null,
    warning: warning as number,
    critical: critical as number,
    window_minutes: r['window_minutes'] as number,
    min_count: r['min_count'] as number,
    resolve_after_minutes: r['resolve_after_minutes'] as number,
    enabled: r['enabled'] as boolean,
  };
  return { ok: true, definition: Object.freeze({ ...spec, parsed }) };
}

/** The stored form: the spec without the parsed tree. */
export function specOf(d: KpiDefinition): KpiDefinitionSpec {
  const { parsed: _parsed, ...spec } = d;
  return spec;
}

/** Which threshold a value crosses, if any. */
export function thresholdCrossed(
  d: Pick<KpiDefinitionSpec, 'direction' | 'warning' | 'critical'>,
  value: number,
): 'CRITICAL' | 'WARNING' | null {
  const beyond = (t: number) => (d.direction === 'above' ? value > t : value < t);
  if (beyond(d.critical)) return 'CRITICAL';
  if (beyond(d.warning)) return 'WARNING';
  return null;
}
