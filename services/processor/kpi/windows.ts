import type { KpiUpdate, TransactionEvent } from '../../shared/avro/types.generated.ts';
import {
  KPI_LEVELS,
  WINDOW_MS,
  WindowState,
  entityIdOf,
  windowStartOf,
  type KpiLevel,
} from './window-state.ts';

/**
 * The event-time window engine of one Kafka partition of `transactions`. Pure: no clock, no I/O.
 *
 * - Events arrive in offset order; each is folded, by its request_time, into the 1-minute window of
 *   its terminal, merchant, region, acquirer and the fleet — as this partition saw them (`partition`
 *   is on every output: above TERMINAL, a partition's window is a partial of the entity's window).
 * - Watermark = (largest min(request_time, gateway_received_time) of the folded events) −
 *   allowedLatenessMs. A window [s, s + 60 s) is open while watermark < s + 60 s and final after.
 *   Capping request_time by the gateway's clock keeps a terminal whose clock runs ahead (within
 *   maxFutureSkewMs) from closing everyone's windows early.
 * - An event whose window is already final is late beyond lateness: it goes to `late`
 *   (`beyond_allowed_lateness`) and changes nothing. An event stamped more than maxFutureSkewMs
 *   after the gateway received it goes to `late` (`clock_ahead`) and changes nothing either: its
 *   minute cannot be trusted and it must not advance the watermark. Nothing is dropped silently.
 * - After each batch: windows that became final are emitted with is_final and evicted; other
 *   windows that changed are emitted once, with their state at the end of the batch.
 *
 * Versions: version = 2 × tx_count + (is_final ? 1 : 0). A window's content at tx_count = n is
 * the fold of its first n events in offset order, which the input alone decides; so (window,
 * version) always names the same content, whatever the batch boundaries, restarts or re-deliveries,
 * and a final row outranks every non-final row of its window. emitted_time is the only field that
 * differs between two emissions of one version.
 *
 * Restarts: `checkpoint()` after a batch whose outputs are durable gives `restartOffset` (first
 * offset of the oldest open window), `nextOffset` and the watermark's driver. A new engine built
 * from it and fed the partition from restartOffset rebuilds the open windows silently from the
 * events before nextOffset (nothing emitted for them), then carries on; its outputs are exactly
 * those a single uninterrupted run emits from nextOffset on (see docs/KPIS.md for the argument).
 * Events at offsets already processed are skipped, so re-delivered batches change nothing.
 */

export const DEFAULT_ALLOWED_LATENESS_MS = 120_000;
export const DEFAULT_MAX_FUTURE_SKEW_MS = 60_000;

export interface WindowEngineConfig {
  /** Kafka partition of the events; on every output, and part of a window row's key. */
  readonly partition: number;
  /** How long after its end (in event time) a window still takes events. @default 120 000 */
  readonly allowedLatenessMs?: number;
  /** An event with request_time > gateway_received_time + this is `clock_ahead`. @default 60 000 */
  readonly maxFutureSkewMs?: number;
  /** Levels to aggregate at. @default all five */
  readonly levels?: readonly KpiLevel[];
}

/** A record of the partition: its offset (kafkajs's string offset as a number) and event. */
export interface OffsetEvent {
  readonly offset: number;
  readonly event: TransactionEvent;
}

/** One emission of a window. */
export interface WindowEmission {
  readonly partition: number;
  readonly level: KpiLevel;
  readonly entityId: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly version: number;
  readonly isFinal: boolean;
  /** The window's values at this version (a snapshot: its unique_cards is exact, its card set dropped). */
  readonly state: WindowState;
}

export type LateReason = 'beyond_allowed_lateness' | 'clock_ahead';

export interface LateEvent {
  readonly partition: number;
  readonly offset: number;
  readonly event: TransactionEvent;
  readonly reason: LateReason;
  /** The partition's watermark when the event was classified; null before the first folded event. */
  readonly watermark: number | null;
  /** Start of the 1-minute window the event's request_time falls in. */
  readonly windowStart: number;
}

export interface ProcessResult {
  /** Changed and finalized windows, ordered by window start, level, entity. */
  readonly updates: WindowEmission[];
  /** Events routed away from the windows, in offset order. */
  readonly late: LateEvent[];
}

/** Where to resume after a restart; plain JSON (e.g. in the Kafka commit metadata). */
export interface WindowCheckpoint {
  readonly partition: number;
  /** Seek here on restart: first offset of the oldest open window, or nextOffset when none is open. */
  readonly restartOffset: number;
  /** First offset not processed yet (the engine's outputs up to here must be durable). */
  readonly nextOffset: number;
  /** Largest min(request_time, gateway_received_time) folded so far; null before the first. */
  readonly maxEventTime: number | null;
}

export interface EngineStats {
  /** Events processed (replayed ones excluded). */
  events: number;
  /** Events folded into windows. */
  folded: number;
  beyondLateness: number;
  clockAhead: number;
  /** Events at an already processed offset, skipped. */
  duplicates: number;
  /** Events folded silently while rebuilding from a checkpoint. */
  replayed: number;
}

/** The version of a window's emission; see the module comment. */
export function windowVersion(txCount: number, isFinal: boolean): number {
  return 2 * txCount + (isFinal ? 1 : 0);
}

/** The KpiUpdate record of an emission. */
export function kpiUpdateOf(e: WindowEmission, emittedTime: number): KpiUpdate {
  return e.state.toKpiUpdate({
    entityLevel: e.level,
    entityId: e.entityId,
    windowStart: e.windowStart,
    windowSizeMs: e.windowEnd - e.windowStart,
    version: e.version,
    isFinal: e.isFinal,
    emittedTime,
  });
}

interface OpenWindow {
  readonly level: KpiLevel;
  readonly entityId: string;
  readonly windowStart: number;
  readonly state: WindowState;
  /** Offset of the first event folded in: a restart must read from here to rebuild the window. */
  readonly firstOffset: number;
  dirty: boolean;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a whole number >= 0, got ${value}`);
  }
  return value;
}

export class KpiWindowEngine {
  readonly partition: number;
  readonly allowedLatenessMs: number;
  readonly maxFutureSkewMs: number;
  readonly levels: readonly KpiLevel[];
  readonly stats: EngineStats = {
    events: 0,
    folded: 0,
    beyondLateness: 0,
    clockAhead: 0,
    duplicates: 0,
    replayed: 0,
  };

  /** Open windows by window start, then by level + entity. */
  private readonly windows = new Map<number, Map<string, OpenWindow>>();
  private maxEventTime: number | null = null;
  /** Offsets below this were processed (or are before the restart point): skipped. */
  private nextOffset: number | null = null;
  /** Offsets below this are being replayed from a checkpoint: folded without outputs. */
  private replayUntil: number | null = null;
  /** The checkpoint being rebuilt from: still the one to give out until the replay is done. */
  private readonly from: WindowCheckpoint | undefined;

  /**
   * A fresh engine, or, given the checkpoint of an earlier engine of the same partition, one that
   * rebuilds that engine's open windows: feed it the partition from `from.restartOffset`.
   */
  constructor(config: WindowEngineConfig, from?: WindowCheckpoint) {
    this.partition = nonNegativeInteger('partition', config.partition);
    this.allowedLatenessMs = nonNegativeInteger(
      'allowedLatenessMs',
      config.allowedLatenessMs ?? DEFAULT_ALLOWED_LATENESS_MS,
    );
    this.maxFutureSkewMs = nonNegativeInteger(
      'maxFutureSkewMs',
      config.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS,
    );
    this.levels = [...new Set(config.levels ?? KPI_LEVELS)];
    if (from !== undefined) {
      if (from.partition !== this.partition) {
        throw new RangeError(
          `checkpoint of partition ${from.partition} given to the engine of ${this.partition}`,
        );
      }
      nonNegativeInteger('restartOffset', from.restartOffset);
      nonNegativeInteger('nextOffset', from.nextOffset);
      if (from.restartOffset > from.nextOffset) {
        throw new RangeError(`restartOffset ${from.restartOffset} is after nextOffset ${from.nextOffset}`);
      }
      this.nextOffset = from.restartOffset;
      this.replayUntil = from.nextOffset;
      this.maxEventTime = from.maxEventTime;
      this.from = { ...from };
    }
  }

  /** Current watermark; null before the first folded event. */
  get watermark(): number | null {
    return this.maxEventTime === null ? null : this.maxEventTime - this.allowedLatenessMs;
  }

  /** Number of (level, entity, window) accumulators in memory. */
  get openWindows(): number {
    let n = 0;
    for (const byKey of this.windows.values()) n += byKey.size;
    return n;
  }

  /**
   * Offsets below this were processed already, by this engine or by the one whose checkpoint it was
   * built from: work done once per record elsewhere (raw rows, status) skips them.
   */
  get processedUntil(): number {
    return Math.max(this.nextOffset ?? 0, this.replayUntil ?? 0);
  }

  /** True while offsets before the checkpoint's nextOffset are still expected. */
  get rebuilding(): boolean {
    return this.replayUntil !== null && (this.nextOffset ?? 0) < this.replayUntil;
  }

  /** Folds a batch (offset order; offsets already processed are skipped) and returns what changed. */
  process(batch: readonly OffsetEvent[]): ProcessResult {
    const late: LateEvent[] = [];
    for (const { offset, event } of batch) {
      nonNegativeInteger('offset', offset);
      if (this.nextOffset !== null && offset < this.nextOffset) {
        this.stats.duplicates += 1;
        continue;
      }
      this.nextOffset = offset + 1;
      const replay = this.replayUntil !== null && offset < this.replayUntil;
      if (replay) this.stats.replayed += 1;
      else this.stats.events += 1;
      const outcome = this.fold(offset, event, !replay);
      if (outcome !== 'folded' && !replay) {
        late.push({
          partition: this.partition,
          offset,
          event,
          reason: outcome,
          watermark: this.watermark,
          windowStart: windowStartOf(event.request_time),
        });
      }
    }
    return { updates: this.flush(), late };
  }

  /**
   * Raises the watermark's driver to `eventTimeMs` without an event, closing the windows it passes:
   * for a partition that has gone quiet (e.g. at night), so its last windows become final. The value
   * comes from outside the partition (a clock), so a later replay of the events alone may classify
   * a straggler differently; the checkpoint records the raised value, so a restart stays consistent.
   */
  advanceWatermark(eventTimeMs: number): ProcessResult {
    if (!Number.isFinite(eventTimeMs)) throw new RangeError(`event time must be finite, got ${eventTimeMs}`);
    if (this.maxEventTime === null || eventTimeMs > this.maxEventTime) this.maxEventTime = eventTimeMs;
    return { updates: this.flush(), late: [] };
  }

  /**
   * Counts offsets below `offset` as processed although no event came for them (records the
   * consumer parked in the dead-letter topic), so a restart does not read them again.
   */
  skipTo(offset: number): void {
    nonNegativeInteger('offset', offset);
    if (this.nextOffset === null || offset > this.nextOffset) this.nextOffset = offset;
  }

  /**
   * Where a restart must resume; take it between batches, once their outputs are durable. While
   * rebuilding, that is still the checkpoint rebuilt from: a partial replay proves nothing new, and
   * its watermark belongs to the checkpoint's processed end.
   */
  checkpoint(): WindowCheckpoint {
    if (this.from !== undefined && this.rebuilding) return { ...this.from };
    const next = this.nextOffset ?? 0;
    let restart = next;
    for (const byKey of this.windows.values()) {
      for (const w of byKey.values()) restart = Math.min(restart, w.firstOffset);
    }
    return {
      partition: this.partition,
      restartOffset: restart,
      nextOffset: next,
      maxEventTime: this.maxEventTime,
    };
  }

  private fold(offset: number, ev: TransactionEvent, live: boolean): 'folded' | LateReason {
    if (ev.request_time > ev.gateway_received_time + this.maxFutureSkewMs) {
      if (live) this.stats.clockAhead += 1;
      return 'clock_ahead';
    }
    const start = windowStartOf(ev.request_time);
    const watermark = this.watermark;
    if (watermark !== null && start + WINDOW_MS <= watermark) {
      if (live) this.stats.beyondLateness += 1;
      return 'beyond_allowed_lateness';
    }
    let byKey = this.windows.get(start);
    if (byKey === undefined) {
      byKey = new Map();
      this.windows.set(start, byKey);
    }
    for (const level of this.levels) {
      const entityId = entityIdOf(level, ev);
      const key = `${level}\u0000${entityId}`;
      let w = byKey.get(key);
      if (w === undefined) {
        w = {
          level,
          entityId,
          windowStart: start,
          state: WindowState.empty(),
          firstOffset: offset,
          dirty: false,
        };
        byKey.set(key, w);
      }
      w.state.add(ev);
      // Replayed changes were emitted by the run that wrote the checkpoint.
      if (live) w.dirty = true;
    }
    if (live) this.stats.folded += 1;
    const driver = Math.min(ev.request_time, ev.gateway_received_time);
    if (this.maxEventTime === null || driver > this.maxEventTime) this.maxEventTime = driver;
    return 'folded';
  }

  /** Emits final windows (and evicts them), then the other changed ones. */
  private flush(): WindowEmission[] {
    const out: WindowEmission[] = [];
    const watermark = this.watermark;
    for (const [start, byKey] of this.windows) {
      const isFinal = watermark !== null && start + WINDOW_MS <= watermark;
      for (const w of byKey.values()) {
        if (!isFinal && !w.dirty) continue;
        w.dirty = false;
        out.push({
          partition: this.partition,
          level: w.level,
          entityId: w.entityId,
          windowStart: start,
          windowEnd: start + WINDOW_MS,
          version: windowVersion(w.state.txCount, isFinal),
          isFinal,
          state: w.state.snapshot(),
        });
      }
      if (isFinal) this.windows.delete(start);
    }
    const levelRank = (l: KpiLevel): number => KPI_LEVELS.indexOf(l);
    return out.sort(
      (a, b) =>
        a.windowStart - b.windowStart ||
        levelRank(a.level) - levelRank(b.level) ||
        (a.entityId < b.entityId ? -1 : a.entityId > b.entityId ? 1 : 0),
    );
  }
}
