import { createHash, randomUUID } from 'node:crypto';
import type {
  ConnectionType,
  EntryMode,
  PaperState,
  PaymentMethod,
  TerminalHeartbeat,
  TransactionEvent,
  TransactionType,
} from '../../services/shared/avro/types.generated.ts';

/*
 * The backlog scripts/bench/processor.ts pre-produces: TransactionEvents and TerminalHeartbeats as
 * the gateway would have written them, for a fleet of terminals spread over merchants, regions and
 * acquirers, in gateway-receive order over a span of a few minutes ending near now.
 */

const REGIONS = ['north', 'south', 'east', 'west', 'central', 'coast', 'capital', 'islands'];
const NAMES = ['Café Lumière', 'Hardware & Co', 'Kiosk 24', 'Bäckerei Süß', 'Fuel-Stop', 'Pharmacie du Parc'];
const MCCS = ['5812', '5251', '5499', '5462', '5541', '5912'];
const BINS = ['400000', '411111', '424242', '510510', '545454', '222300', '601100', '356600'];
const DECLINES: [code: string, message: string][] = [
  ['05', 'Do not honour'],
  ['51', 'Insufficient funds'],
  ['54', 'Expired card'],
  ['55', 'Incorrect PIN'],
  ['91', 'Issuer unavailable'],
];
const CARD_METHODS: PaymentMethod[] = ['CREDIT', 'DEBIT', 'CONTACTLESS', 'CONTACTLESS', 'DEBIT', 'PREPAID'];
const CARD_ENTRY: EntryMode[] = ['CHIP', 'CONTACTLESS', 'CONTACTLESS', 'CHIP', 'SWIPE', 'MANUAL', 'FALLBACK'];

/** A small seeded PRNG (mulberry32): the same backlog for the same seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Terminal {
  serial: string;
  merchantId: string;
  merchantName: string;
  region: string;
  acquirer: string;
  mcc: string;
  latitude: number | null;
  longitude: number | null;
  /** Terminal clock offset against the gateway, ms (a few run ahead or behind). */
  skewMs: number;
  cellular: boolean;
}

export interface FleetOptions {
  terminals: number;
  /** Terminals per merchant. */
  perMerchant: number;
  /** Distinct cards (card tokens) the transactions draw from. */
  cards: number;
  seed: number;
}

/** Terminals, merchants, regions, acquirers and cards; events are drawn from it. */
export class Fleet {
  readonly terminals: Terminal[];
  readonly merchants: number;
  private readonly tokens: string[];
  private readonly random: () => number;

  constructor(readonly options: FleetOptions) {
    this.random = rng(options.seed);
    const r = this.random;
    this.merchants = Math.ceil(options.terminals / options.perMerchant);
    this.terminals = Array.from({ length: options.terminals }, (_, t) => {
      const m = Math.floor(t / options.perMerchant);
      const located = r() < 0.8;
      return {
        serial: `TRM-${String(t).padStart(6, '0')}`,
        merchantId: `M${String(m).padStart(5, '0')}`,
        merchantName: `${NAMES[m % NAMES.length]!} ${m}`,
        region: REGIONS[m % REGIONS.length]!,
        acquirer: `ACQ${m % 4}`,
        mcc: MCCS[m % MCCS.length]!,
        latitude: located ? 43 + r() * 10 : null,
        longitude: located ? -4 + r() * 20 : null,
        skewMs: r() < 0.1 ? Math.round((r() - 0.5) * 20_000) : Math.round((r() - 0.5) * 1_000),
        cellular: r() < 0.4,
      };
    });
    // Keyed HMAC-like tokens, as the gateway's tokenizer would give (64 hex characters).
    this.tokens = Array.from({ length: options.cards }, (_, c) =>
      createHash('sha256').update(`bench-card-${c}`).digest('hex'),
    );
  }

  /** A terminal chosen with a skew: a fifth of the terminals carry half of the traffic. */
  pickTerminal(): Terminal {
    const r = this.random;
    const n = this.terminals.length;
    const busy = Math.max(1, Math.floor(n / 5));
    const t = r() < 0.5 ? Math.floor(r() * busy) : Math.floor(r() * n);
    return this.terminals[t]!;
  }

  /**
   * A transaction received by the gateway at `receivedAt`. `offlineDelayMs` > 0: it was queued on
   * the terminal that long (offline mode) and forwarded now, so its request_time is that much older.
   */
  transaction(receivedAt: number, offlineDelayMs = 0): TransactionEvent {
    const r = this.random;
    const term = this.pickTerminal();
    const u = r();
    const status =
      u < 0.885
        ? 'APPROVED'
        : u < 0.965
          ? 'DECLINED'
          : u < 0.985
            ? 'TIMEOUT'
            : u < 0.995
              ? 'ERROR'
              : 'CANCELLED';
    const qr = r() < 0.12;
    const paymentMethod: PaymentMethod = qr
      ? 'EWALLET_QR'
      : CARD_METHODS[Math.floor(r() * CARD_METHODS.length)]!;
    const entryMode: EntryMode = qr
      ? 'CONTACTLESS'
      : paymentMethod === 'CONTACTLESS'
        ? 'CONTACTLESS'
        : CARD_ENTRY[Math.floor(r() * CARD_ENTRY.length)]!;
    const card = qr ? undefined : Math.floor(r() ** 2 * this.tokens.length);
    const bin = card === undefined ? null : BINS[card % BINS.length]!;
    // Host latency: mostly 150-600 ms, a tail to a few seconds.
    const latency = Math.round(120 + r() * 480 + (r() < 0.05 ? r() * 4_000 : 0));
    const requestTime = receivedAt - latency - 30 - Math.round(r() * 200) + term.skewMs - offlineDelayMs;
    const hasResponse = status !== 'TIMEOUT' && status !== 'CANCELLED';
    const decline = DECLINES[Math.floor(r() * DECLINES.length)]!;
    const responseCode =
      status === 'APPROVED' ? '00' : status === 'DECLINED' ? decline[0] : status === 'ERROR' ? '96' : null;
    const responseMessage =
      status === 'APPROVED'
        ? 'Approved'
        : status === 'DECLINED'
          ? decline[1]
          : status === 'ERROR'
            ? 'System malfunction'
            : null;
    const type: TransactionType = r() < 0.03 ? 'REFUND' : 'SALE';
    const withBasket = r() < 0.25;
    return {
      event_id: randomUUID(),
      terminal_serial: term.serial,
      merchant_id: term.merchantId,
      merchant_name: term.merchantName,
      acquirer_id: term.acquirer,
      gateway_id: r() < 0.5 ? 'gw-1' : 'gw-2',
      region: term.region,
      latitude: term.latitude,
      longitude: term.longitude,
      mcc: term.mcc,
      cashier_id: r() < 0.6 ? `C${Math.floor(r() * 6)}` : null,
      transaction_type: type,
      payment_method: paymentMethod,
      entry_mode: entryMode,
      amount_minor: Math.round(100 + r() ** 3 * 40_000),
      currency: r() < 0.92 ? 'EUR' : r() < 0.5 ? 'USD' : 'GBP',
      card_token: card === undefined ? null : this.tokens[card]!,
      card_token_key_id: card === undefined ? null : 'k1',
      card_bin: bin,
      card_last4: card === undefined ? null : String(1000 + (card % 9000)),
      response_code: responseCode,
      response_message: responseMessage,
      auth_code: status === 'APPROVED' ? String(100000 + Math.floor(r() * 899999)) : null,
      status,
      request_time: requestTime,
      response_time: hasResponse ? requestTime + latency : null,
      stan: String(Math.floor(r() * 1_000_000)).padStart(6, '0'),
      rrn: hasResponse ? `6${String(Math.floor(r() * 1e11)).padStart(11, '0')}` : null,
      ingest_channel: r() < 0.7 ? 'HTTP' : 'ISO8583',
      gateway_received_time: receivedAt,
      basket: withBasket
        ? {
            item_count: 3,
            items: [
              { sku: `SKU-${Math.floor(r() * 500)}`, quantity: 1, unit_price_minor: 250 },
              { sku: `SKU-${Math.floor(r() * 500)}`, quantity: 2, unit_price_minor: 199 },
            ],
            discount_minor: r() < 0.2 ? 50 : 0,
            coupon_codes: r() < 0.1 ? ['WELCOME10'] : [],
          }
        : null,
    };
  }

  /** Terminal t's heartbeat received at `receivedAt`. */
  heartbeat(t: number, receivedAt: number): TerminalHeartbeat {
    const r = this.random;
    const term = this.terminals[t]!;
    const paper: PaperState = r() < 0.9 ? 'OK' : r() < 0.7 ? 'LOW' : r() < 0.5 ? 'OUT' : 'NOT_APPLICABLE';
    const conn: ConnectionType = term.cellular ? 'CELLULAR_4G' : r() < 0.5 ? 'WIFI' : 'ETHERNET';
    return {
      event_id: randomUUID(),
      terminal_serial: term.serial,
      merchant_id: term.merchantId,
      gateway_id: 'gw-1',
      event_time: receivedAt - 20 + term.skewMs,
      online: r() > 0.01,
      firmware_version: '4.2.1',
      app_version: r() < 0.8 ? '2.9.0' : '2.8.3',
      battery_pct: term.cellular ? Math.floor(20 + r() * 80) : null,
      paper_state: paper,
      signal_strength_dbm: conn === 'ETHERNET' ? null : -50 - Math.floor(r() * 50),
      connection_type: conn,
      last_error_code: r() < 0.02 ? 'E42' : null,
      offline_queue_length: r() < 0.02 ? Math.floor(r() * 5) : 0,
      ingest_channel: 'HTTP',
      gateway_received_time: receivedAt,
    };
  }

  random01(): number {
    return this.random();
  }
}
