import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRules, renderDefaults } from '../../../services/processor/detection/rules-file.ts';
import { RULE_DEFINITIONS } from '../../../services/processor/detection/rules/index.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const path = join(root, 'infra', 'detection', 'rules.json');

describe('infra/detection/rules.json', () => {
  it('is the rendering of every rule with its defaults (regenerate it with renderDefaults when a rule changes)', async () => {
    const shipped: unknown = JSON.parse(await readFile(path, 'utf8'));
    expect(shipped).toEqual(JSON.parse(renderDefaults(RULE_DEFINITIONS)));
  });

  it('parses with the processor’s own loader to exactly the defaults', async () => {
    const set = parseRules(await readFile(path, 'utf8'), path, RULE_DEFINITIONS);
    expect(set.source).toBe(path);
    for (const def of RULE_DEFINITIONS) expect(set.get(def)).toEqual(def.defaults);
    expect(set.enabled.sort()).toEqual(
      RULE_DEFINITIONS.filter((d) => d.defaults.enabled)
        .map((d) => d.name)
        .sort(),
    );
  });
});
