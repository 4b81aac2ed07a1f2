import { definitionRule, type KpiDefinition } from '../../shared/kpi/definitions.ts';
import { KPI_LEVELS, WINDOW_MS, type KpiLevel } from '../kpi/window-state.ts';
import { AlertBook, bookOutputs, type BookOutput } from './alert-book.ts';
import type { Hit } from './hit.ts';
import { judgeDefinitions } from './kpi-rules/definition-rules.ts';
import { EntityMinutes, type MinuteUpdate } from './kpi-rules/entity-minutes.ts';
import {
  LatencySpikeRule,
  ShareSpikeRule,
  declineSpikeRule,
  latencySpikeRule,
  timeoutSpikeRule,
  type KpiRule,
} from './kpi-rules/spike-rules.ts';
import type { RuleDefinition, RuleSet } from './rules-file.ts';

/** The entity KPI rules' definitions, for the rules file. */
export const KPI_RULE_DEFINITIONS: readonly RuleDefinition[] = [
  declineSpikeRule,
  timeoutSpikeRule,
  latencySpikeRule,
];

/** Minutes kept per entity: the longest window a rule may use plus the minutes still changing. */
export const KEEP_MS = 60 * WINDOW_MS;

/**
 * Entity KPI rules over one partition of `kpi-updates`. Every 1-minute partial of an entity is on
 * the partition its key (LEVEL:entity) hashes to, so the entity's minutes are complete here once
 * all source partitions reported. Each update refreshes its entity's minute and re-evaluates the
 * entity; minutes that leave the kept span feed the baselines.
 *
 * A minute still open in some source partition is judged as it stands, so the current value rises
 * as partials arrive; a spike is judged on the last `window` minutes, which damps that.
 */
export class KpiDetection {
  private readonly entities = new Map<
    string,
    { level: KpiLevel; entityId: string; minutes: EntityMinutes }
  >();
  readonly rules: readonly KpiRule[];
  readonly book: AlertBook;
  /** Start of the newest minute judged: the data's clock, for resolving in a backlog. */
  private clock = -Infinity;

  constructor(
    private readonly rulesNow: () => RuleSet,
    /** The user's KPI definitions (kpi_definitions), judged next to the rules. */
    private readonly definitionsNow: () => readonly KpiDefinition[] = () => [],
  ) {
    this.rules = [
      new ShareSpikeRule(declineSpikeRule, () => rulesNow().get(declineSpikeRule), 'declined'),
      new ShareSpikeRule(timeoutSpikeRule, () => rulesNow().get(timeoutSpikeRule), 'timeouts'),
      new LatencySpikeRule(() => rulesNow().get(latencySpikeRule)),
    ];
    this.book = new AlertBook((rule) => {
      const def = KPI_RULE_DEFINITIONS.find((d) => d.name === rule);
      if (def !== undefined) return rulesNow().get(def).resolve_after;
      const kpi = definitionsNow().find((d) => definitionRule(d.name) === rule);
      // A definition deleted meanwhile: its alerts resolve at the next tick.
      return kpi === undefined ? 0 : kpi.resolve_after_minutes * WINDOW_MS;
    });
  }

  /** Entities and baselines held (for the memory gauge). */
  get size(): number {
    let n = this.entities.size;
    for (const r of this.rules) n += r.size;
    return n;
  }

  /**
   * Applies a batch of updates (`sourcePartition` from each record's header); `live` false while
   * rebuilding state, when hits are not reported.
   */
  onUpdates(updates: readonly { update: MinuteUpdate; sourcePartition: number }[], live = true): BookOutput {
    const { out, add: absorb } = bookOutputs();
    /** Entities changed since last judged: the emission time of their newest update, the minutes changed. */
    const touched = new Map<string, { asOf: number; minutes: Set<number> }>();
    const judgeTouched = (key: string): void => {
      const e = this.entities.get(key);
      const t = touched.get(key);
      touched.delete(key);
      if (e !== undefined && t !== undefined) absorb(this.book.record(this.judge(e, t.asOf, t.minutes)));
    };
    const flush = (): void => {
      for (const key of [...touched.keys()]) judgeTouched(key);
    };
    for (const { update: u, sourcePartition } of updates) {
      if (u.window_size_ms !== WINDOW_MS || !(KPI_LEVELS as readonly string[]).includes(u.entity_level))
        continue;
      // A batch read from a backlog spans many minutes: at each new one, judge what changed before
      // it and resolve the alerts quiet by then, as a live reader would have (ticks are minutes of
      // event time apart in a backlog, and an alert left open would swallow the next incident).
      if (live && u.window_start > this.clock) {
        if (this.clock !== -Infinity) {
          flush();
          absorb({ flags: [], alerts: this.book.tick(u.window_start) });
        }
        this.clock = u.window_start;
      }
      const level = u.entity_level as KpiLevel;
      const key = `${level}\u0000${u.entity_id}`;
      let e = this.entities.get(key);
      if (e === undefined) {
        if (!this.rules.some((r) => this.watches(r, level)) && !this.definesLevel(level)) continue;
        this.entities.set(key, (e = { level, entityId: u.entity_id, minutes: new EntityMinutes(KEEP_MS) }));
      }
      if (live && touched.has(key) && u.window_start > e.minutes.newestMinute) judgeTouched(key);
      for (const settled of e.minutes.apply(u, sourcePartition)) {
        for (const r of this.rules) r.settle(level, u.entity_id, settled);
      }
      let t = touched.get(key);
      if (t === undefined) touched.set(key, (t = { asOf: u.emitted_time, minutes: new Set() }));
      t.asOf = Math.max(t.asOf, u.emitted_time);
      t.minutes.add(u.window_start);
    }
    if (!live) return { flags: [], alerts: [] };
    flush();
    return out;
  }

  /**
   * Judges every window that holds a changed minute (up to the newest minute), oldest first: a
   * partial that arrives after newer minutes of other partitions still counts in its own minute's
   * windows, not only in the newest one.
   */
  private judge(
    e: { level: KpiLevel; entityId: string; minutes: EntityMinutes },
    asOf: number,
    changed: ReadonlySet<number>,
  ): Hit[] {
    const hits: Hit[] = [];
    const newest = e.minutes.newestMinute;
    for (const r of this.rules) {
      if (!this.rulesNow().get(r.definition).enabled) continue;
      const ends = new Set<number>();
      for (const m of changed) {
        for (let end = m; end <= newest && end < m + r.windowMs(); end += WINDOW_MS) ends.add(end);
      }
      for (const end of [...ends].sort((x, y) => x - y)) {
        // A window ending before the newest minute is complete: it is dated by its end.
        hits.push(...r.evaluate(e.level, e.entityId, e.minutes, end === newest ? asOf : Infinity, end));
      }
    }
    const definitions = this.definitionsNow().filter((d) => d.enabled && d.level === e.level);
    if (definitions.length > 0) {
      const span = Math.max(...definitions.map((d) => d.window_minutes)) * WINDOW_MS;
      const ends = new Set<number>();
      for (const m of changed)
        for (let end = m; end <= newest && end < m + span; end += WINDOW_MS) ends.add(end);
      const totals = (from: number, to: number) => e.minutes.totals(from, to);
      for (const end of [...ends].sort((x, y) => x - y))
        hits.push(
          ...judgeDefinitions(
            definitions,
            e.level,
            e.entityId,
            totals,
            end === newest ? asOf : Infinity,
            end,
          ),
        );
    }
    return hits.sort((x, y) => x.windowEnd - y.windowEnd);
  }

  /**
   * Resolves alerts quiet since before `now` (event time), and forgets entities with no minute in
   * the `idleMs` before the partition's newest minute, their minutes settling into the baselines
   * first. Idleness is judged on the data's own clock, not `now`: a backlog read while the
   * processor looks caught up must not drop minutes that have not reached the baselines yet.
   */
  tick(now: number, idleMs = KEEP_MS): BookOutput {
    let newest = -Infinity;
    for (const e of this.entities.values()) newest = Math.max(newest, e.minutes.newestMinute);
    for (const [key, e] of this.entities) {
      if (e.minutes.newestMinute >= newest - idleMs) continue;
      for (const settled of e.minutes.drain()) {
        for (const r of this.rules) r.settle(e.level, e.entityId, settled);
      }
      this.entities.delete(key);
    }
    return { flags: [], alerts: this.book.tick(now) };
  }

  private definesLevel(level: KpiLevel): boolean {
    return this.definitionsNow().some((d) => d.enabled && d.level === level);
  }

  private watches(rule: KpiRule, level: KpiLevel): boolean {
    const s = this.rulesNow().get(rule.definition) as { levels?: readonly string[] };
    return s.levels?.includes(level) ?? false;
  }
}
