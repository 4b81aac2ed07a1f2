import type { Alert } from '../../shared/avro/types.generated.ts';
import { clickhouseTime } from '../../shared/clickhouse/rows.ts';
import type { Flag } from './alert-book.ts';

/** Rows of `flags` and `alerts` (infra/clickhouse/migrations/0005_detection.sql). */

export interface FlagRow {
  flag_id: string;
  alert_id: string;
  rule: string;
  severity: string;
  entity_level: string;
  entity_id: string;
  window_start: string;
  window_end: string;
  value: number | null;
  threshold: number | null;
  summary: string;
  evidence: Record<string, string>;
  event_ids: string[];
  labels: Record<string, string>;
  source_partition: number;
  detected_time: string;
}

export function flagRow(f: Flag, partition: number, detectedTime: number): FlagRow {
  const h = f.hit;
  return {
    flag_id: f.flagId,
    alert_id: f.alertId,
    rule: h.rule,
    severity: h.severity,
    entity_level: h.level,
    entity_id: h.entityId,
    window_start: clickhouseTime(h.windowStart, 'window_start'),
    window_end: clickhouseTime(h.windowEnd, 'window_end'),
    value: h.value,
    threshold: h.threshold,
    summary: h.summary,
    evidence: { ...h.evidence },
    event_ids: [...h.eventIds],
    labels: { ...h.labels },
    source_partition: partition,
    detected_time: clickhouseTime(detectedTime, 'detected_time'),
  };
}

export interface AlertRow {
  alert_id: string;
  rule: string;
  severity: string;
  state: string;
  entity_level: string;
  entity_id: string;
  window_start: string;
  window_end: string;
  fired_time: string;
  resolved_time: string | null;
  summary: string;
  value: number | null;
  threshold: number | null;
  evidence: Record<string, string>;
  labels: Record<string, string>;
  source_partition: number;
  version: number;
  updated_time: string;
}

/** version: 1 while firing, 2 once resolved (the resolved row wins). */
export function alertRow(a: Alert, partition: number, updatedTime: number): AlertRow {
  return {
    alert_id: a.alert_id,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    entity_level: a.entity_level,
    entity_id: a.entity_id,
    window_start: clickhouseTime(a.window_start, 'window_start'),
    window_end: clickhouseTime(a.window_end, 'window_end'),
    fired_time: clickhouseTime(a.fired_time, 'fired_time'),
    resolved_time: a.resolved_time === null ? null : clickhouseTime(a.resolved_time, 'resolved_time'),
    summary: a.summary,
    value: a.value,
    threshold: a.threshold,
    evidence: { ...a.evidence },
    labels: { ...a.labels },
    source_partition: partition,
    version: a.state === 'RESOLVED' ? 2 : 1,
    updated_time: clickhouseTime(updatedTime, 'updated_time'),
  };
}
