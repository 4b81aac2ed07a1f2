import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int, share, stringList } from '../rule-params.ts';
import { placementLabels, type SettingsReader, type TransactionRule } from '../rule.ts';
import { defineRule } from '../rules-file.ts';

export const cardTestingRule = defineRule({
  name: 'card_testing',
  doc: 'A terminal sees a burst of small attempts on many cards, mostly declined with the codes card testers provoke, or dominated by one BIN.',
  params: {
    window: duration({
      doc: 'Sliding span (request time) the burst is counted over.',
      min: 10_000,
      max: 3_600_000,
    }),
    small_amount_minor: int({ doc: 'An attempt at or below this amount (minor units) is small.', min: 1 }),
    decline_codes: stringList({
      doc: 'Response codes that count as testing declines.',
      item: /^[0-9A-Z]{2}$/,
    }),
    min_declines: int({
      doc: 'Small attempts declined with those codes that make a hit…',
      min: 2,
      max: 10_000,
    }),
    min_cards: int({ doc: '…on at least this many distinct cards.', min: 2, max: 10_000 }),
    min_attempts_for_bin: int({
      doc: 'Attempts in the window before BIN dominance is judged.',
      min: 2,
      max: 10_000,
    }),
    bin_share: share('One BIN holding at least this share of those attempts (on min_cards cards or more)…'),
    bin_decline_share: share('…with at least this share declined, is a hit.'),
    max_attempts_kept: int({ doc: 'Attempts kept per terminal (memory bound).', min: 10, max: 100_000 }),
  },
  defaults: {
    enabled: true,
    severity: 'CRITICAL',
    resolve_after: 600_000,
    window: 300_000,
    small_amount_minor: 500,
    decline_codes: ['05', '14', '51', '54'],
    min_declines: 6,
    min_cards: 5,
    min_attempts_for_bin: 10,
    bin_share: 0.8,
    bin_decline_share: 0.5,
    max_attempts_kept: 200,
  },
});

interface Attempt {
  time: number;
  eventId: string;
  card: string;
  bin: string;
  code: string;
  small: boolean;
  testingDecline: boolean;
  declined: boolean;
}

/** Per terminal, the attempts of the last `window`, bounded by max_attempts_kept. */
export class CardTestingRule implements TransactionRule {
  readonly definition = cardTestingRule;
  private readonly byTerminal = new Map<string, Attempt[]>();
  private entries = 0;

  constructor(private readonly settings: SettingsReader<typeof cardTestingRule>) {}

  get size(): number {
    return this.entries;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    if (ev.card_token === null || ev.transaction_type === 'REVERSAL' || ev.transaction_type === 'VOID')
      return [];
    const s = this.settings();
    let attempts = this.byTerminal.get(ev.terminal_serial);
    if (attempts === undefined) this.byTerminal.set(ev.terminal_serial, (attempts = []));
    if (attempts.some((a) => a.eventId === ev.event_id)) return [];
    const declined = ev.status === 'DECLINED';
    const small = ev.amount_minor <= s.small_amount_minor;
    attempts.push({
      time: ev.request_time,
      eventId: ev.event_id,
      card: ev.card_token,
      bin: ev.card_bin ?? 'unknown',
      code: ev.response_code ?? 'none',
      small,
      declined,
      testingDecline:
        small && declined && ev.response_code !== null && s.decline_codes.includes(ev.response_code),
    });
    this.entries += 1;
    if (attempts.length > s.max_attempts_kept) {
      attempts.splice(0, attempts.length - s.max_attempts_kept);
      this.entries = this.recount();
    }

    const from = ev.request_time - s.window;
    const recent = attempts.filter((a) => a.time > from && a.time <= ev.request_time);
    const testing = recent.filter((a) => a.testingDecline);
    const testingCards = new Set(testing.map((a) => a.card)).size;
    if (testing.length >= s.min_declines && testingCards >= s.min_cards) {
      return [
        this.hit(ev, s, testing, testing.length, s.min_declines, {
          pattern: 'small_declines',
          declines: String(testing.length),
          distinct_cards: String(testingCards),
          codes: [...new Set(testing.map((a) => a.code))].sort().join(','),
        }),
      ];
    }
    if (recent.length >= s.min_attempts_for_bin) {
      const byBin = new Map<string, Attempt[]>();
      for (const a of recent) {
        const list = byBin.get(a.bin);
        if (list === undefined) byBin.set(a.bin, [a]);
        else list.push(a);
      }
      const [bin, top] = [...byBin].sort((x, y) => y[1].length - x[1].length)[0]!;
      const binShare = top.length / recent.length;
      const cards = new Set(top.map((a) => a.card)).size;
      const declineShare = top.filter((a) => a.declined).length / top.length;
      if (binShare >= s.bin_share && cards >= s.min_cards && declineShare >= s.bin_decline_share) {
        return [
          this.hit(ev, s, top, binShare, s.bin_share, {
            pattern: 'bin_dominance',
            bin,
            bin_share: binShare.toFixed(2),
            distinct_cards: String(cards),
            decline_share: declineShare.toFixed(2),
          }),
        ];
      }
    }
    return [];
  }

  private hit(
    ev: TransactionEvent,
    s: ReturnType<SettingsReader<typeof cardTestingRule>>,
    evidenceAttempts: readonly Attempt[],
    value: number,
    threshold: number,
    evidence: Record<string, string>,
  ): Hit {
    const start = Math.min(...evidenceAttempts.map((a) => a.time));
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'TERMINAL',
      entityId: ev.terminal_serial,
      windowStart: start,
      windowEnd: ev.request_time + 1,
      value,
      threshold,
      summary:
        evidence['pattern'] === 'bin_dominance'
          ? `card testing at terminal ${ev.terminal_serial}: BIN ${evidence['bin']} makes ${evidence['bin_share']} of ${evidenceAttempts.length} attempts on ${evidence['distinct_cards']} cards`
          : `card testing at terminal ${ev.terminal_serial}: ${evidence['declines']} small declines on ${evidence['distinct_cards']} cards`,
      evidence,
      eventIds: evidenceAttempts.map((a) => a.eventId).slice(-20),
      labels: placementLabels(ev),
    };
  }

  expire(now: number): void {
    const horizon = now - this.settings().window;
    for (const [terminal, attempts] of this.byTerminal) {
      const kept = attempts.filter((a) => a.time > horizon);
      if (kept.length === 0) this.byTerminal.delete(terminal);
      else this.byTerminal.set(terminal, kept);
    }
    this.entries = this.recount();
  }

  private recount(): number {
    let n = 0;
    for (const a of this.byTerminal.values()) n += a.length;
    return n;
  }
}
