import type { Param } from '../rule-params.ts';
import { isTimeZone, type ProfileMode } from '../stats/hour-profile.ts';

/**
 * Parameter kinds the learned rules need besides those of rule-params.ts (same contract: the value
 * or what was expected).
 */

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(doc: string, values: readonly T[]): Param<T> {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return {
    doc,
    show: (v) => v,
    parse: (raw) =>
      typeof raw === 'string' && (values as readonly string[]).includes(raw)
        ? { ok: true, value: raw as T }
        : { ok: false, expected },
  };
}

/** An IANA time zone name ("UTC", "Europe/Berlin"). */
export function timeZone(doc: string): Param<string> {
  return {
    doc,
    show: (v) => v,
    parse: (raw) =>
      typeof raw === 'string' && raw.length > 0 && isTimeZone(raw)
        ? { ok: true, value: raw }
        : { ok: false, expected: 'an IANA time zone like "UTC" or "Europe/Berlin"' },
  };
}

export const profileMode = (doc: string): Param<ProfileMode> => oneOf(doc, ['hour_of_week', 'hour_of_day']);
