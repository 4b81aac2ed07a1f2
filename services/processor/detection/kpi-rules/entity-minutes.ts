import type { KpiUpdate } from '../../../shared/avro/types.generated.ts';
import { LatencySketch } from '../../../shared/kpi/latency-sketch.ts';
import { WINDOW_MS } from '../../kpi/window-state.ts';

/** The fields of a 1-minute KpiUpdate the KPI rules read (also rebuilt from `kpi_1m` rows). */
export type MinuteUpdate = Pick<
  KpiUpdate,
  | 'entity_level'
  | 'entity_id'
  | 'window_start'
  | 'window_size_ms'
  | 'version'
  | 'tx_count'
  | 'approved_count'
  | 'declined_count'
  | 'timeout_count'
  | 'refund_count'
  | 'reversal_count'
  | 'latency_sketch'
  | 'emitted_time'
>;

/** What the KPI rules need of one (entity, minute): the partitions' partials added up. */
export interface MinuteTotals {
  readonly minute: number;
  tx: number;
  approved: number;
  declined: number;
  timeouts: number;
  refunds: number;
  reversals: number;
  /** Merged latency sketch of the minute; null without responses. */
  latency: LatencySketch | null;
}

/** The fields of one partition's update the rules use (~100 bytes plus the sketch's ~200). */
interface Partial {
  version: number;
  tx: number;
  approved: number;
  declined: number;
  timeouts: number;
  refunds: number;
  reversals: number;
  sketch: Uint8Array | null;
}

/**
 * The 1-minute KpiUpdates of one entity, per minute and source partition (the latest version of
 * each), as the kpi-updates topic delivers them: every partial of an entity arrives on one
 * partition of that topic (its key is LEVEL:entity), so one reader sees the whole entity.
 *
 * Holds the minutes of the last `keepMs` behind the newest minute seen; older ones are handed to
 * `onSettled` once (for baselines) and dropped.
 */
export class EntityMinutes {
  private readonly minutes = new Map<number, Map<number, Partial>>();
  private newest = -Infinity;

  constructor(private readonly keepMs: number) {}

  get size(): number {
    let n = 0;
    for (const m of this.minutes.values()) n += m.size;
    return n;
  }

  get newestMinute(): number {
    return this.newest;
  }

  /**
   * Records one partition's update of a minute (an older version than held is ignored) and returns
   * the minutes that just left the kept span, merged, oldest first.
   */
  apply(u: MinuteUpdate, sourcePartition: number): MinuteTotals[] {
    if (u.window_size_ms !== WINDOW_MS) return [];
    let partials = this.minutes.get(u.window_start);
    if (partials === undefined) {
      if (u.window_start < this.newest - this.keepMs) return [];
      this.minutes.set(u.window_start, (partials = new Map()));
    }
    const held = partials.get(sourcePartition);
    if (held === undefined || held.version < u.version) {
      partials.set(sourcePartition, {
        version: u.version,
        tx: u.tx_count,
        approved: u.approved_count,
        declined: u.declined_count,
        timeouts: u.timeout_count,
        refunds: u.refund_count,
        reversals: u.reversal_count,
        sketch: u.latency_sketch !== null && u.latency_sketch.length > 0 ? u.latency_sketch : null,
      });
    }
    if (u.window_start > this.newest) this.newest = u.window_start;
    return this.settle();
  }

  /** Totals of the minutes in [from, to), merged across partitions. */
  totals(from: number, to: number): MinuteTotals {
    const out: MinuteTotals = {
      minute: from,
      tx: 0,
      approved: 0,
      declined: 0,
      timeouts: 0,
      refunds: 0,
      reversals: 0,
      latency: null,
    };
    for (const [minute, partials] of this.minutes) {
      if (minute < from || minute >= to) continue;
      for (const p of partials.values()) addInto(out, p);
    }
    return out;
  }

  /** Every minute held, merged, oldest first; the entity is then empty. */
  drain(): MinuteTotals[] {
    return this.settle(Infinity);
  }

  private settle(keepFrom = this.newest - this.keepMs): MinuteTotals[] {
    const out: MinuteTotals[] = [];
    for (const minute of [...this.minutes.keys()].sort((a, b) => a - b)) {
      if (minute >= keepFrom) break;
      out.push(this.totals(minute, minute + WINDOW_MS));
      this.minutes.delete(minute);
    }
    return out;
  }
}

function addInto(t: MinuteTotals, p: Partial): void {
  t.tx += p.tx;
  t.approved += p.approved;
  t.declined += p.declined;
  t.timeouts += p.timeouts;
  t.refunds += p.refunds;
  t.reversals += p.reversals;
  if (p.sketch !== null) {
    const s = LatencySketch.fromBytes(p.sketch);
    if (t.latency === null) t.latency = s;
    else t.latency.merge(s);
  }
}
