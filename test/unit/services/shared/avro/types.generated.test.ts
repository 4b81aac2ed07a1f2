import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_FILE, renderAvroTypes } from '../../../../../scripts/gen-avro-types.ts';
import { SCHEMA_NAMES } from '../../../../../services/shared/avro/types.generated.ts';
import { readSchemaJson, tempSchemasDir, writeSchemaJson } from '../../../../support/schemas-fixture.ts';

describe('generated Avro types', () => {
  it('match the schemas: regenerate with `npm run schemas:types` when this fails', async () => {
    expect(await renderAvroTypes()).toBe(readFileSync(GENERATED_FILE, 'utf8'));
  });

  it('list every record schema by name', () => {
    expect([...SCHEMA_NAMES].sort()).toEqual([
      'Alert',
      'KpiUpdate',
      'TerminalHeartbeat',
      'TerminalStatus',
      'TransactionEvent',
    ]);
  });

  it('follow a schema change: a new optional field appears as T | null with its doc', async () => {
    const fixture = tempSchemasDir();
    try {
      const alert = readSchemaJson(fixture.dir, 'Alert.avsc');
      (alert['fields'] as unknown[]).push({
        name: 'runbook_url',
        type: ['null', 'string'],
        default: null,
        doc: 'Where to look first.',
      });
      writeSchemaJson(fixture.dir, 'Alert.avsc', alert);
      const source = await renderAvroTypes(fixture.dir);
      expect(source).toContain('/** Where to look first. */\n  runbook_url: string | null;');
    } finally {
      fixture.cleanup();
    }
  });

  it('refuse a named type defined differently in two files', async () => {
    const fixture = tempSchemasDir();
    try {
      const hb = readSchemaJson(fixture.dir, 'TerminalHeartbeat.avsc');
      const channel = (hb['fields'] as Record<string, unknown>[]).find(
        (f) => f['name'] === 'ingest_channel',
      )!;
      (channel['type'] as Record<string, unknown>)['symbols'] = ['HTTP', 'UNKNOWN'];
      writeSchemaJson(fixture.dir, 'TerminalHeartbeat.avsc', hb);
      await expect(renderAvroTypes(fixture.dir)).rejects.toThrow(/IngestChannel is defined differently/);
    } finally {
      fixture.cleanup();
    }
  });

  it('refuse unions other than ["null", T], which avsc would not represent as plain values', async () => {
    const fixture = tempSchemasDir();
    try {
      const alert = readSchemaJson(fixture.dir, 'Alert.avsc');
      (alert['fields'] as unknown[]).push({
        name: 'x',
        type: ['null', 'string', 'long'],
        default: null,
        doc: 'x',
      });
      writeSchemaJson(fixture.dir, 'Alert.avsc', alert);
      await expect(renderAvroTypes(fixture.dir)).rejects.toThrow(/only \["null", T\] unions/);
    } finally {
      fixture.cleanup();
    }
  });
});
