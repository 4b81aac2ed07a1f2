import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int, num } from '../rule-params.ts';
import type { SettingsReader } from '../rule.ts';
import { defineRule } from '../rules-file.ts';
import {
  Interner,
  SweepClock,
  cardLabels,
  cardShown,
  haversineKm,
  insertedByTime,
  type CardRule,
} from './card-rule.ts';

export const impossibleTravelRule = defineRule({
  name: 'impossible_travel',
  doc: 'One card present at two merchants farther apart than anyone travels in the time between (great-circle distance of the terminals’ coordinates over the request times): a cloned card. Attempts without coordinates, keyed-in (MANUAL) attempts, voids and reversals are left out.',
  params: {
    max_speed_kmh: num({ doc: 'Faster than this between two attempts is a hit.', min: 10, max: 100_000 }),
    min_distance_km: num({
      doc: 'Pairs closer than this never hit (terminal coordinates are approximate, clocks drift).',
      min: 0,
      max: 20_000,
    }),
    window: duration({
      doc: 'Pairs further apart in time are not compared.',
      min: 60_000,
      max: 7 * 86_400_000,
    }),
    max_points_kept: int({ doc: 'Located attempts kept per card (memory bound).', min: 2, max: 1_000 }),
  },
  defaults: {
    enabled: true,
    severity: 'CRITICAL',
    resolve_after: 3_600_000,
    max_speed_kmh: 900,
    min_distance_km: 100,
    window: 6 * 3_600_000,
    max_points_kept: 8,
  },
});

interface Point {
  readonly time: number;
  readonly eventId: string;
  readonly lat: number;
  readonly lon: number;
  readonly merchant: string;
  readonly terminal: string;
}

type Settings = ReturnType<SettingsReader<typeof impossibleTravelRule>>;

/** Keyed-in attempts say nothing about where the card is (mail and phone orders are keyed in). */
const NOT_PRESENT: ReadonlySet<string> = new Set(['MANUAL', 'UNKNOWN']);
const FOLLOW_UPS: ReadonlySet<string> = new Set(['REVERSAL', 'VOID']);

/** Coordinates that place a terminal; (0, 0) is what a terminal without a fix often sends. */
function located(ev: TransactionEvent): ev is TransactionEvent & { latitude: number; longitude: number } {
  const { latitude: lat, longitude: lon } = ev;
  return (
    lat !== null &&
    lon !== null &&
    Number.isFinite(lat) &&
    Number.isFinite(lon) &&
    Math.abs(lat) <= 90 &&
    Math.abs(lon) <= 180 &&
    !(lat === 0 && lon === 0)
  );
}

/**
 * Per card, its located card-present attempts of the last `window`, at most max_points_kept (the
 * newest by request time). A new attempt is compared with every kept one at another merchant, in
 * either time direction (arrival order is not request order); the fastest pair over the limit is
 * the hit.
 *
 * Memory (V8 heap, measured by scripts/bench/_card-rules-memory.ts on Node 20): ~190 bytes per kept
 * point (object, boxed time and coordinates, event id; merchant and terminal interned) and ~170 per
 * card (token, map entry, array): ~550 bytes for a card with two located attempts, ~525 MiB per
 * million cards seen within the window (6 h by default), at most ~1.7 KB a card (8 points).
 */
export class ImpossibleTravelRule implements CardRule {
  readonly definition = impossibleTravelRule;
  private readonly byCard = new Map<string, Point[]>();
  private readonly strings = new Interner();
  private readonly sweeps = new SweepClock();
  private entries = 0;

  constructor(private readonly settings: SettingsReader<typeof impossibleTravelRule>) {}

  get size(): number {
    return this.entries;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    const card = ev.card_token;
    if (card === null || FOLLOW_UPS.has(ev.transaction_type) || NOT_PRESENT.has(ev.entry_mode)) return [];
    if (!located(ev)) return [];
    const s = this.settings();
    const points = this.byCard.get(card) ?? [];
    if (points.some((p) => p.eventId === ev.event_id)) return [];
    const point: Point = {
      time: ev.request_time,
      eventId: ev.event_id,
      lat: ev.latitude,
      lon: ev.longitude,
      merchant: this.strings.get(ev.merchant_id),
      terminal: this.strings.get(ev.terminal_serial),
    };
    let fastest: { other: Point; km: number; kmh: number } | undefined;
    for (const other of points) {
      if (other.merchant === point.merchant) continue;
      const dt = Math.abs(other.time - point.time);
      if (dt > s.window) continue;
      const km = haversineKm(other.lat, other.lon, point.lat, point.lon);
      if (km < s.min_distance_km) continue;
      // Two attempts in the same second are as impossible as anything: one second stands in for 0.
      const kmh = km / (Math.max(dt, 1_000) / 3_600_000);
      if (kmh > s.max_speed_kmh && (fastest === undefined || kmh > fastest.kmh)) fastest = { other, km, kmh };
    }
    let kept = insertedByTime(points, point);
    this.entries += 1;
    if (kept.length > s.max_points_kept) {
      const dropped = kept.length - s.max_points_kept;
      kept = kept.slice(dropped);
      this.entries -= dropped;
    }
    this.byCard.set(card, kept);
    return fastest === undefined ? [] : [this.hit(ev, card, s, point, fastest)];
  }

  private hit(
    ev: TransactionEvent,
    card: string,
    s: Settings,
    point: Point,
    f: { other: Point; km: number; kmh: number },
  ): Hit {
    const [first, second] = f.other.time <= point.time ? [f.other, point] : [point, f.other];
    const minutes = (second.time - first.time) / 60_000;
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'CARD',
      entityId: card,
      windowStart: first.time,
      windowEnd: second.time + 1,
      value: Math.round(f.kmh),
      threshold: s.max_speed_kmh,
      summary: `card ${cardShown(ev)} at merchants ${first.merchant} and ${second.merchant}, ${Math.round(f.km)} km apart, ${minutes.toFixed(1)} min between (${Math.round(f.kmh)} km/h)`,
      evidence: {
        card: cardShown(ev),
        distance_km: String(Math.round(f.km)),
        minutes_between: minutes.toFixed(1),
        speed_kmh: String(Math.round(f.kmh)),
        from_merchant: first.merchant,
        from_terminal: first.terminal,
        to_merchant: second.merchant,
        to_terminal: second.terminal,
      },
      eventIds: [first.eventId, second.eventId],
      labels: cardLabels(ev),
    };
  }

  expire(now: number): void {
    const window = this.settings().window;
    if (!this.sweeps.due(now, window)) return;
    const horizon = now - window;
    for (const [card, points] of this.byCard) {
      let old = 0;
      while (old < points.length && points[old]!.time < horizon) old += 1;
      if (old === 0) continue;
      this.entries -= old;
      if (old === points.length) this.byCard.delete(card);
      else this.byCard.set(card, points.slice(old));
    }
  }
}
