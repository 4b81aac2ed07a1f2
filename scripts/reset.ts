import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// `npm run reset`: wipes what `npm start` keeps (POSPULSE_DATA_DIR, default ./data): the broker's
// and the store's data and demo.json with its credentials. Refuses while a stack runs on it.
const root = join(import.meta.dirname, '..');
const dataDir = process.env['POSPULSE_DATA_DIR'] || join(root, 'data');
const running = (file: string): number | undefined => {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
};
for (const [what, file] of [
  ['a pospulse stack', join(dataDir, 'stack.pid')],
  ['a Kafka broker', join(dataDir, 'kafka', 'kafka.pid')],
] as const) {
  const pid = running(file);
  if (pid !== undefined) {
    process.stderr.write(
      `${what} (pid ${pid}) still runs on ${dataDir}: stop it first (Ctrl-C, npm run kafka:stop)\n`,
    );
    process.exit(1);
  }
}
rmSync(dataDir, { recursive: true, force: true });
process.stdout.write(`wiped ${dataDir}\n`);
