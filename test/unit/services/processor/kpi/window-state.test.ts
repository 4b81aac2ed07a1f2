import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../../services/shared/avro/types.generated.ts';
import { loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';
import { SKETCH_RELATIVE_ACCURACY } from '../../../../../services/shared/kpi/latency-sketch.ts';
import {
  FLEET_ID,
  KPI_LEVELS,
  WindowState,
  entityIdOf,
  windowStartOf,
  type KpiMeta,
} from '../../../../../services/processor/kpi/window-state.ts';
import { MINUTE, T0, eventArb, naiveKpis, tx } from './events.ts';

const kpiUpdateType = loadSchemaCatalog().getSchema('KpiUpdate').type;

const META: KpiMeta = {
  entityLevel: 'MERCHANT',
  entityId: 'M1',
  windowStart: T0,
  windowSizeMs: MINUTE,
  version: 7,
  isFinal: false,
  emittedTime: T0 + 2 * MINUTE,
};

function stateOf(events: readonly TransactionEvent[]): WindowState {
  const s = WindowState.empty();
  for (const e of events) s.add(e);
  return s;
}

function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

describe('WindowState', () => {
  it('computes every KPI exactly as a naive recomputation over the raw events', () => {
    fc.assert(
      fc.property(fc.array(eventArb(), { maxLength: 120 }), (events) => {
        const u = stateOf(events).toKpiUpdate(META);
        const n = naiveKpis(events);
        expect(u).toMatchObject({
          tx_count: n.tx_count,
          approved_count: n.approved_count,
          declined_count: n.declined_count,
          timeout_count: n.timeout_count,
          reversal_count: n.reversal_count,
          refund_count: n.refund_count,
          approval_rate: n.approval_rate,
          declines_by_code: n.declines_by_code,
          amounts: n.amounts,
          unique_cards: n.unique_cards,
          payment_method_mix: n.payment_method_mix,
          entry_mode_mix: n.entry_mode_mix,
          avg_basket_minor: n.avg_basket_minor,
          discount_share: n.discount_share,
        });
        expect(u.tps).toBe(n.tx_count / 60);
        if (n.latencies.length === 0) {
          expect([u.latency_p50_ms, u.latency_p95_ms, u.latency_p99_ms, u.latency_sketch]).toEqual([
            null,
            null,
            null,
            null,
          ]);
        } else {
          for (const [q, got] of [
            [0.5, u.latency_p50_ms],
            [0.95, u.latency_p95_ms],
            [0.99, u.latency_p99_ms],
          ] as const) {
            const exact = exactQuantile(n.latencies, q);
            expect(Math.abs(got! - exact)).toBeLessThanOrEqual(SKETCH_RELATIVE_ACCURACY * exact * (1 + 1e-9));
          }
        }
        expect(kpiUpdateType.isValid(u)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('merges associatively and commutatively, with the empty state as identity', () => {
    const part = fc.array(eventArb(), { maxLength: 40 });
    const snapshotOrNot = fc.boolean();
    fc.assert(
      fc.property(part, part, part, snapshotOrNot, (a, b, c, snap) => {
        // Parts may be snapshots (card set replaced by its size), as rolling views merge them.
        const s = (evs: TransactionEvent[]) => (snap ? stateOf(evs).snapshot() : stateOf(evs));
        const left = s(a).merge(s(b)).merge(s(c)).toPlain();
        const right = s(a)
          .merge(s(b).merge(s(c)))
          .toPlain();
        const swapped = s(c).merge(s(a)).merge(s(b)).toPlain();
        expect(right).toEqual(left);
        expect(swapped).toEqual(left);
        expect(WindowState.empty().merge(s(a)).toPlain()).toEqual(s(a).toPlain());
        expect(s(a).merge(WindowState.empty()).toPlain()).toEqual(s(a).toPlain());
      }),
    );
  });

  it('gives the state of the concatenated events when merging states with their card sets', () => {
    fc.assert(
      fc.property(fc.array(eventArb(), { maxLength: 80 }), fc.nat(80), (events, cut) => {
        const merged = stateOf(events.slice(0, cut)).merge(stateOf(events.slice(cut)));
        expect(merged.toPlain()).toEqual(stateOf(events).toPlain());
      }),
    );
  });

  it('keeps unique_cards exact in a snapshot and a lower bound when snapshots are merged', () => {
    const a = stateOf([tx({ request_time: T0, card_token: 'x' }), tx({ request_time: T0, card_token: 'y' })]);
    const b = stateOf([tx({ request_time: T0, card_token: 'y' }), tx({ request_time: T0, card_token: 'z' })]);
    expect(a.snapshot().uniqueCards).toBe(2);
    expect(a.snapshot().cards.size).toBe(0);
    expect(a.clone().merge(b).uniqueCards).toBe(3);
    expect(a.snapshot().merge(b.snapshot()).uniqueCards).toBe(2);
  });

  it('leaves the merged-in state unchanged', () => {
    const a = stateOf([tx({ request_time: T0, response_time: T0 + 90 })]);
    const b = stateOf([tx({ request_time: T0, response_time: T0 + 400, currency: 'USD' })]);
    const before = b.toPlain();
    a.merge(b);
    a.add(tx({ request_time: T0, response_time: T0 + 1000 }));
    expect(b.toPlain()).toEqual(before);
  });

  it('defines latency as response_time − request_time, floored at 0, over events with a response', () => {
    const s = stateOf([
      tx({ request_time: T0, response_time: T0 + 120 }),
      tx({ request_time: T0, response_time: T0 - 30 }), // host clock behind the terminal's
      tx({ request_time: T0, response_time: null, status: 'TIMEOUT', response_code: null }),
    ]);
    expect(s.latencyCount).toBe(2);
    expect(s.latencySumMs).toBe(120);
    expect(s.latencyMaxMs).toBe(120);
    expect(s.latencyQuantile(0)).toBe(0);
  });

  it('counts a decline without a response code under "none" and approved amounts per currency', () => {
    const u = stateOf([
      tx({ request_time: T0, status: 'DECLINED', response_code: null }),
      tx({ request_time: T0, status: 'DECLINED', response_code: '51' }),
      tx({ request_time: T0, amount_minor: 250, currency: 'EUR' }),
      tx({ request_time: T0, amount_minor: 100, currency: 'EUR', transaction_type: 'REFUND' }),
      tx({ request_time: T0, amount_minor: 999, currency: 'USD', status: 'DECLINED', response_code: '05' }),
    ]).toKpiUpdate(META);
    expect(u.declines_by_code).toEqual({ '05': 1, '51': 1, none: 1 });
    expect(u.amounts).toEqual([{ currency: 'EUR', sum_minor: 350, count: 2 }]);
    expect(u.approval_rate).toBe(2 / 5);
    expect(u.refund_count).toBe(1);
  });

  it('renders a KpiUpdate that carries the meta and is valid for the Avro schema', () => {
    const u = stateOf([
      tx({
        request_time: T0,
        basket: {
          item_count: 3,
          items: [
            { sku: 'a', quantity: 1, unit_price_minor: 250 },
            { sku: 'b', quantity: 2, unit_price_minor: 100 },
          ],
          discount_minor: 45,
          coupon_codes: [],
        },
      }),
      tx({ request_time: T0 + 1 }),
    ]).toKpiUpdate({ ...META, isFinal: true, version: 5 });
    expect(u).toMatchObject({
      entity_level: 'MERCHANT',
      entity_id: 'M1',
      window_start: T0,
      window_end: T0 + MINUTE,
      window_size_ms: MINUTE,
      version: 5,
      is_final: true,
      avg_basket_minor: 450,
      discount_share: 0.1,
      emitted_time: META.emittedTime,
    });
    expect(Buffer.isBuffer(u.latency_sketch)).toBe(true);
    expect(kpiUpdateType.isValid(u)).toBe(true);
    expect(kpiUpdateType.isValid(WindowState.empty().toKpiUpdate(META))).toBe(true);
  });

  it('maps an event to its entity at every level and to the minute of its request_time', () => {
    const ev = tx({
      request_time: T0 + 59_999,
      terminal_serial: 'T9',
      merchant_id: 'M9',
      region: 'r',
      acquirer_id: 'a',
    });
    expect(KPI_LEVELS.map((l) => entityIdOf(l, ev))).toEqual(['T9', 'M9', 'r', 'a', FLEET_ID]);
    expect(windowStartOf(ev.request_time)).toBe(T0);
    expect(windowStartOf(T0 + MINUTE)).toBe(T0 + MINUTE);
    expect(windowStartOf(-1)).toBe(-MINUTE);
  });
});
