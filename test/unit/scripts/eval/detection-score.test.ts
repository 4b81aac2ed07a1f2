import { describe, expect, it } from 'vitest';
import {
  renderScores,
  scoreDetection,
  type EvalAlert,
  type ScopedIncident,
} from '../../../../scripts/eval/_detection-score.ts';
import type { IncidentKind } from '../../../../services/simulator/incidents.ts';

const T = Date.UTC(2026, 10, 25, 15, 0);
const MIN = 60_000;

function incident(
  id: string,
  kind: IncidentKind,
  start: number,
  own: string[],
  related: string[] = [],
  firstEvidence = start + 10_000,
): ScopedIncident {
  const end = start + 20 * MIN;
  return {
    label: {
      incident_id: id,
      kind,
      entity_level: 'TERMINAL',
      entity_ids: own.map((k) => k.split(':')[1]!),
      start: new Date(start).toISOString(),
      end: new Date(end).toISOString(),
      first_evidence: new Date(firstEvidence).toISOString(),
      params: {},
    },
    start,
    end,
    firstEvidence,
    own: new Set(own),
    related: new Set([...own, ...related]),
  };
}

const alert = (rule: string, key: string, firedTime: number): EvalAlert => {
  const [level, entityId] = key.split(':') as [string, string];
  return { rule, level, entityId, firedTime };
};

const options = { from: T - 60 * MIN, to: T + 6 * 60 * MIN, graceMs: 15 * MIN, rules: ['off_hours'] };

describe('scoreDetection', () => {
  const testing = incident('i1', 'card_testing', T, ['TERMINAL:T1'], ['MERCHANT:M1', 'REGION:R1']);
  const testing2 = incident('i2', 'card_testing', T + 100 * MIN, ['TERMINAL:T2'], ['MERCHANT:M2']);

  it('measures recall and delay per incident, and precision per alert, by rule', () => {
    const scores = scoreDetection(
      [testing, testing2],
      [
        alert('card_testing', 'TERMINAL:T1', T + 40_000),
        alert('card_testing', 'TERMINAL:T1', T + 30 * MIN), // after the end, within grace: still i1's
        alert('card_testing', 'TERMINAL:T9', T + 5 * MIN), // nobody's: a false alarm
        alert('decline_spike', 'MERCHANT:M1', T + 2 * MIN), // i1's consequence, on a related entity
        alert('decline_spike', 'MERCHANT:M2', T + 100 * MIN + 3 * MIN),
        alert('card_testing', 'TERMINAL:T5', T - 3 * 60 * MIN), // clean history
      ],
      options,
    );
    const byRule = new Map(scores.map((s) => [s.rule, s]));
    expect(byRule.get('card_testing')).toMatchObject({
      incidents: 2,
      detected: 1,
      recall: 0.5,
      alerts: 3,
      explained: 2,
      missed: ['i2'],
      historyAlerts: 1,
      delays: [40_000],
      medianDelayMs: 40_000,
      // The first test attempt came 10 s after the start.
      evidenceDelays: [30_000],
      medianEvidenceDelayMs: 30_000,
    });
    expect(byRule.get('card_testing')!.precision).toBeCloseTo(2 / 3, 10);
    expect(byRule.get('card_testing')!.unexplained).toEqual([
      `TERMINAL:T9 at ${new Date(T + 5 * MIN).toISOString()}`,
    ]);
    expect(byRule.get('decline_spike')).toMatchObject({
      incidents: 2,
      detected: 2,
      recall: 1,
      precision: 1,
      medianDelayMs: 150_000,
      maxDelayMs: 180_000,
    });
    // A rule the processor ran with neither incidents nor alerts still gets its row.
    expect(byRule.get('off_hours')).toMatchObject({ incidents: 0, recall: null, alerts: 0, precision: null });
  });

  it('does not count an alert before the incident began, nor one on an entity the rule cannot explain', () => {
    const scores = scoreDetection(
      [testing],
      [
        alert('card_testing', 'TERMINAL:T1', T - MIN),
        // fallback_spike is a consequence of card testing (keyed numbers) but not on another region.
        alert('fallback_spike', 'TERMINAL:T1', T + MIN),
        alert('fallback_spike', 'REGION:R7', T + MIN),
        // velocity is not among card testing's consequences at all.
        alert('velocity', 'TERMINAL:T1', T + MIN),
      ],
      options,
    );
    const byRule = new Map(scores.map((s) => [s.rule, s]));
    expect(byRule.get('card_testing')).toMatchObject({ detected: 0, alerts: 1, explained: 0 });
    expect(byRule.get('fallback_spike')).toMatchObject({ incidents: 0, alerts: 2, explained: 1 });
    expect(byRule.get('velocity')).toMatchObject({ alerts: 1, explained: 0, precision: 0 });
  });

  it('renders one markdown row per rule', () => {
    const table = renderScores(
      scoreDetection(
        [testing, testing2],
        [
          alert('card_testing', 'TERMINAL:T1', T + 12_000),
          alert('card_testing', 'TERMINAL:T2', T + 100 * MIN + 30_000),
          alert('decline_spike', 'MERCHANT:M1', T + 70_000),
        ],
        options,
      ),
    );
    expect(table.split('\n')[0]).toMatch(/^\| Rule \| Incidents \| Detected \| Recall/);
    expect(table).toContain('| `card_testing` | 2 | 2 | 1.00 | 2 | 2 | 1.00 | 21 s | 30 s | 11 s | 0 |');
    expect(table).toContain('| `off_hours` | 0 | 0 | – |');
    // Over every detection: delays 12, 30 and 70 s; from the first evidence 2, 20 and 60 s.
    expect(table.split('\n').at(-1)).toBe(
      '| all rules | 4 | 3 | 0.75 | 3 | 3 | 1.00 | 30 s | 70 s | 20 s | 0 |',
    );
  });
});
