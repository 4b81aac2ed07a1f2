import type { EntryMode, TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { sampleTransaction } from '../../../../../support/fixtures.ts';

/**
 * Deterministic, plausible card traffic for a small fleet, for "stays quiet on clean traffic"
 * tests: shops, cafés, restaurants and fuel stations with their own opening hours and rush hours
 * (Poisson arrivals per hour), entry-mode mixes with some swipe, fallback and keyed entry, log-normal
 * basket sizes per merchant, declines and timeouts, the odd legitimate sale just after closing.
 */

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Monday 2026-11-02 00:00 UTC. */
export const MONDAY = Date.UTC(2026, 10, 2);

export type Kind = 'shop' | 'cafe' | 'restaurant' | 'fuel';

export interface FleetTerminal {
  readonly serial: string;
  readonly merchantId: string;
  readonly kind: Kind;
  /** Transactions per hour at the busiest hour. */
  readonly peakPerHour: number;
  readonly mix: Readonly<Record<EntryMode, number>>;
  readonly medianMinor: number;
  readonly sigma: number;
}

/** Events per hour of terminal `t` at weekday `d` (0 = Monday) and hour `h`, before its peak rate. */
export function load(kind: Kind, d: number, h: number): number {
  switch (kind) {
    case 'shop': // Mon–Sat 9–19, Sat till 16, lunch and after-work peaks
      if (d === 6 || h < 9 || h >= (d === 5 ? 16 : 19)) return 0;
      return h === 12 || h === 17 ? 1 : 0.6;
    case 'cafe': // every day 7–18, breakfast and lunch peaks
      if (h < 7 || h >= 18) return 0;
      return h === 8 || h === 12 ? 1 : 0.4;
    case 'restaurant': // Tue–Sun 11–15 and 18–23
      if (d === 0 || h < 11 || (h >= 15 && h < 18) || h >= 23) return 0;
      return h === 12 || h === 19 || h === 20 ? 1 : 0.5;
    case 'fuel': // around the clock, quiet at night
      return h < 5 ? 0.1 : h < 7 || h >= 22 ? 0.3 : h === 8 || h === 17 ? 1 : 0.6;
  }
}

export function makeRandom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(rnd: () => number, lambda: number): number {
  let k = 0;
  let p = Math.exp(-lambda);
  let s = p;
  const u = rnd();
  while (u > s && k < 1000) {
    k += 1;
    p *= lambda / k;
    s += p;
  }
  return k;
}

const normal = (rnd: () => number): number =>
  Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());

export function fleet(size: number, seed = 7): FleetTerminal[] {
  const rnd = makeRandom(seed);
  const kinds: Kind[] = ['shop', 'cafe', 'restaurant', 'fuel'];
  // A few terminals per merchant, so amount baselines pool several tills of one price range.
  const merchants = Array.from({ length: Math.ceil(size / 3) }, () => ({
    medianMinor: 300 + Math.floor(rnd() * 8000),
    sigma: 0.4 + rnd() * 0.5,
  }));
  return Array.from({ length: size }, (_, i) => {
    const swipe = 0.02 + rnd() * 0.1;
    const fallback = 0.003 + rnd() * 0.015;
    const manual = rnd() * 0.01;
    const contactless = 0.4 + rnd() * 0.25;
    return {
      serial: `FLT-${String(i).padStart(5, '0')}`,
      merchantId: `FM${Math.floor(i / 3)}`,
      kind: kinds[Math.floor(i / 3) % kinds.length]!,
      peakPerHour: 6 + Math.floor(rnd() * 30),
      mix: {
        SWIPE: swipe,
        FALLBACK: fallback,
        MANUAL: manual,
        CONTACTLESS: contactless,
        CHIP: 1 - swipe - fallback - manual - contactless,
        UNKNOWN: 0,
      },
      ...merchants[Math.floor(i / 3)]!,
    };
  });
}

function pick(rnd: () => number, mix: Readonly<Record<EntryMode, number>>): EntryMode {
  let u = rnd();
  for (const [mode, p] of Object.entries(mix) as [EntryMode, number][]) {
    if ((u -= p) < 0) return mode;
  }
  return 'CHIP';
}

let nextIndex = 1_000_000;
/** Placement and the other fields no rule here reads, one per terminal (cheaper than per event). */
const bases = new Map<string, TransactionEvent>();

/**
 * The fleet's transactions from `from` for `hours` hours, ordered by receive time (the order a
 * partition delivers them in). `from` must be at a whole hour.
 */
export function traffic(
  terminals: readonly FleetTerminal[],
  from: number,
  hours: number,
  seed = 11,
): TransactionEvent[] {
  const rnd = makeRandom(seed);
  const out: TransactionEvent[] = [];
  for (let k = 0; k < hours; k++) {
    const hourStart = from + k * HOUR;
    const d = ((Math.floor((hourStart - MONDAY) / DAY) % 7) + 7) % 7;
    const h = new Date(hourStart).getUTCHours();
    for (const t of terminals) {
      let n = poisson(rnd, t.peakPerHour * load(t.kind, d, h));
      // Now and then a sale just after closing (the last customer, a cashier's late refund).
      if (n === 0 && load(t.kind, d, (h + 23) % 24) > 0 && rnd() < 0.05) n = 1;
      for (let j = 0; j < n; j++) out.push(event(t, hourStart + Math.floor(rnd() * HOUR), rnd));
    }
  }
  return out.sort((a, b) => a.gateway_received_time - b.gateway_received_time);
}

/** One transaction of terminal `t` requested at `at`; `overrides` win. */
export function event(
  t: FleetTerminal,
  at: number,
  rnd: () => number,
  overrides: Partial<TransactionEvent> = {},
): TransactionEvent {
  const i = nextIndex++;
  const u = rnd();
  const status = u < 0.92 ? 'APPROVED' : u < 0.98 ? 'DECLINED' : 'TIMEOUT';
  const v = rnd();
  const type = v < 0.95 ? 'SALE' : v < 0.98 ? 'REFUND' : 'VOID';
  const base = bases.get(t.serial) ?? bases.set(t.serial, sampleTransaction(bases.size)).get(t.serial)!;
  return {
    ...base,
    event_id: `0f1c0000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    terminal_serial: t.serial,
    merchant_id: t.merchantId,
    currency: 'EUR',
    entry_mode: pick(rnd, t.mix),
    amount_minor: Math.max(1, Math.round(t.medianMinor * Math.exp(t.sigma * normal(rnd)))),
    card_token: i.toString(16).padStart(64, 'a'),
    transaction_type: type,
    status,
    response_code: status === 'APPROVED' ? '00' : status === 'DECLINED' ? '05' : null,
    request_time: at,
    response_time: status === 'TIMEOUT' ? null : at + 150 + Math.floor(rnd() * 400),
    gateway_received_time: at + 300 + Math.floor(rnd() * 1200),
    ...overrides,
  };
}

/**
 * Feeds `events` to `onEvent` in order and calls `onTick(now)` every `tickMs` of receive time in
 * between (as the processor's periodic tick does), ending with a tick at the last event.
 */
export function replay(
  events: readonly TransactionEvent[],
  onEvent: (ev: TransactionEvent) => void,
  onTick: (now: number) => void,
  tickMs = 60_000,
): void {
  let nextTick: number | undefined;
  for (const ev of events) {
    nextTick ??= ev.gateway_received_time + tickMs;
    while (ev.gateway_received_time >= nextTick) {
      onTick(nextTick);
      nextTick += tickMs;
    }
    onEvent(ev);
  }
  const last = events.at(-1);
  if (last !== undefined) onTick(last.gateway_received_time);
}
