import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// The one-machine entry point. Today it brings up what exists (the local Kafka broker and the
// pospulse topics); each service is added here as it lands.
const root = join(import.meta.dirname, '..');

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!process.env['KAFKA_BROKERS']) run('bash', [join(root, 'infra/kafka/start.sh')]);
run(process.execPath, ['--import', 'tsx', join(root, 'services/shared/kafka/create-topics-cli.ts')]);
process.stdout.write(
  `Kafka: ${process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092'} (stop a local broker with npm run kafka:stop)\n`,
);
