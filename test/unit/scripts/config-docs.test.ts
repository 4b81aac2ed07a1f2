import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectSpecs, updatedReadme } from '../../../scripts/config-docs.ts';

const root = join(import.meta.dirname, '..', '..', '..');

describe('configuration docs', () => {
  it('finds the config specs of the shared modules', async () => {
    const keys = (await collectSpecs(root)).flatMap((s) => s.vars.map((v) => v.key));
    expect(keys).toEqual(expect.arrayContaining(['KAFKA_BROKERS', 'CLICKHOUSE_URL', 'LOG_LEVEL']));
  });

  it('keeps the README table identical to what the specs generate (run `npm run docs:config`)', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    expect(await updatedReadme(root, readme)).toBe(readme);
  });
});
