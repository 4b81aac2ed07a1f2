import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertmanagerForwarder } from '../../../../services/api/alertmanager.ts';
import type { Alert } from '../../../../services/shared/avro/types.generated.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { describeAlertmanager, startAlertmanager, type GettableAlert } from '../../support/alertmanager.ts';

/* A real Prometheus Alertmanager (Debian's prometheus-alertmanager) on loopback, queried through its v2 API. */

describeAlertmanager('forwarding alerts to a real Alertmanager', () => {
  let am: Awaited<ReturnType<typeof startAlertmanager>>;
  let url: string;

  beforeAll(async () => {
    am = await startAlertmanager();
    url = am.url;
  }, 40_000);

  afterAll(() => am?.stop());

  const active = (alertname: string): Promise<GettableAlert[]> => am.alerts(alertname);

  it('opens an alert with its labels and annotations, keeps it open by resending, and resolves it', async () => {
    const forwarder = new AlertmanagerForwarder(
      { url, resendMs: 400, generatorUrl: 'http://127.0.0.1:8070/v1/alerts' },
      createLogger({ service: 'am-test', level: 'silent' }),
    );
    const now = Date.now();
    const alert: Alert = {
      alert_id: randomUUID(),
      rule: 'card_testing',
      severity: 'CRITICAL',
      state: 'FIRING',
      entity_level: 'TERMINAL',
      entity_id: 'T0000042',
      window_start: now - 60_000,
      window_end: now,
      fired_time: now - 1_000,
      resolved_time: null,
      summary: '12 small declines on 9 cards at terminal T0000042',
      value: 12,
      threshold: 6,
      evidence: { cards: '9', bin: '424242' },
      labels: { merchant: 'M000011', 'not a label!': 'dropped' },
    };
    await forwarder.onAlert(alert);
    const [opened] = await active('card_testing');
    expect(opened).toMatchObject({
      labels: {
        alertname: 'card_testing',
        severity: 'critical',
        entity_level: 'terminal',
        entity_id: 'T0000042',
        merchant: 'M000011',
        source: 'pospulse',
      },
      annotations: {
        summary: alert.summary,
        value: '12',
        threshold: '6',
        evidence_cards: '9',
        alert_id: alert.alert_id,
      },
      status: { state: 'active' },
    });
    expect(opened!.labels).not.toHaveProperty('not a label!');
    // Resent while firing: Alertmanager's end moves on.
    forwarder.start();
    const firstEnd = Date.parse(opened!.endsAt);
    await new Promise((r) => setTimeout(r, 1_200));
    const [kept] = await active('card_testing');
    expect(Date.parse(kept!.endsAt)).toBeGreaterThan(firstEnd);
    // Resolved: it ends at the resolution and leaves the active alerts.
    await forwarder.onAlert({ ...alert, state: 'RESOLVED', resolved_time: Date.now() - 100 });
    expect(forwarder.firingCount).toBe(0);
    const after = await active('card_testing');
    expect(after.filter((a) => a.status.state === 'active')).toEqual([]);
    await forwarder.stop();
  }, 30_000);

  it('retries a resolution Alertmanager did not take, at the next resend', async () => {
    let failures = 1;
    const seen: number[] = [];
    const forwarder = new AlertmanagerForwarder(
      {
        url,
        resendMs: 200,
        fetch: async (input, init) => {
          seen.push(Date.now());
          if (failures-- > 0) return new Response('down for maintenance', { status: 503 });
          return fetch(input, init);
        },
      },
      createLogger({ service: 'am-test', level: 'silent' }),
    );
    const now = Date.now();
    const alert = {
      alert_id: randomUUID(),
      rule: 'terminal_silent',
      severity: 'WARNING',
      state: 'RESOLVED',
      entity_level: 'TERMINAL',
      entity_id: 'T7',
      window_start: now - 60_000,
      window_end: now,
      fired_time: now - 60_000,
      resolved_time: now - 1_000,
      summary: 'back',
      value: null,
      threshold: null,
      evidence: {},
      labels: {},
    } as Alert;
    forwarder.start();
    await forwarder.onAlert(alert);
    const deadline = Date.now() + 5_000;
    while (forwarder.pendingResolutions > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    await forwarder.stop();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(forwarder.pendingResolutions).toBe(0);
    const stored = (await (
      await fetch(
        `${url}/api/v2/alerts?active=false&filter=${encodeURIComponent('alertname="terminal_silent"')}`,
      )
    ).json()) as GettableAlert[];
    expect(stored.every((a) => a.status.state !== 'active')).toBe(true);
  }, 20_000);
});
