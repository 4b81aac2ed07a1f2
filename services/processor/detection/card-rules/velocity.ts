import type { TransactionEvent } from '../../../shared/avro/types.generated.ts';
import type { Hit } from '../hit.ts';
import { duration, int } from '../rule-params.ts';
import type { SettingsReader } from '../rule.ts';
import { defineRule } from '../rules-file.ts';
import {
  Interner,
  SweepClock,
  cardLabels,
  cardShown,
  insertedByTime,
  isCardAttempt,
  type CardRule,
} from './card-rule.ts';

export const velocityRule = defineRule({
  name: 'velocity',
  doc: 'One card used too often, or at too many terminals or merchants, within a short span (request time): a stolen or cloned card being run through a ring of terminals. Refunds, voids and reversals do not count; declined and timed-out attempts do.',
  params: {
    window: duration({
      doc: 'Span (request time) the attempts are counted over; any span of this length, not only the latest.',
      min: 10_000,
      max: 6 * 3_600_000,
    }),
    max_attempts: int({ doc: 'More attempts than this in the window is a hit.', min: 1, max: 10_000 }),
    max_terminals: int({
      doc: 'Attempts at more distinct terminals than this is a hit.',
      min: 1,
      max: 10_000,
    }),
    max_merchants: int({
      doc: 'Attempts at more distinct merchants than this is a hit.',
      min: 1,
      max: 10_000,
    }),
    max_attempts_kept: int({
      doc: 'Attempts kept per card (memory bound); keep it above the three limits.',
      min: 4,
      max: 10_000,
    }),
  },
  defaults: {
    enabled: true,
    severity: 'CRITICAL',
    resolve_after: 1_800_000,
    window: 600_000,
    max_attempts: 10,
    max_terminals: 4,
    max_merchants: 3,
    max_attempts_kept: 64,
  },
});

interface Attempt {
  readonly time: number;
  readonly eventId: string;
  readonly terminal: string;
  readonly merchant: string;
  readonly declined: boolean;
}

type Settings = ReturnType<SettingsReader<typeof velocityRule>>;

/** A span whose counts crossed a limit, and which limit (first of terminals, merchants, attempts). */
interface Crossing {
  readonly attempts: readonly Attempt[];
  readonly terminals: number;
  readonly merchants: number;
  readonly measure: 'terminals' | 'merchants' | 'attempts';
}

/**
 * Per card, its attempts of the last `window` in request-time order, at most max_attempts_kept.
 *
 * Memory (V8 heap, measured by scripts/bench/_card-rules-memory.ts on Node 20): ~325 bytes for a
 * card with one attempt in the window — token string (shared with the other card rules), map
 * entry, array — and ~150 bytes per further attempt (the object, its boxed time, the event id;
 * terminal and merchant strings interned). ~470 bytes for a card with two attempts: ~450 MiB per
 * million cards active within the window (10 min by default — a very large fleet's worth).
 */
export class VelocityRule implements CardRule {
  readonly definition = velocityRule;
  private readonly byCard = new Map<string, Attempt[]>();
  private readonly strings = new Interner();
  private readonly sweeps = new SweepClock();
  private entries = 0;

  constructor(private readonly settings: SettingsReader<typeof velocityRule>) {}

  get size(): number {
    return this.entries;
  }

  onTransaction(ev: TransactionEvent): Hit[] {
    if (!isCardAttempt(ev)) return [];
    const s = this.settings();
    const known = this.byCard.get(ev.card_token) ?? [];
    if (known.some((a) => a.eventId === ev.event_id)) return [];
    const attempt: Attempt = {
      time: ev.request_time,
      eventId: ev.event_id,
      terminal: this.strings.get(ev.terminal_serial),
      merchant: this.strings.get(ev.merchant_id),
      declined: ev.status !== 'APPROVED',
    };
    let attempts = insertedByTime(known, attempt);
    this.entries += 1;
    if (attempts.length > s.max_attempts_kept) {
      const dropped = attempts.length - s.max_attempts_kept;
      attempts = attempts.slice(dropped);
      this.entries -= dropped;
    }
    this.byCard.set(ev.card_token, attempts);
    // The new attempt may itself be the oldest, and gone.
    if (!attempts.includes(attempt)) return [];
    const crossing = this.worstSpanWith(attempts, attempt, s);
    return crossing === undefined ? [] : [this.hit(ev, s, crossing)];
  }

  /**
   * Among the spans of `window` that contain `attempt` — those ending at an attempt in
   * [attempt.time, attempt.time + window) — the first that crosses a limit, preferring distinct
   * terminals, then merchants, then the attempt count.
   */
  private worstSpanWith(attempts: readonly Attempt[], attempt: Attempt, s: Settings): Crossing | undefined {
    let best: Crossing | undefined;
    const rank = { terminals: 0, merchants: 1, attempts: 2 } as const;
    for (let end = attempts.indexOf(attempt); end < attempts.length; end++) {
      const last = attempts[end]!;
      if (last.time >= attempt.time + s.window) break;
      let start = end;
      while (start > 0 && attempts[start - 1]!.time > last.time - s.window) start -= 1;
      const span = attempts.slice(start, end + 1);
      const terminals = new Set(span.map((a) => a.terminal)).size;
      const merchants = new Set(span.map((a) => a.merchant)).size;
      const measure =
        terminals > s.max_terminals
          ? 'terminals'
          : merchants > s.max_merchants
            ? 'merchants'
            : span.length > s.max_attempts
              ? 'attempts'
              : undefined;
      if (measure === undefined) continue;
      if (best === undefined || rank[measure] < rank[best.measure]) {
        best = { attempts: span, terminals, merchants, measure };
      }
    }
    return best;
  }

  private hit(ev: TransactionEvent & { card_token: string }, s: Settings, c: Crossing): Hit {
    const start = c.attempts[0]!.time;
    const end = c.attempts[c.attempts.length - 1]!.time + 1;
    const [value, threshold] =
      c.measure === 'terminals'
        ? [c.terminals, s.max_terminals]
        : c.measure === 'merchants'
          ? [c.merchants, s.max_merchants]
          : [c.attempts.length, s.max_attempts];
    const minutes = Math.max(1, Math.round((end - start) / 60_000));
    return {
      rule: this.definition.name,
      severity: s.severity,
      level: 'CARD',
      entityId: ev.card_token,
      windowStart: start,
      windowEnd: end,
      value,
      threshold,
      summary: `card ${cardShown(ev)}: ${c.attempts.length} attempts at ${c.terminals} terminals of ${c.merchants} merchants within ${minutes} min`,
      evidence: {
        card: cardShown(ev),
        measure: c.measure,
        attempts: String(c.attempts.length),
        declined: String(c.attempts.filter((a) => a.declined).length),
        distinct_terminals: String(c.terminals),
        distinct_merchants: String(c.merchants),
        terminals: [...new Set(c.attempts.map((a) => a.terminal))].slice(0, 10).join(','),
        merchants: [...new Set(c.attempts.map((a) => a.merchant))].slice(0, 10).join(','),
      },
      eventIds: c.attempts.map((a) => a.eventId).slice(-20),
      labels: cardLabels(ev),
    };
  }

  expire(now: number): void {
    const window = this.settings().window;
    if (!this.sweeps.due(now, window)) return;
    const horizon = now - window;
    for (const [card, attempts] of this.byCard) {
      let old = 0;
      while (old < attempts.length && attempts[old]!.time <= horizon) old += 1;
      if (old === 0) continue;
      this.entries -= old;
      if (old === attempts.length) this.byCard.delete(card);
      else this.byCard.set(card, attempts.slice(old));
    }
  }
}
