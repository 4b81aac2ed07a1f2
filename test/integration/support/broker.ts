/**
 * Starting and stopping a private Kafka node with infra/kafka's scripts: used by the global setup
 * (the shared test broker) and by tests that must stop a broker mid-test (an outage) without
 * disturbing the shared one.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const kafkaDir = path.join(repoRoot, 'infra/kafka');

/** Runs an infra/kafka script; resolves with its combined output, rejects with an Error carrying that output. */
export function runKafkaScript(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [path.join(kafkaDir, script)],
      { cwd: repoRoot, env, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim();
        if (!err) return resolve(output);
        const why = err.killed ? `timed out after ${timeoutMs / 1000} s` : `exit code ${String(err.code)}`;
        const lastLine = output.split('\n').at(-1) ?? '';
        // First line: the script's own last word (its error), then everything it printed.
        reject(new Error(`${script} failed (${why}): ${lastLine}\n${output}`));
      },
    );
  });
}

/** `count` distinct free TCP ports on 127.0.0.1 (held open together so they differ, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export interface PrivateBroker {
  brokers: string[];
  /** Stops the node (controlled shutdown); its data dir and ports are kept for `start()`. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data dir. */
  destroy(): Promise<void>;
}

/** A Kafka node of its own on free ports and a temp data dir. */
export async function startPrivateBroker(): Promise<PrivateBroker> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'pospulse-kafka-private-'));
  let env: NodeJS.ProcessEnv = { ...process.env, KAFKA_DATA_DIR: dataDir, KAFKA_HEAP: '-Xms128m -Xmx384m' };
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port, controllerPort] = await freePorts(2);
    env = { ...env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
    try {
      await runKafkaScript('start.sh', env, 150_000);
      const start = () => runKafkaScript('start.sh', env, 150_000).then(() => undefined);
      const stop = () => runKafkaScript('stop.sh', env, 40_000).then(() => undefined);
      return {
        brokers: [`127.0.0.1:${port}`],
        start,
        stop,
        destroy: async () => {
          await stop().catch(() => undefined);
          await rm(dataDir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      if (!/already in use/.test(String(err))) break;
    }
  }
  await rm(dataDir, { recursive: true, force: true });
  throw lastError;
}
