import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../../../../services/shared/avro/fingerprint.ts';
import {
  SCHEMA_NAMES,
  SchemaCatalogError,
  findSchemasDir,
  loadSchemaCatalog,
} from '../../../../../services/shared/avro/schemas.ts';
import {
  REAL_SCHEMAS_DIR,
  evolvedTransactionEvent,
  readSchemaJson,
  tempSchemasDir,
  writeSchemaJson,
} from '../../../../support/schemas-fixture.ts';

describe('schema catalog', () => {
  const catalog = loadSchemaCatalog();

  it('finds schemas/ next to the package.json above the module', () => {
    expect(catalog.dir).toBe(REAL_SCHEMAS_DIR);
    // this test file sits at test/unit/services/shared/avro/ under the repository root
    expect(REAL_SCHEMAS_DIR).toBe(join(import.meta.dirname, '..', '..', '..', '..', '..', 'schemas'));
  });

  it('finds schemas/ from a module compiled into dist/, walking up to package.json', () => {
    const root = mkdtempSync(join(tmpdir(), 'pospulse-root-'));
    try {
      writeFileSync(join(root, 'package.json'), '{}');
      const compiled = join(root, 'dist', 'services', 'shared', 'avro', 'schemas.js');
      mkdirSync(join(compiled, '..'), { recursive: true });
      expect(findSchemasDir(compiled)).toBe(join(root, 'schemas'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it.each(SCHEMA_NAMES)('loads the current %s as its latest published version', (name) => {
    const current = catalog.getSchema(name);
    const history = catalog.history(name);
    expect(history.length).toBeGreaterThan(0);
    expect(current.version).toBe(history.at(-1)!.version);
    expect(current.fullName).toBe(`pospulse.events.${name}`);
    expect(current.fingerprint.value).toBe(
      fingerprintOf(readSchemaJson(REAL_SCHEMAS_DIR, `${name}.avsc`)).value,
    );
    expect(history.map((h) => h.version)).toEqual(history.map((_, i) => i + 1));
  });

  it('finds a writer schema by fingerprint value or by its 8 wire bytes', () => {
    const entry = catalog.getSchema('KpiUpdate');
    expect(catalog.byFingerprint(entry.fingerprint.value)?.name).toBe('KpiUpdate');
    const wire = Buffer.concat([Buffer.from([0xc3, 0x01]), entry.fingerprint.bytes]);
    expect(catalog.byFingerprint(wire.subarray(2, 10))?.name).toBe('KpiUpdate');
    expect(catalog.byFingerprint(0n)).toBeUndefined();
    expect(catalog.byFingerprint(Buffer.alloc(4))).toBeUndefined();
  });

  it('knows every published version of every record as a writer', () => {
    for (const name of SCHEMA_NAMES) {
      for (const version of catalog.history(name)) {
        expect(catalog.byFingerprint(version.fingerprint.value)?.name).toBe(name);
      }
    }
  });

  it('marks an edited, unpublished current schema with version null but still knows its fingerprint', () => {
    const fixture = tempSchemasDir();
    try {
      const v2 = evolvedTransactionEvent(readSchemaJson(fixture.dir, 'TransactionEvent.avsc'));
      writeSchemaJson(fixture.dir, 'TransactionEvent.avsc', v2);
      const draft = loadSchemaCatalog(fixture.dir);
      expect(draft.getSchema('TransactionEvent').version).toBeNull();
      expect(draft.byFingerprint(fingerprintOf(v2).value)?.version).toBeNull();
      expect(draft.history('TransactionEvent')).toHaveLength(1);
    } finally {
      fixture.cleanup();
    }
  });

  it.each([
    [
      'an .avsc for a record it has no type for',
      (dir: string) => writeSchemaJson(dir, 'Order.avsc', { type: 'record', name: 'Order', fields: [] }),
      /schemas:types/,
    ],
    [
      'a file holding another record than its name',
      (dir: string) => writeSchemaJson(dir, 'history/Alert/v2.avsc', readSchemaJson(dir, 'KpiUpdate.avsc')),
      /expected Alert/,
    ],
    [
      'a history file not named v<N>.avsc',
      (dir: string) => writeSchemaJson(dir, 'history/Alert/latest.avsc', readSchemaJson(dir, 'Alert.avsc')),
      /v<N>\.avsc/,
    ],
    ['a current schema missing', (dir: string) => rmSync(join(dir, 'Alert.avsc')), /Alert\.avsc: missing/],
    [
      'a schema avsc cannot parse',
      (dir: string) =>
        writeSchemaJson(dir, 'history/Alert/v2.avsc', {
          type: 'record',
          name: 'pospulse.events.Alert',
          fields: [{ name: 'x', type: 'nope' }],
        }),
      /undefined type name/,
    ],
  ] as const)('fails at start-up on %s', (_, damage, message) => {
    const fixture = tempSchemasDir();
    try {
      damage(fixture.dir);
      expect(() => loadSchemaCatalog(fixture.dir)).toThrow(SchemaCatalogError);
      expect(() => loadSchemaCatalog(fixture.dir)).toThrow(message);
    } finally {
      fixture.cleanup();
    }
  });
});
