import type { Alert } from '../shared/avro/types.generated.ts';
import type { Logger } from '../shared/logger.ts';

/** One alert as Alertmanager's v2 API takes it (`POST /api/v2/alerts`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertmanagerOptions {
  /** Base URL of Alertmanager, e.g. http://127.0.0.1:9093. */
  url: string;
  /** Firing alerts are sent again this often, so Alertmanager keeps them open (ms). */
  resendMs: number;
  /** Where a person finds the alert (the API's /v1/alerts), for `generatorURL`. */
  generatorUrl?: string;
  /** Extra `Authorization` header value (a reverse proxy in front of Alertmanager). */
  authorization?: string;
  fetch?: typeof fetch;
  clock?: () => number;
}

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * An Alert as Alertmanager sees it. Labels identify it (Alertmanager groups, silences and routes on
 * them): `alertname` is the rule, plus severity, entity level and id, and the alert's own labels.
 * Annotations carry the text and the evidence. A firing alert's `endsAt` lies `3 × resendMs` ahead,
 * so one lost resend does not resolve it; a resolved one ends at its `resolved_time`.
 */
export function postableAlert(a: Alert, resendMs: number, now: number, generatorUrl?: string): PostableAlert {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.labels)) if (LABEL.test(k)) labels[k] = v;
  Object.assign(labels, {
    alertname: a.rule,
    severity: a.severity.toLowerCase(),
    entity_level: a.entity_level.toLowerCase(),
    entity_id: a.entity_id,
    source: 'pospulse',
  });
  const annotations: Record<string, string> = { summary: a.summary, alert_id: a.alert_id };
  if (a.value !== null) annotations['value'] = String(a.value);
  if (a.threshold !== null) annotations['threshold'] = String(a.threshold);
  for (const [k, v] of Object.entries(a.evidence)) annotations[`evidence_${k}`] = v;
  const resolved = a.state === 'RESOLVED' && a.resolved_time !== null;
  return {
    labels,
    annotations,
    startsAt: new Date(a.fired_time).toISOString(),
    endsAt: new Date(resolved ? (a.resolved_time as number) : now + 3 * resendMs).toISOString(),
    ...(generatorUrl === undefined
      ? {}
      : { generatorURL: `${generatorUrl}?entity=${encodeURIComponent(a.entity_id)}` }),
  };
}

/**
 * Forwards pospulse alerts to Prometheus Alertmanager, so teams reuse their routing, grouping,
 * silences and receivers. A firing alert is sent at once and then every `resendMs` while it fires;
 * its resolution is sent with `endsAt`. A send that fails is retried at the next tick (resolutions
 * are kept until Alertmanager took them), and the failure is logged.
 */
export class AlertmanagerForwarder {
  private readonly firing = new Map<string, Alert>();
  private readonly resolved = new Map<string, Alert>();
  private readonly fetch: typeof fetch;
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: AlertmanagerOptions,
    private readonly logger: Logger,
  ) {
    this.fetch = options.fetch ?? fetch;
    this.clock = options.clock ?? Date.now;
  }

  get firingCount(): number {
    return this.firing.size;
  }

  /** Resolutions Alertmanager has not taken yet. */
  get pendingResolutions(): number {
    return this.resolved.size;
  }

  /** Resends firing alerts (and failed resolutions) every `resendMs`. */
  start(): void {
    this.timer = setInterval(
      () => void this.flush([...this.firing.values(), ...this.resolved.values()]),
      this.options.resendMs,
    );
    this.timer.unref();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return this.sending;
  }

  /** Alerts still FIRING when this instance starts (from the alerts table): sent now, then resent. */
  restore(alerts: readonly Alert[]): Promise<void> {
    for (const a of alerts) if (a.state === 'FIRING') this.firing.set(a.alert_id, a);
    return this.flush([...this.firing.values()]);
  }

  /** An alert record from the alerts topic: sent now. Resolves once Alertmanager answered (or the send failed). */
  onAlert(a: Alert): Promise<void> {
    if (a.state === 'FIRING') this.firing.set(a.alert_id, a);
    else {
      this.firing.delete(a.alert_id);
      this.resolved.set(a.alert_id, a);
    }
    return this.flush([a]);
  }

  private flush(alerts: readonly Alert[]): Promise<void> {
    if (alerts.length === 0) return this.sending;
    const send = async () => {
      const now = this.clock();
      const body = alerts.map((a) => postableAlert(a, this.options.resendMs, now, this.options.generatorUrl));
      try {
        const res = await this.fetch(new URL('/api/v2/alerts', this.options.url), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(this.options.authorization === undefined
              ? {}
              : { authorization: this.options.authorization }),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok)
          throw new Error(`Alertmanager answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
        for (const a of alerts) if (a.state === 'RESOLVED') this.resolved.delete(a.alert_id);
      } catch (err) {
        this.logger.warn(
          { err, alerts: alerts.length, url: this.options.url },
          'could not send alerts to Alertmanager; retrying at the next resend',
        );
      }
    };
    this.sending = this.sending.then(send);
    return this.sending;
  }
}
