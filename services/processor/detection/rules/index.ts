import { CARD_RULE_DEFINITIONS } from '../card-rules/index.ts';
import { KPI_RULE_DEFINITIONS } from '../kpi-detection.ts';
import type { TransactionRule } from '../rule.ts';
import type { RuleDefinition, RuleSet } from '../rules-file.ts';
import { AmountOutlierRule, amountOutlierRule } from './amount-outlier.ts';
import { CardTestingRule, cardTestingRule } from './card-testing.ts';
import { DuplicateTransactionRule, duplicateTransactionRule } from './duplicate-transaction.ts';
import { FallbackSpikeRule, fallbackSpikeRule } from './fallback-spike.ts';
import { OffHoursRule, offHoursRule } from './off-hours.ts';
import { TerminalSilentRule, terminalSilentRule } from './terminal-silent.ts';

/** Every rule over a partition's transactions: its definition and how to build one instance. */
export const TRANSACTION_RULES = [
  {
    definition: duplicateTransactionRule,
    create: (rules: () => RuleSet): TransactionRule =>
      new DuplicateTransactionRule(() => rules().get(duplicateTransactionRule)),
  },
  {
    definition: cardTestingRule,
    create: (rules: () => RuleSet): TransactionRule =>
      new CardTestingRule(() => rules().get(cardTestingRule)),
  },
  {
    definition: fallbackSpikeRule,
    create: (rules: () => RuleSet): TransactionRule =>
      new FallbackSpikeRule(() => rules().get(fallbackSpikeRule)),
  },
  {
    definition: amountOutlierRule,
    create: (rules: () => RuleSet): TransactionRule =>
      new AmountOutlierRule(() => rules().get(amountOutlierRule)),
  },
  {
    definition: offHoursRule,
    create: (rules: () => RuleSet): TransactionRule => new OffHoursRule(() => rules().get(offHoursRule)),
  },
  {
    definition: terminalSilentRule,
    create: (rules: () => RuleSet): TransactionRule =>
      new TerminalSilentRule(() => rules().get(terminalSilentRule)),
  },
] as const;

/** Every rule the rules file may configure: the transaction, card and entity KPI rules. */
export const RULE_DEFINITIONS: readonly RuleDefinition[] = [
  ...TRANSACTION_RULES.map((r) => r.definition),
  ...CARD_RULE_DEFINITIONS,
  ...KPI_RULE_DEFINITIONS,
];
