import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../../services/shared/errors.ts';
import { INCIDENT_KINDS } from '../../../../services/simulator/incidents.ts';
import {
  AutoSchedule,
  parseOnDemand,
  parseSchedule,
  parseScheduleText,
} from '../../../../services/simulator/schedule.ts';

const RUN = { start: Date.UTC(2026, 2, 3, 9), end: Date.UTC(2026, 2, 3, 12) };

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('schedule files', () => {
  it('reads offsets, absolute times, durations and defaults', () => {
    const specs = parseSchedule(
      {
        incidents: [
          {
            kind: 'card_testing',
            start: '+10m',
            duration: '15m',
            targets: { terminal: 'T0000001' },
            params: { cards: 20 },
          },
          { id: 'slow', kind: 'acquirer_host_slowdown', start: '2026-03-03T10:00:00Z', end: '+90m' },
          { kind: 'terminal_outage', start: RUN.start + 60_000 },
        ],
      },
      RUN,
    );
    expect(specs[0]).toEqual({
      kind: 'card_testing',
      start: RUN.start + 600_000,
      end: RUN.start + 1_500_000,
      targets: { terminal: 'T0000001' },
      params: { cards: 20 },
    });
    expect(specs[1]).toEqual({
      id: 'slow',
      kind: 'acquirer_host_slowdown',
      start: Date.UTC(2026, 2, 3, 10),
      end: RUN.start + 5_400_000,
    });
    expect(specs[2]!.end - specs[2]!.start).toBe(15 * 60_000);
  });

  it('cuts an end past the run to the run’s end', () => {
    const [spec] = parseSchedule([{ kind: 'refund_abuse', start: '+170m', duration: '1h' }], RUN);
    expect(spec!.end).toBe(RUN.end);
  });

  it('names the entry and field of every problem', () => {
    const cases: [unknown, RegExp][] = [
      [
        { incidents: [{ kind: 'card_test', start: '+1m' }] },
        /^incidents\[0\]\.kind: expected one of terminal_outage, .* got "card_test"/,
      ],
      [{ incidents: [{ kind: 'card_testing' }] }, /^incidents\[0\]\.start: missing/],
      [
        { incidents: [{ kind: 'card_testing', start: 'tomorrow' }] },
        /^incidents\[0\]\.start: expected an RFC 3339 time/,
      ],
      [
        { incidents: [{ kind: 'card_testing', start: '2026-03-03T10:00:00' }] },
        /^incidents\[0\]\.start: expected an RFC 3339 time with a zone/,
      ],
      [
        { incidents: [{}, { kind: 'card_testing', start: '+1m', duration: 'long' }] },
        /^incidents\[0\]: expected an object|^incidents\[0\]\.kind/,
      ],
      [
        [{ kind: 'card_testing', start: '+1m', duration: 'long' }],
        /^incidents\[0\]\.duration: expected a duration like 90s/,
      ],
      [
        [{ kind: 'card_testing', start: '+1m', end: '+1m' }],
        /^incidents\[0\]\.end: must come after the start/,
      ],
      [
        [{ kind: 'card_testing', start: '+1m', end: '+5m', duration: '2m' }],
        /^incidents\[0\]: give end or duration, not both/,
      ],
      [
        [{ kind: 'card_testing', start: '2026-03-03T08:00:00Z' }],
        /^incidents\[0\]\.start: .* is before the run starts/,
      ],
      [[{ kind: 'card_testing', start: '+4h' }], /^incidents\[0\]\.start: .* is not before the run ends/],
      [[{ kind: 'card_testing', start: '+1m', target: {} }], /^incidents\[0\]\.target: unknown field/],
      [
        [{ kind: 'card_testing', start: '+1m', targets: { shop: 'x' } }],
        /^incidents\[0\]\.targets\.shop: unknown target/,
      ],
      [
        [{ kind: 'card_testing', start: '+1m', params: { cards: 'many' } }],
        /^incidents\[0\]\.params\.cards: expected a number/,
      ],
      [
        [
          { id: 'a', kind: 'card_testing', start: '+1m' },
          { id: 'a', kind: 'refund_abuse', start: '+1m' },
        ],
        /^incidents\[1\]\.id: a is used twice/,
      ],
      [{ incidents: [], extra: 1 }, /^extra: unknown top-level field/],
      [{ nope: [] }, /unknown top-level field/],
    ];
    for (const [doc, message] of cases)
      expect(errorOf(() => parseSchedule(doc, RUN)).message).toMatch(message);
    expect(errorOf(() => parseScheduleText('{', RUN, 'incidents.json')).message).toMatch(
      /^incidents\.json is not valid JSON/,
    );
  });
});

describe('incidents on demand', () => {
  const now = RUN.start + 3_600_000;

  it('reads kind, start, duration, targets and parameters', () => {
    expect(parseOnDemand('card_testing@+1m/10m,terminal=T0000005,cards=60', now)).toEqual({
      kind: 'card_testing',
      start: now + 60_000,
      end: now + 660_000,
      targets: { terminal: 'T0000005' },
      params: { cards: 60 },
    });
    expect(parseOnDemand('terminal_outage', now)).toEqual({
      kind: 'terminal_outage',
      start: now,
      end: now + 15 * 60_000,
    });
    expect(parseOnDemand('terminal_outage,terminals=T0000001+T0000002', now).targets).toEqual({
      terminals: ['T0000001', 'T0000002'],
    });
  });

  it('names what is wrong', () => {
    expect(errorOf(() => parseOnDemand('nothing', now)).message).toMatch(/unknown kind "nothing"/);
    expect(errorOf(() => parseOnDemand('card_testing,colour=red', now)).message).toMatch(
      /inject colour: not a target .* nor a parameter of card_testing/,
    );
    expect(errorOf(() => parseOnDemand('card_testing,cards=lots', now)).message).toMatch(
      /inject cards: expected a number/,
    );
    expect(errorOf(() => parseOnDemand('card_testing/forever', now)).message).toMatch(
      /inject duration: expected a duration/,
    );
  });
});

describe('AutoSchedule', () => {
  it('places slots one after another with gaps, after a warm-up, within the run', () => {
    const auto = new AutoSchedule('s', RUN);
    const slots = [];
    for (let s = auto.nextSlot(); s !== undefined; s = auto.nextSlot()) slots.push(s);
    expect(slots.length).toBeGreaterThan(3);
    expect(slots[0]!.start).toBe(RUN.start + 5 * 60_000);
    for (let i = 0; i < slots.length; i++) {
      expect(slots[i]!.end).toBeLessThanOrEqual(RUN.end);
      if (i > 0) expect(slots[i]!.start).toBeGreaterThan(slots[i - 1]!.end);
    }
  });

  it('cycles through every kind in a seed-dependent order', () => {
    const auto = new AutoSchedule('s', RUN);
    const order = auto.candidates();
    expect([...order].sort()).toEqual([...INCIDENT_KINDS].sort());
    auto.used(order[0]!);
    expect(auto.candidates()[0]).toBe(order[1]);
    expect(new AutoSchedule('other', RUN).candidates()).not.toEqual(order);
  });

  it('keeps offering slots in a run without end', () => {
    const auto = new AutoSchedule('s', { start: RUN.start, end: Infinity });
    for (let i = 0; i < 50; i++) expect(auto.nextSlot()).toBeDefined();
  });
});
