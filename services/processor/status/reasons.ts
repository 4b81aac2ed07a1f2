/**
 * The reason codes a TerminalStatus record may carry, in the order records list them. The codes are
 * a public contract (the live wall and analysts filter on them): never rename one, only append.
 * The rule behind each code is in docs/TERMINAL_STATUS.md.
 */
export const REASON_CODES = [
  'low_battery',
  'paper_out',
  'paper_low',
  'high_decline_rate',
  'high_timeout_rate',
  'offline_queue_growing',
  'reports_offline',
  'silent',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

const RANK = new Map<string, number>(REASON_CODES.map((code, i) => [code, i]));

/** The codes of `held` in the canonical order, each once. */
export function orderReasons(held: Iterable<ReasonCode>): ReasonCode[] {
  return [...new Set(held)].sort((a, b) => RANK.get(a)! - RANK.get(b)!);
}

export function sameReasons(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((code, i) => code === b[i]);
}
