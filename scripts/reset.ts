import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runningPid } from './stack/processes.ts';

// `npm run reset`: wipes what `npm start` keeps (POSPULSE_DATA_DIR, default ./data): the broker's
// and the store's data and demo.json with its credentials. Refuses while a stack runs on it.
const root = join(import.meta.dirname, '..');
const dataDir = process.env['POSPULSE_DATA_DIR'] || join(root, 'data');
for (const [what, file] of [
  ['a pospulse stack', join(dataDir, 'stack.pid')],
  ['a Kafka broker', join(dataDir, 'kafka', 'kafka.pid')],
] as const) {
  const pid = runningPid(file);
  if (pid !== undefined) {
    process.stderr.write(
      `${what} (pid ${pid}) still runs on ${dataDir}: stop it first (Ctrl-C, npm run kafka:stop)\n`,
    );
    process.exit(1);
  }
}
rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(`wiped ${dataDir}\n`);
