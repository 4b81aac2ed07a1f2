import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bool,
  duration,
  int,
  num,
  severity,
  share,
  stringList,
  type Param,
} from '../../../../../services/processor/detection/rule-params.ts';

function accepted<T>(p: Param<T>, raw: unknown): T {
  const r = p.parse(raw);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(raw)} to parse, got "expected ${r.expected}"`);
  return r.value;
}

function refusal(p: Param<unknown>, raw: unknown): string {
  const r = p.parse(raw);
  if (r.ok) throw new Error(`expected ${JSON.stringify(raw)} to be refused, got ${JSON.stringify(r.value)}`);
  return r.expected;
}

describe('int', () => {
  const p = int({ doc: 'copies', min: 2, max: 100 });

  it('accepts whole numbers within its bounds, the bounds included', () => {
    expect([2, 50, 100].map((v) => accepted(p, v))).toEqual([2, 50, 100]);
  });

  it('refuses fractions, values outside the bounds, non-finite numbers and numeric strings, saying the range', () => {
    for (const raw of [2.5, 1, 101, -3, Number.NaN, Number.POSITIVE_INFINITY, '5', null, true, [5]]) {
      expect(refusal(p, raw)).toBe('an integer in 2..100');
    }
  });

  it('shows an open bound as infinity and keeps the value as written', () => {
    const open = int({ doc: 'amount', min: 1 });
    expect(refusal(open, 0)).toBe('an integer in 1..∞');
    expect(accepted(open, 1e9)).toBe(1e9);
    expect(open.show(42)).toBe(42);
    expect(open.doc).toBe('amount');
  });
});

describe('num', () => {
  it('accepts fractions within its bounds and refuses what lies outside', () => {
    const p = num({ doc: 'ratio', min: -1, max: 2.5 });
    expect(accepted(p, 2.5)).toBe(2.5);
    expect(accepted(p, -0.25)).toBe(-0.25);
    expect(refusal(p, 2.51)).toBe('a number in -1..2.5');
    expect(refusal(p, -1.01)).toBe('a number in -1..2.5');
    expect(refusal(p, '1')).toBe('a number in -1..2.5');
  });

  it('is unbounded on both sides when no bounds are given', () => {
    const p = num({ doc: 'any' });
    expect(accepted(p, -1e300)).toBe(-1e300);
    expect(refusal(p, Number.NEGATIVE_INFINITY)).toBe('a number in -∞..∞');
  });
});

describe('share', () => {
  const p = share('share of attempts');

  it('accepts values in (0, 1], one included', () => {
    expect([1, 0.5, 0.001].map((v) => accepted(p, v))).toEqual([1, 0.5, 0.001]);
  });

  it('refuses zero as a share in (0, 1]', () => {
    expect(refusal(p, 0)).toBe('a share in (0, 1]');
    expect(refusal(p, -0)).toBe('a share in (0, 1]');
  });

  it('refuses values above one or below zero, and non-numbers', () => {
    expect(refusal(p, 1.0001)).toBe('a number in 0..1');
    expect(refusal(p, -0.5)).toBe('a number in 0..1');
    expect(refusal(p, '0.5')).toBe('a number in 0..1');
  });
});

describe('duration', () => {
  const p = duration({ doc: 'window', min: 1_000, max: 3_600_000 });

  it('reads the written units and whole milliseconds', () => {
    expect(accepted(p, '90s')).toBe(90_000);
    expect(accepted(p, '10m')).toBe(600_000);
    expect(accepted(p, '1h')).toBe(3_600_000);
    expect(accepted(p, '1.5s')).toBe(1_500);
    expect(accepted(p, '2500ms')).toBe(2_500);
    expect(accepted(p, 1_000)).toBe(1_000);
    expect(accepted(duration({ doc: 'd' }), '1d')).toBe(86_400_000);
  });

  it('refuses durations outside its bounds, naming them', () => {
    const expected = 'a duration like "90s", "10m" or "2h" of at least 1000 ms and at most 3600000 ms';
    expect(refusal(p, '999ms')).toBe(expected);
    expect(refusal(p, '61m')).toBe(expected);
    expect(refusal(p, 999)).toBe(expected);
  });

  it('refuses fractional or negative milliseconds, unknown units and other types', () => {
    const unbounded = duration({ doc: 'd' });
    for (const raw of [1.5, -1, '-5s', '5 weeks', '5y', '', 'soon', null, true, ['5s']]) {
      expect(refusal(unbounded, raw)).toBe('a duration like "90s", "10m" or "2h"');
    }
  });

  it('shows a duration in the largest unit that divides it', () => {
    expect(p.show(7_200_000)).toBe('2h');
    expect(p.show(300_000)).toBe('5m');
    expect(p.show(90_000)).toBe('90s');
    expect(p.show(1_500)).toBe('1.5s');
  });

  it('reads back what it shows, for every whole number of milliseconds', () => {
    const unbounded = duration({ doc: 'd' });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 * 86_400_000 }), (ms) => {
        expect(accepted(unbounded, unbounded.show(ms))).toBe(ms);
      }),
    );
  });
});

describe('stringList', () => {
  const p = stringList({ doc: 'codes', item: /^[0-9A-Z]{2}$/ });

  it('accepts a non-empty list of matching strings, once each and frozen', () => {
    const v = accepted(p, ['05', '14', '05', '51']);
    expect(v).toEqual(['05', '14', '51']);
    expect(Object.isFrozen(v)).toBe(true);
  });

  it('does not share the array it was given', () => {
    const raw = ['05'];
    const v = accepted(p, raw);
    raw.push('14');
    expect(v).toEqual(['05']);
  });

  it('refuses an empty list, a non-matching or non-string item, and a bare string', () => {
    const expected = 'a non-empty array of strings matching /^[0-9A-Z]{2}$/';
    for (const raw of [[], ['05', '5'], ['05', 5], ['ab'], '05', null, { 0: '05' }]) {
      expect(refusal(p, raw)).toBe(expected);
    }
  });
});

describe('bool', () => {
  it('accepts only JSON booleans', () => {
    const p = bool('enabled');
    expect(accepted(p, true)).toBe(true);
    expect(accepted(p, false)).toBe(false);
    for (const raw of ['true', 1, 0, null]) expect(refusal(p, raw)).toBe('true or false');
  });
});

describe('severity', () => {
  it('accepts the rule severities and refuses the Avro default UNKNOWN and other spellings', () => {
    const p = severity('severity');
    expect(['INFO', 'WARNING', 'CRITICAL'].map((v) => accepted(p, v))).toEqual([
      'INFO',
      'WARNING',
      'CRITICAL',
    ]);
    for (const raw of ['UNKNOWN', 'critical', 'ERROR', 2, null]) {
      expect(refusal(p, raw)).toBe('one of INFO, WARNING, CRITICAL');
    }
  });
});
