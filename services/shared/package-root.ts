import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * The directory holding pospulse's package.json, found by walking up from `from` — the same from
 * the sources (services/…) and from the compiled tree (dist/services/…). Undefined when none.
 */
export function packageRoot(from: string): string | undefined {
  let dir = dirname(resolve(from));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
