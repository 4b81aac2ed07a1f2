import type { TerminalHeartbeat, TransactionEvent } from '../../shared/avro/types.generated.ts';
import type { Hit } from './hit.ts';
import type { RuleDefinition, SettingsOf } from './rules-file.ts';

/**
 * A detection rule over one partition's transactions (terminal-keyed: a terminal's events arrive in
 * order, all in one partition). Pure and synchronous: state in, hits out.
 */
export interface TransactionRule {
  readonly definition: RuleDefinition;
  /**
   * Folds one transaction. Returns the hits it causes; the caller ignores them while rebuilding
   * state after a restart (the previous owner reported those).
   */
  onTransaction(ev: TransactionEvent): Hit[];
  /**
   * Optional, for rules that fire on silence (no transaction arrives to trigger them): evaluates at
   * the tick's `now` (the time `expire` gets) and returns the hits, recorded like onTransaction's.
   * To be called on every tick for enabled rules, before `expire(now)`; never while state is being
   * rebuilt.
   */
  onTick?(now: number): Hit[];
  /**
   * Optional, for rules that judge a terminal's silence: it is alive while it heartbeats. Returns
   * the hits of a silence the heartbeat ends, recorded like onTransaction's.
   */
  onHeartbeat?(hb: TerminalHeartbeat): Hit[];
  /** Forgets what no evaluation at event time `now` or later needs. */
  expire(now: number): void;
  /** Entries held, for the memory gauge (see docs/DETECTION.md, "Memory"). */
  readonly size: number;
}

/** Reads a rule's settings live, so a reloaded rules file applies without losing state. */
export type SettingsReader<D extends RuleDefinition> = () => SettingsOf<D>;

/** Labels every hit about a transaction's terminal carries. */
export function placementLabels(ev: TransactionEvent): Record<string, string> {
  return {
    terminal_serial: ev.terminal_serial,
    merchant_id: ev.merchant_id,
    region: ev.region,
    acquirer_id: ev.acquirer_id,
  };
}
