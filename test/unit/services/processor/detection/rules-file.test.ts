import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { duration, int, share, stringList } from '../../../../../services/processor/detection/rule-params.ts';
import {
  COMMON_PARAMS,
  defaultRules,
  defineRule,
  parseRules,
  renderDefaults,
  RulesSource,
  type RuleDefinition,
} from '../../../../../services/processor/detection/rules-file.ts';
import { ErrorCodes, RulesError } from '../../../../../services/shared/errors.ts';
import { createLogger } from '../../../../../services/shared/logger.ts';

/** Rules of this test's own, so the rules shipped with the processor can change freely. */
const bursts = defineRule({
  name: 'bursts',
  doc: 'A test rule.',
  params: {
    window: duration({ doc: 'span', min: 1_000, max: 3_600_000 }),
    min_count: int({ doc: 'count', min: 2, max: 100 }),
    codes: stringList({ doc: 'codes', item: /^[0-9]{2}$/ }),
  },
  defaults: {
    enabled: true,
    severity: 'WARNING',
    resolve_after: 300_000,
    window: 60_000,
    min_count: 3,
    codes: ['05', '51'],
  },
});

const ratios = defineRule({
  name: 'ratios',
  doc: 'Another test rule, off by default.',
  params: { share: share('share') },
  defaults: { enabled: false, severity: 'INFO', resolve_after: 90_000, share: 0.5 },
});

const DEFS: readonly RuleDefinition[] = [bursts, ratios];

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof RulesError) return err.problems;
    throw err;
  }
  throw new Error('expected a RulesError');
}

const silent = createLogger({ service: 'test', level: 'silent' });

/** A logger whose JSON lines the test reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ service: 'test', level: 'info', destination }), lines };
}

describe('parseRules', () => {
  it('gives every rule its defaults when the file names none', () => {
    const set = parseRules('{"rules": {}}', '/etc/rules.json', DEFS);
    expect(set.get(bursts)).toEqual(bursts.defaults);
    expect(set.get(ratios)).toEqual(ratios.defaults);
    expect(set.source).toBe('/etc/rules.json');
    expect(set.enabled).toEqual(['bursts']);
  });

  it('takes the parameters the file sets and keeps the defaults of those it does not', () => {
    const set = parseRules(
      JSON.stringify({
        rules: {
          bursts: { window: '2m', codes: ['14'], severity: 'CRITICAL' },
          ratios: { enabled: true, resolve_after: 5_000 },
        },
      }),
      'f',
      DEFS,
    );
    expect(set.get(bursts)).toEqual({
      ...bursts.defaults,
      window: 120_000,
      codes: ['14'],
      severity: 'CRITICAL',
    });
    expect(set.get(ratios)).toEqual({ ...ratios.defaults, enabled: true, resolve_after: 5_000 });
    expect(set.enabled).toEqual(['bursts', 'ratios']);
  });

  it('ignores $comment keys at the top and inside a rule', () => {
    const set = parseRules(
      '{"$comment": "ops", "rules": {"bursts": {"$comment": "tuned", "min_count": 7}}}',
      'f',
      DEFS,
    );
    expect(set.get(bursts).min_count).toBe(7);
  });

  it('hands out frozen settings, so a rule cannot change what others read', () => {
    const set = parseRules('{"rules": {"bursts": {"min_count": 4}}}', 'f', DEFS);
    expect(Object.isFrozen(set.get(bursts))).toBe(true);
    expect(Object.isFrozen(set.get(ratios))).toBe(true);
  });

  it('collects every problem of a file into one RulesError naming rule and parameter', () => {
    const text = JSON.stringify({
      rulez: {},
      rules: {
        bursts: { window: '1ms', min_count: 2.5, colour: 'red', enabled: 'yes', codes: [] },
        ratios: { share: 0, severity: 'UNKNOWN', resolve_after: '8d' },
        card_tsting: {},
      },
    });
    let caught: unknown;
    try {
      parseRules(text, '/etc/pospulse/rules.json', DEFS);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RulesError);
    const err = caught as RulesError;
    expect(err.code).toBe(ErrorCodes.RULES);
    expect(err.code).toBe('PP_ERR_RULES');
    expect(err.code).toBe(RulesError.code);
    expect(err.source).toBe('/etc/pospulse/rules.json');
    expect(err.problems).toEqual([
      'unknown top-level key "rulez" (expected "rules")',
      'unknown rule "card_tsting" (known: bursts, ratios)',
      'bursts.window: expected a duration like "90s", "10m" or "2h" of at least 1000 ms and at most 3600000 ms, got "1ms"',
      'bursts.min_count: expected an integer in 2..100, got 2.5',
      'bursts.colour: unknown parameter (known: enabled, severity, resolve_after, window, min_count, codes)',
      'bursts.enabled: expected true or false, got "yes"',
      'bursts.codes: expected a non-empty array of strings matching /^[0-9]{2}$/, got []',
      'ratios.share: expected a share in (0, 1], got 0',
      'ratios.severity: expected one of INFO, WARNING, CRITICAL, got "UNKNOWN"',
      'ratios.resolve_after: expected a duration like "90s", "10m" or "2h" of at least 1000 ms and at most 604800000 ms, got "8d"',
    ]);
    expect(err.message).toContain('rules file /etc/pospulse/rules.json refused');
    expect(err.message).toContain('ratios.share');
  });

  it('refuses text that is not JSON, keeping the parser error as cause', () => {
    let caught: unknown;
    try {
      parseRules('{"rules": {', 'f', DEFS);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RulesError);
    expect((caught as RulesError).problems).toHaveLength(1);
    expect((caught as RulesError).problems[0]).toMatch(/^not JSON: /);
    expect((caught as RulesError).cause).toBeInstanceOf(SyntaxError);
  });

  it('refuses a document that is not an object with a "rules" object', () => {
    for (const text of ['[]', 'null', '3', '"rules"']) {
      expect(problemsOf(() => parseRules(text, 'f', DEFS))).toEqual([
        'expected a JSON object with a "rules" object',
      ]);
    }
    expect(problemsOf(() => parseRules('{}', 'f', DEFS))).toEqual([
      '"rules" must be an object keyed by rule name',
    ]);
    expect(problemsOf(() => parseRules('{"rules": [], "extra": 1}', 'f', DEFS))).toEqual([
      'unknown top-level key "extra" (expected "rules")',
      '"rules" must be an object keyed by rule name',
    ]);
  });

  it('refuses a rule whose settings are not an object', () => {
    expect(problemsOf(() => parseRules('{"rules": {"bursts": true, "ratios": []}}', 'f', DEFS))).toEqual([
      'bursts: expected an object of settings',
      'ratios: expected an object of settings',
    ]);
  });

  // Regression: a key inherited from Object.prototype once reached `spec.parse`.
  it('names a parameter spelled like an Object.prototype member as unknown', () => {
    for (const key of ['constructor', 'toString', '__proto__']) {
      expect(problemsOf(() => parseRules(`{"rules": {"bursts": {"${key}": 1}}}`, 'f', DEFS))).toEqual([
        expect.stringMatching(new RegExp(`^bursts\\.${key}: unknown parameter`)),
      ]);
    }
  });
});

describe('RuleSet', () => {
  it('refuses a rule it was not built with', () => {
    const set = defaultRules([bursts]);
    expect(() => set.get(ratios)).toThrow('rule ratios is not part of this rule set');
  });

  it('built from the defaults, holds a copy of each rule’s defaults', () => {
    const set = defaultRules(DEFS);
    expect(set.source).toBe('defaults');
    expect(set.get(bursts)).toEqual(bursts.defaults);
    expect(set.get(bursts)).not.toBe(bursts.defaults);
    expect(set.enabled).toEqual(['bursts']);
  });
});

describe('renderDefaults', () => {
  it('writes every rule with every setting, durations in their written form', () => {
    expect(JSON.parse(renderDefaults(DEFS))).toEqual({
      rules: {
        bursts: {
          enabled: true,
          severity: 'WARNING',
          resolve_after: '5m',
          window: '1m',
          min_count: 3,
          codes: ['05', '51'],
        },
        ratios: { enabled: false, severity: 'INFO', resolve_after: '90s', share: 0.5 },
      },
    });
    expect(renderDefaults(DEFS).endsWith('}\n')).toBe(true);
  });

  it('renders a file that parses back to the defaults', () => {
    const set = parseRules(renderDefaults(DEFS), 'rendered', DEFS);
    for (const def of DEFS) expect(set.get(def)).toEqual(def.defaults);
  });

  it('lists the common settings first in each rule', () => {
    const rendered = JSON.parse(renderDefaults([bursts])) as { rules: Record<string, object> };
    expect(Object.keys(rendered.rules['bursts']!).slice(0, 3)).toEqual(Object.keys(COMMON_PARAMS));
  });
});

describe('RulesSource', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pospulse-rules-'));
    file = join(dir, 'rules.json');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('from the defaults, runs the defaults and never reloads', async () => {
    const source = RulesSource.defaults(DEFS, silent);
    expect(source.current.source).toBe('defaults');
    expect(source.current.get(bursts)).toEqual(bursts.defaults);
    expect(await source.reloadIfChanged()).toBe(false);
  });

  it('opened without a path, runs the defaults and never reports a reload', async () => {
    const outcomes: string[] = [];
    const source = await RulesSource.open(undefined, DEFS, silent, (o) => outcomes.push(o));
    expect(source.current.get(ratios)).toEqual(ratios.defaults);
    expect(await source.reloadIfChanged()).toBe(false);
    expect(outcomes).toEqual([]);
  });

  it('opens a file, its path as the source', async () => {
    await writeFile(file, '{"rules": {"bursts": {"min_count": 9}}}');
    const source = await RulesSource.open(file, DEFS, silent);
    expect(source.current.get(bursts).min_count).toBe(9);
    expect(source.current.source).toBe(file);
  });

  it('refuses to open a bad file or a missing one', async () => {
    await writeFile(file, '{"rules": {"bursts": {"min_count": 1}}}');
    await expect(RulesSource.open(file, DEFS, silent)).rejects.toMatchObject({
      code: 'PP_ERR_RULES',
      problems: ['bursts.min_count: expected an integer in 2..100, got 1'],
    });
    const missing = join(dir, 'missing.json');
    const err: unknown = await RulesSource.open(missing, DEFS, silent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RulesError);
    expect((err as RulesError).problems[0]).toMatch(/^cannot read: .*ENOENT/);
  });

  it('does not re-read or report a file that has not changed', async () => {
    await writeFile(file, '{"rules": {}}');
    const outcomes: string[] = [];
    const source = await RulesSource.open(file, DEFS, silent, (o) => outcomes.push(o));
    const before = source.current;
    expect(await source.reloadIfChanged()).toBe(false);
    expect(source.current).toBe(before);
    expect(outcomes).toEqual([]);
  });

  it('applies a changed file, keeps the rules in force when a change is refused, and applies the fix', async () => {
    await writeFile(file, '{"rules": {}}');
    const outcomes: string[] = [];
    const { logger, lines } = capturingLogger();
    const source = await RulesSource.open(file, DEFS, logger, (o) => outcomes.push(o));

    await writeFile(file, '{"rules": {"ratios": {"enabled": true, "share": 0.75}}}');
    expect(await source.reloadIfChanged()).toBe(true);
    expect(outcomes).toEqual(['applied']);
    const applied = source.current;
    expect(applied.get(ratios)).toMatchObject({ enabled: true, share: 0.75 });
    expect(lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'rules reloaded',
      enabled: ['bursts', 'ratios'],
    });

    await writeFile(file, '{"rules": {"ratios": {"share": 2}, "bursts": {"colour": 1}}}');
    expect(await source.reloadIfChanged()).toBe(false);
    expect(outcomes).toEqual(['applied', 'refused']);
    expect(source.current).toBe(applied);
    expect(lines.at(-1)).toMatchObject({
      level: 'error',
      msg: 'rules file refused; the rules in force stay',
      path: file,
      code: 'PP_ERR_RULES',
      problems: [
        expect.stringMatching(/^bursts\.colour: unknown parameter/),
        'ratios.share: expected a number in 0..1, got 2',
      ],
    });

    // The same bad file is not refused (nor logged) again at every check.
    const logged = lines.length;
    expect(await source.reloadIfChanged()).toBe(false);
    expect(outcomes).toEqual(['applied', 'refused']);
    expect(lines).toHaveLength(logged);

    await writeFile(file, '{"rules": {"bursts": {"enabled": false}}}');
    expect(await source.reloadIfChanged()).toBe(true);
    expect(outcomes).toEqual(['applied', 'refused', 'applied']);
    expect(source.current.enabled).toEqual([]);
    // Rules the new file is silent about are back at their defaults, not at the previous file's.
    expect(source.current.get(ratios)).toEqual(ratios.defaults);
  });

  it('keeps the rules in force when the file disappears, reporting it refused', async () => {
    await writeFile(file, '{"rules": {"bursts": {"min_count": 5}}}');
    const outcomes: string[] = [];
    const { logger, lines } = capturingLogger();
    const source = await RulesSource.open(file, DEFS, logger, (o) => outcomes.push(o));
    await unlink(file);
    expect(await source.reloadIfChanged()).toBe(false);
    expect(outcomes).toEqual(['refused']);
    expect(source.current.get(bursts).min_count).toBe(5);
    expect(lines.at(-1)).toMatchObject({
      level: 'error',
      msg: 'rules file unreadable; the rules in force stay',
      path: file,
    });
  });
});
