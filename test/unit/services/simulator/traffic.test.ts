import { describe, expect, it } from 'vitest';
import { parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { validateHeartbeat, validateTransaction } from '../../../../services/gateway/http/validate.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { DECLINES } from '../../../../services/simulator/catalog.ts';
import {
  heartbeatInput,
  heartbeatRecord,
  transactionInput,
  transactionRecord,
  type SimEvent,
  type SimHeartbeat,
  type SimTransaction,
} from '../../../../services/simulator/events.ts';
import { terminalOpenAt } from '../../../../services/simulator/fleet.ts';
import { DEFAULT_MIX, parseMix } from '../../../../services/simulator/mix.ts';
import { Rng } from '../../../../services/simulator/rng.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';
import { CATEGORIES } from '../../../../services/simulator/catalog.ts';
import { makeBasket } from '../../../../services/simulator/traffic.ts';

const KEYS = parseTokenKeys(`k1:${Buffer.alloc(32, 9).toString('base64')}`);
const TUESDAY_0800 = Date.UTC(2026, 2, 3, 8);

function run(options: Partial<ConstructorParameters<typeof Simulator>[0]> = {}): SimEvent[] {
  const sim = new Simulator({
    seed: 'traffic',
    fleet: { terminals: 80 },
    rate: 10,
    start: TUESDAY_0800,
    end: TUESDAY_0800 + 20 * 60_000,
    tokenKeys: KEYS,
    ...options,
  });
  return [...sim.events()];
}

const txs = (events: SimEvent[]) => events.filter((e): e is SimTransaction => e.kind === 'transaction');
const hbs = (events: SimEvent[]) => events.filter((e): e is SimHeartbeat => e.kind === 'heartbeat');

function shares<T extends string>(values: T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1 / values.length;
  return out;
}

function normalised(weights: Record<string, number>): Record<string, number> {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(weights).map(([k, w]) => [k, w / total]));
}

describe('normal traffic', { timeout: 30_000 }, () => {
  const events = run();
  const transactions = txs(events);

  it('is ordered by report time and identical for the same seed and options', () => {
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.time).toBeGreaterThanOrEqual(events[i - 1]!.time);
    expect(run()).toEqual(events);
    expect(txs(run({ seed: 'another' })).map((e) => e.fields.event_id)).not.toEqual(
      transactions.map((e) => e.fields.event_id),
    );
  });

  it('is the same sequence, shifted, when the start moves by whole weeks (ids salted alike)', () => {
    const week = 7 * 86_400_000;
    const shifted = run({
      start: TUESDAY_0800 + week,
      end: TUESDAY_0800 + week + 20 * 60_000,
      idSalt: String(TUESDAY_0800),
    });
    expect(shifted).toHaveLength(events.length);
    shifted.forEach((ev, i) => {
      const orig = events[i]!;
      expect(ev.time - orig.time).toBe(week);
      expect(ev.fields.event_id).toBe(orig.fields.event_id);
      if (ev.kind === 'transaction' && orig.kind === 'transaction') {
        expect({ ...ev.fields, request_time: 0, response_time: 0, rrn: null }).toEqual({
          ...orig.fields,
          request_time: 0,
          response_time: 0,
          rrn: null,
        });
      }
    });
    // Without the same salt, ids differ: two runs of one seed do not collide downstream.
    const unsalted = run({ start: TUESDAY_0800 + week, end: TUESDAY_0800 + week + 20 * 60_000 });
    expect(unsalted[0]!.fields.event_id).not.toBe(events[0]!.fields.event_id);
  });

  it('does not depend on how the run is stepped', () => {
    const sim = new Simulator({
      seed: 'traffic',
      fleet: { terminals: 80 },
      rate: 10,
      start: TUESDAY_0800,
      end: TUESDAY_0800 + 20 * 60_000,
      tokenKeys: KEYS,
    });
    const chunked: SimEvent[] = [];
    for (const until of [TUESDAY_0800 + 12_345, TUESDAY_0800 + 400_000, TUESDAY_0800 + 400_001, Infinity]) {
      chunked.push(...sim.advanceTo(until));
    }
    chunked.push(...sim.drain());
    expect(chunked).toEqual(events);
  });

  it('draws about the configured rate from the load curve', () => {
    const sim = new Simulator({
      seed: 'traffic',
      fleet: { terminals: 80 },
      rate: 10,
      start: TUESDAY_0800,
      end: TUESDAY_0800 + 1,
    });
    let expected = 0;
    for (let t = TUESDAY_0800; t < TUESDAY_0800 + 20 * 60_000; t += 1000)
      expected += sim.traffic.curve.rateAt(t + 500);
    expect(transactions.length).toBeGreaterThan(expected * 0.95);
    expect(transactions.length).toBeLessThan(expected * 1.05);
  });

  it('mixes payment methods, entry modes, declines and timeouts about as configured', () => {
    const sales = transactions.filter(
      (e) => e.fields.transaction_type === 'SALE' || e.fields.transaction_type === 'PRE_AUTH',
    );
    const methods = shares(sales.map((e) => e.fields.payment_method));
    for (const [k, v] of Object.entries(normalised(DEFAULT_MIX.payment_methods)))
      expect(methods[k] ?? 0).toBeCloseTo(v, 1);
    const cardEntries = shares(
      sales
        .filter((e) => ['CREDIT', 'DEBIT', 'PREPAID'].includes(e.fields.payment_method))
        .map((e) => e.fields.entry_mode),
    );
    for (const [k, v] of Object.entries(normalised(DEFAULT_MIX.entry_modes)))
      expect(cardEntries[k] ?? 0).toBeCloseTo(v, 1);
    const status = shares(sales.map((e) => e.fields.status));
    expect(status['DECLINED']).toBeGreaterThan(0.03);
    expect(status['DECLINED']).toBeLessThan(0.06);
    expect(status['TIMEOUT']).toBeLessThan(0.01);
    const codes = new Set(DECLINES.map((d) => d.code));
    for (const e of transactions.filter((t) => t.fields.status === 'DECLINED'))
      expect(codes.has(e.fields.response_code!)).toBe(true);
  });

  it('follows a mix override', () => {
    const mix = parseMix({
      entry_modes: { FALLBACK: 100 },
      decline_share: 0.3,
      payment_methods: { EWALLET_QR: 0 },
    });
    const t = txs(run({ mix, end: TUESDAY_0800 + 5 * 60_000 })).filter(
      (e) => e.fields.transaction_type === 'SALE',
    );
    const cards = t.filter((e) => ['CREDIT', 'DEBIT', 'PREPAID'].includes(e.fields.payment_method));
    // FALLBACK 100 against the other defaults, which add up to 100.
    expect(shares(cards.map((e) => e.fields.entry_mode))['FALLBACK']).toBeCloseTo(0.5, 1);
    expect(shares(t.map((e) => e.fields.status))['DECLINED']).toBeGreaterThan(0.25);
    expect(t.some((e) => e.fields.payment_method === 'EWALLET_QR')).toBe(false);
  });

  it('answers with latencies around each acquirer’s median and keeps amounts per category', () => {
    const byAcquirer = new Map<string, number[]>();
    for (const e of transactions) {
      if (e.fields.response_time === null) continue;
      const list = byAcquirer.get(e.fields.acquirer_id) ?? [];
      list.push(e.fields.response_time - e.fields.request_time);
      byAcquirer.set(e.fields.acquirer_id, list);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    expect(median(byAcquirer.get('ACQ-NORD')!)).toBeGreaterThan(140);
    expect(median(byAcquirer.get('ACQ-NORD')!)).toBeLessThan(230);
    expect(median(byAcquirer.get('ACQ-MERI')!)).toBeGreaterThan(median(byAcquirer.get('ACQ-NORD')!));
    // Tickets follow each category's median (in euro; other currencies are converted).
    const euro = transactions.filter(
      (e) => e.fields.currency === 'EUR' && e.fields.transaction_type === 'SALE',
    );
    let checked = 0;
    for (const c of CATEGORIES) {
      const amounts = euro.filter((e) => e.fields.mcc === c.mcc).map((e) => e.fields.amount_minor);
      if (amounts.length < 100) continue;
      checked++;
      expect(median(amounts), c.label).toBeGreaterThan(c.amountMedian * 0.8);
      expect(median(amounts), c.label).toBeLessThan(c.amountMedian * 1.25);
    }
    expect(checked).toBeGreaterThan(3);
  });

  it('refunds, voids and reversals repeat an earlier sale of the same card at the same merchant', () => {
    const followUps = transactions.filter((e) =>
      ['REFUND', 'VOID', 'REVERSAL'].includes(e.fields.transaction_type),
    );
    expect(followUps.length).toBeGreaterThan(10);
    for (const f of followUps) {
      const sale = transactions.find(
        (e) =>
          e.fields.pan === f.fields.pan &&
          e.fields.merchant_id === f.fields.merchant_id &&
          e.fields.request_time < f.fields.request_time &&
          e.fields.status === 'APPROVED' &&
          e.fields.amount_minor >= f.fields.amount_minor,
      );
      expect(sale, f.fields.transaction_type).toBeDefined();
    }
  });

  it('trades only while the merchant is open', () => {
    const fleet = new Simulator({
      seed: 'traffic',
      fleet: { terminals: 80 },
      rate: 10,
      start: TUESDAY_0800,
      end: TUESDAY_0800 + 1,
    }).fleet;
    for (const e of transactions) {
      expect(
        terminalOpenAt(fleet.terminalBySerial.get(e.fields.terminal_serial)!, e.fields.request_time),
      ).toBe(true);
    }
  });

  it('sends one heartbeat per terminal per interval, with battery, paper and signal', () => {
    const heartbeats = hbs(events);
    expect(heartbeats).toHaveLength(80 * 20);
    const perTerminal = new Map<string, number[]>();
    for (const h of heartbeats)
      perTerminal.set(h.fields.terminal_serial, [
        ...(perTerminal.get(h.fields.terminal_serial) ?? []),
        h.time,
      ]);
    for (const times of perTerminal.values())
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(60_000);
    expect(heartbeats.some((h) => h.fields.battery_pct !== null)).toBe(true);
    expect(heartbeats.some((h) => h.fields.signal_strength_dbm !== null)).toBe(true);
    expect(new Set(heartbeats.map((h) => h.fields.paper_state)).size).toBeGreaterThan(1);
  });

  it('is valid input for the gateway, which makes the same records the kafka sink publishes', () => {
    const now = TUESDAY_0800 + 21 * 60_000;
    const ctx = {
      now,
      maxClockSkewMs: 300_000,
      maxEventAgeMs: 7 * 86_400_000,
      gatewayId: 'gw',
      tokenKeys: KEYS,
    };
    for (const e of transactions) {
      const result = validateTransaction(JSON.parse(JSON.stringify(transactionInput(e.fields))), ctx);
      if (!result.ok) throw new Error(`${e.fields.event_id}: ${JSON.stringify(result.rejection)}`);
      expect(result.event).toEqual(
        transactionRecord(e.fields, { tokenKeys: KEYS, gatewayId: 'gw', channel: 'HTTP', receivedTime: now }),
      );
    }
    for (const e of hbs(events)) {
      const result = validateHeartbeat(JSON.parse(JSON.stringify(heartbeatInput(e.fields))), ctx);
      if (!result.ok) throw new Error(`${e.fields.event_id}: ${JSON.stringify(result.rejection)}`);
      expect(result.event).toEqual(
        heartbeatRecord(e.fields, { gatewayId: 'gw', channel: 'HTTP', receivedTime: now }),
      );
    }
  });

  it('makes records that fit the Avro schemas and carry no card number', async () => {
    const codec = createAvroCodec(parseAvroCodecConfig({}));
    for (const e of transactions.slice(0, 3_000)) {
      const record = transactionRecord(e.fields, {
        tokenKeys: KEYS,
        gatewayId: 'sim',
        channel: 'KAFKA',
        receivedTime: e.time,
      });
      const bytes = await codec.encode('TransactionEvent', record);
      if (e.fields.pan !== null) {
        expect(bytes.includes(Buffer.from(e.fields.pan))).toBe(false);
        expect(record.card_last4).toBe(e.fields.pan.slice(-4));
      }
    }
    for (const e of hbs(events).slice(0, 500)) {
      await codec.encode(
        'TerminalHeartbeat',
        heartbeatRecord(e.fields, { gatewayId: 'sim', channel: 'KAFKA', receivedTime: e.time }),
      );
    }
  });
});

describe('makeBasket', () => {
  it('adds up to the amount: quantities to item_count, lines minus discount to the amount', () => {
    const rng = Rng.from('basket');
    for (let i = 0; i < 2_000; i++) {
      const amount = rng.int(1, 500_000);
      const basket = makeBasket(CATEGORIES[i % CATEGORIES.length]!, amount, rng);
      const total = basket.items.reduce((s, it) => s + it.quantity * it.unit_price_minor, 0);
      expect(total - basket.discount_minor).toBe(amount);
      expect(basket.discount_minor).toBeGreaterThanOrEqual(0);
      expect(basket.item_count).toBe(basket.items.reduce((s, it) => s + it.quantity, 0));
    }
  });
});
