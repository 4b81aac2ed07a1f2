import type {
  Basket,
  EntryMode,
  PaperState,
  PaymentMethod,
  TransactionType,
} from '../shared/avro/types.generated.ts';
import { APPROVED, declineInfo, type AcquirerInfo, type CardType, type CategoryInfo } from './catalog.ts';
import {
  operationKey,
  simHeartbeat,
  simTransaction,
  type HeartbeatFields,
  type SimEvent,
  type SimTransaction,
  type TransactionFields,
} from './events.ts';
import { terminalOpenAt, type Card, type Fleet, type Region, type Terminal } from './fleet.ts';
import { LoadCurve } from './load-curve.ts';
import type { Mix } from './mix.ts';
import { Rng, WeightedTable, tableOf } from './rng.ts';

/**
 * Normal traffic: transactions drawn from the load curve (a Poisson count per one-second tick,
 * spread over the cohorts by their rate, then over each cohort's terminals by activity) and one
 * heartbeat per terminal per interval. The generator is a state machine advanced one tick at a
 * time, so the events depend only on the seed, the options and the start, never on how a caller
 * chunks the run.
 */

export const TICK_MS = 1_000;

/** The host's answer. */
export type Outcome = { status: 'APPROVED' } | { status: 'DECLINED'; code: string } | { status: 'TIMEOUT' };

/** Everything that makes one transaction; `assembleTransaction` turns it into the wire fields. */
export interface TransactionSpec {
  eventId: string;
  terminal: Terminal;
  requestTime: number;
  type: TransactionType;
  paymentMethod: PaymentMethod;
  entryMode: EntryMode;
  pan: string | null;
  amount: number;
  outcome: Outcome;
  /** Host response time; ignored for a TIMEOUT. */
  latencyMs: number;
  stan: string;
  /** Retrieval reference number the host returns (null for a TIMEOUT). */
  rrn: string | null;
  authCode: string | null;
  cashier: string | null;
  basket: Basket | null;
}

export function assembleTransaction(spec: TransactionSpec): TransactionFields {
  const m = spec.terminal.merchant;
  const answered = spec.outcome.status !== 'TIMEOUT';
  const response =
    spec.outcome.status === 'APPROVED'
      ? APPROVED
      : spec.outcome.status === 'DECLINED'
        ? declineInfo(spec.outcome.code)
        : undefined;
  return {
    event_id: spec.eventId,
    terminal_serial: spec.terminal.serial,
    merchant_id: m.id,
    merchant_name: m.name,
    acquirer_id: m.acquirer.id,
    region: m.region.id,
    latitude: spec.terminal.latitude,
    longitude: spec.terminal.longitude,
    mcc: m.mcc,
    cashier_id: spec.cashier,
    transaction_type: spec.type,
    payment_method: spec.paymentMethod,
    entry_mode: spec.entryMode,
    amount_minor: spec.amount,
    currency: m.region.currency,
    pan: spec.pan,
    response_code: response?.code ?? null,
    response_message: response?.message ?? null,
    auth_code: spec.outcome.status === 'APPROVED' ? spec.authCode : null,
    status: spec.outcome.status,
    request_time: spec.requestTime,
    response_time: answered ? spec.requestTime + Math.max(1, Math.round(spec.latencyMs)) : null,
    stan: spec.stan,
    rrn: answered ? spec.rrn : null,
    basket: spec.basket,
  };
}

/** Host response time of one request: log-normal around the acquirer's median, 20 ms to 12 s. */
export function sampleLatency(acquirer: AcquirerInfo, rng: Rng): number {
  return Math.min(
    12_000,
    Math.max(20, Math.round(rng.lognormal(acquirer.latencyMedianMs, acquirer.latencySigma))),
  );
}

/** A ticket of the category in the region's currency (minor units). */
export function sampleAmount(category: CategoryInfo, region: Region, rng: Rng): number {
  const euroCents = Math.min(
    2_000_000,
    Math.max(50, rng.lognormal(category.amountMedian, category.amountSigma)),
  );
  return Math.max(1, Math.round(euroCents * region.perEuro));
}

const AUTH_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';

export function authCode(rng: Rng): string {
  let out = '';
  for (let i = 0; i < 6; i++) out += AUTH_CHARS[Math.floor(rng.next() * AUTH_CHARS.length)];
  return out;
}

/** A 12-digit RRN: last digit of the year, day of the year, hour, then a 6-digit sequence. */
export function retrievalReference(time: number, sequence: number): string {
  const d = new Date(time);
  const dayOfYear = Math.floor((time - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  return (
    String(d.getUTCFullYear() % 10) +
    String(dayOfYear).padStart(3, '0') +
    String(d.getUTCHours()).padStart(2, '0') +
    String(sequence % 1_000_000).padStart(6, '0')
  );
}

/** A basket whose lines, quantities and discount add up to exactly `amount`. */
export function makeBasket(category: CategoryInfo, amount: number, rng: Rng): Basket {
  const lines = Math.max(1, Math.min(rng.int(1, 5), amount));
  const weights = Array.from({ length: lines }, () => rng.float(0.2, 1));
  const sum = weights.reduce((a, b) => a + b, 0);
  const parts = weights.map((w) => Math.max(1, Math.floor((amount * w) / sum)));
  parts[0] = (parts[0] as number) + amount - parts.reduce((a, b) => a + b, 0);
  if ((parts[0] as number) < 1)
    return {
      item_count: 1,
      items: [{ sku: `${category.skus[0]}-100`, quantity: 1, unit_price_minor: amount }],
      discount_minor: 0,
      coupon_codes: [],
    };
  const items = parts.map((part) => {
    const quantity = part >= 3 && rng.chance(0.3) ? rng.int(2, 3) : 1;
    return {
      sku: `${rng.pick(category.skus)}-${rng.int(100, 9999)}`,
      quantity,
      unit_price_minor: Math.ceil(part / quantity),
    };
  });
  const total = items.reduce((s, it) => s + it.quantity * it.unit_price_minor, 0);
  return {
    item_count: items.reduce((s, it) => s + it.quantity, 0),
    items,
    discount_minor: total - amount,
    coupon_codes: rng.chance(0.08) ? [rng.pick(['SAVE5', 'WELCOME10', 'LOYALTY', 'SPRING'])] : [],
  };
}

/** Cards away from home for the whole run, per thousand (chosen by card index, no random draw). */
export const VISITOR_PER_MILLE = 60;

/**
 * The region a card spends the run in when it is a visitor (away from home), else null. A visitor
 * stays in one region, so normal traffic never has a card in two places at once: a traveller's
 * payments come from the visitors of the merchant's region, not from any card anywhere.
 */
export function visitedRegion(card: Card, regions: readonly Region[]): Region | null {
  if (regions.length < 2 || (card.index * 7919) % 1000 >= VISITOR_PER_MILLE) return null;
  const others = regions.filter((r) => r.index !== card.region.index);
  return others[card.index % others.length] ?? null;
}

/** Cards by the region they are in (residents; visitors apart) and type, for picking who pays. */
export class CardBook {
  private readonly byRegion = new Map<number, Map<CardType | 'ANY', WeightedTable<Card>>>();
  private readonly visitors = new Map<number, Map<CardType | 'ANY', WeightedTable<Card>>>();
  private readonly global = new Map<CardType | 'ANY', WeightedTable<Card>>();

  constructor(fleet: Fleet) {
    const groups = new Map<string, Card[]>();
    const add = (key: string, card: Card) => {
      let list = groups.get(key);
      if (list === undefined) groups.set(key, (list = []));
      list.push(card);
    };
    for (const card of fleet.cards) {
      const visiting = visitedRegion(card, fleet.regions);
      for (const kind of [card.product.type, 'ANY']) {
        add(visiting === null ? `${card.region.index}|${kind}` : `v${visiting.index}|${kind}`, card);
        add(`*|${kind}`, card);
      }
    }
    for (const [key, cards] of groups) {
      const [region, kind] = key.split('|') as [string, CardType | 'ANY'];
      const table = new WeightedTable(cards.map((c) => [c, c.activity] as const));
      if (region === '*') this.global.set(kind, table);
      else {
        const into = region.startsWith('v') ? this.visitors : this.byRegion;
        const index = Number(region.replace('v', ''));
        let byKind = into.get(index);
        if (byKind === undefined) into.set(index, (byKind = new Map()));
        byKind.set(kind, table);
      }
    }
  }

  /** A visitor of `region` (a card from elsewhere spending the run there), else any card. */
  pickVisitor(region: Region, type: CardType | null, rng: Rng): Card {
    const kind = type ?? 'ANY';
    const table =
      this.visitors.get(region.index)?.get(kind) ??
      this.global.get(kind) ??
      (this.global.get('ANY') as WeightedTable<Card>);
    return table.pick(rng);
  }

  /** A card of `type` (any type when null) at home and present in `region`, else from anywhere. */
  pick(region: Region | null, type: CardType | null, rng: Rng): Card {
    const kind = type ?? 'ANY';
    const table =
      (region === null ? undefined : this.byRegion.get(region.index)?.get(kind)) ??
      this.global.get(kind) ??
      (this.global.get('ANY') as WeightedTable<Card>);
    return table.pick(rng);
  }
}

export interface TrafficOptions {
  seed: string;
  /** Average transactions per second of the whole fleet (the load curve's weekly mean). */
  rate: number;
  heartbeatIntervalMs: number;
  /** Salts event ids, so runs from the same seed at different times do not collide downstream. */
  idSalt: string;
  mix: Mix;
}

interface TerminalState {
  stan: number;
  paperLeft: number;
  battery: number;
}

/** An approved operation a later refund, void, reversal or completion can refer to. */
interface RecentOp {
  card: Card;
  amount: number;
  type: TransactionType;
  time: number;
  paymentMethod: PaymentMethod;
  entryMode: EntryMode;
}

const RECENT_OPS_KEPT = 24;
/** STANs of normal traffic stay below this; incidents use the numbers above it. */
export const BASELINE_STAN_LIMIT = 899_999;

export class TrafficGenerator {
  readonly curve: LoadCurve;
  private cursor: number;
  private readonly txRng: Rng;
  private readonly hbRng: Rng;
  private readonly txIds: Rng;
  private readonly hbIds: Rng;
  private readonly states: TerminalState[];
  private readonly recent = new Map<number, RecentOp[]>();
  private readonly cards: CardBook;
  private readonly payments: WeightedTable<keyof Mix['payment_methods']>;
  private readonly entries: WeightedTable<keyof Mix['entry_modes']>;
  private readonly declines: WeightedTable<string>;
  private readonly rates: Float64Array;
  /** Terminals ordered by the offset of their heartbeat within the interval. */
  private readonly byPhase: { offset: number; terminal: Terminal }[];
  private rrnSequence = 0;

  constructor(
    readonly fleet: Fleet,
    readonly options: TrafficOptions,
    start: number,
  ) {
    if (options.heartbeatIntervalMs < TICK_MS) {
      throw new RangeError(`the heartbeat interval must be at least ${TICK_MS} ms`);
    }
    this.curve = new LoadCurve(fleet, options.rate);
    this.cursor = start;
    const root = Rng.from(options.seed, 'traffic');
    this.txRng = root.fork('transactions');
    this.hbRng = root.fork('heartbeats');
    this.txIds = root.fork('ids', options.idSalt, 'transactions');
    this.hbIds = root.fork('ids', options.idSalt, 'heartbeats');
    const init = root.fork('initial-state');
    this.states = fleet.terminals.map((t) => ({
      stan: init.int(1, 500_000),
      paperLeft: Math.round(t.paperCapacity * init.float(0.1, 1)),
      battery: init.float(40, 100),
    }));
    this.cards = new CardBook(fleet);
    this.payments = tableOf(options.mix.payment_methods);
    this.entries = tableOf(options.mix.entry_modes);
    this.declines = tableOf(options.mix.decline_codes);
    this.rates = new Float64Array(this.curve.cohorts.length);
    this.byPhase = fleet.terminals
      .map((terminal) => ({
        offset: Math.floor(terminal.heartbeatPhase * options.heartbeatIntervalMs),
        terminal,
      }))
      .sort((a, b) => a.offset - b.offset || a.terminal.index - b.terminal.index);
  }

  /** Start of the next tick. */
  get position(): number {
    return this.cursor;
  }

  /**
   * The events whose request time (transactions) or event time (heartbeats) falls in the next tick
   * [position, position + TICK_MS), in generation order; then advances. Report times may lie after
   * the tick (a transaction is reported when its answer came).
   */
  nextTick(): SimEvent[] {
    const from = this.cursor;
    const to = from + TICK_MS;
    this.cursor = to;
    const out: SimEvent[] = this.heartbeats(from, to);
    const total = this.curve.cohortRates(from + TICK_MS / 2, this.rates);
    const count = this.txRng.poisson((total * TICK_MS) / 1000);
    if (count === 0) return out;
    const cohorts = new WeightedTable(
      this.curve.cohorts.map((c, i) => [c, this.rates[i] as number] as const),
    );
    const drafts: { terminal: Terminal; time: number }[] = [];
    for (let i = 0; i < count; i++) {
      const cohort = cohorts.pick(this.txRng);
      drafts.push({
        terminal: cohort.terminals.pick(this.txRng),
        time: from + Math.floor(this.txRng.next() * TICK_MS),
      });
    }
    drafts.sort((a, b) => a.time - b.time || a.terminal.index - b.terminal.index);
    for (const d of drafts) out.push(this.transaction(d.terminal, d.time));
    return out;
  }

  private nextStan(terminal: Terminal): string {
    const state = this.states[terminal.index] as TerminalState;
    state.stan = (state.stan % BASELINE_STAN_LIMIT) + 1;
    return String(state.stan).padStart(6, '0');
  }

  private takeRecent(merchantIndex: number, accept: (op: RecentOp) => boolean): RecentOp | undefined {
    const ops = this.recent.get(merchantIndex);
    if (ops === undefined) return undefined;
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i] as RecentOp;
      if (accept(op)) {
        ops.splice(i, 1);
        return op;
      }
    }
    return undefined;
  }

  private remember(merchantIndex: number, op: RecentOp): void {
    let ops = this.recent.get(merchantIndex);
    if (ops === undefined) this.recent.set(merchantIndex, (ops = []));
    ops.push(op);
    if (ops.length > RECENT_OPS_KEPT) ops.shift();
  }

  private transaction(terminal: Terminal, time: number): SimTransaction {
    const rng = this.txRng;
    const mix = this.options.mix;
    const merchant = terminal.merchant;
    const category = merchant.category;

    // What the customer does: most attempts are sales; the follow-ups refer to an earlier operation.
    let type: TransactionType = 'SALE';
    let ref: RecentOp | undefined;
    const roll = rng.next();
    let edge = mix.refund_share;
    if (roll < edge) {
      ref = this.takeRecent(
        merchant.index,
        (op) => (op.type === 'SALE' || op.type === 'COMPLETION') && time - op.time >= 60_000,
      );
      if (ref) type = 'REFUND';
    } else if (roll < (edge += mix.void_share)) {
      ref = this.takeRecent(
        merchant.index,
        (op) => op.type === 'SALE' && within(time - op.time, 1_000, 600_000),
      );
      if (ref) type = 'VOID';
    } else if (roll < (edge += mix.reversal_share)) {
      ref = this.takeRecent(
        merchant.index,
        (op) => op.type !== 'PRE_AUTH' && within(time - op.time, 1_000, 120_000),
      );
      if (ref) type = 'REVERSAL';
    } else if (roll < (edge += mix.balance_inquiry_share)) {
      type = 'BALANCE_INQUIRY';
    } else if (category.preAuthShare > 0 && rng.chance(category.preAuthShare)) {
      ref = rng.chance(0.5)
        ? this.takeRecent(merchant.index, (op) => op.type === 'PRE_AUTH' && time - op.time >= 60_000)
        : undefined;
      type = ref ? 'COMPLETION' : 'PRE_AUTH';
    }

    let paymentMethod: PaymentMethod;
    let entryMode: EntryMode;
    let card: Card | null;
    let amount: number;
    if (ref) {
      card = ref.card;
      paymentMethod = ref.paymentMethod;
      entryMode = ref.entryMode;
      amount =
        type === 'REFUND'
          ? rng.chance(0.7)
            ? ref.amount
            : Math.max(1, Math.round(ref.amount * rng.float(0.1, 0.9)))
          : type === 'COMPLETION'
            ? Math.max(1, Math.round(ref.amount * rng.float(0.8, 1)))
            : ref.amount;
    } else {
      const method = type === 'BALANCE_INQUIRY' ? 'DEBIT' : this.payments.pick(rng);
      paymentMethod = method;
      if (method === 'EWALLET_QR') {
        card = null;
        entryMode = 'UNKNOWN';
      } else {
        const type = method === 'CONTACTLESS' ? null : method;
        card = rng.chance(mix.traveller_share)
          ? this.cards.pickVisitor(merchant.region, type, rng)
          : this.cards.pick(merchant.region, type, rng);
        entryMode = method === 'CONTACTLESS' ? 'CONTACTLESS' : this.entries.pick(rng);
      }
      amount = type === 'BALANCE_INQUIRY' ? 0 : sampleAmount(category, merchant.region, rng);
    }

    // The host's answer: follow-ups are rarely refused.
    const r = rng.next();
    const declineShare = ref ? mix.decline_share / 4 : mix.decline_share;
    const outcome: Outcome =
      r < mix.timeout_share
        ? { status: 'TIMEOUT' }
        : r < mix.timeout_share + declineShare
          ? { status: 'DECLINED', code: this.declines.pick(rng) }
          : { status: 'APPROVED' };
    const latencyMs = sampleLatency(merchant.acquirer, rng);
    const fields = assembleTransaction({
      eventId: this.txIds.uuid(),
      terminal,
      requestTime: time,
      type,
      paymentMethod,
      entryMode,
      pan: card?.pan ?? null,
      amount,
      outcome,
      latencyMs,
      stan: this.nextStan(terminal),
      rrn: retrievalReference(time, ++this.rrnSequence),
      authCode: authCode(rng),
      cashier: rng.chance(mix.cashier_share) ? rng.pick(merchant.cashiers) : null,
      basket: type === 'SALE' && rng.chance(category.basketShare) ? makeBasket(category, amount, rng) : null,
    });

    if (outcome.status === 'APPROVED') {
      if (card && (type === 'SALE' || type === 'PRE_AUTH' || type === 'COMPLETION')) {
        this.remember(merchant.index, { card, amount, type, time, paymentMethod, entryMode });
      }
      if (terminal.printer && type !== 'BALANCE_INQUIRY') {
        const state = this.states[terminal.index] as TerminalState;
        state.paperLeft = Math.max(0, state.paperLeft - 1);
      }
    }
    const tx = simTransaction(fields);
    return ref
      ? {
          ...tx,
          followsUp: operationKey({
            merchant_id: merchant.id,
            pan: ref.card.pan,
            request_time: ref.time,
            amount_minor: ref.amount,
          }),
        }
      : tx;
  }

  private heartbeats(from: number, to: number): SimEvent[] {
    const interval = this.options.heartbeatIntervalMs;
    const base = from - (((from % interval) + interval) % interval);
    const out: SimEvent[] = [];
    // Heartbeat times are base + k*interval + offset; a tick may straddle two interval starts.
    for (let cycle = base; cycle < to; cycle += interval) {
      const lo = Math.max(0, from - cycle);
      const hi = Math.min(interval, to - cycle);
      if (lo >= hi) continue;
      let i = lowerBound(this.byPhase, lo);
      for (; i < this.byPhase.length && (this.byPhase[i] as { offset: number }).offset < hi; i++) {
        const { offset, terminal } = this.byPhase[i] as { offset: number; terminal: Terminal };
        out.push(simHeartbeat(this.heartbeat(terminal, cycle + offset)));
      }
    }
    return out;
  }

  private heartbeat(terminal: Terminal, time: number): HeartbeatFields {
    const rng = this.hbRng;
    const state = this.states[terminal.index] as TerminalState;
    const minutes = this.options.heartbeatIntervalMs / 60_000;
    if (terminal.battery) {
      // Handhelds drain while the shop is open and charge in their dock overnight.
      state.battery = terminalOpenAt(terminal, time)
        ? Math.max(2, state.battery - rng.float(0.05, 0.3) * minutes)
        : Math.min(100, state.battery + 1.5 * minutes);
    }
    let paper: PaperState = 'NOT_APPLICABLE';
    if (terminal.printer) {
      const left = state.paperLeft / terminal.paperCapacity;
      paper = state.paperLeft === 0 ? 'OUT' : left <= 0.15 ? 'LOW' : 'OK';
      // Staff change the roll some time after it runs low or out.
      if ((paper === 'OUT' && rng.chance(0.15)) || (paper === 'LOW' && rng.chance(0.03))) {
        state.paperLeft = terminal.paperCapacity;
      }
    }
    const signal =
      terminal.signalMeanDbm === null
        ? null
        : Math.max(-120, Math.min(-30, Math.round(rng.normal(terminal.signalMeanDbm, 3))));
    return {
      event_id: this.hbIds.uuid(),
      terminal_serial: terminal.serial,
      merchant_id: terminal.merchant.id,
      event_time: time,
      online: true,
      firmware_version: terminal.firmware,
      app_version: terminal.app,
      battery_pct: terminal.battery ? Math.round(state.battery) : null,
      paper_state: paper,
      signal_strength_dbm: signal,
      connection_type: terminal.connection,
      last_error_code: paper === 'OUT' ? 'PRN-PAPER-OUT' : null,
      offline_queue_length: 0,
    };
  }
}

function within(x: number, min: number, max: number): boolean {
  return x >= min && x < max;
}

function lowerBound(items: readonly { offset: number }[], value: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((items[mid] as { offset: number }).offset < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
