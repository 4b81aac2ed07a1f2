import type { TransactionEvent } from '../shared/avro/types.generated.ts';
import { detectionGauges, setDetectionGauges } from './detection/gauges.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { CommitPoint, CommittedOffset } from '../shared/kafka/consumer.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';
import { AlertBook, type BookOutput } from './detection/alert-book.ts';
import { AlertWriter } from './detection/alert-writer.ts';
import { CardReplayMarks, cardCheckpointOf, cardCommitPoint } from './detection/card-checkpoint.ts';
import type { CardRule, SaleLookup } from './detection/card-rules/card-rule.ts';
import { CARD_RULES } from './detection/card-rules/index.ts';
import type { Hit } from './detection/hit.ts';
import type { RuleDefinition, RuleSet, RulesSource } from './detection/rules-file.ts';

export interface CardDetectionStageDeps {
  store: Pick<Store, 'insert' | 'query'>;
  producer: Pick<EventProducer, 'send'>;
  alertsTopic: string;
  /** `transactions` is read for sales older than the rules hold (refund matching). */
  tables: { flags: string; alerts: string; transactions: string };
  rules: RulesSource;
  logger: Logger;
  metrics: Registry;
  clock: () => number;
}

/**
 * A restart rebuilds at most this much receive time of card history, whatever the rules' windows:
 * replaying `card-activity` costs as much as reading `transactions`, and a longer rule (the 6-hour
 * travel window, the refund window) starts with part of its history instead (docs/PROCESSOR.md).
 */
export const MAX_CARD_REBUILD_MS = 3_600_000;

/** Rows a sale lookup reads at most; past it, lookups without a match found stay unanswered. */
const SALE_LOOKUP_LIMIT = 10_000;

/**
 * An event that waits for settled history is folded once every `transactions` partition has been
 * processed this far past its request time: events reach a partition out of order by about as much
 * as the windows' allowed lateness.
 */
export const SETTLE_MARGIN_MS = 120_000;

/** Events held for settled history per partition at most; past it the oldest are judged anyway. */
export const MAX_WAITING = 100_000;

interface Waiting {
  offset: number;
  ev: TransactionEvent;
  /** Index in CARD_RULES of the rule it waits for. */
  rule: number;
}

interface PartitionCards {
  /** One instance per CARD_RULES entry, same order. */
  rules: CardRule[];
  book: AlertBook;
  marks: CardReplayMarks;
  /** Offsets below this were processed by a previous owner: replaying them only rebuilds state. */
  processedUntil: number;
  /** Events some rule folds only once history is settled (see waitsForSettled), offset order. */
  waiting: Waiting[];
}

/**
 * Card-level fraud rules (velocity, impossible travel, refund abuse) over the `card-activity`
 * partitions this instance owns. The processor republishes every transaction with a card token to
 * `card-activity` keyed by the token, so one partition holds all of a card's attempts whatever
 * terminal they came from; partition p of it is owned with partition p of `transactions`.
 *
 * Hits become flags and CARD alerts (entity id = card token) through one AlertBook per partition
 * and the write path the terminal rules use. On a new assignment the stage takes back the CARD
 * alerts still FIRING whose token falls in the partition, and rebuilds rule state from the
 * partition's checkpoint (detection/card-checkpoint.ts): up to MAX_CARD_REBUILD_MS of history.
 */
/** Card look-ups asked in one query at most (about 100 bytes of URL each). */
export const LOOKUPS_PER_QUERY = 2_000;

export class CardDetectionStage {
  private readonly partitions = new Map<number, PartitionCards>();
  private readonly writer: AlertWriter;
  private readonly m;
  /** The rule set the partitions' rules were last aligned with (see reloadRules). */
  private ruleSet: RuleSet;
  /** Every `transactions` partition has been processed up to this request time (setSettled). */
  private settled = -Infinity;

  constructor(private readonly deps: CardDetectionStageDeps) {
    this.writer = new AlertWriter(deps);
    const r = deps.metrics;
    this.m = {
      ...detectionGauges(r, {
        name: 'pospulse_processor_open_card_alerts',
        help: 'CARD alerts firing in the partitions held.',
      }),
      rebuilds: counter(
        r,
        'pospulse_processor_card_rebuilds_total',
        'Card-activity partition states opened, by origin (checkpoint, none, invalid).',
        ['origin'],
      ),
      waitingOverflow: counter(
        r,
        'pospulse_processor_card_waiting_overflow_total',
        'Events judged before their history was settled, because too many were waiting.',
        [],
      ),
      lookups: counter(
        r,
        'pospulse_processor_card_sale_lookups_total',
        'Refunds looked up in the transactions table, by outcome (matched, unmatched, unknown).',
        ['outcome'],
      ),
    };
    this.ruleSet = deps.rules.current;
    const unknown = CARD_RULES.filter((r) => !knows(this.ruleSet, r.definition)).map(
      (r) => r.definition.name,
    );
    if (unknown.length > 0) {
      deps.logger.warn(
        { rules: unknown },
        'card rules missing from the rule definitions the rules file was read with; they do not run',
      );
    }
  }

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  /**
   * Builds a partition's rules from its checkpoint (the consumer then delivers the partition from
   * the committed offset) and takes back its CARD alerts still FIRING in the alerts table.
   */
  async open(
    partition: number,
    partitionCount: number,
    committed: CommittedOffset | undefined,
  ): Promise<void> {
    const reading = cardCheckpointOf(committed);
    if (reading.kind === 'invalid') {
      this.deps.logger.error(
        { partition, reason: reading.reason },
        'unreadable card checkpoint in the committed offset metadata: card state starts empty',
      );
    }
    const cp = reading.kind === 'checkpoint' ? reading.checkpoint : undefined;
    const offset = committed === undefined ? -1 : Number(committed.offset);
    const processedUntil = cp?.nextOffset ?? (Number.isSafeInteger(offset) && offset > 0 ? offset : 0);
    const marks = new CardReplayMarks(cp?.historyFrom ?? null);
    const rules = CARD_RULES.map((r) => r.create(() => this.deps.rules.current));
    if (cp?.historyFrom != null) for (const rule of rules) rule.historyFrom?.(cp.historyFrom);
    const book = new AlertBook((rule) => this.resolveAfter(rule));
    book.restore(await this.writer.firing('CARD', partition, partitionCount));
    this.partitions.set(partition, { rules, book, marks, processedUntil, waiting: [] });
    this.m.rebuilds.inc({ origin: reading.kind }, 1);
    this.deps.logger.info(
      { partition, ...(cp ? { restartOffset: cp.restartOffset, nextOffset: cp.nextOffset } : {}) },
      'card state of partition opened',
    );
    this.updateGauges();
  }

  drop(partition: number): void {
    this.partitions.delete(partition);
    this.updateGauges();
  }

  /** Offsets below this were processed before (by this or a previous owner). */
  processedUntil(partition: number): number {
    return this.get(partition).processedUntil;
  }

  /**
   * Folds one batch of `card-activity` (offset order): records before processedUntil rebuild state
   * only, later ones may hit. Writes the flags and alerts they cause and returns the commit point
   * (the oldest offset a rebuild needs, with the checkpoint as metadata).
   */
  async process(
    partition: number,
    records: readonly { offset: string; value: TransactionEvent }[],
    nextOffset: string,
  ): Promise<CommitPoint> {
    const p = this.get(partition);
    const enabled = this.enabledRules(p);
    const replayed: TransactionEvent[] = [];
    const fresh: { offset: number; ev: TransactionEvent }[] = [];
    for (const r of records) {
      const offset = Number(r.offset);
      if (offset < p.processedUntil) replayed.push(r.value);
      else fresh.push({ offset, ev: r.value });
    }
    const firstBatch = p.marks.from === null;
    p.marks.note(records.map((r) => ({ offset: Number(r.offset), received: r.value.gateway_received_time })));
    if (firstBatch && p.marks.from !== null) for (const rule of p.rules) rule.historyFrom?.(p.marks.from);

    for (const ev of replayed) for (const rule of enabled) rule.onTransaction(ev);
    // What each rule folds now; the rest waits for the other partitions (waitsForSettled).
    const now = new Map<CardRule, TransactionEvent[]>(enabled.map((r) => [r, []]));
    const held = new Set<string>();
    for (const { offset, ev } of fresh) {
      for (const rule of enabled) {
        if (rule.waitsForSettled?.(ev) === true && !this.isSettled(ev)) {
          p.waiting.push({ offset, ev, rule: p.rules.indexOf(rule) });
          held.add(`${rule.definition.name}\u0000${ev.event_id}`);
        } else now.get(rule)?.push(ev);
      }
    }
    await this.lookUp(now);
    const hits: Hit[] = [];
    for (const { ev } of fresh) {
      for (const rule of enabled)
        if (!held.has(`${rule.definition.name}\u0000${ev.event_id}`)) hits.push(...rule.onTransaction(ev));
    }
    hits.push(...(await this.release(p)));
    await this.write(partition, p.book.record(hits));
    const next = Number(nextOffset);
    if (next > p.processedUntil) p.processedUntil = next;
    return this.commitPoint(p);
  }

  /** The commit point of a partition now (a tick may have released waiting events), if open. */
  commitPointOf(partition: number): CommitPoint | undefined {
    const p = this.partitions.get(partition);
    return p === undefined ? undefined : this.commitPoint(p);
  }

  /**
   * Every `transactions` partition has been processed up to request time `time` (the processor
   * reads the group's checkpoints); events waiting for settled history before it may be judged.
   */
  setSettled(time: number): void {
    this.settled = time;
  }

  /** The commit point of a partition: never past an event still waiting. */
  private commitPoint(p: PartitionCards): CommitPoint {
    const oldestWaiting = p.waiting[0]?.offset ?? Infinity;
    return cardCommitPoint(p.marks.checkpoint(Math.min(p.processedUntil, oldestWaiting), this.rebuildSpan()));
  }

  private isSettled(ev: TransactionEvent): boolean {
    return ev.request_time + SETTLE_MARGIN_MS <= this.settled;
  }

  /** Folds the waiting events that are settled now (or the oldest, past MAX_WAITING). */
  private async release(p: PartitionCards): Promise<Hit[]> {
    if (p.waiting.length === 0) return [];
    const enabled = new Set(this.ruleSet.enabled);
    const overflow = p.waiting.length - MAX_WAITING;
    const ready: Waiting[] = [];
    const still: Waiting[] = [];
    p.waiting.forEach((w, i) => (i < overflow || this.isSettled(w.ev) ? ready : still).push(w));
    p.waiting = still;
    if (overflow > 0) this.m.waitingOverflow.inc({}, overflow);
    const now = new Map<CardRule, TransactionEvent[]>();
    for (const w of ready) {
      const rule = p.rules[w.rule];
      if (rule === undefined || !enabled.has(rule.definition.name)) continue;
      let list = now.get(rule);
      if (list === undefined) now.set(rule, (list = []));
      list.push(w.ev);
    }
    await this.lookUp(now);
    const hits: Hit[] = [];
    for (const [rule, events] of now) for (const ev of events) hits.push(...rule.onTransaction(ev));
    return hits;
  }

  /** At event time `now`: expires rule state and resolves quiet alerts. */
  async tick(partition: number, now: number): Promise<void> {
    const p = this.partitions.get(partition);
    if (p === undefined) return;
    const recorded = p.book.record(await this.release(p));
    for (const rule of this.enabledRules(p)) rule.expire(now);
    await this.write(partition, { ...recorded, alerts: [...recorded.alerts, ...p.book.tick(now)] });
  }

  /**
   * Aligns the partitions with the rule set in force, after the DetectionStage reloaded the rules
   * file: alerts of card rules it disabled resolve at `now` and their state is dropped; a rule
   * enabled again starts empty. Rules it keeps carry their state over (they read settings live).
   */
  async reloadRules(now: number): Promise<void> {
    const current = this.deps.rules.current;
    if (current === this.ruleSet) return;
    const before = new Set(this.ruleSet.enabled);
    const after = new Set(current.enabled);
    this.ruleSet = current;
    for (const [partition, p] of this.partitions) {
      const resolved: BookOutput['alerts'] = [];
      CARD_RULES.forEach((def, i) => {
        const name = def.definition.name;
        if (before.has(name) === after.has(name)) return;
        if (before.has(name)) resolved.push(...p.book.resolveRule(name, now));
        const rule = def.create(() => this.deps.rules.current);
        const from = p.marks.newestReceived;
        if (from !== null) rule.historyFrom?.(from);
        p.rules[i] = rule;
      });
      await this.write(partition, { flags: [], alerts: resolved });
    }
  }

  private enabledRules(p: PartitionCards): CardRule[] {
    const enabled = new Set(this.ruleSet.enabled);
    return p.rules.filter((r) => enabled.has(r.definition.name));
  }

  /** Receive time a restart rebuilds: the longest span an enabled rule's hits depend on, capped. */
  private rebuildSpan(): number {
    const enabled = new Set(this.ruleSet.enabled);
    let span = 0;
    for (const r of CARD_RULES) {
      if (enabled.has(r.definition.name)) span = Math.max(span, r.rebuildSpan(this.ruleSet));
    }
    return Math.min(span, MAX_CARD_REBUILD_MS);
  }

  /**
   * Asks the transactions table the rules' questions about older sales, in one query per batch:
   * the merchant id leads the table's primary key, so the lookup reads only those merchants' parts.
   */
  private async lookUp(byRule: ReadonlyMap<CardRule, readonly TransactionEvent[]>): Promise<void> {
    const asks: { rule: CardRule; lookup: SaleLookup }[] = [];
    for (const [rule, events] of byRule) {
      if (events.length === 0) continue;
      for (const lookup of rule.lookups?.(events) ?? []) asks.push({ rule, lookup });
    }
    // Query parameters travel in the URL: a busy batch's lookups are asked LOOKUPS_PER_QUERY at a
    // time, so the URL stays far below a server's limit (ClickHouse's http_max_uri_size, 1 MiB).
    for (let i = 0; i < asks.length; i += LOOKUPS_PER_QUERY)
      await this.lookUpSome(asks.slice(i, i + LOOKUPS_PER_QUERY));
  }

  private async lookUpSome(asks: readonly { rule: CardRule; lookup: SaleLookup }[]): Promise<void> {
    const lookups = asks.map((a) => a.lookup);
    const rows = await this.deps.store.query<{
      card_token: string;
      merchant_id: string;
      currency: string;
      amount_minor: string | number;
      t: string | number;
    }>(
      `SELECT card_token, merchant_id, currency, amount_minor, toUnixTimestamp64Milli(request_time) AS t
       FROM ${this.deps.tables.transactions}
       WHERE merchant_id IN {merchants:Array(String)} AND card_token IN {cards:Array(String)}
         AND transaction_type IN ('SALE', 'COMPLETION') AND status = 'APPROVED'
         AND request_time >= fromUnixTimestamp64Milli({from:Int64})
         AND request_time <= fromUnixTimestamp64Milli({to:Int64})
       LIMIT ${SALE_LOOKUP_LIMIT}`,
      {
        merchants: [...new Set(lookups.map((l) => l.merchantId))],
        cards: [...new Set(lookups.map((l) => l.cardToken))],
        from: Math.min(...lookups.map((l) => l.from)),
        to: Math.max(...lookups.map((l) => l.to)),
      },
    );
    const complete = rows.length < SALE_LOOKUP_LIMIT;
    for (const { rule, lookup: l } of asks) {
      const matched = rows.some(
        (r) =>
          r.card_token === l.cardToken &&
          r.merchant_id === l.merchantId &&
          r.currency === l.currency &&
          Number(r.amount_minor) >= l.minAmountMinor &&
          Number(r.t) >= l.from &&
          Number(r.t) <= l.to,
      );
      if (matched || complete) rule.answer?.(l.eventId, matched);
      this.m.lookups.inc({ outcome: matched ? 'matched' : complete ? 'unmatched' : 'unknown' }, 1);
    }
  }

  private resolveAfter(rule: string): number {
    const def = CARD_RULES.find((r) => r.definition.name === rule)?.definition;
    return def !== undefined && knows(this.deps.rules.current, def)
      ? this.deps.rules.current.get(def).resolve_after
      : 300_000;
  }

  private get(partition: number): PartitionCards {
    const p = this.partitions.get(partition);
    if (p === undefined) throw new Error(`card detection of partition ${partition} was not opened`);
    return p;
  }

  private async write(partition: number, out: BookOutput): Promise<void> {
    await this.writer.write(partition, out);
    this.updateGauges();
  }

  private updateGauges(): void {
    setDetectionGauges(this.partitions.values(), this.m);
  }
}

/** Whether a rule set has settings for `def` (built from definitions that include it). */
function knows(rules: RuleSet, def: RuleDefinition): boolean {
  try {
    rules.get(def);
    return true;
  } catch {
    return false;
  }
}
