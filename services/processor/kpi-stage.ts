import type { KpiUpdate } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import type { CommitPoint } from '../shared/kafka/consumer.ts';
import type { EventProducer, OutgoingRecord } from '../shared/kafka/producer.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, gauge, type Registry } from '../shared/metrics.ts';
import type { TransactionEvent } from '../shared/avro/types.generated.ts';
import { checkpointOf, commitPointOf, type CheckpointReading } from './kpi/checkpoint-metadata.ts';
import { ROLLING_SPANS_MS, RollingKpis, latestClosedMinuteEnd, rollingKpiUpdate } from './kpi/rolling.ts';
import { kpiRow, lateEventRow } from './kpi/rows.ts';
import type { KpiLevel } from './kpi/window-state.ts';
import {
  KpiWindowEngine,
  kpiUpdateOf,
  type OffsetEvent,
  type ProcessResult,
  type WindowCheckpoint,
  type WindowEmission,
} from './kpi/windows.ts';
import type { CommittedOffset } from '../shared/kafka/consumer.ts';
import { SOURCE_PARTITION_HEADER } from '../shared/kafka/source-partition.ts';

export interface KpiStageConfig {
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  /** Levels the processor keeps 5m/15m/1h rolling views of (SQL has them for every level). */
  rollingLevels: readonly KpiLevel[];
}

export interface KpiStageDeps {
  store: Pick<Store, 'insert'>;
  producer: Pick<EventProducer, 'send'>;
  kpiTopic: string;
  tables: { kpi1m: string; lateEvents: string };
  logger: Logger;
  metrics: Registry;
  clock: () => number;
}

/** The window engine and rolling views of one partition of `transactions`. */
interface PartitionKpis {
  engine: KpiWindowEngine;
  rolling: RollingKpis;
  /** Start of the first minute whose every window reached `rolling`: older spans are incomplete. */
  coveredFrom: number | null;
}

/**
 * KPIs of the `transactions` partitions this instance owns: folds each batch into the partition's
 * window engine, writes the windows that changed (`kpi_1m`) and the events routed away
 * (`late_events`), publishes them as KpiUpdates, and hands back the commit point that lets a new
 * owner rebuild the open windows (docs/KPIS.md, "Restarts").
 *
 * Every write is idempotent, so a crash anywhere before the commit only repeats work: kpi_1m is a
 * ReplacingMergeTree on (level, entity, window, partition) by version, late_events is keyed by
 * source offset. KpiUpdates on Kafka may repeat after a crash; readers keep the highest version.
 */
export class KpiStage {
  private readonly partitions = new Map<number, PartitionKpis>();
  private readonly metricsOf;

  constructor(
    private readonly deps: KpiStageDeps,
    private readonly config: KpiStageConfig,
  ) {
    const m = deps.metrics;
    this.metricsOf = {
      windows: counter(m, 'pospulse_processor_kpi_windows_total', 'Window rows written, by finality.', [
        'final',
      ]),
      late: counter(m, 'pospulse_processor_late_events_total', 'Events kept out of windows, by reason.', [
        'reason',
      ]),
      rebuilds: counter(
        m,
        'pospulse_processor_kpi_rebuilds_total',
        'Partition window states built, by origin (checkpoint, fresh, invalid checkpoint).',
        ['origin'],
      ),
      open: gauge(m, 'pospulse_processor_open_windows', 'Open (level, entity, minute) windows held.', []),
      watermarkLag: gauge(
        m,
        'pospulse_processor_watermark_lag_seconds',
        'Wall clock minus the partition watermark.',
        ['partition'],
      ),
    };
  }

  has(partition: number): boolean {
    return this.partitions.has(partition);
  }

  /**
   * Builds a partition's engine from what the group committed for it; the consumer then delivers
   * the partition from the committed offset, the checkpoint's restartOffset.
   */
  open(partition: number, committed: CommittedOffset | undefined): void {
    const reading = checkpointOf(partition, committed);
    const engineConfig = {
      partition,
      allowedLatenessMs: this.config.allowedLatenessMs,
      maxFutureSkewMs: this.config.maxFutureSkewMs,
    };
    if (reading.kind === 'invalid') {
      this.deps.logger.error(
        { partition, reason: reading.reason },
        'unreadable window checkpoint in the committed offset metadata: starting the windows afresh',
      );
    }
    const engine = new KpiWindowEngine(engineConfig, startingPoint(partition, reading, committed));
    this.partitions.set(partition, { engine, rolling: new RollingKpis(), coveredFrom: null });
    this.metricsOf.rebuilds.inc({ origin: reading.kind === 'checkpoint' ? 'checkpoint' : reading.kind }, 1);
    this.deps.logger.info(
      {
        partition,
        ...(reading.kind === 'checkpoint'
          ? { restartOffset: reading.checkpoint.restartOffset, nextOffset: reading.checkpoint.nextOffset }
          : {}),
      },
      'window state of partition opened',
    );
  }

  /** Forgets a partition (revoked, or its outputs are in doubt after a failure). */
  drop(partition: number): void {
    this.partitions.delete(partition);
    this.updateOpenGauge();
  }

  /** Offsets below this were processed before: raw rows and status skip them. */
  processedUntil(partition: number): number {
    return this.get(partition).engine.processedUntil;
  }

  /**
   * Folds one batch (offset order) and makes its outputs durable; returns the commit point.
   * `nextOffset` ends the batch when records after the last one were dead-lettered.
   */
  async process(
    partition: number,
    records: readonly { offset: string; value: TransactionEvent }[],
    nextOffset?: string,
  ): Promise<CommitPoint> {
    const p = this.get(partition);
    const batch: OffsetEvent[] = records.map((r) => ({ offset: Number(r.offset), event: r.value }));
    const result = p.engine.process(batch);
    if (nextOffset !== undefined) p.engine.skipTo(Number(nextOffset));
    await this.write(partition, p, result);
    return commitPointOf(p.engine.checkpoint());
  }

  /**
   * Raises a quiet partition's watermark driver to `eventTime` (see KpiWindowEngine.advanceWatermark)
   * and writes the windows that closed. Returns the new commit point, or undefined when nothing moved.
   */
  async advance(partition: number, eventTime: number): Promise<CommitPoint | undefined> {
    const p = this.partitions.get(partition);
    if (p === undefined || p.engine.rebuilding) return undefined;
    const before = p.engine.watermark;
    const result = p.engine.advanceWatermark(eventTime);
    if (p.engine.watermark === before) return undefined;
    await this.write(partition, p, result);
    return commitPointOf(p.engine.checkpoint());
  }

  /** Watermark of a partition this instance holds; null before its first event. */
  watermark(partition: number): number | null {
    return this.partitions.get(partition)?.engine.watermark ?? null;
  }

  private get(partition: number): PartitionKpis {
    const p = this.partitions.get(partition);
    if (p === undefined) throw new Error(`KPI state of partition ${partition} was not opened`);
    return p;
  }

  private async write(partition: number, p: PartitionKpis, result: ProcessResult): Promise<void> {
    const now = this.deps.clock();
    const rolling = this.rollingUpdates(p, result.updates, now);
    const { tables } = this.deps;
    await Promise.all([
      this.deps.store.insert(
        tables.kpi1m,
        result.updates.map((e) => kpiRow(e, now)),
      ),
      this.deps.store.insert(tables.lateEvents, result.late.map(lateEventRow)),
    ]);
    const header = { [SOURCE_PARTITION_HEADER]: String(partition) };
    const records: OutgoingRecord<KpiUpdate>[] = [
      ...result.updates.map((e) => ({
        key: `${e.level}:${e.entityId}`,
        value: kpiUpdateOf(e, now),
        headers: header,
      })),
      ...rolling.map((u) => ({ key: `${u.entity_level}:${u.entity_id}`, value: u, headers: header })),
    ];
    if (records.length > 0) await this.deps.producer.send(this.deps.kpiTopic, 'KpiUpdate', records);

    let finals = 0;
    for (const e of result.updates) if (e.isFinal) finals += 1;
    if (finals > 0) this.metricsOf.windows.inc({ final: 'true' }, finals);
    if (result.updates.length > finals)
      this.metricsOf.windows.inc({ final: 'false' }, result.updates.length - finals);
    for (const l of result.late) this.metricsOf.late.inc({ reason: l.reason }, 1);
    const wm = p.engine.watermark;
    if (wm !== null) this.metricsOf.watermarkLag.set({ partition: String(partition) }, (now - wm) / 1000);
    this.updateOpenGauge();
  }

  /**
   * Feeds the emissions of the rolling levels to the partition's rolling views and, when minutes
   * became final, returns the 5m/15m/1h views ending at the newest final minute for the entities
   * that had one — only spans wholly after `coveredFrom`, so a view never misses minutes this
   * instance did not see (after a restart, 1-hour views resume an hour later).
   */
  private rollingUpdates(p: PartitionKpis, updates: readonly WindowEmission[], now: number): KpiUpdate[] {
    const levels = this.config.rollingLevels;
    if (levels.length === 0) return [];
    const closedEntities = new Map<KpiLevel, Set<string>>();
    for (const e of updates) {
      if (!levels.includes(e.level)) continue;
      if (e.isFinal) {
        p.coveredFrom ??= e.windowStart;
        let set = closedEntities.get(e.level);
        if (set === undefined) closedEntities.set(e.level, (set = new Set()));
        set.add(e.entityId);
      }
      // Open windows before the first final minute may be missing events this instance never saw.
      if (p.coveredFrom !== null) p.rolling.apply(e);
    }
    const end = latestClosedMinuteEnd(p.engine.watermark);
    if (closedEntities.size === 0 || end === null || p.coveredFrom === null) return [];
    const out: KpiUpdate[] = [];
    for (const [level, entities] of closedEntities) {
      for (const entityId of entities) {
        for (const [span, ms] of Object.entries(ROLLING_SPANS_MS) as [
          keyof typeof ROLLING_SPANS_MS,
          number,
        ][]) {
          if (end - ms < p.coveredFrom) continue;
          out.push(rollingKpiUpdate(p.rolling.view(level, entityId, span, end), now));
        }
      }
    }
    p.rolling.evictBefore(end);
    return out;
  }

  private updateOpenGauge(): void {
    let open = 0;
    for (const p of this.partitions.values()) open += p.engine.openWindows;
    this.metricsOf.open.set({}, open);
  }
}

/**
 * The engine's starting point: the checkpoint, or — committed without one (a group first run by an
 * older processor, or unreadable metadata) — the committed offset as both restart and processed
 * end, so the commit never moves back before it. Nothing committed: from the start of the log.
 */
function startingPoint(
  partition: number,
  reading: CheckpointReading,
  committed: CommittedOffset | undefined,
): WindowCheckpoint | undefined {
  if (reading.kind === 'checkpoint') return reading.checkpoint;
  const offset = committed === undefined ? -1 : Number(committed.offset);
  if (!Number.isSafeInteger(offset) || offset < 0) return undefined;
  return { partition, restartOffset: offset, nextOffset: offset, maxEventTime: null };
}
