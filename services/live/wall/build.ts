import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where `npm run build:wall` puts the wall, and where the live service serves it from by default. */
export const DEFAULT_WALL_DIR = path.resolve(here, '../../../dist/wall');

/**
 * Builds the wall page into `outDir`: the client bundled and minified into one script for the
 * browsers NOC screens run (no CDN, no module loader), with the page and its stylesheet.
 */
export async function buildWall(outDir = DEFAULT_WALL_DIR): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(here, 'client/wall.ts')],
    outfile: path.join(outDir, 'wall.js'),
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome100', 'firefox100', 'safari15'],
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'wall.css']) copyFileSync(path.join(here, f), path.join(outDir, f));
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildWall(process.argv[2]);
  process.stdout.write(`wall built into ${out}\n`);
}
