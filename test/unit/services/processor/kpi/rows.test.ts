import { describe, expect, it } from 'vitest';
import { LatencySketch } from '../../../../../services/shared/kpi/latency-sketch.ts';
import { eventJsonWithoutCard, kpiRow, lateEventRow } from '../../../../../services/processor/kpi/rows.ts';
import { KpiWindowEngine, kpiUpdateOf } from '../../../../../services/processor/kpi/windows.ts';
import { MINUTE, T0, tx } from './events.ts';

describe('KPI rows', () => {
  it('builds the kpi_1m row of an emission: KpiUpdate fields, partition, exact sums, base64 sketch', () => {
    const engine = new KpiWindowEngine({ partition: 7, allowedLatenessMs: 0 });
    const { updates } = engine.process([
      { offset: 0, event: tx({ request_time: T0 + 1, response_time: T0 + 101, amount_minor: 500 }) },
      {
        offset: 1,
        event: tx({
          request_time: T0 + 2,
          response_time: T0 + 302,
          currency: 'USD',
          amount_minor: 700,
          basket: {
            item_count: 2,
            items: [{ sku: 's', quantity: 2, unit_price_minor: 400 }],
            discount_minor: 80,
            coupon_codes: [],
          },
        }),
      },
      { offset: 2, event: tx({ request_time: T0 + 3, status: 'DECLINED', response_code: '51' }) },
    ]);
    const e = updates.find((u) => u.level === 'MERCHANT')!;
    const row = kpiRow(e, T0 + 90_000);
    const u = kpiUpdateOf(e, T0 + 90_000);
    expect(row).toMatchObject({
      entity_level: 'MERCHANT',
      entity_id: 'M1',
      window_start: '2026-11-01 09:00:00.000',
      window_end: '2026-11-01 09:01:00.000',
      window_size_ms: MINUTE,
      source_partition: 7,
      version: u.version,
      is_final: false,
      tx_count: 3,
      approved_count: 2,
      declined_count: 1,
      approval_rate: u.approval_rate,
      declines_by_code: { '51': 1 },
      amount_sum_minor: { EUR: 500, USD: 700 },
      amount_count: { EUR: 1, USD: 1 },
      tps: 3 / 60,
      unique_cards: 1,
      latency_count: 3,
      latency_sum_ms: 100 + 300 + 100,
      latency_max_ms: 300,
      latency_p50_ms: u.latency_p50_ms,
      basket_count: 1,
      basket_gross_minor: 800,
      basket_discount_minor: 80,
      avg_basket_minor: 800,
      discount_share: 0.1,
      emitted_time: '2026-11-01 09:01:30.000',
    });
    expect(Buffer.from(row.latency_sketch_base64!, 'base64').equals(u.latency_sketch!)).toBe(true);
    expect(LatencySketch.fromBytes(Buffer.from(row.latency_sketch_base64!, 'base64')).count).toBe(3);
  });

  it('builds the late_events row with the classification and no card data', () => {
    const engine = new KpiWindowEngine({ partition: 2, allowedLatenessMs: 0 });
    engine.process([{ offset: 0, event: tx({ request_time: T0 + 2 * MINUTE }) }]);
    const stale = tx({
      request_time: T0,
      card_token: 'secret-token',
      card_bin: '411111',
      card_last4: '4242',
    });
    const [late] = engine.process([{ offset: 1, event: stale }]).late;
    const row = lateEventRow(late!);
    expect(row).toMatchObject({
      event_id: stale.event_id,
      terminal_serial: 'T1',
      merchant_id: 'M1',
      reason: 'beyond_allowed_lateness',
      request_time: '2026-11-01 09:00:00.000',
      window_start: '2026-11-01 09:00:00.000',
      watermark: '2026-11-01 09:02:00.000',
      source_partition: 2,
      source_offset: 1,
    });
    for (const secret of ['secret-token', '411111', '4242'])
      expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.parse(row.event_json)).toMatchObject({
      event_id: stale.event_id,
      amount_minor: stale.amount_minor,
    });
    expect(eventJsonWithoutCard(stale)).not.toContain('card_');
  });

  it('clamps a late event from a clock centuries off instead of failing its row', () => {
    const engine = new KpiWindowEngine({ partition: 0 });
    const wild = tx({ request_time: Date.UTC(2400, 0, 1), gateway_received_time: T0 });
    const [late] = engine.process([{ offset: 0, event: wild }]).late;
    expect(late!.reason).toBe('clock_ahead');
    const row = lateEventRow(late!);
    expect(row.request_time).toBe('2299-12-31 23:59:59.999');
    expect(JSON.parse(row.event_json)).toMatchObject({ request_time: Date.UTC(2400, 0, 1) });
  });
});
