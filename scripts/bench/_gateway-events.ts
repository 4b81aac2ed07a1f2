import { luhnComplete, transactionInput } from '../../test/support/gateway-input.ts';

/*
 * The transactions scripts/bench/gateway.ts sends: the HTTP input format as
 * test/support/gateway-input.ts builds it, spread over a realistic fleet.
 */

const BINS = ['400000', '411111', '424242', '510510', '545454', '222300', '601100', '356600'];
const NAMES = ['Café Lumière', 'Hardware & Co', 'Kiosk 24', 'Bäckerei Süß', 'Fuel-Stop', 'Pharmacie du Parc'];
const REGIONS = ['north', 'south', 'east', 'west', 'central', 'coast', 'capital', 'islands'];

/** Knuth's multiplicative hash, so neighbouring events land on unrelated terminals. */
const spread = (i: number, mod: number) => (Math.imul(i + 1, 2654435761) >>> 0) % mod;

/** A 16-digit Luhn-valid PAN of one of a few BINs, different for every i. */
function pan(i: number): string {
  const bin = BINS[i % BINS.length]!;
  const body = String((Math.imul(i, 40503) >>> 0) % 1_000_000_000).padStart(9, '0');
  return luhnComplete(`${bin}${body}`);
}

/**
 * Event i: gateway-input's `transactionInput` (statuses and responses that agree, baskets,
 * coordinates, cashiers) moved onto a fleet of `terminals` terminals and `terminals / 10`
 * merchants, with a PAN on every card payment (all but the 1 in 5 QR-wallet payments).
 */
export function benchEvent(i: number, terminals: number, now: number): Record<string, unknown> {
  const base = transactionInput(i, {}, now);
  const terminal = spread(i, terminals);
  const merchant = Math.floor(terminal / 10);
  const event: Record<string, unknown> = {
    ...base,
    terminal_serial: `TRM-${String(terminal).padStart(6, '0')}`,
    merchant_id: `M${String(merchant).padStart(5, '0')}`,
    merchant_name: `${NAMES[merchant % NAMES.length]!} ${merchant}`,
    region: REGIONS[merchant % REGIONS.length]!,
    acquirer_id: `ACQ${merchant % 4}`,
  };
  if (base.payment_method === 'EWALLET_QR') delete event['pan'];
  else event['pan'] = pan(i);
  return event;
}
