import { describe, expect, it } from 'vitest';
import { checkDefinition, specOf, thresholdCrossed } from '../../../../../services/shared/kpi/definitions.ts';

const base = {
  name: 'decline_share',
  formula: 'declined / count * 100',
  unit: '%',
  level: 'MERCHANT',
  warning: 10,
  critical: 20,
};

describe('KPI definitions', () => {
  it('fills in the defaults and keeps the parsed formula', () => {
    const r = checkDefinition(base, ['count']);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(specOf(r.definition)).toEqual({
      ...base,
      description: '',
      direction: 'above',
      target: null,
      window_minutes: 5,
      min_count: 30,
      resolve_after_minutes: 10,
      enabled: true,
    });
    expect(r.definition.parsed.kind).toBe('op');
  });

  it('collects every problem, each naming its field', () => {
    const r = checkDefinition(
      {
        name: 'Bad Name',
        formula: 'declined / vibes',
        level: 'PLANET',
        direction: 'up',
        warning: 'ten',
        critical: 5,
        window_minutes: 0,
        colour: 'red',
      },
      [],
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.field).sort()).toEqual(
      ['colour', 'direction', 'formula', 'level', 'name', 'warning', 'window_minutes'].sort(),
    );
    expect(r.problems.find((p) => p.field === 'formula')?.message).toMatch(/unknown metric "vibes"/);
  });

  it('refuses a built-in metric name and thresholds in the wrong order for the direction', () => {
    const reserved = checkDefinition({ ...base, name: 'count' }, ['count']);
    expect(reserved.ok ? [] : reserved.problems.map((p) => p.field)).toEqual(['name']);
    const above = checkDefinition({ ...base, warning: 20, critical: 10 }, []);
    expect(above.ok ? '' : above.problems[0]?.message).toMatch(/at least the warning/);
    const below = checkDefinition({ ...base, direction: 'below', warning: 90, critical: 95 }, []);
    expect(below.ok ? '' : below.problems[0]?.message).toMatch(/at most the warning/);
    expect(checkDefinition('nope', []).ok).toBe(false);
  });

  it('tells which threshold a value is beyond', () => {
    const above = { direction: 'above', warning: 10, critical: 20 } as const;
    expect(thresholdCrossed(above, 10)).toBeNull();
    expect(thresholdCrossed(above, 10.5)).toBe('WARNING');
    expect(thresholdCrossed(above, 25)).toBe('CRITICAL');
    const below = { direction: 'below', warning: 95, critical: 90 } as const;
    expect(thresholdCrossed(below, 96)).toBeNull();
    expect(thresholdCrossed(below, 94)).toBe('WARNING');
    expect(thresholdCrossed(below, 80)).toBe('CRITICAL');
  });
});
