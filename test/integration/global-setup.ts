/**
 * Global setup of the `integration` vitest project: makes a Kafka broker available to the tests as
 * `inject('kafkaBrokers')` (comma-separated host:port list, or null when there is none).
 *
 * - `KAFKA_BROKERS` set: used as is; nothing is started or stopped.
 * - Otherwise: infra/kafka/fetch.sh, then infra/kafka/start.sh on free ports (never 9092, so a dev
 *   broker keeps running undisturbed) with a fresh temp data dir; teardown stops it and deletes the dir.
 * - The broker cannot be started: under CI (`CI=true`) setup throws and the run fails; elsewhere it
 *   provides null, prints one warning line, and Kafka suites skip (see support/kafka.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePorts, kafkaDir, runKafkaScript } from './support/broker.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated `host:port` list of the Kafka bootstrap brokers, or null when none is available. */
    kafkaBrokers: string | null;
  }
}

const isCI = process.env.CI === 'true' || process.env.CI === '1';
const runScript = runKafkaScript;

function note(message: string): void {
  process.stderr.write(`[integration] ${message}\n`);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const fromEnv = process.env.KAFKA_BROKERS?.trim();
  if (fromEnv) {
    project.provide('kafkaBrokers', fromEnv);
    return undefined;
  }

  const dataDir = await mkdtemp(path.join(tmpdir(), 'pospulse-kafka-'));
  let env: NodeJS.ProcessEnv = { ...process.env, KAFKA_DATA_DIR: dataDir };
  let stopped = false;

  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      execFileSync('bash', [path.join(kafkaDir, 'stop.sh')], { env, stdio: 'ignore', timeout: 40_000 });
    } catch {
      // best effort: the process is exiting anyway
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  // If vitest exits without running teardown (Ctrl-C, crash), do not leave a detached broker behind.
  process.once('exit', stopSync);

  const teardown = async (): Promise<void> => {
    process.removeListener('exit', stopSync);
    if (stopped) return;
    stopped = true;
    try {
      await runScript('stop.sh', env, 40_000);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  };

  try {
    await runScript('fetch.sh', env, 600_000);
    let lastError: unknown;
    // Ports are free when picked but could be taken before the JVM binds them: retry with new ones.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [port, controllerPort] = await freePorts(2);
      env = { ...env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
      try {
        const out = await runScript('start.sh', env, 150_000);
        note(out.split('\n').at(-1) ?? `Kafka ready on 127.0.0.1:${port}`);
        project.provide('kafkaBrokers', `127.0.0.1:${port}`);
        return teardown;
      } catch (err) {
        lastError = err;
        if (!/already in use/.test(String(err))) break;
      }
    }
    throw lastError;
  } catch (err) {
    await teardown().catch(() => undefined);
    if (isCI) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new Error(`Kafka is required under CI but the test broker could not be started:\n${detail}`, {
        cause: err,
      });
    }
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    note(
      `Kafka unavailable, Kafka integration tests will be skipped (${reason}); set KAFKA_BROKERS or see infra/kafka/README.md`,
    );
    project.provide('kafkaBrokers', null);
    return undefined;
  }
}
