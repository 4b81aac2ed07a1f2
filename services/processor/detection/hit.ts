import type { Severity } from '../../shared/avro/types.generated.ts';
import type { KpiLevel } from '../kpi/window-state.ts';

/** Severities a rule may be configured with (the Avro enum minus its UNKNOWN default). */
export type RuleSeverity = Exclude<Severity, 'UNKNOWN'>;

/**
 * Levels a hit (and so an alert) may be about: the KPI levels, and CARD for the card stage's rules
 * (entity id = card token).
 */
export type HitLevel = KpiLevel | 'CARD';

/**
 * One detection: a rule found its condition true for one entity. The alert book turns hits into
 * one FIRING alert per (rule, entity) and a `flags` row per hit.
 */
export interface Hit {
  readonly rule: string;
  readonly severity: RuleSeverity;
  readonly level: HitLevel;
  readonly entityId: string;
  /** Event-time span of the evidence [start, end). */
  readonly windowStart: number;
  readonly windowEnd: number;
  /** Observed value and the threshold it crossed, when the rule has one. */
  readonly value: number | null;
  readonly threshold: number | null;
  readonly summary: string;
  /** Display strings; never card data beyond token, BIN and last 4. */
  readonly evidence: Readonly<Record<string, string>>;
  /** Events that made the condition true (bounded by the rule). */
  readonly eventIds: readonly string[];
  /** Routing labels (merchant, region, acquirer…), in the Alertmanager sense. */
  readonly labels: Readonly<Record<string, string>>;
}
