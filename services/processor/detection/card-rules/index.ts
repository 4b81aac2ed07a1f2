import type { RuleDefinition, RuleSet } from '../rules-file.ts';
import type { CardRule } from './card-rule.ts';
import { ImpossibleTravelRule, impossibleTravelRule } from './impossible-travel.ts';
import { RefundAbuseRule, refundAbuseRule } from './refund-abuse.ts';
import { VelocityRule, velocityRule } from './velocity.ts';

/**
 * Every rule over a partition of `card-activity` (entity level CARD): its definition, how to build
 * one instance, and how much history a restart rebuilds for it (the span its hits depend on).
 */
export const CARD_RULES = [
  {
    definition: velocityRule,
    create: (rules: () => RuleSet): CardRule => new VelocityRule(() => rules().get(velocityRule)),
    rebuildSpan: (rules: RuleSet): number => rules.get(velocityRule).window,
  },
  {
    definition: impossibleTravelRule,
    create: (rules: () => RuleSet): CardRule =>
      new ImpossibleTravelRule(() => rules().get(impossibleTravelRule)),
    rebuildSpan: (rules: RuleSet): number => rules.get(impossibleTravelRule).window,
  },
  {
    definition: refundAbuseRule,
    create: (rules: () => RuleSet): CardRule => new RefundAbuseRule(() => rules().get(refundAbuseRule)),
    // Sales older than the window are looked up in the transactions table when memory lacks them.
    rebuildSpan: (rules: RuleSet): number => rules.get(refundAbuseRule).window,
  },
] as const;

/** The card rules' definitions, to be listed with the others in the rules file (RULE_DEFINITIONS). */
export const CARD_RULE_DEFINITIONS: readonly RuleDefinition[] = CARD_RULES.map((r) => r.definition);
