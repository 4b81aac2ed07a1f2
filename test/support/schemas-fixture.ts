import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSchemasDir } from '../../services/shared/avro/schemas.ts';

export const REAL_SCHEMAS_DIR = findSchemasDir();

type JsonObject = Record<string, unknown>;

export function readSchemaJson(dir: string, relative: string): JsonObject {
  return JSON.parse(readFileSync(join(dir, relative), 'utf8')) as JsonObject;
}

export function writeSchemaJson(dir: string, relative: string, json: unknown): void {
  const file = join(dir, relative);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
}

/** A private copy of schemas/ to mutate; removed by the returned cleanup. */
export function tempSchemasDir(): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'pospulse-schemas-'));
  const dir = join(root, 'schemas');
  cpSync(REAL_SCHEMAS_DIR, dir, { recursive: true });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * A compatible next version of TransactionEvent, as a developer would publish it: one optional
 * field added with a default, one PaymentMethod symbol appended.
 */
export function evolvedTransactionEvent(current: JsonObject): JsonObject {
  const next = structuredClone(current);
  const fields = next['fields'] as JsonObject[];
  const paymentMethod = fields.find((f) => f['name'] === 'payment_method')!['type'] as JsonObject;
  paymentMethod['symbols'] = [...(paymentMethod['symbols'] as string[]), 'BNPL'];
  fields.push({
    name: 'tip_minor',
    type: ['null', 'long'],
    default: null,
    doc: 'Tip in minor units, if the terminal asked for one.',
  });
  return next;
}
