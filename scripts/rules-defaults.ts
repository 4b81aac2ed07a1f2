import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderDefaults } from '../services/processor/detection/rules-file.ts';
import { RULE_DEFINITIONS } from '../services/processor/detection/rules/index.ts';

/** `npm run rules:defaults`: writes infra/detection/rules.json, every rule with its defaults. */
const path = join(import.meta.dirname, '..', 'infra', 'detection', 'rules.json');
writeFileSync(path, renderDefaults(RULE_DEFINITIONS));
process.stdout.write(`wrote ${path}\n`);
