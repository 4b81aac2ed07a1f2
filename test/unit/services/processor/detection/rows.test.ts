import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlertBook } from '../../../../../services/processor/detection/alert-book.ts';
import type { Hit } from '../../../../../services/processor/detection/hit.ts';
import { alertRow, flagRow } from '../../../../../services/processor/detection/rows.ts';
import { ValidationError } from '../../../../../services/shared/errors.ts';

const root = join(import.meta.dirname, '..', '..', '..', '..', '..');
const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);

/** Column names of a table in the detection migration, in order. */
function columnsOf(table: 'flags' | 'alerts'): string[] {
  const sql = readFileSync(join(root, 'infra/clickhouse/migrations/0005_detection.sql'), 'utf8');
  const body = new RegExp(`\\{\\{table:${table}\\}\\}[^(]*\\(([\\s\\S]*?)\\n\\)`).exec(sql)?.[1];
  if (body === undefined) throw new Error(`no table ${table} in the migration`);
  return body
    .split('\n')
    .map((l) => /^\s+([a-z_]+)\s/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
}

const hit: Hit = {
  rule: 'duplicate_transaction',
  severity: 'WARNING',
  level: 'TERMINAL',
  entityId: 'TRM-00007',
  windowStart: T0,
  windowEnd: T0 + 12_345,
  value: 2,
  threshold: 2,
  summary: '2 approved SALE of 1250 EUR on one card within 12 s at terminal TRM-00007',
  evidence: { card: '411111…1234', copies: '2' },
  eventIds: ['e1', 'e2'],
  labels: { merchant_id: 'M1', region: 'north' },
};

function fire(): { book: AlertBook; flag: ReturnType<AlertBook['record']>['flags'][number] } {
  const book = new AlertBook(() => 60_000);
  const { flags } = book.record([hit]);
  return { book, flag: flags[0]! };
}

describe('flagRow', () => {
  it('writes a hit as a flags row, times as DateTime64(3) text in UTC', () => {
    const { flag } = fire();
    expect(flagRow(flag, 4, T0 + 20_001)).toEqual({
      flag_id: flag.flagId,
      alert_id: flag.alertId,
      rule: 'duplicate_transaction',
      severity: 'WARNING',
      entity_level: 'TERMINAL',
      entity_id: 'TRM-00007',
      window_start: '2026-11-01 09:00:00.000',
      window_end: '2026-11-01 09:00:12.345',
      value: 2,
      threshold: 2,
      summary: hit.summary,
      evidence: { card: '411111…1234', copies: '2' },
      event_ids: ['e1', 'e2'],
      labels: { merchant_id: 'M1', region: 'north' },
      source_partition: 4,
      detected_time: '2026-11-01 09:00:20.001',
    });
  });

  it('has exactly the columns of the flags table', () => {
    const { flag } = fire();
    expect(Object.keys(flagRow(flag, 0, T0))).toEqual(columnsOf('flags'));
  });

  it('does not share the hit’s evidence, ids or labels', () => {
    const { flag } = fire();
    const row = flagRow(flag, 0, T0);
    expect(row.evidence).not.toBe(hit.evidence);
    expect(row.event_ids).not.toBe(hit.eventIds);
    expect(row.labels).not.toBe(hit.labels);
  });

  it('keeps a rule without a threshold as nulls', () => {
    const book = new AlertBook(() => 60_000);
    const [flag] = book.record([{ ...hit, value: null, threshold: null }]).flags;
    expect(flagRow(flag!, 0, T0)).toMatchObject({ value: null, threshold: null });
  });

  it('refuses a time the table cannot hold, naming the field', () => {
    const { flag } = fire();
    expect(() => flagRow(flag, 0, Number.NaN)).toThrow(ValidationError);
    expect(() => flagRow(flag, 0, Number.NaN)).toThrow(/detected_time/);
  });
});

describe('alertRow', () => {
  it('writes a FIRING alert as version 1 with no resolved time', () => {
    const { flag } = fire();
    const [record] = new AlertBook(() => 60_000).record([hit]).alerts;
    expect(alertRow(record!, 2, T0 + 30_000)).toEqual({
      alert_id: flag.alertId,
      rule: 'duplicate_transaction',
      severity: 'WARNING',
      state: 'FIRING',
      entity_level: 'TERMINAL',
      entity_id: 'TRM-00007',
      window_start: '2026-11-01 09:00:00.000',
      window_end: '2026-11-01 09:00:12.345',
      fired_time: '2026-11-01 09:00:12.345',
      resolved_time: null,
      summary: hit.summary,
      value: 2,
      threshold: 2,
      evidence: { card: '411111…1234', copies: '2' },
      labels: { merchant_id: 'M1', region: 'north' },
      source_partition: 2,
      version: 1,
      updated_time: '2026-11-01 09:00:30.000',
    });
  });

  it('writes a RESOLVED alert as version 2, so it replaces the firing row', () => {
    const { book } = fire();
    const [resolved] = book.tick(T0 + 12_345 + 60_000);
    const row = alertRow(resolved!, 2, T0 + 80_000);
    expect(row).toMatchObject({
      state: 'RESOLVED',
      version: 2,
      resolved_time: '2026-11-01 09:01:12.345',
      fired_time: '2026-11-01 09:00:12.345',
    });
    expect(row.version).toBeGreaterThan(alertRow({ ...resolved!, state: 'FIRING' }, 2, T0).version);
  });

  it('has exactly the columns of the alerts table', () => {
    const [record] = new AlertBook(() => 60_000).record([hit]).alerts;
    expect(Object.keys(alertRow(record!, 0, T0))).toEqual(columnsOf('alerts'));
  });
});
