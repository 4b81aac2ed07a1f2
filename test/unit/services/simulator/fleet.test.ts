import { describe, expect, it } from 'vitest';
import { luhnValid } from '../../../../services/gateway/card-data.ts';
import { ValidationError } from '../../../../services/shared/errors.ts';
import { CARD_PRODUCTS, CATEGORIES, REGIONS, distanceKm } from '../../../../services/simulator/catalog.ts';
import { buildFleet, isOpenAt, localDayOfWeek } from '../../../../services/simulator/fleet.ts';

describe('buildFleet', () => {
  const fleet = buildFleet({
    seed: 'fleet-test',
    terminals: 300,
    merchants: 100,
    regions: 4,
    acquirers: 2,
    cards: 2_000,
  });

  it('has the requested sizes, each terminal with one merchant and every merchant with a terminal', () => {
    expect(fleet.terminals).toHaveLength(300);
    expect(fleet.merchants).toHaveLength(100);
    expect(fleet.regions.map((r) => r.id)).toEqual(REGIONS.slice(0, 4).map((r) => r.id));
    expect(fleet.acquirers).toHaveLength(2);
    expect(fleet.cards).toHaveLength(2_000);
    for (const m of fleet.merchants) {
      expect(m.terminals.length).toBeGreaterThan(0);
      for (const t of m.terminals) expect(t.merchant).toBe(m);
    }
    expect(fleet.merchants.reduce((n, m) => n + m.terminals.length, 0)).toBe(300);
    expect(new Set(fleet.terminals.map((t) => t.serial)).size).toBe(300);
  });

  it('gives merchants an MCC of the catalog, a name, and a home near their region', () => {
    const mccs = new Set(CATEGORIES.map((c) => c.mcc));
    for (const m of fleet.merchants) {
      expect(mccs.has(m.mcc)).toBe(true);
      expect(m.name).toMatch(/^[\x20-\x7e]+$/);
      expect(m.name).toContain(m.region.city);
      expect(distanceKm(m.latitude, m.longitude, m.region.latitude, m.region.longitude)).toBeLessThan(13);
      for (const t of m.terminals)
        expect(distanceKm(t.latitude, t.longitude, m.latitude, m.longitude)).toBeLessThan(0.1);
    }
  });

  it('uses serials and merchant ids that fit ISO 8583 fields 41 and 42', () => {
    for (const t of fleet.terminals) expect(t.serial).toMatch(/^T\d{7}$/);
    for (const m of fleet.merchants) expect(m.id.length).toBeLessThanOrEqual(15);
  });

  it('makes distinct, Luhn-valid card numbers in test BIN ranges', () => {
    const pans = new Set<string>();
    for (const c of fleet.cards) {
      expect(luhnValid(c.pan)).toBe(true);
      expect(c.pan.startsWith(c.product.prefix)).toBe(true);
      expect(c.pan).toHaveLength(c.product.length);
      expect(CARD_PRODUCTS).toContain(c.product);
      pans.add(c.pan);
    }
    expect(pans.size).toBe(fleet.cards.length);
  });

  it('is the same for the same seed and different for another', () => {
    const again = buildFleet({
      seed: 'fleet-test',
      terminals: 300,
      merchants: 100,
      regions: 4,
      acquirers: 2,
      cards: 2_000,
    });
    expect(again.terminals.map((t) => [t.serial, t.merchant.id, t.latitude])).toEqual(
      fleet.terminals.map((t) => [t.serial, t.merchant.id, t.latitude]),
    );
    expect(again.cards.map((c) => c.pan)).toEqual(fleet.cards.map((c) => c.pan));
    const other = buildFleet({
      seed: 'other',
      terminals: 300,
      merchants: 100,
      regions: 4,
      acquirers: 2,
      cards: 2_000,
    });
    expect(other.cards.map((c) => c.pan)).not.toEqual(fleet.cards.map((c) => c.pan));
  });

  it('refuses sizes out of range, naming the option', () => {
    const bad: [object, string][] = [
      [{ terminals: 0 }, 'terminals'],
      [{ terminals: 10, merchants: 11 }, 'merchants'],
      [{ terminals: 10, regions: 17 }, 'regions'],
      [{ terminals: 10, acquirers: 0 }, 'acquirers'],
      [{ terminals: 10, cards: 5 }, 'cards'],
      [{ terminals: 2.5 }, 'terminals'],
    ];
    for (const [options, path] of bad) {
      let error: unknown;
      try {
        buildFleet({ seed: 's', terminals: 1, ...options });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toBe(path);
      expect((error as Error).message).toMatch(new RegExp(`^${path} must be an integer between`));
    }
  });
});

describe('opening hours', () => {
  const hours = { open: 9, close: 20, closedSunday: true };
  const tuesday = Date.UTC(2026, 2, 3);

  it('follows the local hour of the region', () => {
    expect(isOpenAt(hours, 60, tuesday + 8 * 3_600_000)).toBe(true); // 09:00 in UTC+1
    expect(isOpenAt(hours, 0, tuesday + 8 * 3_600_000)).toBe(false);
    expect(isOpenAt(hours, 60, tuesday + 19 * 3_600_000)).toBe(false); // 20:00 local
  });

  it('keeps closed on Sundays when the merchant does, and always-open merchants open', () => {
    const sunday = Date.UTC(2026, 2, 8, 12);
    expect(localDayOfWeek(sunday)).toBe(new Date(sunday).getUTCDay());
    expect(isOpenAt(hours, 0, sunday)).toBe(false);
    expect(isOpenAt({ open: 0, close: 24, closedSunday: false }, 0, sunday + 3 * 3_600_000)).toBe(true);
  });
});
