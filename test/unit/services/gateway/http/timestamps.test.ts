import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isRfc3339,
  parseRfc3339,
  RFC3339_MAX_LENGTH,
} from '../../../../../services/gateway/http/timestamps.ts';

describe('RFC 3339 timestamps', () => {
  it('reads Z and numeric offsets to the same instant', () => {
    const t = Date.UTC(2026, 10, 1, 9, 0, 0, 137);
    expect(parseRfc3339('2026-11-01T09:00:00.137Z')).toBe(t);
    expect(parseRfc3339('2026-11-01t09:00:00.137z')).toBe(t);
    expect(parseRfc3339('2026-11-01T10:00:00.137+01:00')).toBe(t);
    expect(parseRfc3339('2026-11-01T03:30:00.137-05:30')).toBe(t);
    expect(parseRfc3339('2026-11-01T09:00:00.137-00:00')).toBe(t);
  });

  it('truncates fractions beyond milliseconds and pads shorter ones', () => {
    expect(parseRfc3339('2026-11-01T09:00:00.1Z')).toBe(Date.UTC(2026, 10, 1, 9, 0, 0, 100));
    expect(parseRfc3339('2026-11-01T09:00:00.123999999Z')).toBe(Date.UTC(2026, 10, 1, 9, 0, 0, 123));
    expect(parseRfc3339('2026-11-01T09:00:00Z')).toBe(Date.UTC(2026, 10, 1, 9, 0, 0));
  });

  it('refuses date-times without a zone, out-of-range parts, leap seconds and other shapes', () => {
    for (const s of [
      '2026-11-01T09:00:00',
      '2026-11-01 09:00:00Z',
      '2026-11-01',
      '2026-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-11-01T24:00:00Z',
      '2026-11-01T09:60:00Z',
      '2026-12-31T23:59:60Z',
      '2026-11-01T09:00:00+24:00',
      '2026-11-01T09:00:00.Z',
      '2026-11-01T09:00:00.1234567890Z',
      '2026-11-01T09:00:00+0100',
      '1793523600000',
      ' 2026-11-01T09:00:00Z',
      '２０２６-11-01T09:00:00Z',
    ]) {
      expect(parseRfc3339(s), s).toBeUndefined();
      expect(isRfc3339(s)).toBe(false);
    }
    expect(parseRfc3339('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseRfc3339('2000-02-29T00:00:00Z')).toBe(Date.UTC(2000, 1, 29));
    expect(parseRfc3339('1900-02-29T00:00:00Z')).toBeUndefined();
  });

  it('keeps years before 100 as they are (Date.UTC would add 1900)', () => {
    expect(new Date(parseRfc3339('0099-01-01T00:00:00Z')!).getUTCFullYear()).toBe(99);
  });

  it('reads back every instant written by toISOString, with any offset', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) }),
        fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
        (ms, offset) => {
          const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
          const abs = Math.abs(offset);
          const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
          const s = `${local}123456${zone}`;
          expect(s.length).toBeLessThanOrEqual(RFC3339_MAX_LENGTH);
          expect(parseRfc3339(s)).toBe(ms);
          expect(parseRfc3339(new Date(ms).toISOString())).toBe(ms);
        },
      ),
    );
  });
});
