import { createHmac } from 'node:crypto';

/**
 * What a card number becomes at the gateway: a keyed token (HMAC-SHA256, so equal cards are
 * recognisable across events without the number being recoverable), the issuer BIN and the last
 * four digits. The PAN itself goes no further than this module's caller.
 */
export interface CardReference {
  card_token: string;
  card_token_key_id: string;
  card_bin: string;
  card_last4: string;
}

export interface TokenKey {
  id: string;
  secret: Buffer;
}

/** The key ring: `current` tokenizes; `previous` keys are kept so operators can re-map during rotation. */
export interface TokenKeys {
  current: TokenKey;
  previous: readonly TokenKey[];
}

/**
 * Parses `id:base64secret[,id:base64secret…]`; the first key is current. Secrets must be at least
 * 32 bytes, the HMAC-SHA256 block of safety.
 */
export function parseTokenKeys(raw: string): TokenKeys {
  const keys = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const colon = entry.indexOf(':');
      const id = colon > 0 ? entry.slice(0, colon) : '';
      if (!/^[A-Za-z0-9._-]{1,32}$/.test(id))
        throw new Error(`key ${i + 1} needs an id (letters, digits, . _ -) before ':'`);
      const b64 = entry.slice(colon + 1);
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) throw new Error(`key ${id}: the secret is not base64`);
      const secret = Buffer.from(b64, 'base64');
      if (secret.length < 32)
        throw new Error(`key ${id}: the secret has ${secret.length} bytes, at least 32 are needed`);
      return { id, secret };
    });
  const [current, ...previous] = keys;
  if (!current) throw new Error('at least one key is needed');
  const ids = new Set<string>();
  for (const k of keys) {
    if (ids.has(k.id)) throw new Error(`key id ${k.id} appears twice`);
    ids.add(k.id);
  }
  return { current, previous };
}

/** Luhn (mod 10) check over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export type PanProblem = 'not_digits' | 'length' | 'luhn';

/** Why a PAN is not acceptable, or undefined when it is (12–19 digits, Luhn-valid). */
export function panProblem(pan: string): PanProblem | undefined {
  if (!/^\d+$/.test(pan)) return 'not_digits';
  if (pan.length < 12 || pan.length > 19) return 'length';
  if (!luhnValid(pan)) return 'luhn';
  return undefined;
}

/**
 * Token, BIN and last four of a valid PAN. The BIN is 8 digits for PANs of 16 or more digits
 * (ISO/IEC 7812-1:2017), 6 otherwise. Call `panProblem` first.
 */
export function cardReference(pan: string, keys: TokenKeys): CardReference {
  return {
    card_token: createHmac('sha256', keys.current.secret).update(pan, 'ascii').digest('hex'),
    card_token_key_id: keys.current.id,
    card_bin: pan.slice(0, pan.length >= 16 ? 8 : 6),
    card_last4: pan.slice(-4),
  };
}

/** Finds runs of 12–19 digits (optionally spaced or dashed) that pass Luhn: likely PANs in free text. */
export function findPans(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\d(?:[ -]?\d){11,18}/g)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (panProblem(digits) === undefined) found.push(digits);
  }
  return found;
}
