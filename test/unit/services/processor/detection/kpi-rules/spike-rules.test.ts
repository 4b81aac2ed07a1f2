import { describe, expect, it } from 'vitest';
import { WINDOW_MS } from '../../../../../../services/processor/kpi/window-state.ts';
import { EntityMinutes } from '../../../../../../services/processor/detection/kpi-rules/entity-minutes.ts';
import {
  LatencySpikeRule,
  ShareSpikeRule,
  declineSpikeRule,
  latencySpikeRule,
  timeoutSpikeRule,
  type KpiRule,
} from '../../../../../../services/processor/detection/kpi-rules/spike-rules.ts';
import { T0, minuteUpdate, type MinuteShape } from './kpi-minutes.ts';

/** Feeds minutes 0..n-1 of `shape(m)` through EntityMinutes and a rule, as the KPI stage does. */
function run(rule: KpiRule, shape: (m: number) => MinuteShape, minutes: number, partitions = 1) {
  const entity = new EntityMinutes(10 * WINDOW_MS);
  const hits: { minute: number; value: number | null; threshold: number | null }[] = [];
  for (let m = 0; m < minutes; m++) {
    for (let p = 0; p < partitions; p++) {
      const s = shape(m);
      const settled = entity.apply(minuteUpdate('M1', m, { ...s, tx: Math.round(s.tx / partitions) }, p), p);
      for (const minute of settled) rule.settle('MERCHANT', 'M1', minute);
    }
    for (const h of rule.evaluate('MERCHANT', 'M1', entity))
      hits.push({ minute: m, value: h.value, threshold: h.threshold });
  }
  return { hits, entity };
}

const declines = () => new ShareSpikeRule(declineSpikeRule, () => declineSpikeRule.defaults, 'declined');
const timeouts = () => new ShareSpikeRule(timeoutSpikeRule, () => timeoutSpikeRule.defaults, 'timeouts');
const latency = () => new LatencySpikeRule(() => latencySpikeRule.defaults);

describe('EntityMinutes', () => {
  it('adds the partitions’ partials of a minute, keeping the latest version of each', () => {
    const e = new EntityMinutes(5 * WINDOW_MS);
    e.apply(minuteUpdate('M1', 0, { tx: 10, declineShare: 0.1 }, 0), 0);
    e.apply(minuteUpdate('M1', 0, { tx: 20, declineShare: 0.5 }, 1), 1);
    // An older version of partition 0's minute (5 transactions) changes nothing.
    e.apply(minuteUpdate('M1', 0, { tx: 5 }, 0), 0);
    const t = e.totals(T0, T0 + WINDOW_MS);
    expect(t).toMatchObject({ tx: 30, declined: 11 });
    // Declines are answered too: every attempt has a host latency.
    expect(t.latency?.count).toBe(30);
  });

  it('hands out each minute once when it leaves the kept span, merged, then forgets it', () => {
    const e = new EntityMinutes(2 * WINDOW_MS);
    const settled = [];
    for (let m = 0; m < 6; m++) settled.push(...e.apply(minuteUpdate('M1', m, { tx: 4 }), 0));
    expect(settled.map((s) => (s.minute - T0) / WINDOW_MS)).toEqual([0, 1, 2]);
    expect(settled.every((s) => s.tx === 4)).toBe(true);
    expect(e.size).toBe(3);
    // A late update for a forgotten minute is ignored.
    expect(e.apply(minuteUpdate('M1', 0, { tx: 50 }), 1)).toEqual([]);
    expect(e.totals(T0, T0 + WINDOW_MS).tx).toBe(0);
  });
});

describe('decline_spike', () => {
  it('fires when the decline share jumps against the merchant’s baseline, across partitions', () => {
    const { hits } = run(declines(), (m) => ({ tx: 120, declineShare: m < 40 ? 0.05 : 0.45 }), 46, 2);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]!.minute).toBeGreaterThanOrEqual(40);
    expect(hits[0]!.minute).toBeLessThanOrEqual(42);
    expect(hits[0]!.value).toBeGreaterThan(hits[0]!.threshold!);
  });

  it('stays quiet on steady traffic, on a merchant whose normal is many declines, and while warming up', () => {
    expect(run(declines(), () => ({ tx: 120, declineShare: 0.06 }), 60).hits).toEqual([]);
    // 30 % is this merchant's normal: 35 % is not a spike.
    expect(run(declines(), (m) => ({ tx: 120, declineShare: m < 40 ? 0.3 : 0.35 }), 50).hits).toEqual([]);
    // A jump before the baseline has min_baseline_minutes settled minutes is not judged.
    expect(run(declines(), (m) => ({ tx: 120, declineShare: m < 5 ? 0.05 : 0.6 }), 12).hits).toEqual([]);
  });

  it('weighs baseline minutes by their traffic: quiet minutes full of declines do not mask a spike', () => {
    // Every other minute one attempt, declined; busy minutes 2 % declined: about 3 % overall.
    const shape = (m: number) =>
      m >= 40
        ? { tx: 100, declineShare: 0.25 }
        : m % 2 === 0
          ? { tx: 1, declineShare: 1 }
          : { tx: 100, declineShare: 0.02 };
    const { hits } = run(declines(), shape, 46);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]!.threshold).toBeCloseTo(0.2, 5);
  });

  it('does not judge a window with too few transactions', () => {
    expect(
      run(declines(), (m) => ({ tx: m < 40 ? 120 : 4, declineShare: m < 40 ? 0.05 : 1 }), 46).hits,
    ).toEqual([]);
  });
});

describe('timeout_spike', () => {
  it('fires when timeouts jump (a network or host problem) and not on steady timeouts', () => {
    expect(
      run(timeouts(), (m) => ({ tx: 100, timeoutShare: m < 30 ? 0.01 : 0.3 }), 36).hits.length,
    ).toBeGreaterThan(0);
    expect(run(timeouts(), () => ({ tx: 100, timeoutShare: 0.02 }), 60).hits).toEqual([]);
  });
});

describe('share rules on a quiet entity', () => {
  it('do not fire on two unlucky attempts in a small window, which the share alone would call a spike', () => {
    // 0.4 % timeouts usually; then 6 attempts a minute, 2 of the window's 30 timing out (6.7 %).
    const shape = (m: number) =>
      m < 40 ? { tx: 250, timeoutShare: 0.004 } : { tx: 6, timeoutShare: m === 42 ? 0.34 : 0 };
    expect(run(timeouts(), shape, 46).hits).toEqual([]);
    const loose = new ShareSpikeRule(
      timeoutSpikeRule,
      () => ({ ...timeoutSpikeRule.defaults, significance: 1 }),
      'timeouts',
    );
    expect(run(loose, shape, 46).hits.length).toBeGreaterThan(0);
  });
});

describe('latency_spike', () => {
  it('fires when the p95 host latency jumps against its baseline', () => {
    const { hits } = run(latency(), (m) => ({ tx: 100, latencyMs: m < 30 ? 200 : 1_800 }), 36);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]!.value).toBeGreaterThan(1_800);
  });

  it('learns the normal of an entity with fewer responses a minute than the window needs', () => {
    // 15 a minute: no minute has min_responses (30), the 5-minute window has 75.
    const shape = (m: number) => ({ tx: 15, latencyMs: m < 30 ? 200 : 1_800 });
    const { hits } = run(latency(), shape, 36);
    expect(hits.length).toBeGreaterThan(0);
    // Minutes under min_baseline_responses still say nothing.
    const strict = new LatencySpikeRule(() => ({ ...latencySpikeRule.defaults, min_baseline_responses: 16 }));
    expect(run(strict, shape, 36).hits).toEqual([]);
  });

  it('stays quiet on a steadily slow host and on a small bump under the floor', () => {
    expect(run(latency(), () => ({ tx: 100, latencyMs: 1_500 }), 60).hits).toEqual([]);
    expect(run(latency(), (m) => ({ tx: 100, latencyMs: m < 30 ? 150 : 400 }), 40).hits).toEqual([]);
  });

  it('watches only the configured levels', () => {
    const rule = new LatencySpikeRule(() => ({ ...latencySpikeRule.defaults, levels: ['REGION'] }));
    expect(run(rule, (m) => ({ tx: 100, latencyMs: m < 30 ? 200 : 1_800 }), 36).hits).toEqual([]);
    expect(rule.size).toBe(0);
  });
});
