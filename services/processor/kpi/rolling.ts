import type { KpiUpdate } from '../../shared/avro/types.generated.ts';
import { WINDOW_MS, WindowState, windowStartOf, type KpiLevel } from './window-state.ts';
import { windowVersion, type WindowEmission } from './windows.ts';

/**
 * Rolling 5-minute, 15-minute and 1-hour KPIs per entity, derived from the 1-minute window
 * emissions by merging (counts and sums add, mixes add, latency sketches merge) — no raw events.
 *
 * The store keeps, per (level, entity, minute, source partition), the snapshot of the highest
 * version it was given, so partitions' partials of a merchant/region/acquirer/fleet minute add up
 * and a re-emitted minute replaces its earlier version. A view over [end − span, end) merges every
 * stored minute in that range; `end` is normally `latestClosedMinuteEnd(watermark)`, the end of the
 * newest minute that is final, so the figures no longer move.
 *
 * unique_cards of a rolling view is the largest count among its parts (minutes × partitions): a
 * lower bound of the distinct cards over the span, since the per-minute card sets are not kept
 * (keeping them for an hour would cost the memory the 1-minute design avoids). Everything else is
 * exact, latency quantiles within the sketch's 1 % bound.
 */

export const ROLLING_SPANS_MS = { '5m': 300_000, '15m': 900_000, '1h': 3_600_000 } as const;

export type RollingSpan = keyof typeof ROLLING_SPANS_MS;

const MAX_SPAN_MS = Math.max(...Object.values(ROLLING_SPANS_MS));

export interface RollingView {
  readonly level: KpiLevel;
  readonly entityId: string;
  readonly span: RollingSpan;
  /** Inclusive start: windowEnd − span. */
  readonly windowStart: number;
  /** Exclusive end (a minute boundary). */
  readonly windowEnd: number;
  /** Minutes in the span that had at least one transaction. */
  readonly minutesWithData: number;
  /** True when every stored part in the span is a final window. */
  readonly allFinal: boolean;
  /** The merged values; unique_cards is a lower bound (see above). */
  readonly state: WindowState;
}

interface Part {
  version: number;
  isFinal: boolean;
  state: WindowState;
}

/** End of the newest minute whose window is final under `watermark` (windows ending at or before it). */
export function latestClosedMinuteEnd(watermark: number | null): number | null {
  return watermark === null ? null : windowStartOf(watermark);
}

export class RollingKpis {
  /** level → entity → minute start → partition → part. */
  private readonly parts = new Map<KpiLevel, Map<string, Map<number, Map<number, Part>>>>();

  /** Records an emission; an older version of the same partition's minute than the stored one is ignored. */
  apply(e: WindowEmission): void {
    if (e.windowEnd - e.windowStart !== WINDOW_MS) {
      throw new RangeError(`rolling views take 1-minute windows, got ${e.windowEnd - e.windowStart} ms`);
    }
    let entities = this.parts.get(e.level);
    if (entities === undefined) this.parts.set(e.level, (entities = new Map()));
    let minutes = entities.get(e.entityId);
    if (minutes === undefined) entities.set(e.entityId, (minutes = new Map()));
    let partitions = minutes.get(e.windowStart);
    if (partitions === undefined) minutes.set(e.windowStart, (partitions = new Map()));
    const known = partitions.get(e.partition);
    if (known !== undefined && known.version >= e.version) return;
    partitions.set(e.partition, { version: e.version, isFinal: e.isFinal, state: e.state.snapshot() });
  }

  /** The view of one entity over `span` ending at `windowEnd` (exclusive, a minute boundary). */
  view(level: KpiLevel, entityId: string, span: RollingSpan, windowEnd: number): RollingView {
    if (windowStartOf(windowEnd) !== windowEnd) {
      throw new RangeError(`a rolling view ends on a minute boundary, got ${windowEnd}`);
    }
    const windowStart = windowEnd - ROLLING_SPANS_MS[span];
    const state = WindowState.empty();
    let minutesWithData = 0;
    let allFinal = true;
    const minutes = this.parts.get(level)?.get(entityId);
    for (const [start, partitions] of minutes ?? []) {
      if (start < windowStart || start >= windowEnd) continue;
      let any = false;
      for (const p of partitions.values()) {
        state.merge(p.state);
        allFinal &&= p.isFinal;
        any ||= p.state.txCount > 0;
      }
      if (any) minutesWithData += 1;
    }
    return { level, entityId, span, windowStart, windowEnd, minutesWithData, allFinal, state };
  }

  /** The 5m, 15m and 1h views of one entity ending at `windowEnd`. */
  views(level: KpiLevel, entityId: string, windowEnd: number): Record<RollingSpan, RollingView> {
    return {
      '5m': this.view(level, entityId, '5m', windowEnd),
      '15m': this.view(level, entityId, '15m', windowEnd),
      '1h': this.view(level, entityId, '1h', windowEnd),
    };
  }

  /** Entities of `level` with at least one stored minute. */
  entities(level: KpiLevel): string[] {
    return [...(this.parts.get(level)?.keys() ?? [])].sort();
  }

  /**
   * Forgets minutes that no view ending at or after `windowEnd` can include (those starting before
   * windowEnd − 1 h). Call it as the latest closed minute moves on.
   */
  evictBefore(windowEnd: number): void {
    const keepFrom = windowEnd - MAX_SPAN_MS;
    for (const entities of this.parts.values()) {
      for (const [entityId, minutes] of entities) {
        for (const start of minutes.keys()) if (start < keepFrom) minutes.delete(start);
        if (minutes.size === 0) entities.delete(entityId);
      }
    }
  }
}

/**
 * The KpiUpdate of a rolling view (window_size_ms = the span, tps over the whole span). Its version
 * follows windowVersion over the merged tx_count, final when every part is.
 */
export function rollingKpiUpdate(v: RollingView, emittedTime: number): KpiUpdate {
  return v.state.toKpiUpdate({
    entityLevel: v.level,
    entityId: v.entityId,
    windowStart: v.windowStart,
    windowSizeMs: v.windowEnd - v.windowStart,
    version: windowVersion(v.state.txCount, v.allFinal),
    isFinal: v.allFinal,
    emittedTime,
  });
}
