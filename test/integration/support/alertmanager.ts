import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe } from 'vitest';
import type { Alert } from '../../../services/shared/avro/types.generated.ts';
import { freePorts } from './broker.ts';
import { isCI } from './kafka.ts';

const BINARY = process.env['ALERTMANAGER_PATH'] ?? '/usr/bin/prometheus-alertmanager';
/** Under CI a missing Alertmanager fails the tests rather than skipping them. */
export const describeAlertmanager = existsSync(BINARY) || isCI ? describe : describe.skip;

export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/** Debian's prometheus-alertmanager on a free loopback port, with a receiver that drops everything. */
export async function startAlertmanager(): Promise<{
  url: string;
  alerts: (alertname: string, active?: boolean) => Promise<GettableAlert[]>;
  stop: () => Promise<void>;
}> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pospulse-am-'));
  const [port] = (await freePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(path.join(dir, 'am.yml'), 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n');
  const am = spawn(
    BINARY,
    [
      `--config.file=${path.join(dir, 'am.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => am.once('exit', () => resolve()));
  // Its data directory is removed once it has exited: it writes its state files while stopping.
  const stop = async () => {
    if (am.exitCode === null && am.signalCode === null) am.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (am.exitCode === null && am.signalCode === null) am.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${url}/-/ready`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error('Alertmanager did not become ready');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const alerts = async (alertname: string, active = true) =>
    (await (
      await fetch(
        `${url}/api/v2/alerts?active=${active}&filter=${encodeURIComponent(`alertname="${alertname}"`)}`,
      )
    ).json()) as GettableAlert[];
  return { url, alerts, stop };
}

/** An alert of `rule` on terminal `entity`, fired a second ago. */
export function testAlert(id: string, rule: string, entity: string, over: Partial<Alert> = {}): Alert {
  const now = Date.now();
  return {
    alert_id: id,
    rule,
    severity: 'CRITICAL',
    state: 'FIRING',
    entity_level: 'TERMINAL',
    entity_id: entity,
    window_start: now - 60_000,
    window_end: now,
    fired_time: now - 1_000,
    resolved_time: null,
    summary: `${rule} at ${entity}`,
    value: 12,
    threshold: 6,
    evidence: {},
    labels: {},
    ...over,
  };
}
