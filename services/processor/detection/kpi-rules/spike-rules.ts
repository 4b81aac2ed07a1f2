import type { KpiLevel } from '../../kpi/window-state.ts';
import { WINDOW_MS } from '../../kpi/window-state.ts';
import type { Hit } from '../hit.ts';
import { binomialTail } from '../stats/tails.ts';
import { duration, int, num, share, stringList } from '../rule-params.ts';
import { defineRule, type RuleDefinition, type SettingsOf } from '../rules-file.ts';
import type { EntityMinutes, MinuteTotals } from './entity-minutes.ts';

/**
 * Rules over an entity's complete 1-minute KPIs (all partitions' partials added up): a share or the
 * host latency over the last `window` compared with the entity's own baseline — an exponentially
 * weighted mean of its settled minutes (shares weighted by the minute's transactions). A spike is a jump against the entity's normal, so a
 * merchant whose customers often have insufficient funds is not flagged for being itself.
 */
export interface KpiRule {
  readonly definition: RuleDefinition;
  /**
   * Evaluates one entity whose minutes just changed. `asOf` (event time) is when the data judged
   * ends if before the newest minute's end: a partial minute judged as it stands. `lastMinute`:
   * the window ending with that minute (default: the newest).
   */
  evaluate(
    level: KpiLevel,
    entityId: string,
    minutes: EntityMinutes,
    asOf?: number,
    lastMinute?: number,
  ): Hit[];
  /** The span its windows cover (a changed minute is in the windows ending up to this much later). */
  windowMs(): number;
  /** Feeds one settled minute (older than the evaluation span) to the entity's baseline. */
  settle(level: KpiLevel, entityId: string, minute: MinuteTotals): void;
  /** Baselines held. */
  readonly size: number;
}

const LEVEL_ITEM = /^(TERMINAL|MERCHANT|REGION|ACQUIRER|FLEET)$/;

const commonParams = {
  levels: stringList({ doc: 'Entity levels the rule watches.', item: LEVEL_ITEM }),
  window: duration({
    doc: 'Span (whole minutes, event time) the current value is measured over.',
    min: WINDOW_MS,
    max: 3_600_000,
  }),
  half_life: duration({
    doc: 'Half-life of the baseline (exponentially weighted, per settled minute).',
    min: WINDOW_MS,
    max: 30 * 86_400_000,
  }),
  min_baseline_minutes: int({
    doc: 'Settled minutes the baseline needs before the rule judges.',
    min: 1,
    max: 100_000,
  }),
  factor: num({
    doc: 'A hit needs the current value at least this many times the baseline…',
    min: 1,
    max: 1000,
  }),
};

/**
 * Baseline of one metric for one entity: exponentially weighted means, over settled minutes, of a
 * numerator and a weight, so a share is weighted by its minute's traffic (a quiet minute with one
 * decline out of one attempt does not count as much as a busy one).
 */
interface Baseline {
  num: number;
  den: number;
  minutes: number;
}

/** One settled minute's contribution: `value` is `num / weight`. */
interface Sample {
  num: number;
  weight: number;
}

abstract class BaselineRule implements KpiRule {
  abstract readonly definition: RuleDefinition;
  private readonly baselines = new Map<string, Baseline>();

  get size(): number {
    return this.baselines.size;
  }

  protected abstract settings(): SettingsOf<RuleDefinition<typeof commonParams>>;
  /** The metric of one settled minute, or null when the minute says nothing (too little traffic). */
  protected abstract minuteSample(m: MinuteTotals): Sample | null;
  /** The current value over the window, or null when there is too little to judge. */
  protected abstract currentValue(t: MinuteTotals): number | null;
  /** The floor a hit needs whatever the baseline. */
  protected abstract floor(): number;
  /** Whether the value could be chance against the baseline (a hit needs this false). */
  protected chance(_t: MinuteTotals, _baseline: number): boolean {
    return false;
  }
  protected abstract describe(
    level: KpiLevel,
    entityId: string,
    value: number,
    baseline: number,
    t: MinuteTotals,
  ): {
    summary: string;
    evidence: Record<string, string>;
  };

  settle(level: KpiLevel, entityId: string, minute: MinuteTotals): void {
    const s = this.settings();
    if (!s.levels.includes(level)) return;
    const v = this.minuteSample(minute);
    if (v === null) return;
    const key = `${level}\u0000${entityId}`;
    const b = this.baselines.get(key);
    const alpha = 1 - Math.pow(0.5, WINDOW_MS / s.half_life);
    if (b === undefined) this.baselines.set(key, { num: v.num, den: v.weight, minutes: 1 });
    else {
      b.num += alpha * (v.num - b.num);
      b.den += alpha * (v.weight - b.den);
      b.minutes += 1;
    }
  }

  windowMs(): number {
    return this.settings().window;
  }

  evaluate(
    level: KpiLevel,
    entityId: string,
    minutes: EntityMinutes,
    asOf = Infinity,
    lastMinute = minutes.newestMinute,
  ): Hit[] {
    const s = this.settings();
    if (!s.levels.includes(level)) return [];
    const b = this.baselines.get(`${level}\u0000${entityId}`);
    if (b === undefined || b.minutes < s.min_baseline_minutes || b.den <= 0) return [];
    const baseline = b.num / b.den;
    const end = lastMinute + WINDOW_MS;
    const start = end - s.window;
    const t = minutes.totals(start, end);
    const value = this.currentValue(t);
    if (value === null) return [];
    const threshold = Math.max(this.floor(), baseline * s.factor);
    if (value < threshold || this.chance(t, baseline)) return [];
    const d = this.describe(level, entityId, value, baseline, t);
    return [
      {
        rule: this.definition.name,
        severity: s.severity,
        level,
        entityId,
        windowStart: start,
        // Fired at the end of the data judged: a partial minute ends when it was emitted.
        windowEnd: Math.max(start + 1, Math.min(end, asOf)),
        value,
        threshold,
        summary: d.summary,
        evidence: {
          ...d.evidence,
          baseline: baseline.toFixed(4),
          baseline_minutes: String(b.minutes),
          transactions: String(t.tx),
        },
        eventIds: [],
        labels: { [level.toLowerCase()]: entityId },
      },
    ];
  }
}

function shareRule(
  name: 'decline_spike' | 'timeout_spike',
  what: 'declined' | 'timeouts',
  doc: string,
  defaults: { min_share: number; factor: number },
) {
  return defineRule({
    name,
    doc,
    params: {
      ...commonParams,
      min_share: share(`…and at least this share of ${what}.`),
      min_transactions: int({
        doc: 'Transactions in the window before the rule judges.',
        min: 1,
        max: 1_000_000,
      }),
      significance: num({
        doc: `…and the window's count of ${what} must be this improbable (one-sided binomial tail) at the baseline share: a small window of a quiet entity does not fire on two unlucky attempts.`,
        min: 0,
        max: 1,
      }),
    },
    defaults: {
      enabled: true,
      severity: 'WARNING',
      resolve_after: 600_000,
      levels: ['MERCHANT', 'REGION', 'ACQUIRER'],
      window: 300_000,
      half_life: 3_600_000,
      min_baseline_minutes: 15,
      factor: defaults.factor,
      min_share: defaults.min_share,
      min_transactions: 30,
      significance: 1e-6,
    },
  });
}

export const declineSpikeRule = shareRule(
  'decline_spike',
  'declined',
  'The share of declined attempts of a merchant, region or acquirer jumps against its own baseline.',
  { min_share: 0.2, factor: 2.5 },
);

export const timeoutSpikeRule = shareRule(
  'timeout_spike',
  'timeouts',
  'The share of attempts without a host answer (timeouts) jumps against its baseline: a network or host problem.',
  { min_share: 0.05, factor: 3 },
);

type ShareDefinition = typeof declineSpikeRule;

/** decline_spike and timeout_spike: one share of the window's transactions against its baseline. */
export class ShareSpikeRule extends BaselineRule {
  constructor(
    readonly definition: ShareDefinition,
    private readonly read: () => SettingsOf<ShareDefinition>,
    private readonly field: 'declined' | 'timeouts',
  ) {
    super();
  }

  protected settings() {
    return this.read();
  }

  protected minuteSample(m: MinuteTotals): Sample | null {
    return m.tx === 0 ? null : { num: m[this.field], weight: m.tx };
  }

  protected currentValue(t: MinuteTotals): number | null {
    return t.tx < this.read().min_transactions ? null : t[this.field] / t.tx;
  }

  protected floor(): number {
    return this.read().min_share;
  }

  protected override chance(t: MinuteTotals, baseline: number): boolean {
    // A baseline of zero would make any count impossible: floor it at one in a thousand.
    return binomialTail(t.tx, t[this.field], Math.max(baseline, 0.001)) > this.read().significance;
  }

  protected describe(level: KpiLevel, entityId: string, value: number, baseline: number, t: MinuteTotals) {
    const what = this.field === 'declined' ? 'decline' : 'timeout';
    return {
      summary: `${what} share of ${level.toLowerCase()} ${entityId} at ${(value * 100).toFixed(1)} % (baseline ${(baseline * 100).toFixed(1)} %) over ${t.tx} transactions`,
      evidence: {
        [`${what}_share`]: value.toFixed(4),
        [this.field]: String(t[this.field]),
        p_value: binomialTail(t.tx, t[this.field], Math.max(baseline, 0.001)).toExponential(2),
      },
    };
  }
}

export const latencySpikeRule = defineRule({
  name: 'latency_spike',
  doc: 'The p95 host response time of a merchant, region or acquirer jumps against its own baseline: a slow host or network.',
  params: {
    ...commonParams,
    min_ms: num({ doc: '…and at least this many milliseconds.', min: 0, max: 600_000 }),
    min_responses: int({
      doc: 'Answered attempts in the window before the rule judges.',
      min: 1,
      max: 1_000_000,
    }),
    min_baseline_responses: int({
      doc: 'Answered attempts a settled minute needs to count in the baseline (each counts by its responses): an entity with a few dozen attempts a minute still learns its normal.',
      min: 1,
      max: 1_000_000,
    }),
  },
  defaults: {
    enabled: true,
    severity: 'WARNING',
    resolve_after: 600_000,
    levels: ['MERCHANT', 'REGION', 'ACQUIRER'],
    window: 300_000,
    half_life: 3_600_000,
    min_baseline_minutes: 15,
    factor: 2,
    min_ms: 800,
    min_responses: 30,
    min_baseline_responses: 10,
  },
});

/** latency_spike: the window's merged-sketch p95 against the EWMA of minute p95s (weighted by responses). */
export class LatencySpikeRule extends BaselineRule {
  readonly definition = latencySpikeRule;

  constructor(private readonly read: () => SettingsOf<typeof latencySpikeRule>) {
    super();
  }

  protected settings() {
    return this.read();
  }

  protected minuteSample(m: MinuteTotals): Sample | null {
    const n = m.latency?.count ?? 0;
    if (m.latency === null || n < this.read().min_baseline_responses) return null;
    const p95 = m.latency.quantile(0.95);
    // Weighted by responses, as the share rules weigh by transactions: a quiet minute's p95 is
    // mostly its slowest answer and says less.
    return p95 === null ? null : { num: p95 * n, weight: n };
  }

  protected currentValue(t: MinuteTotals): number | null {
    if (t.latency === null || t.latency.count < this.read().min_responses) return null;
    return t.latency.quantile(0.95);
  }

  protected floor(): number {
    return this.read().min_ms;
  }

  protected describe(level: KpiLevel, entityId: string, value: number, baseline: number, t: MinuteTotals) {
    return {
      summary: `p95 host latency of ${level.toLowerCase()} ${entityId} at ${Math.round(value)} ms (baseline ${Math.round(baseline)} ms) over ${t.latency?.count ?? 0} responses`,
      evidence: { p95_ms: value.toFixed(0), p50_ms: (t.latency?.quantile(0.5) ?? 0).toFixed(0) },
    };
  }
}
