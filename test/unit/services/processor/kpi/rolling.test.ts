import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../../services/shared/avro/types.generated.ts';
import { loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';
import { SKETCH_RELATIVE_ACCURACY } from '../../../../../services/shared/kpi/latency-sketch.ts';
import {
  ROLLING_SPANS_MS,
  RollingKpis,
  latestClosedMinuteEnd,
  rollingKpiUpdate,
  type RollingSpan,
} from '../../../../../services/processor/kpi/rolling.ts';
import { KpiWindowEngine, type WindowEmission } from '../../../../../services/processor/kpi/windows.ts';
import { MINUTE, T0, eventArb, naiveKpis, tx } from './events.ts';

/** All emissions of the events, split over two partitions by terminal, every window final at the end. */
function emissions(events: readonly TransactionEvent[]): WindowEmission[] {
  const out: WindowEmission[] = [];
  for (const partition of [0, 1]) {
    const engine = new KpiWindowEngine({ partition, allowedLatenessMs: 2 * 3_600_000 });
    const mine = events.filter((e) => Number(e.terminal_serial.slice(1)) % 2 === partition);
    // Two batches, so earlier versions are applied before later ones.
    const half = Math.floor(mine.length / 2);
    out.push(...engine.process(mine.slice(0, half).map((event, i) => ({ offset: i, event }))).updates);
    out.push(...engine.process(mine.slice(half).map((event, i) => ({ offset: half + i, event }))).updates);
    out.push(...engine.advanceWatermark(T0 + 5 * 3_600_000).updates);
  }
  return out;
}

describe('RollingKpis', () => {
  it('merges the minutes of a span into exact counts, sums and mixes, and quantiles within the sketch bound', () => {
    const span = fc.constantFrom<RollingSpan>('5m', '15m', '1h');
    fc.assert(
      fc.property(
        fc.array(eventArb({ spanMs: 70 * MINUTE }), { maxLength: 200 }),
        span,
        fc.integer({ min: 1, max: 70 }),
        (events, s, endMinute) => {
          const rolling = new RollingKpis();
          for (const e of emissions(events)) rolling.apply(e);
          const end = T0 + endMinute * MINUTE;
          const start = end - ROLLING_SPANS_MS[s];
          const inSpan = events.filter((e) => e.request_time >= start && e.request_time < end);
          const n = naiveKpis(inSpan);
          const view = rolling.view('FLEET', '*', s, end);
          const u = rollingKpiUpdate(view, end);
          expect(u).toMatchObject({
            window_start: start,
            window_end: end,
            window_size_ms: ROLLING_SPANS_MS[s],
            tx_count: n.tx_count,
            approved_count: n.approved_count,
            declined_count: n.declined_count,
            timeout_count: n.timeout_count,
            reversal_count: n.reversal_count,
            refund_count: n.refund_count,
            approval_rate: n.approval_rate,
            declines_by_code: n.declines_by_code,
            amounts: n.amounts,
            payment_method_mix: n.payment_method_mix,
            entry_mode_mix: n.entry_mode_mix,
            avg_basket_minor: n.avg_basket_minor,
            discount_share: n.discount_share,
            is_final: true,
          });
          expect(u.tps).toBeCloseTo(n.tx_count / (ROLLING_SPANS_MS[s] / 1000), 12);
          expect(view.minutesWithData).toBe(
            new Set(inSpan.map((e) => Math.floor(e.request_time / MINUTE))).size,
          );
          // A lower bound: never more than the true distinct count, at least any one minute's.
          expect(u.unique_cards).toBeLessThanOrEqual(n.unique_cards);
          if (n.latencies.length > 0) {
            const exact = n.latencies[Math.floor(0.95 * (n.latencies.length - 1))]!;
            expect(Math.abs(u.latency_p95_ms! - exact)).toBeLessThanOrEqual(
              SKETCH_RELATIVE_ACCURACY * exact * (1 + 1e-9),
            );
          } else {
            expect(u.latency_p95_ms).toBeNull();
          }
          expect(loadSchemaCatalog().getSchema('KpiUpdate').type.isValid(u)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps the highest version of a partition’s minute and ignores an older one arriving later', () => {
    const engine = new KpiWindowEngine({ partition: 0, allowedLatenessMs: MINUTE });
    const v1 = engine.process([{ offset: 0, event: tx({ request_time: T0 }) }]).updates;
    const v2 = engine.process([{ offset: 1, event: tx({ request_time: T0 + 1 }) }]).updates;
    const rolling = new RollingKpis();
    for (const e of [...v2, ...v1]) rolling.apply(e);
    expect(rolling.view('TERMINAL', 'T1', '5m', T0 + 5 * MINUTE).state.txCount).toBe(2);
    expect(rolling.view('TERMINAL', 'T1', '5m', T0 + 5 * MINUTE).allFinal).toBe(false);
    expect(rolling.entities('TERMINAL')).toEqual(['T1']);
  });

  it('forgets minutes no view can reach any more', () => {
    const rolling = new RollingKpis();
    for (const e of emissions([tx({ request_time: T0 }), tx({ request_time: T0 + 61 * MINUTE })]))
      rolling.apply(e);
    rolling.evictBefore(T0 + 61 * MINUTE);
    expect(rolling.view('FLEET', '*', '1h', T0 + 60 * MINUTE).state.txCount).toBe(0);
    expect(rolling.view('FLEET', '*', '5m', T0 + 62 * MINUTE).state.txCount).toBe(1);
    rolling.evictBefore(T0 + 3 * 3_600_000);
    expect(rolling.entities('FLEET')).toEqual([]);
  });

  it('ends views on the newest minute that the watermark has closed', () => {
    expect(latestClosedMinuteEnd(null)).toBeNull();
    expect(latestClosedMinuteEnd(T0 + 59_999)).toBe(T0);
    expect(latestClosedMinuteEnd(T0 + MINUTE)).toBe(T0 + MINUTE);
    expect(() => new RollingKpis().view('FLEET', '*', '5m', T0 + 1)).toThrow(RangeError);
  });
});
