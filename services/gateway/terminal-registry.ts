import { readFileSync } from 'node:fs';
import { ConfigError } from '../shared/errors.ts';

/**
 * What the gateway knows about a terminal that ISO 8583 does not carry (region, coordinates) or
 * may leave out (merchant, MCC, acquirer, currency). Loaded once at start-up from a JSON file:
 *
 * ```json
 * { "default": { "region": "eu-west", "currency": "EUR" },
 *   "terminals": { "TERM0001": { "merchant_id": "M42", "merchant_name": "Cafe du Coin", "mcc": "5812",
 *                                "acquirer_id": "ACQ1", "region": "eu-west",
 *                                "latitude": 48.85, "longitude": 2.35, "currency": "EUR" } } }
 * ```
 *
 * A terminal entry names its merchant, MCC, acquirer and region; `default` may give any subset, and
 * applies to every terminal for what its entry (or the message) leaves out.
 */
export interface TerminalInfo {
  merchant_id: string;
  merchant_name: string;
  mcc: string;
  acquirer_id: string;
  region: string;
  latitude?: number;
  longitude?: number;
  currency?: string;
}

/**
 * Everything the gateway adds for one terminal: entry, else default, else the fallbacks below.
 * `currency` has no fallback: an amount in a guessed currency would be wrong, so an event without
 * one is refused by the caller.
 */
export interface TerminalProfile {
  /** Whether the terminal has its own entry (events of unknown terminals are counted). */
  known: boolean;
  merchant_id: string;
  merchant_name: string;
  mcc: string;
  acquirer_id: string;
  region: string;
  latitude: number | null;
  longitude: number | null;
  currency: string | undefined;
  /** The merchant as the registry has it (entry, else default), null without one: for heartbeats. */
  registeredMerchantId: string | null;
}

/** Used when neither the message nor the registry names them. MCC 0000 is not assigned by ISO 18245. */
export const PROFILE_FALLBACK = {
  merchant_id: 'unknown',
  merchant_name: 'unknown',
  mcc: '0000',
  acquirer_id: 'unknown',
  region: 'unknown',
} as const;

const REQUIRED = ['merchant_id', 'merchant_name', 'mcc', 'acquirer_id', 'region'] as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set([...REQUIRED, 'latitude', 'longitude', 'currency']);

type Checker = (value: unknown) => string | undefined;

const nonEmpty: Checker = (v) =>
  typeof v === 'string' && v.trim() !== '' ? undefined : 'expected a non-empty string';

const CHECKS: Record<string, Checker> = {
  merchant_id: nonEmpty,
  merchant_name: nonEmpty,
  acquirer_id: nonEmpty,
  region: nonEmpty,
  mcc: (v) => (typeof v === 'string' && /^\d{4}$/.test(v) ? undefined : 'expected 4 digits (ISO 18245)'),
  currency: (v) =>
    typeof v === 'string' && /^[A-Z]{3}$/.test(v) ? undefined : 'expected an ISO 4217 code like "EUR"',
  latitude: (v) =>
    typeof v === 'number' && v >= -90 && v <= 90 ? undefined : 'expected a number between -90 and 90',
  longitude: (v) =>
    typeof v === 'number' && v >= -180 && v <= 180 ? undefined : 'expected a number between -180 and 180',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks one entry; `where` names it in errors (`terminals["TERM0001"]`, `default`). */
function checkEntry(where: string, value: unknown, requireAll: boolean): Partial<TerminalInfo> {
  if (!isObject(value)) throw new Error(`${where}: expected an object`);
  for (const key of Object.keys(value)) {
    // An unknown key is most often a typo ("mmc") that would otherwise silently fall back.
    if (!KNOWN_KEYS.has(key)) throw new Error(`${where}.${key}: unknown field`);
  }
  for (const key of KNOWN_KEYS) {
    const v = value[key];
    if (v === undefined) {
      if (requireAll && (REQUIRED as readonly string[]).includes(key)) {
        throw new Error(`${where}.${key}: missing`);
      }
      continue;
    }
    const problem = CHECKS[key]!(v);
    if (problem !== undefined) throw new Error(`${where}.${key}: ${problem}, got ${JSON.stringify(v)}`);
  }
  if ((value['latitude'] === undefined) !== (value['longitude'] === undefined)) {
    throw new Error(`${where}: latitude and longitude go together`);
  }
  return value as Partial<TerminalInfo>;
}

export class TerminalRegistry {
  /** No file configured: every terminal is unknown and gets the fallbacks. */
  static readonly EMPTY = new TerminalRegistry({}, new Map());

  private constructor(
    private readonly defaults: Partial<TerminalInfo>,
    private readonly terminals: ReadonlyMap<string, TerminalInfo>,
  ) {}

  /**
   * Validates a parsed registry document. Throws an Error naming the terminal and field at fault
   * (`terminals["TERM0001"].mcc: expected 4 digits …`).
   */
  static fromJson(doc: unknown): TerminalRegistry {
    if (!isObject(doc)) throw new Error('expected an object with "default" and "terminals"');
    for (const key of Object.keys(doc)) {
      if (key !== 'default' && key !== 'terminals') throw new Error(`${key}: unknown top-level field`);
    }
    const defaults = doc['default'] === undefined ? {} : checkEntry('default', doc['default'], false);
    const rawTerminals = doc['terminals'] ?? {};
    if (!isObject(rawTerminals)) throw new Error('terminals: expected an object keyed by terminal id');
    const terminals = new Map<string, TerminalInfo>();
    for (const [id, entry] of Object.entries(rawTerminals)) {
      const where = `terminals[${JSON.stringify(id)}]`;
      // Field 41 arrives with its trailing padding removed; an id with spaces around it never matches.
      if (id.trim() !== id || id === '')
        throw new Error(`${where}: a terminal id without surrounding spaces`);
      terminals.set(id, checkEntry(where, entry, true) as TerminalInfo);
    }
    return new TerminalRegistry(Object.freeze({ ...defaults }), terminals);
  }

  get size(): number {
    return this.terminals.size;
  }

  has(terminalId: string): boolean {
    return this.terminals.has(terminalId);
  }

  profile(terminalId: string): TerminalProfile {
    const entry = this.terminals.get(terminalId);
    const d = this.defaults;
    // Coordinates are validated as a pair, so they come from one place: the entry, else the default.
    const at = entry?.latitude !== undefined ? entry : d;
    return {
      known: entry !== undefined,
      merchant_id: entry?.merchant_id ?? d.merchant_id ?? PROFILE_FALLBACK.merchant_id,
      merchant_name: entry?.merchant_name ?? d.merchant_name ?? PROFILE_FALLBACK.merchant_name,
      mcc: entry?.mcc ?? d.mcc ?? PROFILE_FALLBACK.mcc,
      acquirer_id: entry?.acquirer_id ?? d.acquirer_id ?? PROFILE_FALLBACK.acquirer_id,
      region: entry?.region ?? d.region ?? PROFILE_FALLBACK.region,
      latitude: at.latitude ?? null,
      longitude: at.longitude ?? null,
      currency: entry?.currency ?? d.currency,
      registeredMerchantId: entry?.merchant_id ?? d.merchant_id ?? null,
    };
  }
}

/**
 * Reads and validates the registry file named by GATEWAY_TERMINALS_FILE, once at start-up;
 * `TerminalRegistry.EMPTY` when none is configured. Any problem is a ConfigError naming
 * `variable`, the file and, for a bad entry, the terminal and field.
 */
export function loadTerminalRegistry(
  path: string | undefined,
  variable = 'GATEWAY_TERMINALS_FILE',
): TerminalRegistry {
  if (path === undefined) return TerminalRegistry.EMPTY;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(variable, path, `a readable terminal registry file (${(err as Error).message})`);
  }
  try {
    return TerminalRegistry.fromJson(JSON.parse(text));
  } catch (err) {
    throw new ConfigError(variable, path, `a valid terminal registry: ${(err as Error).message}`);
  }
}
