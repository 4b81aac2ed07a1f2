import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { TransactionRule } from '../rule.ts';

/**
 * A detection rule over one partition of `card-activity`: the transactions of the cards whose token
 * hashes to that partition, republished by the processors that read them from `transactions`
 * (docs/PROCESSOR.md, "Card activity"). Unlike a terminal's events, a card's events come from many
 * `transactions` partitions, so they arrive roughly but not strictly in request-time order, and
 * possibly twice (the republishing is at-least-once). Card rules therefore
 *
 * - deduplicate on `event_id`;
 * - judge every window that contains the new event, not only the one ending at it, so a pattern is
 *   found once its last event arrives, whatever the arrival order;
 * - keep a bounded number of entries per card, expired by event time.
 *
 * Same contract as a terminal rule otherwise: pure and synchronous, state in, hits out.
 */
export interface CardRule extends TransactionRule {
  /**
   * The partition's card history is complete for events received (gateway_received_time) from
   * `time` on: earlier events may be missing (a restart, a partition that moved). A rule that
   * judges the absence of something (a refund without its sale) must not judge it over a span it
   * has not fully seen.
   */
  historyFrom?(time: number): void;
  /**
   * Questions about history older than the rule holds, for the fresh events about to be folded;
   * the stage asks the `transactions` table and hands each answer to `answer` before folding.
   */
  lookups?(fresh: readonly TransactionEvent[]): SaleLookup[];
  /** Whether the transactions table holds a sale matching lookup `eventId` (see SaleLookup). */
  answer?(eventId: string, matched: boolean): void;
  /**
   * Whether judging `ev` needs every earlier event of its card first (a refund's sale may come
   * from a `transactions` partition that is behind): the stage then folds it into this rule only
   * once every partition has been processed past its request time (CardDetectionStage).
   */
  waitsForSettled?(ev: TransactionEvent): boolean;
}

/**
 * "Was there an approved sale of this card at this merchant, in this currency, of at least this
 * amount, requested within [from, to]?" — asked for the event `eventId`.
 */
export interface SaleLookup {
  readonly eventId: string;
  readonly cardToken: string;
  readonly merchantId: string;
  readonly currency: string;
  readonly minAmountMinor: number;
  readonly from: number;
  readonly to: number;
}

/** Types that are follow-ups of an earlier attempt (sent by the terminal or host), not new ones. */
const FOLLOW_UPS: ReadonlySet<string> = new Set(['REVERSAL', 'VOID']);

/** An attempt the cardholder (or whoever holds the card) made: no follow-ups, no refunds. */
export function isCardAttempt(ev: TransactionEvent): ev is TransactionEvent & { card_token: string } {
  return ev.card_token !== null && !FOLLOW_UPS.has(ev.transaction_type) && ev.transaction_type !== 'REFUND';
}

/** How a card is shown in evidence: BIN…last 4, never more (the token is the entity id). */
export function cardShown(ev: TransactionEvent): string {
  return `${ev.card_bin ?? '??????'}…${ev.card_last4 ?? '????'}`;
}

/** Labels of a card hit: where the event that completed the pattern happened, and the card's BIN. */
export function cardLabels(ev: TransactionEvent): Record<string, string> {
  return {
    terminal_serial: ev.terminal_serial,
    merchant_id: ev.merchant_id,
    region: ev.region,
    acquirer_id: ev.acquirer_id,
    ...(ev.card_bin === null ? {} : { card_bin: ev.card_bin }),
  };
}

/**
 * `list` (ascending by `time`) with `item` inserted after any entries of the same time, as a new
 * array. Per-card lists are short and there are millions of them: a new array is allocated at its
 * exact length, where push/splice would leave room for 16 more (~130 bytes a card).
 */
export function insertedByTime<T extends { readonly time: number }>(list: readonly T[], item: T): T[] {
  let i = list.length;
  while (i > 0 && list[i - 1]!.time > item.time) i -= 1;
  return list.toSpliced(i, 0, item);
}

/**
 * Interns the strings kept in rule state (terminal serials, merchant ids, currencies): every
 * decoded event brings its own copies, and a million cards each remembering "M1234" would keep a
 * million copies. The table holds each distinct value once; it is bounded by the fleet (terminals,
 * merchants), and emptied if it ever grows past `max` (values still referenced stay valid).
 */
export class Interner {
  private readonly table = new Map<string, string>();

  constructor(private readonly max = 1_000_000) {}

  get(s: string): string {
    const known = this.table.get(s);
    if (known !== undefined) return known;
    if (this.table.size >= this.max) this.table.clear();
    this.table.set(s, s);
    return s;
  }
}

/**
 * Sweeping every card for expired entries costs time proportional to the cards held; doing it on
 * every tick is wasteful when entries live for hours. A sweep runs once event time has moved a
 * sixteenth of the retention since the last one, so at most ~6 % of memory is held past expiry.
 */
export class SweepClock {
  private last = -Infinity;

  due(now: number, retentionMs: number): boolean {
    if (now - this.last < retentionMs / 16 && now >= this.last) return false;
    this.last = now;
    return true;
  }
}

/** Great-circle distance in km between two WGS 84 points (haversine, mean Earth radius). */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}
