import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int } from '../rule-params.ts';
import type { SettingsReader } from '../rule.ts';
import { defineRule } from '../rules-file.ts';
import {
  Interner,
  SweepClock,
  cardLabels,
  cardShown,
  insertedByTime,
  type CardRule,
  type SaleLookup,
} from './card-rule.ts';

export const refundAbuseRule = defineRule({
  name: 'refund_abuse',
  doc: 'Refunds to one card that no sale explains: an approved refund without an approved sale (or completion) of that card at that merchant, in that currency, of at least that amount, within the lookback before it; or more than max_refunds approved refunds to the card within the window.',
  params: {
    lookback: duration({
      doc: 'How far before a refund its sale is looked for.',
      min: 60_000,
      max: 90 * 86_400_000,
    }),
    sales_memory: duration({
      doc: 'How long approved sales stay in memory for matching; a refund memory cannot explain is looked up in the transactions table.',
      min: 60_000,
      max: 90 * 86_400_000,
    }),
    max_sales_kept: int({
      doc: 'Approved sales kept in memory per card (memory bound).',
      min: 1,
      max: 1_000,
    }),
    window: duration({
      doc: 'Span (request time) refunds to one card are counted over.',
      min: 60_000,
      max: 30 * 86_400_000,
    }),
    max_refunds: int({
      doc: 'More approved refunds than this to one card within the window is a hit.',
      min: 1,
      max: 1_000,
    }),
  },
  defaults: {
    enabled: true,
    severity: 'WARNING',
    resolve_after: 86_400_000,
    lookback: 7 * 86_400_000,
    sales_memory: 86_400_000,
    max_sales_kept: 8,
    window: 86_400_000,
    max_refunds: 3,
  },
});

/** No event id: a republished copy is recognised by its request time, merchant and amount. */
interface Sale {
  readonly time: number;
  readonly merchant: string;
  readonly currency: string;
  readonly amount: number;
}

interface Refund {
  readonly time: number;
  readonly eventId: string;
  readonly merchant: string;
}

interface CardHistory {
  /** Approved sales and completions, ascending by request time, at most max_sales_kept. */
  sales: Sale[];
  /** Request time of the newest sale dropped for room: the memory proves no absence before it. */
  droppedUpTo: number;
  /** Approved refunds of the last window, ascending. */
  refunds: Refund[];
}

type Settings = ReturnType<SettingsReader<typeof refundAbuseRule>>;

const SALES: ReadonlySet<string> = new Set(['SALE', 'COMPLETION']);

/** Refunds kept per card beyond max_refunds, so late arrivals still find their span. */
const EXTRA_REFUNDS_KEPT = 4;

function isApproved(ev: TransactionEvent): ev is TransactionEvent & { card_token: string } {
  return ev.card_token !== null && ev.status === 'APPROVED';
}

const matches = (sale: Sale, refund: TransactionEvent, lookback: number): boolean =>
  sale.merchant === refund.merchant_id &&
  sale.currency === refund.currency &&
  sale.amount >= refund.amount_minor &&
  sale.time <= refund.request_time &&
  sale.time >= refund.request_time - lookback;

/**
 * Per card: its approved sales of the last `sales_memory` (at most max_sales_kept) and its approved
 * refunds of the last `window`.
 *
 * Memory is the fast path: most refunds follow their sale within hours, and memory explains them
 * without I/O. It proves a sale missing only when it covers the refund's whole lookback: history
 * began before it (`historyFrom`, moved by restarts), no sale that old was expired (sales_memory
 * shorter than lookback, the default: 1 day of 7) and none of the card's was dropped for room.
 * Otherwise the card stage asks the `transactions` table (`lookups` / `answer`) before the refund is
 * folded; without an answer the refund is not judged — a missing sale is never inferred from
 * missing memory.
 *
 * Memory (V8 heap, measured by scripts/bench/_card-rules-memory.ts on Node 20): ~80 bytes per kept
 * sale (object, boxed time; merchant and currency interned, no event id), ~150 per refund, ~260 per
 * card (token, map entry, history object, arrays): ~500 bytes for a card with three sales, ~480 MiB
 * per million cards that bought within sales_memory (1 day by default), at most ~900 bytes a card
 * (max_sales_kept 8). sales_memory trades memory for table lookups; the lookback costs no memory.
 */
export class RefundAbuseRule implements CardRule {
  readonly definition = refundAbuseRule;
  private readonly byCard = new Map<string, CardHistory>();
  private readonly strings = new Interner();
  private readonly sweeps = new SweepClock();
  private readonly answers = new Map<string, boolean>();
  /** Sales requested before this may be missing: history began later (see historyFrom). */
  private completeFrom = Infinity;
  /** Sales requested before this were dropped by expiry (sales_memory). */
  private expiredBefore = -Infinity;
  private entries = 0;

  constructor(private readonly settings: SettingsReader<typeof refundAbuseRule>) {}

  get size(): number {
    return this.entries;
  }

  historyFrom(time: number): void {
    this.completeFrom = time;
  }

  lookups(fresh: readonly TransactionEvent[]): SaleLookup[] {
    this.answers.clear();
    const s = this.settings();
    const out: SaleLookup[] = [];
    for (const ev of fresh) {
      if (ev.transaction_type !== 'REFUND' || !isApproved(ev)) continue;
      const h = this.byCard.get(ev.card_token);
      if (h?.sales.some((sale) => matches(sale, ev, s.lookback))) continue;
      if (this.covers(h, ev.request_time - s.lookback)) continue;
      out.push({
        eventId: ev.event_id,
        cardToken: ev.card_token,
        merchantId: ev.merchant_id,
        currency: ev.currency,
        minAmountMinor: ev.amount_minor,
        from: ev.request_time - s.lookback,
        to: ev.request_time,
      });
    }
    return out;
  }

  waitsForSettled(ev: TransactionEvent): boolean {
    return ev.transaction_type === 'REFUND' && isApproved(ev);
  }

  answer(eventId: string, matched: boolean): void {
    this.answers.set(eventId, matched);
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    if (!isApproved(ev)) return [];
    const isRefund = ev.transaction_type === 'REFUND';
    if (!isRefund && !SALES.has(ev.transaction_type)) return [];
    const s = this.settings();
    let h = this.byCard.get(ev.card_token);
    if (h === undefined) {
      h = { sales: [], droppedUpTo: -Infinity, refunds: [] };
      this.byCard.set(ev.card_token, h);
    }
    if (!isRefund) {
      this.addSale(h, ev, s);
      return [];
    }
    if (h.refunds.some((r) => r.eventId === ev.event_id)) return [];
    const refund: Refund = {
      time: ev.request_time,
      eventId: ev.event_id,
      merchant: this.strings.get(ev.merchant_id),
    };
    h.refunds = insertedByTime(h.refunds, refund);
    this.entries += 1;
    const kept = s.max_refunds + EXTRA_REFUNDS_KEPT;
    if (h.refunds.length > kept) {
      this.entries -= h.refunds.length - kept;
      h.refunds = h.refunds.slice(h.refunds.length - kept);
    }
    const answer = this.answers.get(ev.event_id);
    this.answers.delete(ev.event_id);

    const burst = this.burstWith(h.refunds, refund, s);
    if (burst !== undefined) return [this.burstHit(ev, s, burst)];
    if (h.sales.some((sale) => matches(sale, ev, s.lookback))) return [];
    const unmatched = this.covers(h, ev.request_time - s.lookback) ? true : answer === false;
    return unmatched ? [this.unmatchedHit(ev, s, h)] : [];
  }

  /** Whether the memory holds every approved sale of the card requested since `from`. */
  private covers(h: CardHistory | undefined, from: number): boolean {
    return (
      this.completeFrom <= from && this.expiredBefore <= from && (h === undefined || h.droppedUpTo < from)
    );
  }

  private addSale(h: CardHistory, ev: TransactionEvent, s: Settings): void {
    const copy = (x: Sale): boolean =>
      x.time === ev.request_time && x.amount === ev.amount_minor && x.merchant === ev.merchant_id;
    if (h.sales.some(copy)) return;
    h.sales = insertedByTime(h.sales, {
      time: ev.request_time,
      merchant: this.strings.get(ev.merchant_id),
      currency: this.strings.get(ev.currency),
      amount: ev.amount_minor,
    });
    this.entries += 1;
    if (h.sales.length > s.max_sales_kept) {
      const dropped = h.sales.length - s.max_sales_kept;
      h.droppedUpTo = Math.max(h.droppedUpTo, h.sales[dropped - 1]!.time);
      h.sales = h.sales.slice(dropped);
      this.entries -= dropped;
    }
  }

  /** The first span of `window` containing `refund` with more than max_refunds refunds. */
  private burstWith(refunds: readonly Refund[], refund: Refund, s: Settings): readonly Refund[] | undefined {
    for (let end = refunds.indexOf(refund); end >= 0 && end < refunds.length; end++) {
      const last = refunds[end]!;
      if (last.time >= refund.time + s.window) break;
      let start = end;
      while (start > 0 && refunds[start - 1]!.time > last.time - s.window) start -= 1;
      if (end - start + 1 > s.max_refunds) return refunds.slice(start, end + 1);
    }
    return undefined;
  }

  private burstHit(
    ev: TransactionEvent & { card_token: string },
    s: Settings,
    burst: readonly Refund[],
  ): Hit {
    const start = burst[0]!.time;
    const end = burst[burst.length - 1]!.time + 1;
    const merchants = [...new Set(burst.map((r) => r.merchant))];
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'CARD',
      entityId: ev.card_token,
      windowStart: start,
      windowEnd: end,
      value: burst.length,
      threshold: s.max_refunds,
      summary: `card ${cardShown(ev)}: ${burst.length} refunds at ${merchants.length} merchants within ${Math.max(1, Math.round((end - start) / 3_600_000))} h`,
      evidence: {
        card: cardShown(ev),
        pattern: 'refund_burst',
        refunds: String(burst.length),
        merchants: merchants.slice(0, 10).join(','),
      },
      eventIds: burst.map((r) => r.eventId).slice(-20),
      labels: cardLabels(ev),
    };
  }

  private unmatchedHit(ev: TransactionEvent & { card_token: string }, s: Settings, h: CardHistory): Hit {
    const salesHere = h.sales.filter(
      (x) =>
        x.merchant === ev.merchant_id && x.time <= ev.request_time && x.time >= ev.request_time - s.lookback,
    );
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'CARD',
      entityId: ev.card_token,
      windowStart: ev.request_time - s.lookback,
      windowEnd: ev.request_time + 1,
      value: ev.amount_minor,
      threshold: null,
      summary: `refund of ${ev.amount_minor} ${ev.currency} to card ${cardShown(ev)} at merchant ${ev.merchant_id} without a matching sale in the ${Math.round(s.lookback / 3_600_000)} h before`,
      evidence: {
        card: cardShown(ev),
        pattern: 'unmatched_refund',
        amount_minor: String(ev.amount_minor),
        currency: ev.currency,
        merchant_id: ev.merchant_id,
        sales_at_merchant: String(salesHere.length),
        largest_sale_at_merchant_minor: String(Math.max(0, ...salesHere.map((x) => x.amount))),
      },
      eventIds: [ev.event_id],
      labels: cardLabels(ev),
    };
  }

  expire(now: number): void {
    const s = this.settings();
    const salesSpan = Math.min(s.lookback, s.sales_memory);
    if (!this.sweeps.due(now, Math.min(salesSpan, s.window))) return;
    const salesHorizon = now - salesSpan;
    this.expiredBefore = Math.max(this.expiredBefore, salesHorizon);
    for (const [card, h] of this.byCard) {
      let oldSales = 0;
      while (oldSales < h.sales.length && h.sales[oldSales]!.time < salesHorizon) oldSales += 1;
      let oldRefunds = 0;
      while (oldRefunds < h.refunds.length && h.refunds[oldRefunds]!.time <= now - s.window) oldRefunds += 1;
      if (oldSales + oldRefunds === 0) continue;
      this.entries -= oldSales + oldRefunds;
      if (oldSales === h.sales.length && oldRefunds === h.refunds.length) {
        this.byCard.delete(card);
        continue;
      }
      if (oldSales > 0) h.sales = h.sales.slice(oldSales);
      if (oldRefunds > 0) h.refunds = h.refunds.slice(oldRefunds);
    }
  }
}
