/**
 * Heap held by the card rules per active card (the figures in their module comments and
 * docs/PROCESSOR.md): feeds N cards' worth of attempts into each rule, then into all three at once
 * (they share the token strings of the events), and measures the retained heap after a full GC.
 *
 *   npm run bench:card-memory -- [cards=200000]   (node --expose-gc; not part of npm run bench)
 *
 * Strings are built the way the Avro decoder builds them (flat, one copy per event), so a rule that
 * keeps a reference to an event's string pays for it.
 */
import {
  ImpossibleTravelRule,
  impossibleTravelRule,
} from '../../services/processor/detection/card-rules/impossible-travel.ts';
import { CARD_RULE_DEFINITIONS } from '../../services/processor/detection/card-rules/index.ts';
import {
  RefundAbuseRule,
  refundAbuseRule,
} from '../../services/processor/detection/card-rules/refund-abuse.ts';
import { VelocityRule, velocityRule } from '../../services/processor/detection/card-rules/velocity.ts';
import type { TransactionRule } from '../../services/processor/detection/rule.ts';
import { defaultRules } from '../../services/processor/detection/rules-file.ts';
import type { TransactionEvent } from '../../services/shared/avro/types.generated.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');
const CARDS = Number(process.argv[2] ?? 200_000);
const T = Date.UTC(2026, 10, 3, 10);
const rules = defaultRules(CARD_RULE_DEFINITIONS);

/** A flat string, as a decoder returns it (no rope, no slice of a bigger one). */
const flat = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0').slice(-width);

let seq = 0;
function event(card: number, k: number, overrides: Partial<TransactionEvent>): TransactionEvent {
  seq += 1;
  const merchant = (card * 7 + k * 13) % 20_000;
  return {
    event_id: flat(`${hex(seq, 8)}-0000-4000-8000-${hex(seq * 7919, 12)}`),
    terminal_serial: flat(`TRM-${String(merchant * 2 + (k % 2)).padStart(6, '0')}`),
    merchant_id: flat(`M${String(merchant).padStart(6, '0')}`),
    merchant_name: flat('Some Shop'),
    acquirer_id: flat('ACQ1'),
    gateway_id: flat('gw-1'),
    region: flat('south'),
    latitude: 48 + (merchant % 100) / 1000,
    longitude: 11 + (merchant % 100) / 1000,
    mcc: flat('5411'),
    cashier_id: null,
    transaction_type: 'SALE',
    payment_method: 'CREDIT',
    entry_mode: 'CHIP',
    amount_minor: 1_000 + k,
    currency: flat('EUR'),
    card_token: flat(hex(card * 2654435761, 16).repeat(4)),
    card_token_key_id: flat('k1'),
    card_bin: flat('411111'),
    card_last4: flat('1234'),
    response_code: flat('00'),
    response_message: flat('Approved'),
    auth_code: flat('123456'),
    status: 'APPROVED',
    request_time: T + k * 60_000 + (card % 1000),
    response_time: T + k * 60_000 + 200,
    stan: flat('000001'),
    rrn: null,
    ingest_channel: 'HTTP',
    gateway_received_time: T + k * 60_000 + 500,
    basket: null,
    ...overrides,
  };
}

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

/** Bytes per card held by `make()`'s rules after each card's `perCard` attempts. */
function measure(name: string, make: () => TransactionRule[], perCard: number): void {
  const before = heap();
  const held = make();
  for (let card = 0; card < CARDS; card++) {
    for (let k = 0; k < perCard; k++) {
      const ev = event(card, k, {});
      for (const r of held) r.onTransaction(ev);
    }
  }
  const after = heap();
  const perCardBytes = (after - before) / CARDS;
  const entries = held.reduce((n, r) => n + r.size, 0);
  process.stdout.write(
    `${name.padEnd(34)} ${perCard} attempts/card: ${perCardBytes.toFixed(0).padStart(5)} B/card, ` +
      `${((perCardBytes * 1e6) / 2 ** 20).toFixed(0).padStart(5)} MiB per million cards (${entries} entries)\n`,
  );
  held.length = 0;
}

const velocity = () => new VelocityRule(() => rules.get(velocityRule));
const travel = () => new ImpossibleTravelRule(() => rules.get(impossibleTravelRule));
const refunds = () => {
  const r = new RefundAbuseRule(() => rules.get(refundAbuseRule));
  r.historyFrom(0);
  return r;
};

process.stdout.write(`${CARDS} cards, node ${process.version}\n`);
measure('velocity', () => [velocity()], 1);
measure('velocity', () => [velocity()], 2);
measure('impossible_travel', () => [travel()], 2);
measure('refund_abuse (sales)', () => [refunds()], 3);
measure('refund_abuse (sales, max kept)', () => [refunds()], 8);
measure('all three rules, shared events', () => [velocity(), travel(), refunds()], 2);
measure('all three rules, shared events', () => [velocity(), travel(), refunds()], 3);
