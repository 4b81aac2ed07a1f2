import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int } from '../rule-params.ts';
import { placementLabels, type SettingsReader, type TransactionRule } from '../rule.ts';
import { defineRule } from '../rules-file.ts';

export const duplicateTransactionRule = defineRule({
  name: 'duplicate_transaction',
  doc: 'The same card charged the same amount on the same terminal several times within seconds (double submission): approved charges of one type (voids, reversals and balance inquiries excluded).',
  params: {
    window: duration({
      doc: 'How close in request time the approved copies must be.',
      min: 1_000,
      max: 3_600_000,
    }),
    min_copies: int({ doc: 'Approved copies that make a hit (2 = one duplicate).', min: 2, max: 100 }),
  },
  defaults: { enabled: true, severity: 'WARNING', resolve_after: 300_000, window: 60_000, min_copies: 2 },
});

/** Types that move money; voids, reversals and balance inquiries repeat amounts legitimately. */
const CHARGES: ReadonlySet<string> = new Set(['SALE', 'PRE_AUTH', 'COMPLETION', 'REFUND']);

interface Copy {
  time: number;
  eventId: string;
}

/** Per terminal: (card, amount, currency, type) → approved attempts within the window. */
export class DuplicateTransactionRule implements TransactionRule {
  readonly definition = duplicateTransactionRule;
  private readonly byTerminal = new Map<string, Map<string, Copy[]>>();
  private entries = 0;

  constructor(private readonly settings: SettingsReader<typeof duplicateTransactionRule>) {}

  get size(): number {
    return this.entries;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    if (ev.status !== 'APPROVED' || !CHARGES.has(ev.transaction_type) || ev.card_token === null) return [];
    const s = this.settings();
    let copiesByKey = this.byTerminal.get(ev.terminal_serial);
    if (copiesByKey === undefined) this.byTerminal.set(ev.terminal_serial, (copiesByKey = new Map()));
    const key = `${ev.card_token}|${ev.amount_minor}|${ev.currency}|${ev.transaction_type}`;
    let copies = copiesByKey.get(key);
    if (copies === undefined) copiesByKey.set(key, (copies = []));
    if (copies.some((c) => c.eventId === ev.event_id)) return [];
    copies.push({ time: ev.request_time, eventId: ev.event_id });
    this.entries += 1;
    const near = copies.filter((c) => Math.abs(c.time - ev.request_time) <= s.window);
    if (near.length < s.min_copies) return [];
    const times = near.map((c) => c.time);
    const start = Math.min(...times);
    const end = Math.max(...times) + 1;
    return [
      {
        rule: this.definition.name,
        severity: s.severity,
        level: 'TERMINAL',
        entityId: ev.terminal_serial,
        windowStart: start,
        windowEnd: end,
        value: near.length,
        threshold: s.min_copies,
        summary: `${near.length} approved ${ev.transaction_type} of ${ev.amount_minor} ${ev.currency} on one card within ${Math.round((end - start) / 1000)} s at terminal ${ev.terminal_serial}`,
        evidence: {
          card: `${ev.card_bin ?? '??????'}…${ev.card_last4 ?? '????'}`,
          card_token_prefix: ev.card_token.slice(0, 12),
          amount_minor: String(ev.amount_minor),
          currency: ev.currency,
          copies: String(near.length),
        },
        eventIds: near.map((c) => c.eventId).slice(0, 20),
        labels: placementLabels(ev),
      },
    ];
  }

  expire(now: number): void {
    const horizon = now - this.settings().window;
    for (const [terminal, copiesByKey] of this.byTerminal) {
      for (const [key, copies] of copiesByKey) {
        const kept = copies.filter((c) => c.time >= horizon);
        this.entries -= copies.length - kept.length;
        if (kept.length === 0) copiesByKey.delete(key);
        else copiesByKey.set(key, kept);
      }
      if (copiesByKey.size === 0) this.byTerminal.delete(terminal);
    }
  }
}
