import type { ConnectionType } from '../shared/avro/types.generated.ts';
import { ValidationError } from '../shared/errors.ts';
import { luhnValid } from '../gateway/card-data.ts';
import {
  ACQUIRERS,
  APP_VERSIONS,
  CARD_PRODUCTS,
  CATEGORIES,
  CONNECTIONS,
  FIRMWARE_VERSIONS,
  REGIONS,
  type AcquirerInfo,
  type CardProduct,
  type CategoryInfo,
  type RegionInfo,
} from './catalog.ts';
import { Rng, WeightedTable } from './rng.ts';

/**
 * The simulated fleet: regions, acquirers, merchants (each with an MCC, a name, a home position in
 * its region and opening hours), their terminals, and a population of cards with home regions.
 * A pure function of the options: the same seed and sizes give the same fleet.
 */

export interface FleetOptions {
  seed: string;
  terminals: number;
  /** Default: one merchant per 2.5 terminals. */
  merchants?: number | undefined;
  /** Default: 6 (at most the 16 built-in regions). */
  regions?: number | undefined;
  /** Default: 3 (at most 9). */
  acquirers?: number | undefined;
  /** Default: 1,000 per terminal, between 1,000 and 200,000 (see SIMULATOR.md: fewer make normal traffic look like card velocity). */
  cards?: number | undefined;
}

export const FLEET_LIMITS = Object.freeze({
  maxTerminals: 1_000_000,
  maxRegions: REGIONS.length,
  maxAcquirers: ACQUIRERS.length,
  minCards: 10,
  maxCards: 2_000_000,
});

export interface Region extends RegionInfo {
  readonly index: number;
}

export interface OpeningHours {
  /** Local hour the merchant opens, 0-23. */
  readonly open: number;
  /** Local hour it closes, 1-24; open 0 and close 24 is always open. */
  readonly close: number;
  readonly closedSunday: boolean;
}

export interface Merchant {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly mcc: string;
  readonly category: CategoryInfo;
  readonly region: Region;
  readonly latitude: number;
  readonly longitude: number;
  readonly acquirer: AcquirerInfo;
  readonly hours: OpeningHours;
  readonly cashiers: readonly string[];
  readonly terminals: Terminal[];
}

export interface Terminal {
  readonly index: number;
  /** 8 characters (`T` and 7 digits): fits ISO 8583 field 41 unpadded. */
  readonly serial: string;
  readonly merchant: Merchant;
  readonly latitude: number;
  readonly longitude: number;
  readonly connection: ConnectionType;
  /** Handheld terminals run on a battery; countertop ones on mains (battery_pct null). */
  readonly battery: boolean;
  readonly printer: boolean;
  /** Receipts per paper roll. */
  readonly paperCapacity: number;
  readonly firmware: string;
  readonly app: string;
  /** Relative share of its merchant's traffic (busy and quiet lanes). */
  readonly activity: number;
  /** Where in the heartbeat interval this terminal reports, as a fraction in [0, 1). */
  readonly heartbeatPhase: number;
  /** Typical signal strength of wireless links; null on wired ones. */
  readonly signalMeanDbm: number | null;
}

export interface Card {
  readonly index: number;
  /** The card number: goes to the gateway only (HTTP `pan`, ISO 8583 field 2), never logged. */
  readonly pan: string;
  readonly product: CardProduct;
  readonly region: Region;
  /** Relative share of the region's card payments. */
  readonly activity: number;
}

export interface Fleet {
  readonly seed: string;
  readonly regions: readonly Region[];
  readonly acquirers: readonly AcquirerInfo[];
  readonly merchants: readonly Merchant[];
  readonly terminals: readonly Terminal[];
  readonly cards: readonly Card[];
  readonly terminalBySerial: ReadonlyMap<string, Terminal>;
  readonly merchantById: ReadonlyMap<string, Merchant>;
  readonly regionById: ReadonlyMap<string, Region>;
  readonly acquirerById: ReadonlyMap<string, AcquirerInfo>;
}

function checkCount(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`${name} must be an integer between ${min} and ${max}, got ${value}`, name);
  }
}

/** `body` completed with its Luhn check digit. */
export function withCheckDigit(body: string): string {
  for (let d = 0; d <= 9; d++) {
    const pan = `${body}${d}`;
    if (luhnValid(pan)) return pan;
  }
  throw new Error('unreachable: one of ten check digits always passes Luhn');
}

/** A Luhn-valid card number of `product`. */
export function makePan(product: CardProduct, rng: Rng): string {
  return withCheckDigit(product.prefix + rng.digits(product.length - product.prefix.length - 1));
}

const round5 = (x: number) => Math.round(x * 1e5) / 1e5;

/** A point uniformly within `radiusKm` of (lat, lon). */
function around(lat: number, lon: number, radiusKm: number, rng: Rng): [number, number] {
  const r = radiusKm * Math.sqrt(rng.next());
  const theta = rng.float(0, 2 * Math.PI);
  const dLat = (r * Math.cos(theta)) / 111.32;
  const dLon = (r * Math.sin(theta)) / (111.32 * Math.cos((lat * Math.PI) / 180));
  return [round5(lat + dLat), round5(lon + dLon)];
}

const DAY_MS = 86_400_000;

/** Day of the week of a local-time instant (ms), Sunday 0 as in Date#getUTCDay; 1970-01-01 was a Thursday. */
export function localDayOfWeek(local: number): number {
  return (((Math.floor(local / DAY_MS) + 4) % 7) + 7) % 7;
}

/** Hour of the day of a local-time instant, with its fraction: 13.5 is half past one. */
export function localHour(local: number): number {
  return (((local % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000;
}

/** Whether a merchant with `hours` in a zone `utcOffsetMin` from UTC is open at `time` (ms). */
export function isOpenAt(hours: OpeningHours, utcOffsetMin: number, time: number): boolean {
  const local = time + utcOffsetMin * 60_000;
  if (hours.closedSunday && localDayOfWeek(local) === 0) return false;
  if (hours.open === 0 && hours.close >= 24) return true;
  const hour = localHour(local);
  return hour >= hours.open && hour < hours.close;
}

/** Whether the terminal's merchant is open at `time`. */
export function terminalOpenAt(terminal: Terminal, time: number): boolean {
  return isOpenAt(terminal.merchant.hours, terminal.merchant.region.utcOffsetMin, time);
}

/** Builds the fleet; a size out of range is a ValidationError whose `path` names the option. */
export function buildFleet(options: FleetOptions): Fleet {
  const terminalsCount = options.terminals;
  checkCount('terminals', terminalsCount, 1, FLEET_LIMITS.maxTerminals);
  const merchantsCount = options.merchants ?? Math.max(1, Math.round(terminalsCount / 2.5));
  checkCount('merchants', merchantsCount, 1, terminalsCount);
  const regionsCount = options.regions ?? Math.min(6, FLEET_LIMITS.maxRegions);
  checkCount('regions', regionsCount, 1, FLEET_LIMITS.maxRegions);
  const acquirersCount = options.acquirers ?? 3;
  checkCount('acquirers', acquirersCount, 1, FLEET_LIMITS.maxAcquirers);
  const cardsCount = options.cards ?? Math.min(200_000, Math.max(1_000, terminalsCount * 1_000));
  checkCount('cards', cardsCount, FLEET_LIMITS.minCards, FLEET_LIMITS.maxCards);

  const root = Rng.from(options.seed, 'fleet');
  const regions: Region[] = REGIONS.slice(0, regionsCount).map((r, index) => ({ ...r, index }));
  const acquirers = ACQUIRERS.slice(0, acquirersCount);

  // Merchants: category, region, acquirer (market shares fall off), position, hours, cashiers.
  const mRng = root.fork('merchants');
  const categoryTable = new WeightedTable(CATEGORIES.map((c) => [c, c.merchantWeight] as const));
  const regionTable = new WeightedTable(regions.map((r) => [r, mRng.float(0.6, 1.4)] as const));
  const acquirerTable = new WeightedTable(acquirers.map((a, i) => [a, 1 / (i + 1)] as const));
  const nameCount = new Map<string, number>();
  const merchants: Merchant[] = [];
  for (let i = 0; i < merchantsCount; i++) {
    const category = categoryTable.pick(mRng);
    const region = regionTable.pick(mRng);
    const [latitude, longitude] = around(region.latitude, region.longitude, 12, mRng);
    const stem = `${mRng.pick(category.names)} ${region.city}`;
    const seen = (nameCount.get(stem) ?? 0) + 1;
    nameCount.set(stem, seen);
    const alwaysOpen = category.open === 0 && category.close >= 24;
    // Shops of one kind keep similar but not identical hours.
    const shift = alwaysOpen ? 0 : mRng.int(-1, 1);
    const hours: OpeningHours = {
      open: alwaysOpen ? 0 : Math.max(0, category.open + shift),
      close: alwaysOpen ? 24 : Math.min(24, category.close + shift),
      closedSunday: category.closedSunday && mRng.chance(0.85),
    };
    const cashierCount = Math.min(9, 1 + Math.floor(category.laneWeight * mRng.float(0.5, 2)));
    merchants.push({
      index: i,
      id: `M${String(i + 1).padStart(6, '0')}`,
      name: seen === 1 ? stem : `${stem} ${seen}`,
      mcc: category.mcc,
      category,
      region,
      latitude,
      longitude,
      acquirer: acquirerTable.pick(mRng),
      hours,
      cashiers: Array.from({ length: cashierCount }, (_, k) => `C${String(k + 1).padStart(2, '0')}`),
      terminals: [],
    });
  }

  // Every merchant has a terminal; the rest go to merchants by their category's lane weight.
  const tRng = root.fork('terminals');
  const counts = merchants.map(() => 1);
  if (terminalsCount > merchantsCount) {
    const laneTable = new WeightedTable(
      merchants.map((m) => [m.index, m.category.laneWeight * tRng.float(0.5, 1.5)] as const),
    );
    for (let i = merchantsCount; i < terminalsCount; i++) {
      const m = laneTable.pick(tRng);
      counts[m] = (counts[m] ?? 0) + 1;
    }
  }
  const connectionTable = new WeightedTable(CONNECTIONS);
  const firmwareTable = new WeightedTable(FIRMWARE_VERSIONS);
  const appTable = new WeightedTable(APP_VERSIONS);
  const terminals: Terminal[] = [];
  for (const merchant of merchants) {
    for (let k = 0; k < (counts[merchant.index] ?? 1); k++) {
      const index = terminals.length;
      const connection = connectionTable.pick(tRng);
      const wired = connection === 'ETHERNET';
      const [latitude, longitude] = around(merchant.latitude, merchant.longitude, 0.05, tRng);
      const terminal: Terminal = {
        index,
        serial: `T${String(index + 1).padStart(7, '0')}`,
        merchant,
        latitude,
        longitude,
        connection,
        battery: !wired && tRng.chance(0.7),
        printer: tRng.chance(0.9),
        paperCapacity: tRng.int(180, 320),
        firmware: firmwareTable.pick(tRng),
        app: appTable.pick(tRng),
        activity: tRng.lognormal(1, 0.5),
        heartbeatPhase: tRng.next(),
        signalMeanDbm: wired ? null : Math.round(tRng.float(-95, -55)),
      };
      merchant.terminals.push(terminal);
      terminals.push(terminal);
    }
  }

  // Cards live where the terminals are, so most payments are local.
  const cRng = root.fork('cards');
  const terminalsPerRegion = regions.map((r) => terminals.filter((t) => t.merchant.region === r).length);
  const homeTable = new WeightedTable(
    regions.map((r) => [r, 1 + (terminalsPerRegion[r.index] ?? 0)] as const),
  );
  const productTable = new WeightedTable(CARD_PRODUCTS.map((p) => [p, p.weight] as const));
  const pans = new Set<string>();
  const cards: Card[] = [];
  while (cards.length < cardsCount) {
    const product = productTable.pick(cRng);
    const pan = makePan(product, cRng);
    if (pans.has(pan)) continue;
    pans.add(pan);
    cards.push({
      index: cards.length,
      pan,
      product,
      region: homeTable.pick(cRng),
      activity: cRng.lognormal(1, 0.7),
    });
  }

  return {
    seed: options.seed,
    regions,
    acquirers,
    merchants,
    terminals,
    cards,
    terminalBySerial: new Map(terminals.map((t) => [t.serial, t])),
    merchantById: new Map(merchants.map((m) => [m.id, m])),
    regionById: new Map(regions.map((r) => [r.id, r])),
    acquirerById: new Map(acquirers.map((a) => [a.id, a])),
  };
}
