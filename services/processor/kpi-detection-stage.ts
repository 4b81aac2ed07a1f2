import type { KpiUpdate } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { ConsumedRecord } from '../shared/kafka/consumer.ts';
import { SOURCE_PARTITION_HEADER, sourcePartitionOf } from '../shared/kafka/source-partition.ts';
import type { EventProducer } from '../shared/kafka/producer.ts';
import { definitionRule, type KpiDefinition } from '../shared/kpi/definitions.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, type Registry } from '../shared/metrics.ts';
import type { BookOutput } from './detection/alert-book.ts';
import { AlertWriter } from './detection/alert-writer.ts';
import { detectionGauges, setDetectionGauges } from './detection/gauges.ts';
import { KEEP_MS, KPI_RULE_DEFINITIONS, KpiDetection } from './detection/kpi-detection.ts';
import type { MinuteUpdate } from './detection/kpi-rules/entity-minutes.ts';
import type { RuleSet, RulesSource } from './detection/rules-file.ts';
import { KPI_LEVELS, WINDOW_MS, type KpiLevel } from './kpi/window-state.ts';
import { partitionOfKey } from './partition-of.ts';

export interface KpiDetectionStageDeps {
  store: Pick<Store, 'insert' | 'query'>;
  producer: Pick<EventProducer, 'send'>;
  alertsTopic: string;
  tables: { flags: string; alerts: string; kpi1m: string };
  rules: RulesSource;
  /** The user's KPI definitions, judged like the rules (kpi-definitions-source.ts); none when absent. */
  definitions?: { readonly current: readonly KpiDefinition[] };
  logger: Logger;
  metrics: Registry;
  clock: () => number;
}

/** Settled history a restore reads at most, whatever the baselines' half-lives. */
export const MAX_KPI_RESTORE_MS = 6 * 3_600_000;

/** Rows one restore reads at most; past it the oldest minutes are left out (and it is logged). */
const RESTORE_ROW_LIMIT = 2_000_000;

/**
 * A minute's partial is held back while it is this far ahead of the slowest `transactions`
 * partition: live, every partition is within seconds of the others and nothing waits.
 */
export const KPI_SETTLE_MARGIN_MS = 120_000;

/** Partials held back per partition at most; past it the oldest are judged anyway. */
export const MAX_HELD_PARTIALS = 500_000;

type Partial = { update: KpiUpdate; sourcePartition: number };

interface PartitionKpiDetection {
  detection: KpiDetection;
  /** End of the newest minute judged: the partition's event time while it reads a backlog. */
  newestEnd: number | null;
  /**
   * Partials ahead of the slowest source partition, by minute, then by entity and source (newest
   * version): a release visits only the minutes it frees.
   */
  held: Map<number, Map<string, Partial>>;
  heldCount: number;
}

/**
 * Entity KPI rules (decline, timeout and latency spikes of merchants, regions, acquirers…) over
 * the `kpi-updates` partitions this instance owns. The KPI stage keys each 1-minute partial by
 * LEVEL:entity, so one partition holds every partial of an entity, whichever `transactions`
 * partition computed it (the `pospulse-source-partition` header says which); the rules add them up.
 *
 * The rules judge entities against baselines learnt over hours, longer than kpi-updates is worth
 * replaying: opening a partition rebuilds its entities' minutes and baselines from `kpi_1m` (the
 * same partials, durable), then takes back the KPI alerts still FIRING for its entities. The
 * consumer then resumes at the committed offset; partials it repeats are kept once (by version).
 */
export class KpiDetectionStage {
  private readonly partitions = new Map<number, PartitionKpiDetection>();
  private readonly writer: AlertWriter;
  private readonly m;
  private ruleSet: RuleSet;
  /** Rules of the definitions enabled at the last reload, to resolve the alerts of those removed. */
  private definitionRules = new Set<string>();
  /** The slowest `transactions` partition's processed request time (setSettled). */
  private settled = -Infinity;

  constructor(private readonly deps: KpiDetectionStageDeps) {
    this.writer = new AlertWriter(deps);
    const r = deps.metrics;
    this.m = {
      ...detectionGauges(r, {
        name: 'pospulse_processor_open_kpi_alerts',
        help: 'Entity KPI alerts firing in the partitions held.',
      }),
      restored: counter(
        r,
        'pospulse_processor_kpi_detection_restored_rows_total',
        'kpi_1m rows read back to rebuild entity minutes and baselines.',
        [],
      ),
    };
    this.ruleSet = deps.rules.current;
    this.definitionRules = this.enabledDefinitionRules();
  }

  private definitions(): readonly KpiDefinition[] {
    return this.deps.definitions?.current ?? [];
  }

  private enabledDefinitionRules(): Set<string> {
    return new Set(
      this.definitions()
        .filter((d) => d.enabled)
        .map((d) => definitionRule(d.name)),
    );
  }

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  /**
   * Opens `partitions` (those not open yet) in one read of `kpi_1m`: each gets the minutes and
   * baselines of its entities, then its KPI alerts still FIRING.
   */
  async open(partitions: readonly number[], partitionCount: number): Promise<void> {
    const wanted = partitions.filter((p) => !this.partitions.has(p));
    if (wanted.length === 0) return;
    const fresh = new Map(
      wanted.map((p) => [
        p,
        new KpiDetection(
          () => this.deps.rules.current,
          () => this.definitions(),
        ),
      ]),
    );
    const byPartition = await this.history(new Set(wanted), partitionCount);
    for (const [p, detection] of fresh) {
      const updates = byPartition.get(p) ?? [];
      detection.onUpdates(updates, false);
      const firing = await this.writer.firing(
        KPI_LEVELS,
        p,
        partitionCount,
        (a) => `${a.level}:${a.entityId}`,
      );
      detection.book.restore(
        firing.filter(
          (a) => KPI_RULE_DEFINITIONS.some((d) => d.name === a.rule) || this.definitionRules.has(a.rule),
        ),
      );
      const newest = updates.reduce((t, u) => Math.max(t, u.update.window_start + WINDOW_MS), -Infinity);
      this.partitions.set(p, {
        detection,
        newestEnd: Number.isFinite(newest) ? newest : null,
        held: new Map(),
        heldCount: 0,
      });
      this.deps.logger.info(
        { partition: p, rows: updates.length, entities: detection.size, firing: detection.book.size },
        'entity KPI detection of partition opened',
      );
    }
    this.updateGauges();
  }

  drop(partition: number): void {
    this.partitions.delete(partition);
    this.updateGauges();
  }

  /**
   * Folds a batch of KpiUpdates; writes the flags and alerts their hits cause.
   *
   * An entity's minute is the sum of its partials from every `transactions` partition, and while a
   * backlog is read one partition may be hours ahead of another: judged on arrival, a minute would
   * lack the partials of the slow ones (and their late partials would fall outside the kept span).
   * So a 1-minute partial more than KPI_SETTLE_MARGIN_MS ahead of the slowest partition (setSettled)
   * is held back, and released in minute order as the slowest catches up. Held partials are not in
   * the commit: after a crash they are rebuilt only as far as the restore reads kpi_1m.
   */
  async process(partition: number, records: readonly ConsumedRecord<KpiUpdate>[]): Promise<void> {
    const p = this.get(partition);
    const updates: Partial[] = [];
    // Levels no rule watches are left out before anything is held.
    const watched = new Set<string>(this.watchedLevels());
    for (const r of records) {
      const source = sourcePartitionOf(r);
      if (source === null) {
        this.deps.logger.warn(
          { partition, offset: r.offset, header: SOURCE_PARTITION_HEADER },
          'KpiUpdate without a source partition header: left out of entity KPI detection',
        );
        continue;
      }
      const u = r.value;
      if (u.window_size_ms !== WINDOW_MS || !watched.has(u.entity_level)) continue;
      if (u.window_start > this.settled + KPI_SETTLE_MARGIN_MS) {
        let minute = p.held.get(u.window_start);
        if (minute === undefined) p.held.set(u.window_start, (minute = new Map()));
        const key = `${u.entity_level}\u0000${u.entity_id}\u0000${source}`;
        const held = minute.get(key);
        if (held === undefined) p.heldCount += 1;
        if (held === undefined || held.update.version < u.version)
          minute.set(key, { update: u, sourcePartition: source });
      } else updates.push({ update: u, sourcePartition: source });
    }
    await this.judge(partition, p, [...this.release(p), ...updates]);
  }

  /**
   * The slowest `transactions` partition has been processed up to request time `time` (the
   * processor reads the group's checkpoints at every tick; +∞ when all are read to their ends).
   */
  setSettled(time: number): void {
    this.settled = time;
  }

  /** Held partials now within the margin of the slowest partition (or past MAX_HELD_PARTIALS), oldest first. */
  private release(p: PartitionKpiDetection): Partial[] {
    if (p.heldCount === 0) return [];
    const out: Partial[] = [];
    for (const minute of [...p.held.keys()].sort((x, y) => x - y)) {
      if (minute > this.settled + KPI_SETTLE_MARGIN_MS && p.heldCount <= MAX_HELD_PARTIALS) break;
      const partials = p.held.get(minute) as Map<string, Partial>;
      out.push(...partials.values());
      p.heldCount -= partials.size;
      p.held.delete(minute);
    }
    return out;
  }

  private async judge(
    partition: number,
    p: PartitionKpiDetection,
    updates: readonly Partial[],
  ): Promise<void> {
    for (const { update: u } of updates) {
      const end = u.window_start + WINDOW_MS;
      if (p.newestEnd === null || end > p.newestEnd) p.newestEnd = end;
    }
    await this.write(partition, p.detection.onUpdates(updates));
  }

  /** End of the newest minute a partition has seen (its event time), null before any. */
  newestEnd(partition: number): number | null {
    return this.partitions.get(partition)?.newestEnd ?? null;
  }

  /** Judges the partials the slowest partition caught up with; then, at event time `now`, forgets idle entities and resolves quiet alerts. */
  async tick(partition: number, now: number): Promise<void> {
    const p = this.partitions.get(partition);
    if (p === undefined) return;
    await this.judge(partition, p, this.release(p));
    await this.write(partition, p.detection.tick(now));
  }

  /**
   * After the rules file or the KPI definitions changed: alerts of KPI rules it disabled, and of
   * definitions deleted or disabled, resolve at `now`.
   */
  async reloadRules(now: number): Promise<void> {
    const current = this.deps.rules.current;
    const definitionRules = this.enabledDefinitionRules();
    const gone = [...this.definitionRules].filter((r) => !definitionRules.has(r));
    this.definitionRules = definitionRules;
    if (current === this.ruleSet && gone.length === 0) return;
    const after = new Set(current.enabled);
    const disabled = [
      ...this.ruleSet.enabled.filter((r) => !after.has(r) && KPI_RULE_DEFINITIONS.some((d) => d.name === r)),
      ...gone,
    ];
    this.ruleSet = current;
    for (const [partition, p] of this.partitions) {
      const alerts = disabled.flatMap((rule) => p.detection.book.resolveRule(rule, now));
      await this.write(partition, { flags: [], alerts });
    }
  }

  /**
   * The 1-minute partials of the watched levels over the restore span, as updates per kpi-updates
   * partition among `wanted`. Entities are few next to terminals (merchants, regions, acquirers),
   * so one read for all partitions opened together is cheap.
   */
  private async history(
    wanted: ReadonlySet<number>,
    partitionCount: number,
  ): Promise<Map<number, { update: MinuteUpdate; sourcePartition: number }[]>> {
    const out = new Map<number, { update: MinuteUpdate; sourcePartition: number }[]>();
    const levels = this.watchedLevels();
    if (levels.length === 0) return out;
    const from = this.deps.clock() - this.restoreSpan();
    const rows = await this.deps.store.query<{
      entity_level: string;
      entity_id: string;
      window_start: string | number;
      source_partition: number;
      version: string | number;
      tx_count: string | number;
      approved_count: string | number;
      declined_count: string | number;
      timeout_count: string | number;
      refund_count: string | number;
      reversal_count: string | number;
      latency_sketch_base64: string | null;
    }>(
      `SELECT entity_level, entity_id, toUnixTimestamp64Milli(window_start) AS window_start, source_partition,
              version, tx_count, approved_count, declined_count, timeout_count, refund_count,
              reversal_count, latency_sketch_base64
       FROM ${this.deps.tables.kpi1m} FINAL
       WHERE entity_level IN {levels:Array(String)} AND window_start >= fromUnixTimestamp64Milli({from:Int64})
       ORDER BY window_start DESC
       LIMIT ${RESTORE_ROW_LIMIT}`,
      { levels, from },
    );
    this.m.restored.inc({}, rows.length);
    if (rows.length >= RESTORE_ROW_LIMIT) {
      this.deps.logger.warn(
        { rows: rows.length },
        'kpi_1m restore hit its row limit: the oldest minutes are left out of the baselines',
      );
    }
    // Oldest first, as the topic would deliver them, so minutes settle into baselines in order.
    for (let i = rows.length - 1; i >= 0; i -= 1) {
      const row = rows[i];
      if (row === undefined) continue;
      const p = partitionOfKey(`${row.entity_level}:${row.entity_id}`, partitionCount);
      if (!wanted.has(p)) continue;
      let list = out.get(p);
      if (list === undefined) out.set(p, (list = []));
      list.push({
        sourcePartition: Number(row.source_partition),
        update: {
          entity_level: row.entity_level as KpiUpdate['entity_level'],
          entity_id: row.entity_id,
          window_start: Number(row.window_start),
          window_size_ms: WINDOW_MS,
          version: Number(row.version),
          tx_count: Number(row.tx_count),
          approved_count: Number(row.approved_count),
          declined_count: Number(row.declined_count),
          timeout_count: Number(row.timeout_count),
          refund_count: Number(row.refund_count),
          reversal_count: Number(row.reversal_count),
          // Only rebuilds state (no hits): the minute's end stands for its emission.
          emitted_time: Number(row.window_start) + WINDOW_MS,
          latency_sketch:
            row.latency_sketch_base64 === null || row.latency_sketch_base64 === ''
              ? null
              : Buffer.from(row.latency_sketch_base64, 'base64'),
        },
      });
    }
    return out;
  }

  /** Levels some enabled KPI rule or definition watches. */
  private watchedLevels(): KpiLevel[] {
    const rules = this.deps.rules.current;
    const levels = new Set<string>(this.definitions().flatMap((d) => (d.enabled ? [d.level] : [])));
    for (const def of KPI_RULE_DEFINITIONS) {
      const s = rules.get(def) as { enabled: boolean; levels?: readonly string[] };
      if (s.enabled) for (const l of s.levels ?? []) levels.add(l);
    }
    return KPI_LEVELS.filter((l) => levels.has(l));
  }

  /** The kept minutes plus three half-lives of the slowest baseline (1/8 of its weight left out). */
  private restoreSpan(): number {
    const rules = this.deps.rules.current;
    let halfLife = 0;
    for (const def of KPI_RULE_DEFINITIONS) {
      const s = rules.get(def) as { enabled: boolean; half_life?: number };
      if (s.enabled) halfLife = Math.max(halfLife, s.half_life ?? 0);
    }
    return KEEP_MS + Math.min(3 * halfLife, MAX_KPI_RESTORE_MS);
  }

  private get(partition: number): PartitionKpiDetection {
    const p = this.partitions.get(partition);
    if (p === undefined) throw new Error(`entity KPI detection of partition ${partition} was not opened`);
    return p;
  }

  private async write(partition: number, out: BookOutput): Promise<void> {
    await this.writer.write(partition, out);
    this.updateGauges();
  }

  private updateGauges(): void {
    setDetectionGauges(
      [...this.partitions.values()].map((p) => ({ book: p.detection.book, rules: p.detection.rules })),
      this.m,
    );
  }
}
