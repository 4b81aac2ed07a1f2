import type { ConnectionType } from '../shared/avro/types.generated.ts';

/**
 * The fixed reference data the simulated fleet is drawn from: regions (cities with coordinates,
 * time zone, currency), merchant categories (MCC, amounts, opening hours), card products (test BIN
 * ranges), decline codes, terminal hardware. Everything here is data; the choices are in fleet.ts
 * and traffic.ts.
 */

export interface RegionInfo {
  readonly id: string;
  readonly city: string;
  readonly latitude: number;
  readonly longitude: number;
  /** Standard-time offset from UTC in minutes (daylight saving is not modelled). */
  readonly utcOffsetMin: number;
  readonly currency: string;
  /** Units of `currency` per euro: amounts are modelled in euro and converted. */
  readonly perEuro: number;
}

/** In the order the fleet takes them: `--regions 3` is Paris, Berlin and Madrid. */
export const REGIONS: readonly RegionInfo[] = [
  {
    id: 'fr-paris',
    city: 'Paris',
    latitude: 48.8566,
    longitude: 2.3522,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'de-berlin',
    city: 'Berlin',
    latitude: 52.52,
    longitude: 13.405,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'es-madrid',
    city: 'Madrid',
    latitude: 40.4168,
    longitude: -3.7038,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'it-milan',
    city: 'Milan',
    latitude: 45.4642,
    longitude: 9.19,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'nl-amsterdam',
    city: 'Amsterdam',
    latitude: 52.3676,
    longitude: 4.9041,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'uk-london',
    city: 'London',
    latitude: 51.5072,
    longitude: -0.1276,
    utcOffsetMin: 0,
    currency: 'GBP',
    perEuro: 0.85,
  },
  {
    id: 'pl-warsaw',
    city: 'Warsaw',
    latitude: 52.2297,
    longitude: 21.0122,
    utcOffsetMin: 60,
    currency: 'PLN',
    perEuro: 4.3,
  },
  {
    id: 'de-munich',
    city: 'Munich',
    latitude: 48.1351,
    longitude: 11.582,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'pt-lisbon',
    city: 'Lisbon',
    latitude: 38.7223,
    longitude: -9.1393,
    utcOffsetMin: 0,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'at-vienna',
    city: 'Vienna',
    latitude: 48.2082,
    longitude: 16.3738,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'se-stockholm',
    city: 'Stockholm',
    latitude: 59.3293,
    longitude: 18.0686,
    utcOffsetMin: 60,
    currency: 'SEK',
    perEuro: 11.2,
  },
  {
    id: 'ch-zurich',
    city: 'Zurich',
    latitude: 47.3769,
    longitude: 8.5417,
    utcOffsetMin: 60,
    currency: 'CHF',
    perEuro: 0.95,
  },
  {
    id: 'ie-dublin',
    city: 'Dublin',
    latitude: 53.3498,
    longitude: -6.2603,
    utcOffsetMin: 0,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'be-brussels',
    city: 'Brussels',
    latitude: 50.8503,
    longitude: 4.3517,
    utcOffsetMin: 60,
    currency: 'EUR',
    perEuro: 1,
  },
  {
    id: 'cz-prague',
    city: 'Prague',
    latitude: 50.0755,
    longitude: 14.4378,
    utcOffsetMin: 60,
    currency: 'CZK',
    perEuro: 25,
  },
  {
    id: 'dk-copenhagen',
    city: 'Copenhagen',
    latitude: 55.6761,
    longitude: 12.5683,
    utcOffsetMin: 60,
    currency: 'DKK',
    perEuro: 7.46,
  },
];

/** Shape of a category's day: shops peak at lunch and after work, restaurants at meal times. */
export type DayShape = 'retail' | 'dining' | 'flat';

export interface CategoryInfo {
  readonly mcc: string;
  readonly label: string;
  /** Share of merchants in this category. */
  readonly merchantWeight: number;
  /** Terminals (checkout lanes) a merchant of this category has, relative to others. */
  readonly laneWeight: number;
  /** Median ticket in euro cents and the sigma of its log-normal spread. */
  readonly amountMedian: number;
  readonly amountSigma: number;
  /** Local opening hours [open, close); close 24 = midnight; open 0 and close 24 = always open. */
  readonly open: number;
  readonly close: number;
  readonly closedSunday: boolean;
  readonly shape: DayShape;
  /** Share of sales that carry a basket (cash-register integrations). */
  readonly basketShare: number;
  /** Share of attempts that are pre-authorisations (hotels, fuel pumps). */
  readonly preAuthShare: number;
  /** Name stems; the fleet adds the city. ASCII only: names travel in ISO 8583 `ans` fields too. */
  readonly names: readonly string[];
  /** Article stems for basket SKUs. */
  readonly skus: readonly string[];
}

export const CATEGORIES: readonly CategoryInfo[] = [
  {
    mcc: '5411',
    label: 'grocery',
    merchantWeight: 22,
    laneWeight: 4,
    amountMedian: 2800,
    amountSigma: 0.8,
    open: 7,
    close: 22,
    closedSunday: true,
    shape: 'retail',
    basketShare: 0.5,
    preAuthShare: 0,
    names: ['Fresh Market', 'Corner Grocer', 'Green Basket', 'Daily Foods', 'Harvest Store'],
    skus: ['MILK', 'BREAD', 'EGGS', 'APPLE', 'CHEESE', 'COFFEE', 'PASTA', 'WATER'],
  },
  {
    mcc: '5812',
    label: 'restaurant',
    merchantWeight: 15,
    laneWeight: 1.2,
    amountMedian: 3800,
    amountSigma: 0.6,
    open: 11,
    close: 23,
    closedSunday: false,
    shape: 'dining',
    basketShare: 0.2,
    preAuthShare: 0,
    names: ['Bistro Central', 'La Table', 'Trattoria Sole', 'The Old Oak', 'Cafe Lumiere'],
    skus: ['MENU', 'WINE', 'DESSERT', 'STARTER', 'MAIN'],
  },
  {
    mcc: '5814',
    label: 'fast food',
    merchantWeight: 12,
    laneWeight: 1.5,
    amountMedian: 1100,
    amountSigma: 0.5,
    open: 10,
    close: 23,
    closedSunday: false,
    shape: 'dining',
    basketShare: 0.3,
    preAuthShare: 0,
    names: ['Burger Point', 'Quick Wok', 'Kebab House', 'Pizza Express Lane', 'Sandwich Bar'],
    skus: ['MEAL', 'DRINK', 'FRIES', 'WRAP'],
  },
  {
    mcc: '5541',
    label: 'fuel',
    merchantWeight: 9,
    laneWeight: 2.5,
    amountMedian: 5500,
    amountSigma: 0.4,
    open: 6,
    close: 23,
    closedSunday: false,
    shape: 'flat',
    basketShare: 0.1,
    preAuthShare: 0.12,
    names: ['Fuel Stop', 'Highway Energy', 'City Petrol', 'Blue Pump'],
    skus: ['FUEL', 'CARWASH', 'SNACK'],
  },
  {
    mcc: '5912',
    label: 'pharmacy',
    merchantWeight: 8,
    laneWeight: 1.3,
    amountMedian: 2200,
    amountSigma: 0.8,
    open: 8,
    close: 20,
    closedSunday: true,
    shape: 'retail',
    basketShare: 0.3,
    preAuthShare: 0,
    names: ['Green Cross Pharmacy', 'Apotheke Zentrum', 'Health Plus', 'Farmacia Nova'],
    skus: ['MEDS', 'VITAMIN', 'CREAM', 'TEST-KIT'],
  },
  {
    mcc: '5311',
    label: 'department store',
    merchantWeight: 4,
    laneWeight: 5,
    amountMedian: 6500,
    amountSigma: 0.9,
    open: 9,
    close: 20,
    closedSunday: true,
    shape: 'retail',
    basketShare: 0.5,
    preAuthShare: 0,
    names: ['Grand Galleria', 'City Department Store', 'Maison Central'],
    skus: ['SHIRT', 'LAMP', 'TOWEL', 'TOY', 'SHOES', 'BAG'],
  },
  {
    mcc: '5651',
    label: 'clothing',
    merchantWeight: 8,
    laneWeight: 1.3,
    amountMedian: 5500,
    amountSigma: 0.7,
    open: 10,
    close: 20,
    closedSunday: true,
    shape: 'retail',
    basketShare: 0.4,
    preAuthShare: 0,
    names: ['Urban Threads', 'Mode Atelier', 'Denim Corner', 'Style House'],
    skus: ['JEANS', 'JACKET', 'DRESS', 'SCARF'],
  },
  {
    mcc: '5732',
    label: 'electronics',
    merchantWeight: 4,
    laneWeight: 2,
    amountMedian: 14000,
    amountSigma: 1,
    open: 10,
    close: 20,
    closedSunday: true,
    shape: 'retail',
    basketShare: 0.4,
    preAuthShare: 0,
    names: ['Tech Planet', 'Digital World', 'Circuit City Store', 'Pixel Shop'],
    skus: ['CABLE', 'PHONE', 'HEADSET', 'CHARGER', 'LAPTOP'],
  },
  {
    mcc: '5499',
    label: 'convenience',
    merchantWeight: 10,
    laneWeight: 1,
    amountMedian: 900,
    amountSigma: 0.7,
    open: 6,
    close: 24,
    closedSunday: false,
    shape: 'retail',
    basketShare: 0.2,
    preAuthShare: 0,
    names: ['Kiosk 24', 'Night and Day', 'Express Mart', 'Tabac Presse'],
    skus: ['NEWS', 'SNACK', 'DRINK', 'TICKET'],
  },
  {
    mcc: '7011',
    label: 'hotel',
    merchantWeight: 3,
    laneWeight: 1.5,
    amountMedian: 19000,
    amountSigma: 0.6,
    open: 0,
    close: 24,
    closedSunday: false,
    shape: 'flat',
    basketShare: 0,
    preAuthShare: 0.3,
    names: ['Hotel Panorama', 'Grand Hotel Europa', 'Riverside Inn'],
    skus: ['ROOM'],
  },
  {
    mcc: '4121',
    label: 'taxi',
    merchantWeight: 5,
    laneWeight: 1,
    amountMedian: 2400,
    amountSigma: 0.5,
    open: 0,
    close: 24,
    closedSunday: false,
    shape: 'flat',
    basketShare: 0,
    preAuthShare: 0,
    names: ['City Cabs', 'Blue Taxi', 'Airport Shuttle'],
    skus: ['RIDE'],
  },
];

/** Relative activity by local hour (0-23) of each day shape; normalised by the load curve. */
export const DAY_SHAPES: Readonly<Record<DayShape, readonly number[]>> = {
  retail: [
    0.05, 0.03, 0.02, 0.02, 0.03, 0.08, 0.25, 0.5, 0.75, 0.9, 1.0, 1.15, 1.4, 1.3, 1.05, 0.95, 1.05, 1.3,
    1.45, 1.2, 0.9, 0.6, 0.35, 0.15,
  ],
  dining: [
    0.1, 0.05, 0.03, 0.02, 0.02, 0.03, 0.1, 0.3, 0.45, 0.4, 0.5, 1.1, 1.9, 1.7, 0.8, 0.5, 0.5, 0.7, 1.2, 1.8,
    1.9, 1.4, 0.8, 0.3,
  ],
  flat: [
    0.35, 0.25, 0.2, 0.2, 0.25, 0.4, 0.7, 1.0, 1.1, 1.1, 1.1, 1.15, 1.2, 1.2, 1.15, 1.1, 1.15, 1.3, 1.35, 1.2,
    1.0, 0.85, 0.65, 0.5,
  ],
};

/** Relative activity by day of the week, Sunday first (Date#getUTCDay order). */
export const WEEKDAY_FACTORS: readonly number[] = [0.7, 0.95, 0.95, 1.0, 1.0, 1.1, 1.25];

export type CardType = 'CREDIT' | 'DEBIT' | 'PREPAID';

export interface CardProduct {
  readonly network: string;
  readonly type: CardType;
  /** Leading digits of every PAN of the product (from public test card ranges). */
  readonly prefix: string;
  readonly length: number;
  readonly weight: number;
}

/** Test card ranges that payment networks and processors publish for integration testing. */
export const CARD_PRODUCTS: readonly CardProduct[] = [
  { network: 'VISA', type: 'CREDIT', prefix: '42424242', length: 16, weight: 22 },
  { network: 'VISA', type: 'DEBIT', prefix: '40000566', length: 16, weight: 30 },
  { network: 'MASTERCARD', type: 'CREDIT', prefix: '55555555', length: 16, weight: 14 },
  { network: 'MASTERCARD', type: 'DEBIT', prefix: '52000828', length: 16, weight: 20 },
  { network: 'MASTERCARD', type: 'PREPAID', prefix: '51051051', length: 16, weight: 6 },
  { network: 'AMEX', type: 'CREDIT', prefix: '378282', length: 15, weight: 4 },
  { network: 'VISA', type: 'PREPAID', prefix: '40001000', length: 16, weight: 4 },
];

export interface ResponseInfo {
  readonly code: string;
  readonly message: string;
}

export const APPROVED: ResponseInfo = { code: '00', message: 'Approved' };

/** ISO 8583 field 39 decline codes with their share among declines. */
export const DECLINES: readonly (ResponseInfo & { readonly weight: number })[] = [
  { code: '05', message: 'Do not honour', weight: 34 },
  { code: '51', message: 'Insufficient funds', weight: 27 },
  { code: '55', message: 'Incorrect PIN', weight: 9 },
  { code: '61', message: 'Exceeds withdrawal amount limit', weight: 9 },
  { code: '54', message: 'Expired card', weight: 6 },
  { code: '57', message: 'Transaction not permitted to cardholder', weight: 5 },
  { code: '14', message: 'Invalid card number', weight: 4 },
  { code: '91', message: 'Issuer or switch inoperative', weight: 4 },
  { code: '96', message: 'System malfunction', weight: 2 },
];

export function declineInfo(code: string): ResponseInfo {
  const found = DECLINES.find((d) => d.code === code);
  if (found === undefined) throw new RangeError(`unknown decline code ${code}`);
  return found;
}

export interface AcquirerInfo {
  readonly id: string;
  readonly name: string;
  /** Median host response time and the log-normal sigma around it. */
  readonly latencyMedianMs: number;
  readonly latencySigma: number;
}

export const ACQUIRERS: readonly AcquirerInfo[] = [
  { id: 'ACQ-NORD', name: 'Nordbank Acquiring', latencyMedianMs: 180, latencySigma: 0.35 },
  { id: 'ACQ-EURO', name: 'EuroPay Processing', latencyMedianMs: 240, latencySigma: 0.4 },
  { id: 'ACQ-MERI', name: 'Meridian Merchant Services', latencyMedianMs: 320, latencySigma: 0.45 },
  { id: 'ACQ-ATLA', name: 'Atlantic Card Services', latencyMedianMs: 210, latencySigma: 0.3 },
  { id: 'ACQ-ALPS', name: 'Alpine Payments', latencyMedianMs: 270, latencySigma: 0.35 },
  { id: 'ACQ-BALT', name: 'Baltic Clearing', latencyMedianMs: 350, latencySigma: 0.5 },
  { id: 'ACQ-IBER', name: 'Iberia Adquirencia', latencyMedianMs: 230, latencySigma: 0.4 },
  { id: 'ACQ-DANU', name: 'Danube Acquiring', latencyMedianMs: 290, latencySigma: 0.4 },
  { id: 'ACQ-RHIN', name: 'Rhine Processing', latencyMedianMs: 200, latencySigma: 0.3 },
];

/** Link types with their share of the fleet; wireless ones report signal strength. */
export const CONNECTIONS: readonly (readonly [ConnectionType, number])[] = [
  ['ETHERNET', 35],
  ['WIFI', 25],
  ['CELLULAR_4G', 28],
  ['CELLULAR_5G', 5],
  ['CELLULAR_3G', 5],
  ['BLUETOOTH', 2],
];

export const FIRMWARE_VERSIONS: readonly (readonly [string, number])[] = [
  ['4.2.1', 50],
  ['4.2.0', 25],
  ['4.1.7', 15],
  ['3.9.12', 10],
];

export const APP_VERSIONS: readonly (readonly [string, number])[] = [
  ['2.9.0', 55],
  ['2.8.4', 30],
  ['2.7.1', 15],
];

/** Great-circle distance in kilometres (haversine, mean Earth radius). */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}
