import type {
  CurrencyAmount,
  EntityLevel,
  KpiUpdate,
  TransactionEvent,
} from '../../shared/avro/types.generated.ts';
import { LatencySketch } from '../../shared/kpi/latency-sketch.ts';

/**
 * The KPI accumulator of one entity over one window: `add(event)` folds a transaction in,
 * `merge(other)` combines two accumulators (windows of one entity, or entities of one window)
 * without the raw events, `toKpiUpdate(meta)` renders the KpiUpdate record. Definitions of every
 * KPI are in docs/KPIS.md; the short form is on each getter below.
 *
 * Memory per window: a few counters, one small map per mix, the latency sketch (one counter per
 * 1 % latency bucket that occurs, ~100 for latencies between 80 ms and 500 ms) and, while the window
 * is open, the set of distinct card tokens (the same string objects as the events', so shared by
 * the five levels an event updates).
 *
 * `merge` is associative and commutative, with `WindowState.empty()` as identity.
 */

/**
 * The levels the processor aggregates at: EntityLevel without its UNKNOWN fallback and without
 * CARD, a level only card-level detection alerts use (there are no per-card KPIs).
 */
export type KpiLevel = Exclude<EntityLevel, 'UNKNOWN' | 'CARD'>;

export const KPI_LEVELS: readonly KpiLevel[] = ['TERMINAL', 'MERCHANT', 'REGION', 'ACQUIRER', 'FLEET'];

/** entity_id of the FLEET level. */
export const FLEET_ID = '*';

/** Length of the tumbling KPI windows. */
export const WINDOW_MS = 60_000;

/** Key of `declines_by_code` for a DECLINED attempt without a response code (real codes are 2 characters). */
export const NO_RESPONSE_CODE = 'none';

/** The id of the entity `ev` belongs to at `level`. */
export function entityIdOf(level: KpiLevel, ev: TransactionEvent): string {
  switch (level) {
    case 'TERMINAL':
      return ev.terminal_serial;
    case 'MERCHANT':
      return ev.merchant_id;
    case 'REGION':
      return ev.region;
    case 'ACQUIRER':
      return ev.acquirer_id;
    case 'FLEET':
      return FLEET_ID;
  }
}

/** Start of the tumbling window holding `timeMs` (floor to a multiple of `windowMs` since the epoch). */
export function windowStartOf(timeMs: number, windowMs: number = WINDOW_MS): number {
  return Math.floor(timeMs / windowMs) * windowMs;
}

/** Host latency of an event: response_time - request_time, floored at 0; null without a response. */
export function hostLatencyMs(ev: TransactionEvent): number | null {
  if (ev.response_time === null) return null;
  // A response stamped before its request is clock skew between the terminal and the host side;
  // it counts as an immediate answer rather than being dropped (see docs/KPIS.md).
  return Math.max(0, ev.response_time - ev.request_time);
}

/** Basket value before discount: sum of quantity × unit price over the lines. */
export function basketGrossMinor(ev: TransactionEvent): number | null {
  if (ev.basket === null) return null;
  let gross = 0;
  for (const item of ev.basket.items) gross += item.quantity * item.unit_price_minor;
  return gross;
}

/** What `toKpiUpdate` needs besides the accumulated values. */
export interface KpiMeta {
  readonly entityLevel: KpiLevel;
  readonly entityId: string;
  readonly windowStart: number;
  readonly windowSizeMs: number;
  readonly version: number;
  readonly isFinal: boolean;
  readonly emittedTime: number;
}

/** A WindowState as plain data, every collection sorted: equal accumulators give equal values. */
export interface WindowStatePlain {
  txCount: number;
  approvedCount: number;
  declinedCount: number;
  timeoutCount: number;
  reversalCount: number;
  refundCount: number;
  declinesByCode: Record<string, number>;
  amounts: CurrencyAmount[];
  cards: string[];
  cardsFloor: number;
  paymentMethodMix: Record<string, number>;
  entryModeMix: Record<string, number>;
  latencyCount: number;
  latencySumMs: number;
  latencyMaxMs: number | null;
  /** Canonical sketch bytes as hex; null without latencies. */
  latencySketch: string | null;
  basketCount: number;
  basketGrossMinor: number;
  basketDiscountMinor: number;
}

interface Amount {
  sum: number;
  count: number;
}

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

function addAll(into: Map<string, number>, from: ReadonlyMap<string, number>): void {
  for (const [k, v] of from) bump(into, k, v);
}

function sortedRecord(map: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class WindowState {
  txCount = 0;
  approvedCount = 0;
  declinedCount = 0;
  timeoutCount = 0;
  reversalCount = 0;
  refundCount = 0;
  readonly declinesByCode = new Map<string, number>();
  /** Approved amounts per currency. */
  readonly amounts = new Map<string, Amount>();
  readonly paymentMethodMix = new Map<string, number>();
  readonly entryModeMix = new Map<string, number>();
  /**
   * Distinct card tokens seen. A snapshot drops the set and keeps its size in `cardsFloor`, so
   * unique_cards = max(cards.size, cardsFloor): exact while every merged part still has its set,
   * a lower bound once one does not (see uniqueCards).
   */
  readonly cards = new Set<string>();
  cardsFloor = 0;
  /** Host latencies; null until the first response. */
  latency: LatencySketch | null = null;
  latencySumMs = 0;
  latencyMaxMs: number | null = null;
  basketCount = 0;
  basketGrossMinor = 0;
  basketDiscountMinor = 0;

  static empty(): WindowState {
    return new WindowState();
  }

  /** Folds one transaction in. */
  add(ev: TransactionEvent): this {
    this.txCount += 1;
    switch (ev.status) {
      case 'APPROVED': {
        this.approvedCount += 1;
        const a = this.amounts.get(ev.currency);
        if (a === undefined) this.amounts.set(ev.currency, { sum: ev.amount_minor, count: 1 });
        else {
          a.sum += ev.amount_minor;
          a.count += 1;
        }
        break;
      }
      case 'DECLINED':
        this.declinedCount += 1;
        bump(this.declinesByCode, ev.response_code ?? NO_RESPONSE_CODE);
        break;
      case 'TIMEOUT':
        this.timeoutCount += 1;
        break;
      default:
        break;
    }
    if (ev.transaction_type === 'REVERSAL') this.reversalCount += 1;
    if (ev.transaction_type === 'REFUND') this.refundCount += 1;
    bump(this.paymentMethodMix, ev.payment_method);
    bump(this.entryModeMix, ev.entry_mode);
    if (ev.card_token !== null) this.cards.add(ev.card_token);
    const latency = hostLatencyMs(ev);
    if (latency !== null) {
      (this.latency ??= LatencySketch.empty()).add(latency);
      this.latencySumMs += latency;
      this.latencyMaxMs = Math.max(this.latencyMaxMs ?? 0, latency);
    }
    const gross = basketGrossMinor(ev);
    if (gross !== null) {
      this.basketCount += 1;
      this.basketGrossMinor += gross;
      this.basketDiscountMinor += ev.basket!.discount_minor;
    }
    return this;
  }

  /** Adds `other` into this one (other is unchanged). */
  merge(other: WindowState): this {
    return this.mergeFrom(other, true);
  }

  private mergeFrom(other: WindowState, withCards: boolean): this {
    this.txCount += other.txCount;
    this.approvedCount += other.approvedCount;
    this.declinedCount += other.declinedCount;
    this.timeoutCount += other.timeoutCount;
    this.reversalCount += other.reversalCount;
    this.refundCount += other.refundCount;
    addAll(this.declinesByCode, other.declinesByCode);
    for (const [currency, a] of other.amounts) {
      const mine = this.amounts.get(currency);
      if (mine === undefined) this.amounts.set(currency, { ...a });
      else {
        mine.sum += a.sum;
        mine.count += a.count;
      }
    }
    addAll(this.paymentMethodMix, other.paymentMethodMix);
    addAll(this.entryModeMix, other.entryModeMix);
    if (withCards) for (const c of other.cards) this.cards.add(c);
    this.cardsFloor = Math.max(this.cardsFloor, withCards ? other.cardsFloor : other.uniqueCards);
    if (other.latency !== null) (this.latency ??= LatencySketch.empty()).merge(other.latency);
    this.latencySumMs += other.latencySumMs;
    if (other.latencyMaxMs !== null) this.latencyMaxMs = Math.max(this.latencyMaxMs ?? 0, other.latencyMaxMs);
    this.basketCount += other.basketCount;
    this.basketGrossMinor += other.basketGrossMinor;
    this.basketDiscountMinor += other.basketDiscountMinor;
    return this;
  }

  /** A deep copy, card set included. */
  clone(): WindowState {
    return WindowState.empty().merge(this);
  }

  /**
   * A copy for emission and for rolling views: the exact card set is replaced by its size, so the
   * copy is small and its unique_cards stays what this window's is now.
   */
  snapshot(): WindowState {
    return new WindowState().mergeFrom(this, false);
  }

  /**
   * Distinct card_token values. Exact for a window (and for merges of windows that still hold
   * their sets, e.g. two partitions' partials in memory); after merging snapshots it is the largest
   * part's count, a lower bound of the true number.
   */
  get uniqueCards(): number {
    return Math.max(this.cards.size, this.cardsFloor);
  }

  /** Responses with a host latency. */
  get latencyCount(): number {
    return this.latency?.count ?? 0;
  }

  /** approved_count / tx_count (every attempt is in the denominator); null without attempts. */
  get approvalRate(): number | null {
    return this.txCount === 0 ? null : this.approvedCount / this.txCount;
  }

  /** Mean gross basket value over attempts that carried a basket; null when none did. */
  get avgBasketMinor(): number | null {
    return this.basketCount === 0 ? null : this.basketGrossMinor / this.basketCount;
  }

  /**
   * Sum of discounts / sum of gross basket values, clamped to [0, 1] as the contract states; null
   * without a basket or when the gross sum is not positive. The row keeps both sums unclamped.
   */
  get discountShare(): number | null {
    if (this.basketCount === 0 || this.basketGrossMinor <= 0) return null;
    return Math.min(1, Math.max(0, this.basketDiscountMinor / this.basketGrossMinor));
  }

  /** Approved amounts per currency, sorted by currency. */
  get currencyAmounts(): CurrencyAmount[] {
    return [...this.amounts]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([currency, a]) => ({ currency, sum_minor: a.sum, count: a.count }));
  }

  latencyQuantile(q: number): number | null {
    return this.latency?.quantile(q) ?? null;
  }

  /** Canonical DDSketch bytes; null without latencies. */
  latencySketchBytes(): Uint8Array | null {
    return this.latency === null || this.latency.count === 0 ? null : this.latency.toBytes();
  }

  toKpiUpdate(meta: KpiMeta): KpiUpdate {
    const sketch = this.latencySketchBytes();
    return {
      entity_level: meta.entityLevel,
      entity_id: meta.entityId,
      window_start: meta.windowStart,
      window_end: meta.windowStart + meta.windowSizeMs,
      window_size_ms: meta.windowSizeMs,
      version: meta.version,
      is_final: meta.isFinal,
      tx_count: this.txCount,
      approved_count: this.approvedCount,
      declined_count: this.declinedCount,
      timeout_count: this.timeoutCount,
      reversal_count: this.reversalCount,
      refund_count: this.refundCount,
      approval_rate: this.approvalRate,
      declines_by_code: sortedRecord(this.declinesByCode),
      amounts: this.currencyAmounts,
      tps: this.txCount / (meta.windowSizeMs / 1000),
      unique_cards: this.uniqueCards,
      payment_method_mix: sortedRecord(this.paymentMethodMix),
      entry_mode_mix: sortedRecord(this.entryModeMix),
      latency_p50_ms: this.latencyQuantile(0.5),
      latency_p95_ms: this.latencyQuantile(0.95),
      latency_p99_ms: this.latencyQuantile(0.99),
      latency_sketch: sketch === null ? null : Buffer.from(sketch),
      avg_basket_minor: this.avgBasketMinor,
      discount_share: this.discountShare,
      emitted_time: meta.emittedTime,
    };
  }

  toPlain(): WindowStatePlain {
    const sketch = this.latencySketchBytes();
    return {
      txCount: this.txCount,
      approvedCount: this.approvedCount,
      declinedCount: this.declinedCount,
      timeoutCount: this.timeoutCount,
      reversalCount: this.reversalCount,
      refundCount: this.refundCount,
      declinesByCode: sortedRecord(this.declinesByCode),
      amounts: this.currencyAmounts,
      cards: [...this.cards].sort(),
      cardsFloor: this.cardsFloor,
      paymentMethodMix: sortedRecord(this.paymentMethodMix),
      entryModeMix: sortedRecord(this.entryModeMix),
      latencyCount: this.latencyCount,
      latencySumMs: this.latencySumMs,
      latencyMaxMs: this.latencyMaxMs,
      latencySketch: sketch === null ? null : Buffer.from(sketch).toString('hex'),
      basketCount: this.basketCount,
      basketGrossMinor: this.basketGrossMinor,
      basketDiscountMinor: this.basketDiscountMinor,
    };
  }
}
