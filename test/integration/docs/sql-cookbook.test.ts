import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TerminalHeartbeat, TransactionEvent } from '../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../services/shared/avro/config.ts';
import { runMigrations } from '../../../services/shared/clickhouse/migrations.ts';
import type { Store } from '../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../services/shared/kafka/config.ts';
import { EventProducer } from '../../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../services/shared/logger.ts';
import type { Processor } from '../../../services/processor/processor.ts';
import { sampleHeartbeat, sampleTransaction } from '../../support/fixtures.ts';
import { sqlBlocks } from '../../support/sql-blocks.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../support/kafka.ts';
import { testProcessor } from '../support/processor.ts';
import { openTestStore, type TestStore } from '../support/store.ts';

const MINUTE = 60_000;
const DOC = readFileSync(new URL('../../../docs/SQL.md', import.meta.url), 'utf8');
const QUERIES = sqlBlocks(DOC);

/** The card the card-testing burst uses, the terminal it uses and the terminals with a story. */
const ATTACKED_CARD = 'c0ffee'.repeat(10) + 'dead';
const ATTACK_TERMINAL = 'TRM-00013';
const LOW_BATTERY = 'TRM-00007';
const PAPER_OUT = 'TRM-00011';
const SILENT = 'TRM-00900';
const BURST = 15;

type Row = Record<string, unknown>;

const num = (row: Row | undefined, key: string): number => Number(row?.[key]);
const str = (row: Row | undefined, key: string): string => String(row?.[key]);

function countBy<T>(items: readonly T[], key: (t: T) => string, weight: (t: T) => number = () => 1) {
  const out: Record<string, number> = {};
  for (const t of items) out[key(t)] = (out[key(t)] ?? 0) + weight(t);
  return out;
}

/** ClickHouse's quantileExact: the element at floor(level × n) of the sorted values. */
function quantileExact(values: readonly number[], level: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(level * sorted.length))]!;
}

const basketGross = (e: TransactionEvent): number =>
  (e.basket?.items ?? []).reduce((s, i) => s + i.quantity * i.unit_price_minor, 0);

/**
 * A few minutes of a small fleet ending about three minutes before `now`: varied statuses, decline
 * codes, currencies, types and baskets; a card-testing burst; one transaction forwarded late from an
 * offline queue and one from a terminal whose clock runs ahead.
 */
function scenario(now: number) {
  const start = Math.floor((now - 7 * MINUTE) / MINUTE) * MINUTE;
  const normal = Array.from({ length: 400 }, (_, i) => {
    const t = start + 15_000 + i * 600;
    const ev = sampleTransaction(i);
    const extra: Partial<TransactionEvent> = {};
    const decline =
      ev.status !== 'APPROVED'
        ? undefined
        : i % 13 === 4
          ? ['51', 'Insufficient funds']
          : i % 31 === 8
            ? ['54', 'Expired card']
            : undefined;
    if (decline) {
      extra.status = 'DECLINED';
      [extra.response_code, extra.response_message] = decline;
      extra.auth_code = null;
    }
    if (ev.transaction_type === 'SALE' && i % 29 === 5) extra.transaction_type = 'REVERSAL';
    if (i % 10 === 7) extra.currency = 'GBP';
    if (ev.basket) extra.basket = { ...ev.basket, discount_minor: [0, 50, 120][i % 3]! };
    return sampleTransaction(i, {
      ...extra,
      request_time: t,
      response_time: ev.response_time === null ? null : t + (ev.response_time - ev.request_time),
      gateway_received_time: t + 300,
    });
  });
  // Terminal 13's own merchant, acquirer and region (i ≡ 13 mod 20), small keyed amounts.
  const burst = Array.from({ length: BURST + 1 }, (_, j) => {
    const t = start + MINUTE + j * 4_000;
    const approved = j === BURST; // the tester finally finds the card works
    return sampleTransaction(13 + 20 * (500 + j), {
      terminal_serial: ATTACK_TERMINAL,
      region: 'south',
      card_token: ATTACKED_CARD,
      amount_minor: 100 + j * 7,
      currency: 'EUR',
      transaction_type: 'SALE',
      payment_method: 'CREDIT',
      entry_mode: 'MANUAL',
      status: approved ? 'APPROVED' : 'DECLINED',
      response_code: approved ? '00' : j % 2 === 0 ? '14' : '05',
      response_message: approved ? 'Approved' : j % 2 === 0 ? 'Invalid card number' : 'Do not honour',
      auth_code: approved ? '123456' : null,
      request_time: t,
      response_time: t + 150 + j,
      gateway_received_time: t + 300,
      basket: null,
    });
  });
  const inOrder = [...normal, ...burst].sort((a, b) => a.request_time - b.request_time);
  const approvedLate = { status: 'APPROVED', response_code: '00', response_message: 'Approved' } as const;
  // Sent after everything else: its minute is long final in its partition.
  const forwardedLate = sampleTransaction(3 + 20 * 600, {
    ...approvedLate,
    request_time: now - 20 * MINUTE,
    response_time: now - 20 * MINUTE + 210,
    gateway_received_time: now - 30_000,
  });
  const clockAhead = sampleTransaction(5 + 20 * 600, {
    ...approvedLate,
    request_time: now + 10 * MINUTE,
    response_time: now + 10 * MINUTE + 180,
    gateway_received_time: now - 30_000,
  });
  const transactions = [...inOrder, forwardedLate, clockAhead];

  const heartbeats: TerminalHeartbeat[] = Array.from({ length: 20 }, (_, t) => {
    const at = now - 90_000 - t * 1_000;
    return sampleHeartbeat(t, {
      event_time: at,
      gateway_received_time: at + 20,
      online: true,
      battery_pct: t % 3 === 0 ? null : 55 + t,
      paper_state: 'OK',
      offline_queue_length: 0,
      ...(`TRM-${String(t).padStart(5, '0')}` === LOW_BATTERY ? { battery_pct: 8 } : {}),
      ...(`TRM-${String(t).padStart(5, '0')}` === PAPER_OUT ? { paper_state: 'OUT', battery_pct: 70 } : {}),
    });
  });
  // A terminal heard from half an hour ago and not since.
  for (const [i, ago] of [
    [900, 31],
    [901, 30],
  ] as const) {
    const at = now - ago * MINUTE;
    heartbeats.push(
      sampleHeartbeat(i, {
        terminal_serial: SILENT,
        merchant_id: 'M9',
        event_time: at,
        gateway_received_time: at + 20,
        online: true,
        battery_pct: 64,
        paper_state: 'OK',
        offline_queue_length: 0,
      }),
    );
  }
  return { transactions, windowed: inOrder, late: [forwardedLate, clockAhead], heartbeats };
}

describeKafka('the SQL cookbook (docs/SQL.md) on data the processor wrote', () => {
  const logger = createLogger({ service: 'sql-cookbook-test', level: 'warn' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const prefix = `${uniqueName('sql-doc')}.`;
  const topics = topicNames(prefix);
  const db = `sqldoc_${Math.random().toString(36).slice(2, 10)}`;
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const now = Date.now();
  const { transactions: all, windowed, late, heartbeats } = scenario(now);
  let test: TestStore | undefined;
  let store: Store;
  let producer: EventProducer | undefined;
  let processor: Processor | undefined;

  async function one(sql: string): Promise<Row> {
    const [row] = await store.query<Row>(sql);
    return row ?? {};
  }

  async function eventually(what: string, ok: () => Promise<boolean>, ms = 90_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  beforeAll(async () => {
    test = await openTestStore();
    store = test.store;
    await runMigrations(store, { database: db, rawTtlDays: 90 });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 3, replicationFactor: 1 });
    await admin.disconnect();
    producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
    // In request_time order per partition (one send at a time), so only the two planted events are late.
    for (let i = 0; i < all.length; i += 200)
      await producer.send(
        topics.transactions,
        'TransactionEvent',
        all.slice(i, i + 200).map((v) => ({ key: v.terminal_serial, value: v })),
      );
    await producer.send(
      topics.heartbeats,
      'TerminalHeartbeat',
      heartbeats.map((v) => ({ key: v.terminal_serial, value: v })),
    );

    processor = testProcessor({ kafka, codec, store, producer, topics, db, logger }, uniqueName('g'), {
      allowedLatenessMs: 0,
      idleGraceMs: 1_000,
      offlineAfterMs: 15 * MINUTE,
    });
    await processor.start();

    await eventually('every transaction and heartbeat stored', async () => {
      const r = await one(
        `SELECT (SELECT count() FROM ${db}.transactions FINAL) AS tx, (SELECT count() FROM ${db}.terminal_heartbeats FINAL) AS hb`,
      );
      return num(r, 'tx') === all.length && num(r, 'hb') === heartbeats.length;
    });
    await eventually(
      'final KPI windows covering every windowed transaction, and the late events',
      async () => {
        const r = await one(
          `SELECT
           (SELECT sum(tx_count) FROM ${db}.kpi_1m FINAL WHERE entity_level = 'FLEET') AS fleet_tx,
           (SELECT min(is_final) FROM ${db}.kpi_1m FINAL) AS all_final,
           (SELECT count() FROM ${db}.late_events FINAL) AS late`,
        );
        return (
          num(r, 'fleet_tx') === windowed.length && r['all_final'] === true && num(r, 'late') === late.length
        );
      },
    );
    await eventually('the status of the silent, low-battery and paper-out terminals', async () => {
      const rows = await store.query<Row>(
        `SELECT terminal_serial, status, reasons FROM ${db}.terminal_status_latest FINAL
         WHERE terminal_serial IN ('${SILENT}', '${LOW_BATTERY}', '${PAPER_OUT}')`,
      );
      const by = new Map(rows.map((r) => [str(r, 'terminal_serial'), r]));
      return (
        by.get(SILENT)?.['status'] === 'OFFLINE' &&
        (by.get(LOW_BATTERY)?.['reasons'] as string[] | undefined)?.includes('low_battery') === true &&
        (by.get(PAPER_OUT)?.['reasons'] as string[] | undefined)?.includes('paper_out') === true
      );
    });
  }, 150_000);

  afterAll(async () => {
    await processor?.stop().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    await store?.command(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined);
    await test?.close();
  });

  /** Figures computed from the events sent, compared with what each query returns. */
  const checks: Record<string, (rows: Row[]) => void> = {
    "One merchant's minutes without FINAL: argMax by version": (rows) => {
      const m3 = windowed.filter((e) => e.merchant_id === 'M3');
      expect(rows.reduce((s, r) => s + num(r, 'tx_count'), 0)).toBe(m3.length);
      expect(rows.reduce((s, r) => s + num(r, 'approved'), 0)).toBe(
        m3.filter((e) => e.status === 'APPROVED').length,
      );
      expect(rows.every((r) => r['all_final'] === true)).toBe(true);
    },

    'Approval rate per merchant over the last hour': (rows) => {
      const attempts = countBy(windowed, (e) => e.merchant_id);
      const approved = countBy(
        windowed.filter((e) => e.status === 'APPROVED'),
        (e) => e.merchant_id,
      );
      const declined = countBy(
        windowed.filter((e) => e.status === 'DECLINED'),
        (e) => e.merchant_id,
      );
      const timeouts = countBy(
        windowed.filter((e) => e.status === 'TIMEOUT'),
        (e) => e.merchant_id,
      );
      expect(rows.map((r) => str(r, 'merchant_id')).sort()).toEqual(Object.keys(attempts).sort());
      for (const r of rows) {
        const m = str(r, 'merchant_id');
        expect(num(r, 'attempts'), m).toBe(attempts[m]);
        expect(num(r, 'approved'), m).toBe(approved[m] ?? 0);
        expect(num(r, 'declined'), m).toBe(declined[m] ?? 0);
        expect(num(r, 'timeouts'), m).toBe(timeouts[m] ?? 0);
        expect(num(r, 'approval_rate'), m).toBeCloseTo((approved[m] ?? 0) / attempts[m]!, 4);
      }
    },

    'Approval rate per merchant per clock hour, from the kpi_1h view': (rows) => {
      const attempts = countBy(windowed, (e) => e.merchant_id);
      const approved = countBy(
        windowed.filter((e) => e.status === 'APPROVED'),
        (e) => e.merchant_id,
      );
      expect(
        countBy(
          rows,
          (r) => str(r, 'merchant_id'),
          (r) => num(r, 'tx_count'),
        ),
      ).toEqual(attempts);
      expect(
        countBy(
          rows,
          (r) => str(r, 'merchant_id'),
          (r) => num(r, 'approved_count'),
        ),
      ).toEqual(approved);
    },

    'TPS per region per minute': (rows) => {
      expect(
        countBy(
          rows,
          (r) => str(r, 'region'),
          (r) => num(r, 'attempts'),
        ),
      ).toEqual(countBy(windowed, (e) => e.region));
      for (const r of rows) expect(num(r, 'tps')).toBeCloseTo(num(r, 'attempts') / 60, 3);
    },

    'Declines by response code': (rows) => {
      const declines = countBy(
        all.filter((e) => e.status === 'DECLINED'),
        (e) => e.response_code ?? 'none',
      );
      expect(Object.fromEntries(rows.map((r) => [str(r, 'code'), num(r, 'declines')]))).toEqual(declines);
      expect(rows.find((r) => r['code'] === '51')?.['message']).toBe('Insufficient funds');
    },

    'Timeouts, reversals and refunds per acquirer': (rows) => {
      const sum = (key: string) =>
        countBy(
          rows,
          (r) => str(r, 'acquirer_id'),
          (r) => num(r, key),
        );
      const of = (pick: (e: TransactionEvent) => boolean) => ({
        ACQ0: 0,
        ACQ1: 0,
        ...countBy(windowed.filter(pick), (e) => e.acquirer_id),
      });
      expect(sum('tx_count')).toEqual(of(() => true));
      expect(sum('timeout_count')).toEqual(of((e) => e.status === 'TIMEOUT'));
      expect(sum('reversal_count')).toEqual(of((e) => e.transaction_type === 'REVERSAL'));
      expect(sum('refund_count')).toEqual(of((e) => e.transaction_type === 'REFUND'));
    },

    'Approved amounts per currency, net of refunds and reversals': (rows) => {
      const approved = all.filter((e) => e.status === 'APPROVED');
      const paid = approved.filter((e) => ['SALE', 'COMPLETION'].includes(e.transaction_type));
      const returned = approved.filter((e) => ['REFUND', 'REVERSAL', 'VOID'].includes(e.transaction_type));
      const paidMinor = countBy(
        paid,
        (e) => e.currency,
        (e) => e.amount_minor,
      );
      const returnedMinor = countBy(
        returned,
        (e) => e.currency,
        (e) => e.amount_minor,
      );
      expect(rows.map((r) => str(r, 'currency'))).toEqual(['EUR', 'GBP', 'USD']);
      for (const r of rows) {
        const c = str(r, 'currency');
        expect(num(r, 'payments'), c).toBe(paid.filter((e) => e.currency === c).length);
        expect(num(r, 'paid_minor'), c).toBe(paidMinor[c] ?? 0);
        expect(num(r, 'returns'), c).toBe(returned.filter((e) => e.currency === c).length);
        expect(num(r, 'returned_minor'), c).toBe(returnedMinor[c] ?? 0);
        expect(num(r, 'net_minor'), c).toBe((paidMinor[c] ?? 0) - (returnedMinor[c] ?? 0));
      }
    },

    'Host latency p50, p95 and p99 per acquirer': (rows) => {
      for (const acquirer of ['ACQ0', 'ACQ1']) {
        const latencies = all
          .filter((e) => e.acquirer_id === acquirer && e.response_time !== null)
          .map((e) => e.response_time! - e.request_time);
        const r = rows.find((x) => x['acquirer_id'] === acquirer);
        expect(num(r, 'responses'), acquirer).toBe(latencies.length);
        expect(num(r, 'timeouts'), acquirer).toBe(
          all.filter((e) => e.acquirer_id === acquirer && e.status === 'TIMEOUT').length,
        );
        expect(num(r, 'p50_ms'), acquirer).toBe(quantileExact(latencies, 0.5));
        expect(num(r, 'p95_ms'), acquirer).toBe(quantileExact(latencies, 0.95));
        expect(num(r, 'p99_ms'), acquirer).toBe(quantileExact(latencies, 0.99));
        expect(num(r, 'max_ms'), acquirer).toBe(Math.max(...latencies));
      }
    },

    'Unique cards per merchant': (rows) => {
      for (const r of rows) {
        const m = str(r, 'merchant_id');
        const mine = all.filter((e) => e.merchant_id === m);
        expect(num(r, 'unique_cards'), m).toBe(new Set(mine.map((e) => e.card_token)).size);
        expect(num(r, 'attempts'), m).toBe(mine.length);
      }
      expect(rows).toHaveLength(new Set(all.map((e) => e.merchant_id)).size);
    },

    'Payment-method and entry-mode mix': (rows) => {
      const of = (dimension: string) =>
        Object.fromEntries(
          rows.filter((r) => r['dimension'] === dimension).map((r) => [str(r, 'value'), num(r, 'attempts')]),
        );
      expect(of('payment_method')).toEqual(countBy(windowed, (e) => e.payment_method));
      expect(of('entry_mode')).toEqual(countBy(windowed, (e) => e.entry_mode));
    },

    'Basket value and discount share per merchant': (rows) => {
      const baskets = windowed.filter((e) => e.basket !== null);
      const gross = countBy(baskets, (e) => e.merchant_id, basketGross);
      const discount = countBy(
        baskets,
        (e) => e.merchant_id,
        (e) => e.basket!.discount_minor,
      );
      const count = countBy(baskets, (e) => e.merchant_id);
      expect(rows).toHaveLength(Object.keys(count).length);
      for (const r of rows) {
        const m = str(r, 'merchant_id');
        expect(num(r, 'baskets'), m).toBe(count[m]);
        expect(num(r, 'gross_minor'), m).toBe(gross[m]);
        expect(num(r, 'discounts_minor'), m).toBe(discount[m]);
        expect(num(r, 'avg_basket_value_minor'), m).toBeCloseTo(gross[m]! / count[m]!, 2);
        expect(num(r, 'discount_ratio'), m).toBeCloseTo(discount[m]! / gross[m]!, 4);
      }
    },

    'Best-selling basket items': (rows) => {
      const lines = all
        .filter((e) => e.status === 'APPROVED' && e.transaction_type === 'SALE')
        .flatMap((e) => (e.basket?.items ?? []).map((item) => ({ currency: e.currency, ...item })));
      const units = countBy(
        lines,
        (l) => `${l.currency} ${l.sku}`,
        (l) => l.quantity,
      );
      expect(
        countBy(
          rows,
          (r) => `${str(r, 'currency')} ${str(r, 'sku')}`,
          (r) => num(r, 'units'),
        ),
      ).toEqual(units);
    },

    'Terminals offline or degraded now, with reasons': (rows) => {
      const by = new Map(rows.map((r) => [str(r, 'terminal_serial'), r]));
      expect(by.get(SILENT)).toMatchObject({ status: 'OFFLINE', reasons: ['silent'], merchant_id: 'M9' });
      expect(by.get(LOW_BATTERY)).toMatchObject({ status: 'DEGRADED', battery_pct: 8 });
      expect(by.get(LOW_BATTERY)!['reasons']).toContain('low_battery');
      expect(by.get(PAPER_OUT)).toMatchObject({ status: 'DEGRADED', paper_state: 'OUT' });
      expect(by.get(PAPER_OUT)!['reasons']).toContain('paper_out');
      expect(rows[0]!['status']).toBe('OFFLINE');
    },

    'Status history of one terminal': (rows) => {
      expect(rows.at(-1)).toMatchObject({ status: 'OFFLINE', reasons: ['silent'] });
    },

    'Terminals with low battery or paper out, from the latest heartbeats': (rows) => {
      expect(rows.map((r) => [r['terminal_serial'], r['battery_pct'], r['paper_state']])).toEqual([
        [PAPER_OUT, 70, 'OUT'],
        [LOW_BATTERY, 8, 'OK'],
      ]);
    },

    'Card testing: many small declines on one card': (rows) => {
      expect(rows[0]).toMatchObject({ card_token: ATTACKED_CARD, terminals: '1', merchants: '1' });
      expect(num(rows[0], 'declines')).toBe(BURST);
      expect(num(rows[0], 'approvals')).toBe(1);
      expect((rows[0]!['decline_codes'] as string[]).sort()).toEqual(['05', '14']);
      expect(num(rows[0], 'span_s')).toBe(BURST * 4);
      expect(rows.map((r) => r['card_token'])).toEqual([ATTACKED_CARD]);
    },

    'Card testing: terminals with many small declines in the last 15 minutes': (rows) => {
      const smallDeclines = all.filter(
        (e) =>
          e.terminal_serial === ATTACK_TERMINAL &&
          e.status === 'DECLINED' &&
          e.amount_minor <= 500 &&
          e.request_time >= now - 15 * MINUTE,
      );
      expect(rows[0]).toMatchObject({ terminal_serial: ATTACK_TERMINAL });
      expect(num(rows[0], 'small_declines')).toBe(smallDeclines.length);
      expect(num(rows[0], 'keyed')).toBeGreaterThanOrEqual(BURST + 1);
    },

    'Late events by reason': (rows) => {
      expect(Object.fromEntries(rows.map((r) => [str(r, 'reason'), num(r, 'events')]))).toEqual({
        beyond_allowed_lateness: 1,
        clock_ahead: 1,
      });
    },

    'Reconciliation: raw transactions against KPI windows, per minute': (rows) => {
      expect(rows.filter((r) => num(r, 'unaccounted') !== 0)).toEqual([]);
      const total = (key: string) => rows.reduce((s, r) => s + num(r, key), 0);
      expect(total('raw_tx')).toBe(all.length);
      expect(total('kpi_tx')).toBe(windowed.length);
      expect(total('late_tx')).toBe(late.length);
    },
  };

  it('has at least 14 queries, and every expected figure names a query of the cookbook', () => {
    expect(QUERIES.length).toBeGreaterThanOrEqual(15);
    const headings = QUERIES.map((q) => q.heading);
    expect(new Set(headings).size).toBe(headings.length);
    for (const heading of Object.keys(checks)) expect(headings, heading).toContain(heading);
  });

  it.each(QUERIES)('$heading: runs and returns what the events sent imply', async ({ heading, sql }) => {
    expect(sql, 'queries name their tables pospulse.<table>').toMatch(/\bpospulse\./);
    const rows = await store.query<Row>(sql.replace(/\bpospulse\./g, `${db}.`));
    expect(rows.length).toBeGreaterThan(0);
    checks[heading]?.(rows);
  });
});
