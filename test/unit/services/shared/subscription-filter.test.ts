import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Alert, KpiUpdate } from '../../../../services/shared/avro/types.generated.ts';
import {
  FilterError,
  KPI_METRICS,
  matches,
  matchesAlert,
  parseSubscriptionFilter,
  projectKpi,
} from '../../../../services/shared/subscription-filter.ts';

const alert: Alert = {
  alert_id: '9d3c6a1e-64d3-4c8e-8a4b-0a9f2f0e1b7c',
  rule: 'approval_rate_drop',
  severity: 'CRITICAL',
  state: 'FIRING',
  entity_level: 'MERCHANT',
  entity_id: 'M-1',
  window_start: 1_000,
  window_end: 61_000,
  fired_time: 61_000,
  resolved_time: null,
  summary: 'approval rate dropped',
  value: 0.4,
  threshold: 0.8,
  evidence: {},
  labels: { region: 'north', acquirer: 'A-1' },
};

const kpi: KpiUpdate = {
  entity_level: 'REGION',
  entity_id: 'north',
  window_start: 0,
  window_end: 60_000,
  window_size_ms: 60_000,
  version: 3,
  is_final: true,
  tx_count: 10,
  approved_count: 9,
  declined_count: 1,
  timeout_count: 0,
  reversal_count: 0,
  refund_count: 0,
  approval_rate: 0.9,
  declines_by_code: { '05': 1 },
  amounts: [{ currency: 'EUR', sum_minor: 1_000, count: 9 }],
  tps: 10 / 60,
  unique_cards: 8,
  payment_method_mix: { CREDIT: 10 },
  entry_mode_mix: { CHIP: 10 },
  latency_p50_ms: 100,
  latency_p95_ms: 300,
  latency_p99_ms: 400,
  latency_sketch: Buffer.from([1, 2, 3]),
  avg_basket_minor: null,
  discount_share: null,
  emitted_time: 61_000,
};

function fieldOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    return (err as FilterError).field;
  }
  throw new Error('expected a FilterError');
}

describe('subscription filters', () => {
  it('matches an alert only when every condition given holds', () => {
    const f = (filter: unknown) => parseSubscriptionFilter('alerts', filter);
    expect(matches(f(undefined), { topic: 'alerts', value: alert })).toBe(true);
    expect(
      matches(f({ rules: ['approval_rate_drop'], severities: ['CRITICAL'] }), {
        topic: 'alerts',
        value: alert,
      }),
    ).toBe(true);
    expect(matches(f({ rules: ['card_testing'] }), { topic: 'alerts', value: alert })).toBe(false);
    expect(matches(f({ levels: ['TERMINAL'] }), { topic: 'alerts', value: alert })).toBe(false);
    expect(matches(f({ entities: ['M-1', 'M-2'] }), { topic: 'alerts', value: alert })).toBe(true);
    expect(matches(f({ states: ['RESOLVED'] }), { topic: 'alerts', value: alert })).toBe(false);
    expect(matches(f({ labels: { region: 'north' } }), { topic: 'alerts', value: alert })).toBe(true);
    expect(
      matches(f({ labels: { region: 'north', acquirer: 'A-2' } }), { topic: 'alerts', value: alert }),
    ).toBe(false);
    expect(matches(f({ labels: { team: '' } }), { topic: 'alerts', value: alert })).toBe(false);
    // An alert filter never matches a KPI update, and the other way round.
    expect(matches(f({}), { topic: 'kpis', value: kpi })).toBe(false);
    expect(
      matches(parseSubscriptionFilter('kpis', { level: 'REGION' }), { topic: 'alerts', value: alert }),
    ).toBe(false);
  });

  it('matches KPI updates of its level, final windows only unless told otherwise', () => {
    const f = (filter: unknown) => parseSubscriptionFilter('kpis', filter);
    expect(matches(f({ level: 'REGION' }), { topic: 'kpis', value: kpi })).toBe(true);
    expect(matches(f({ level: 'MERCHANT' }), { topic: 'kpis', value: kpi })).toBe(false);
    expect(matches(f({ level: 'REGION', entities: ['south'] }), { topic: 'kpis', value: kpi })).toBe(false);
    const open = { ...kpi, is_final: false };
    expect(matches(f({ level: 'REGION' }), { topic: 'kpis', value: open })).toBe(false);
    expect(matches(f({ level: 'REGION', final_only: false }), { topic: 'kpis', value: open })).toBe(true);
  });

  it('delivers the metrics asked for with the update’s identity, and never the binary sketch', () => {
    const some = parseSubscriptionFilter('kpis', { level: 'REGION', metrics: ['approval_rate', 'tx_count'] });
    if (some.topic !== 'kpis') throw new Error('kpis');
    expect(Object.keys(projectKpi(some.filter, kpi)).sort()).toEqual(
      [
        'approval_rate',
        'tx_count',
        'entity_level',
        'entity_id',
        'window_start',
        'window_end',
        'window_size_ms',
        'version',
        'is_final',
        'emitted_time',
      ].sort(),
    );
    const all = parseSubscriptionFilter('kpis', { level: 'REGION' });
    if (all.topic !== 'kpis') throw new Error('kpis');
    const projected = projectKpi(all.filter, kpi);
    for (const m of KPI_METRICS) expect(projected).toHaveProperty(m);
    expect(projected).not.toHaveProperty('latency_sketch');
  });

  it('refuses a bad filter naming the field', () => {
    expect(fieldOf(() => parseSubscriptionFilter('trades', {}))).toBe('topic');
    expect(fieldOf(() => parseSubscriptionFilter('kpis', undefined))).toBe('filter');
    expect(fieldOf(() => parseSubscriptionFilter('kpis', {}))).toBe('filter.level');
    expect(fieldOf(() => parseSubscriptionFilter('kpis', { level: 'CARD' }))).toBe('filter.level');
    expect(
      fieldOf(() => parseSubscriptionFilter('kpis', { level: 'FLEET', metrics: ['tps', 'latency_sketch'] })),
    ).toBe('filter.metrics[1]');
    expect(fieldOf(() => parseSubscriptionFilter('kpis', { level: 'FLEET', final_only: 'yes' }))).toBe(
      'filter.final_only',
    );
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { levels: ['MERCHANT', 'PLANET'] }))).toBe(
      'filter.levels[1]',
    );
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { severity: ['CRITICAL'] }))).toBe(
      'filter.severity',
    );
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { rules: [] }))).toBe('filter.rules');
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { rules: 'card_testing' }))).toBe('filter.rules');
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { entities: ['ok', 7] }))).toBe(
      'filter.entities[1]',
    );
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { labels: { region: 3 } }))).toBe(
      'filter.labels.region',
    );
    expect(fieldOf(() => parseSubscriptionFilter('alerts', { states: ['UNKNOWN'] }))).toBe(
      'filter.states[0]',
    );
    expect(fieldOf(() => parseSubscriptionFilter('alerts', [], 'sub.filter'))).toBe('sub.filter');
  });

  it('gives back a filter that parses to itself from its JSON (what the tables store)', () => {
    const filters = fc.record(
      {
        rules: fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 4 }),
        severities: fc.subarray(['INFO', 'WARNING', 'CRITICAL'], { minLength: 1 }),
        states: fc.subarray(['FIRING', 'RESOLVED'], { minLength: 1 }),
        labels: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 10 })),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(filters, (raw) => {
        const parsed = parseSubscriptionFilter('alerts', raw);
        const again = parseSubscriptionFilter('alerts', JSON.parse(JSON.stringify(parsed.filter)));
        expect(again).toEqual(parsed);
        // Matching agrees with the conditions, one by one.
        if (parsed.topic !== 'alerts') return;
        const f = parsed.filter;
        const want =
          (f.rules === undefined || f.rules.includes(alert.rule)) &&
          (f.severities === undefined || (f.severities as string[]).includes(alert.severity)) &&
          (f.states === undefined || (f.states as string[]).includes(alert.state)) &&
          Object.entries(f.labels ?? {}).every(([k, v]) => alert.labels[k] === v);
        expect(matchesAlert(f, alert)).toBe(want);
      }),
    );
  });
});
