import { ValidationError } from '../shared/errors.ts';
import { DECLINES } from './catalog.ts';

/**
 * The shares normal traffic is drawn with. Defaults are typical of European card-present retail;
 * a JSON file (`--mix`) may override any of them, e.g.
 * `{ "entry_modes": { "FALLBACK": 5 }, "decline_share": 0.08 }` (weights are relative, shares are
 * fractions of all attempts).
 */
export interface Mix {
  /** Relative weights. CONTACTLESS is a phone or watch wallet; EWALLET_QR carries no card. */
  payment_methods: Record<'DEBIT' | 'CREDIT' | 'PREPAID' | 'CONTACTLESS' | 'EWALLET_QR', number>;
  /** Relative weights of how a physical card (CREDIT, DEBIT, PREPAID) is read. */
  entry_modes: Record<'CONTACTLESS' | 'CHIP' | 'SWIPE' | 'MANUAL' | 'FALLBACK', number>;
  /** Share of attempts the issuer declines, and of those that get no answer. */
  decline_share: number;
  timeout_share: number;
  /** Relative weights of the field 39 codes among declines. */
  decline_codes: Record<string, number>;
  /** Shares of attempts that are refunds, voids, reversals (each of an earlier sale) and balance inquiries. */
  refund_share: number;
  void_share: number;
  reversal_share: number;
  balance_inquiry_share: number;
  /** Share of card payments made with a card from another region. */
  traveller_share: number;
  /** Share of attempts on which the terminal reports its cashier. */
  cashier_share: number;
}

export const DEFAULT_MIX: Readonly<Mix> = Object.freeze({
  payment_methods: { DEBIT: 48, CREDIT: 33, PREPAID: 4, CONTACTLESS: 9, EWALLET_QR: 6 },
  entry_modes: { CONTACTLESS: 60, CHIP: 34, SWIPE: 3, MANUAL: 2, FALLBACK: 1 },
  decline_share: 0.045,
  timeout_share: 0.004,
  decline_codes: Object.fromEntries(DECLINES.map((d) => [d.code, d.weight])),
  refund_share: 0.015,
  void_share: 0.006,
  reversal_share: 0.002,
  balance_inquiry_share: 0.002,
  traveller_share: 0.06,
  cashier_share: 0.75,
});

type WeightKey = 'payment_methods' | 'entry_modes' | 'decline_codes';
const WEIGHT_KEYS: readonly WeightKey[] = ['payment_methods', 'entry_modes', 'decline_codes'];
const SHARE_KEYS = [
  'decline_share',
  'timeout_share',
  'refund_share',
  'void_share',
  'reversal_share',
  'balance_inquiry_share',
  'traveller_share',
  'cashier_share',
] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The default mix with `overrides` applied: a weight table given in part keeps the other defaults
 * (`{"entry_modes": {"FALLBACK": 5}}` only changes FALLBACK). Every problem is a ValidationError
 * whose path names the setting (`entry_modes.CHIPP`).
 */
export function parseMix(overrides: unknown): Mix {
  const mix: Mix = structuredClone(DEFAULT_MIX) as Mix;
  if (overrides === undefined) return mix;
  if (!isObject(overrides)) throw new ValidationError('the mix must be a JSON object', '');
  for (const [key, value] of Object.entries(overrides)) {
    if ((WEIGHT_KEYS as readonly string[]).includes(key)) {
      const table = mix[key as WeightKey] as Record<string, number>;
      if (!isObject(value)) throw new ValidationError(`${key}: expected an object of weights`, key);
      for (const [name, w] of Object.entries(value)) {
        if (key !== 'decline_codes' && !(name in table)) {
          throw new ValidationError(
            `${key}.${name}: unknown (expected one of ${Object.keys(table).join(', ')})`,
            `${key}.${name}`,
          );
        }
        if (key === 'decline_codes' && !/^[0-9A-Z]{2}$/.test(name)) {
          throw new ValidationError(
            `${key}.${name}: a response code is 2 digits or capitals`,
            `${key}.${name}`,
          );
        }
        if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
          throw new ValidationError(
            `${key}.${name}: expected a weight >= 0, got ${JSON.stringify(w)}`,
            `${key}.${name}`,
          );
        }
        table[name] = w;
      }
      if (Object.values(table).every((w) => w === 0)) {
        throw new ValidationError(`${key}: at least one weight must be above 0`, key);
      }
    } else if ((SHARE_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        throw new ValidationError(
          `${key}: expected a share between 0 and 1, got ${JSON.stringify(value)}`,
          key,
        );
      }
      mix[key as (typeof SHARE_KEYS)[number]] = value;
    } else {
      throw new ValidationError(
        `${key}: unknown setting (expected one of ${[...WEIGHT_KEYS, ...SHARE_KEYS].join(', ')})`,
        key,
      );
    }
  }
  if (mix.decline_share + mix.timeout_share > 1) {
    throw new ValidationError('decline_share + timeout_share must not exceed 1', 'decline_share');
  }
  const typed = mix.refund_share + mix.void_share + mix.reversal_share + mix.balance_inquiry_share;
  if (typed > 1) {
    throw new ValidationError(
      'refund_share + void_share + reversal_share + balance_inquiry_share must not exceed 1',
      'refund_share',
    );
  }
  return mix;
}
