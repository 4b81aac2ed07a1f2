import type { KpiUpdate } from '../shared/avro/types.generated.ts';
import { LatencySketch } from '../shared/kpi/latency-sketch.ts';
import type { FleetKpis } from './hub.ts';

const MINUTE = 60_000;

/** One minute of the fleet, per `transactions` partition that computed a part of it. */
interface Partial {
  version: number;
  tx: number;
  approved: number;
  sketch: Uint8Array | null;
}

/** A minute of the fleet, all partitions added up (for the wall's sparklines). */
export interface FleetMinute {
  minute: number;
  tps: number;
  approval_rate: number | null;
  latency_p95_ms: number | null;
}

/**
 * The fleet's KPIs from the FLEET-level 1-minute KpiUpdates. Each processor partition emits its own
 * partial of the fleet's minute (the `pospulse-source-partition` header says which), re-emitted
 * with a higher version as it grows; the fleet's minute is the sum of every partition's newest.
 * Keeps the last `keepMinutes` minutes.
 */
export class FleetKpiTracker {
  private readonly minutes = new Map<number, Map<number, Partial>>();
  private newest = -Infinity;

  constructor(private readonly keepMinutes = 60) {}

  /** Folds one update (`source`: the partition that computed it); other levels and sizes are ignored. */
  apply(u: KpiUpdate, source: number): void {
    if (u.entity_level !== 'FLEET' || u.window_size_ms !== MINUTE) return;
    if (u.window_start > this.newest) {
      this.newest = u.window_start;
      // Minutes older than the kept span go as the newest moves on.
      for (const m of this.minutes.keys())
        if (m <= this.newest - this.keepMinutes * MINUTE) this.minutes.delete(m);
    }
    if (u.window_start <= this.newest - this.keepMinutes * MINUTE) return;
    let partials = this.minutes.get(u.window_start);
    if (partials === undefined) this.minutes.set(u.window_start, (partials = new Map()));
    const known = partials.get(source);
    if (known !== undefined && known.version >= u.version) return;
    partials.set(source, {
      version: u.version,
      tx: u.tx_count,
      approved: u.approved_count,
      sketch: u.latency_sketch !== null && u.latency_sketch.length > 0 ? u.latency_sketch : null,
    });
  }

  /** Every minute held, oldest first. */
  series(): FleetMinute[] {
    return [...this.minutes.keys()].sort((a, b) => a - b).map((m) => this.minute(m));
  }

  /**
   * The last complete minute (the one before the newest, which is still filling), or the newest
   * when it is the only one; null before any.
   */
  current(): FleetKpis | null {
    const keys = [...this.minutes.keys()].sort((a, b) => b - a);
    const m = keys[1] ?? keys[0];
    if (m === undefined) return null;
    const { tps, approval_rate, latency_p95_ms } = this.minute(m);
    return { tps, approval_rate, latency_p95_ms, as_of: m };
  }

  private minute(m: number): FleetMinute {
    let tx = 0;
    let approved = 0;
    let sketch: LatencySketch | null = null;
    for (const p of this.minutes.get(m)?.values() ?? []) {
      tx += p.tx;
      approved += p.approved;
      if (p.sketch === null) continue;
      const s = LatencySketch.fromBytes(p.sketch);
      sketch = sketch === null ? s : sketch.merge(s);
    }
    return {
      minute: m,
      tps: tx / 60,
      approval_rate: tx === 0 ? null : approved / tx,
      latency_p95_ms: sketch?.quantile(0.95) ?? null,
    };
  }
}
