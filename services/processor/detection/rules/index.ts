import type { TransactionRule } from '../rule.ts';
import type { RuleDefinition, RuleSet } from '../rules-file.ts';
import { CardTestingRule, cardTestingRule } from './card-testing.ts';
import { DuplicateTransactionRule, duplicateTransactionRule } from './duplicate-transaction.ts';

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
] as const;

/** Every rule the rules file may configure. */
export const RULE_DEFINITIONS: readonly RuleDefinition[] = TRANSACTION_RULES.map((r) => r.definition);
