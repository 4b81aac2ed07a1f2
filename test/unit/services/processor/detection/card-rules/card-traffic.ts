import type { TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { transactionAt } from '../../../../../support/fixtures.ts';

/**
 * Deterministic, plausible card traffic for "stays quiet on clean traffic" tests of the card rules:
 * a day of a few hundred cardholders shopping in four cities. Each card lives in a city and makes a
 * handful of purchases there, at least 20 minutes apart, at merchants whose terminals sit a few km
 * from each other; some declines with a retry at the same terminal a minute later; a voided sale,
 * a reversal; now and then a terminal without a location fix, a keyed-in order; a few cardholders
 * take a plane (or a train) to another city and shop there hours later; some return goods later
 * the same day for a full or partial refund, at another terminal of the same merchant. Arrival
 * order is request order shuffled within a few seconds, as `card-activity` delivers it (many
 * processors publish into one partition).
 */

export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
/** Tuesday 2026-11-03 00:00 UTC. */
export const DAY0 = Date.UTC(2026, 10, 3);

export const CITIES = {
  munich: { lat: 48.1374, lon: 11.5755, region: 'south' },
  berlin: { lat: 52.52, lon: 13.405, region: 'north' },
  hamburg: { lat: 53.5511, lon: 9.9937, region: 'north' },
  vienna: { lat: 48.2082, lon: 16.3738, region: 'east' },
} as const;
export type City = keyof typeof CITIES;
const CITY_NAMES = Object.keys(CITIES) as City[];

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

export interface Merchant {
  readonly id: string;
  readonly city: City;
  readonly terminals: readonly { serial: string; lat: number | null; lon: number | null }[];
}

/** Ten merchants per city, two or three terminals each, within ~8 km of the centre. */
export function merchants(rnd: () => number = makeRandom(7)): Merchant[] {
  const out: Merchant[] = [];
  let serial = 0;
  for (const city of CITY_NAMES) {
    for (let m = 0; m < 10; m++) {
      const c = CITIES[city];
      const lat = c.lat + (rnd() - 0.5) * 0.12;
      const lon = c.lon + (rnd() - 0.5) * 0.18;
      const terminals = Array.from({ length: 2 + (m % 2) }, (_, k) => ({
        serial: `TRM-C${String(serial++).padStart(4, '0')}`,
        // One terminal in fifteen reports no fix.
        lat: serial % 15 === 0 ? null : lat + k * 0.0005,
        lon: serial % 15 === 0 ? null : lon,
      }));
      out.push({ id: `M-${city}-${m}`, city, terminals });
    }
  }
  return out;
}

/** The k-th card's token: 64 hex digits, distinct per k. */
export const tokenOf = (k: number): string =>
  (0x10000000 + k * 2654435761).toString(16).slice(-8).padStart(8, '0').repeat(8);

let seq = 500_000;

/** One attempt of card `k` at a terminal of `m`, at `t`. */
export function attempt(
  k: number,
  m: Merchant,
  terminal: number,
  t: number,
  overrides: Partial<TransactionEvent> = {},
): TransactionEvent {
  const term = m.terminals[terminal % m.terminals.length]!;
  return transactionAt(seq++, t, t + 400, {
    terminal_serial: term.serial,
    merchant_id: m.id,
    region: CITIES[m.city].region,
    latitude: term.lat,
    longitude: term.lon,
    card_token: tokenOf(k),
    card_bin: String(410000 + (k % 50)),
    card_last4: String(1000 + (k % 9000)),
    transaction_type: 'SALE',
    entry_mode: 'CHIP',
    status: 'APPROVED',
    response_code: '00',
    response_message: 'Approved',
    auth_code: '123456',
    currency: 'EUR',
    ...overrides,
  });
}

/** A day of clean card traffic (see the module comment), in arrival order. */
export function cleanCardDay(cards = 300, seed = 11): TransactionEvent[] {
  const rnd = makeRandom(seed);
  const shops = merchants();
  const inCity = (city: City) => shops.filter((m) => m.city === city);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const events: TransactionEvent[] = [];
  for (let k = 0; k < cards; k++) {
    let city = CITY_NAMES[k % CITY_NAMES.length]!;
    let t = DAY0 + 7 * HOUR + Math.floor(rnd() * 3 * HOUR);
    const purchases = 1 + Math.floor(rnd() * 6);
    const sales: { m: Merchant; terminal: number; t: number; amount: number }[] = [];
    for (let n = 0; n < purchases; n++) {
      // One traveller in ten goes to another city; the earliest arrival is 3 h later (500–700 km).
      if (n > 0 && k % 10 === 3 && n === 2) {
        city = CITY_NAMES[(CITY_NAMES.indexOf(city) + 1) % CITY_NAMES.length]!;
        t += 3 * HOUR + Math.floor(rnd() * 2 * HOUR);
      }
      const m = pick(inCity(city));
      const terminal = Math.floor(rnd() * m.terminals.length);
      const amount = 300 + Math.floor(rnd() * 15_000);
      const keyed = rnd() < 0.03;
      if (rnd() < 0.08) {
        // Declined, retried at the same terminal a minute later and approved.
        events.push(
          attempt(k, m, terminal, t, {
            amount_minor: amount,
            status: 'DECLINED',
            response_code: '51',
            response_message: 'Insufficient funds',
            auth_code: null,
          }),
        );
        t += MIN;
      }
      const sale = attempt(k, m, terminal, t, {
        amount_minor: amount,
        ...(keyed ? { entry_mode: 'MANUAL' as const } : {}),
      });
      events.push(sale);
      sales.push({ m, terminal, t, amount });
      if (rnd() < 0.03) {
        events.push(
          attempt(k, m, terminal, t + 30 * SEC, { amount_minor: amount, transaction_type: 'VOID' }),
        );
      } else if (rnd() < 0.02) {
        events.push(
          attempt(k, m, terminal, t + 20 * SEC, { amount_minor: amount, transaction_type: 'REVERSAL' }),
        );
      }
      t += 20 * MIN + Math.floor(rnd() * 90 * MIN);
    }
    // One card in twelve returns something later that day, at another terminal of the merchant.
    if (k % 12 === 5 && sales.length > 0) {
      const s = pick(sales);
      const full = rnd() < 0.5;
      events.push(
        attempt(k, s.m, s.terminal + 1, s.t + 2 * HOUR + Math.floor(rnd() * 4 * HOUR), {
          transaction_type: 'REFUND',
          amount_minor: full ? s.amount : Math.max(1, Math.floor(s.amount / 3)),
        }),
      );
    }
  }
  events.sort((a, b) => a.request_time - b.request_time);
  // Arrival order: request order, shuffled within a few seconds.
  for (let i = 0; i + 1 < events.length; i++) {
    const j = i + 1;
    if (events[j]!.request_time - events[i]!.request_time < 5 * SEC && rnd() < 0.5) {
      [events[i], events[j]] = [events[j]!, events[i]!];
    }
  }
  return events;
}
