import { createHash } from 'node:crypto';
import type { Alert, KpiUpdate } from '../../shared/avro/types.generated.ts';
import type { Logger } from '../../shared/logger.ts';
import { counter, gauge, type Registry } from '../../shared/metrics.ts';
import { matchesAlert, matchesKpi, projectKpi } from '../../shared/subscription-filter.ts';
import { backoffDelay } from './backoff.ts';
import { signatureHeader } from './signature.ts';
import type { Attempt, Delivery, StoredSubscription, SubscriptionStore } from './subscription-store.ts';

/** A record read from Kafka; `source` (topic:partition:offset) names it uniquely. */
export type IncomingRecord =
  { topic: 'alerts'; value: Alert; source: string } | { topic: 'kpis'; value: KpiUpdate; source: string };

export interface WorkerOptions {
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Attempts before DEAD when the subscription does not say. */
  maxAttempts: number;
  timeoutMs: number;
  concurrency: number;
  /** Subscriptions (and PENDING rows written elsewhere, e.g. a retry through another instance) are re-read this often. */
  reloadMs?: number;
}

export interface WorkerDeps {
  store: Pick<
    SubscriptionStore,
    'subscriptions' | 'pendingDeliveries' | 'saveDeliveries' | 'existingDeliveries' | 'recordAttempt'
  >;
  logger: Logger;
  metrics?: Registry;
  fetch?: typeof fetch;
  clock?: () => number;
  random?: () => number;
}

/** A UUID derived from its inputs, so a Kafka record read twice gives each subscription the same delivery. */
export function deliveryId(subscriptionId: string, source: string): string {
  const h = createHash('sha256').update(`${subscriptionId}|${source}`).digest('hex');
  // Shaped as a version-8 (custom) RFC 9562 UUID.
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `timed out after ${timeoutMs}ms`;
  return (e.cause?.code ?? e.cause?.message ?? e.message ?? String(err)).slice(0, 500);
}

/**
 * Turns alerts and KPI updates into webhook deliveries and delivers them.
 *
 * - `accept` writes one PENDING row per matching subscription and resolves only then, so the
 *   caller commits a Kafka offset only for records whose deliveries are stored.
 * - Each delivery is POSTed (signed, docs/API.md) until a 2xx; a failure is retried after a
 *   full-jitter exponential backoff; after the subscription's attempts it is DEAD. Every attempt
 *   is a row, written before the delivery's new state.
 * - PENDING rows are loaded at start and at each reload, so a restart (or a retry queued through
 *   another API instance) delivers them. That is why one instance only runs the worker: two would
 *   both deliver every PENDING row.
 * - At least once: a crash between a 2xx and its row repeats the delivery; receivers deduplicate
 *   on `X-Pospulse-Delivery`. Deliveries of one subscription run concurrently (up to
 *   `concurrency` in all), so they may arrive out of order.
 */
export class WebhookWorker {
  private subs = new Map<string, StoredSubscription>();
  /** Deliveries this worker holds (waiting, queued or in flight), by id. */
  private readonly known = new Map<string, { delivery: Delivery; timer?: NodeJS.Timeout }>();
  /** Finished here: id → the version written, so a read older than it does not bring it back. */
  private readonly finished = new Map<string, { version: number; at: number }>();
  private readonly queue: Delivery[] = [];
  private readonly running = new Set<Promise<void>>();
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private stopped = false;
  private readonly fetch: typeof fetch;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly attemptsTotal;
  private readonly finishedTotal;
  private readonly pendingGauge;

  constructor(
    private readonly deps: WorkerDeps,
    private readonly options: WorkerOptions,
  ) {
    this.fetch = deps.fetch ?? fetch;
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    const m = deps.metrics;
    this.attemptsTotal = m
      ? counter(m, 'pospulse_webhook_attempts_total', 'Webhook requests, by outcome.', ['outcome'])
      : undefined;
    this.finishedTotal = m
      ? counter(m, 'pospulse_webhook_deliveries_total', 'Deliveries finished, by final state.', ['state'])
      : undefined;
    this.pendingGauge = m
      ? gauge(m, 'pospulse_webhook_pending', 'Deliveries this worker holds, not yet delivered.', [])
      : undefined;
  }

  /** Loads the subscriptions and the PENDING deliveries, then re-reads both every `reloadMs`. */
  async start(): Promise<void> {
    await this.reload();
    this.reloadTimer = setInterval(() => {
      this.reload().catch((err: unknown) =>
        this.deps.logger.warn({ err }, 'could not reload webhook subscriptions; keeping the last ones'),
      );
    }, this.options.reloadMs ?? 5_000);
    this.reloadTimer.unref();
  }

  /** Stops scheduling and waits for the attempts in flight (bounded by the timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.reloadTimer);
    for (const k of this.known.values()) clearTimeout(k.timer);
    await this.reloading?.catch(() => undefined);
    await Promise.allSettled([...this.running]);
  }

  /** Deliveries held in memory (for probes and tests). */
  get pending(): number {
    return this.known.size;
  }

  get wantsAlerts(): boolean {
    for (const s of this.subs.values()) if (s.filter.topic === 'alerts') return true;
    return false;
  }

  /** Whether some subscription wants KPI updates of `level` (the feed skips the rest undecoded). */
  wantsKpiLevel(level: string): boolean {
    for (const s of this.subs.values())
      if (s.filter.topic === 'kpis' && s.filter.filter.level === level) return true;
    return false;
  }

  /** Re-reads the subscriptions (call after a change) and picks up PENDING rows it does not hold. */
  reload(): Promise<void> {
    const run = async () => {
      const subs = await this.deps.store.subscriptions();
      this.subs = new Map(subs.map((s) => [s.id, s]));
      const pending = await this.deps.store.pendingDeliveries();
      const now = this.clock();
      for (const [id, f] of this.finished) if (now - f.at > 600_000) this.finished.delete(id);
      for (const d of pending) this.schedule(d);
    };
    const p = (this.reloading ?? Promise.resolve()).catch(() => undefined).then(run);
    this.reloading = p;
    return p;
  }

  /**
   * Stores a PENDING delivery for every subscription each record matches (none for a record seen
   * before: its rows exist), then schedules them. Resolves once they are stored; throws if they
   * could not be, so the records are read again.
   */
  async accept(records: readonly IncomingRecord[]): Promise<number> {
    if (this.stopped) throw new Error('webhook worker stopped');
    const now = this.clock();
    const fresh: Delivery[] = [];
    for (const r of records) {
      for (const s of this.subs.values()) {
        let data: unknown;
        if (r.topic === 'alerts' && s.filter.topic === 'alerts' && matchesAlert(s.filter.filter, r.value))
          data = r.value;
        else if (r.topic === 'kpis' && s.filter.topic === 'kpis' && matchesKpi(s.filter.filter, r.value))
          data = projectKpi(s.filter.filter, r.value);
        else continue;
        const id = deliveryId(s.id, r.source);
        const event = r.topic === 'alerts' ? 'alert' : 'kpi';
        fresh.push({
          id,
          subscriptionId: s.id,
          event,
          payload: JSON.stringify({
            delivery_id: id,
            subscription_id: s.id,
            event,
            created_time: new Date(now).toISOString(),
            data,
          }),
          state: 'PENDING',
          attempts: 0,
          nextAttemptTime: now,
          lastStatus: null,
          lastError: '',
          createdTime: now,
          updatedTime: now,
          version: 1,
        });
      }
    }
    const existing = await this.deps.store.existingDeliveries(fresh.map((d) => d.id));
    const created = fresh.filter((d) => !existing.has(d.id));
    await this.deps.store.saveDeliveries(created);
    for (const d of created) this.schedule(d);
    return created.length;
  }

  /** Takes a PENDING delivery (a re-queued one, or one read from the table) unless it holds it or finished it. */
  schedule(d: Delivery): void {
    if (this.stopped || d.state !== 'PENDING') return;
    const held = this.known.get(d.id);
    if (held !== undefined && held.delivery.version >= d.version) return;
    if ((this.finished.get(d.id)?.version ?? 0) >= d.version) return;
    if (held !== undefined) clearTimeout(held.timer);
    const entry: { delivery: Delivery; timer?: NodeJS.Timeout } = { delivery: d };
    this.known.set(d.id, entry);
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        this.queue.push(d);
        this.pump();
      },
      Math.max(0, d.nextAttemptTime - this.clock()),
    );
    entry.timer.unref();
    this.pendingGauge?.set(this.known.size);
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency && this.queue.length > 0) {
      const d = this.queue.shift()!;
      // A newer version (re-queued meanwhile) replaced this one.
      if (this.known.get(d.id)?.delivery !== d) continue;
      const p: Promise<void> = this.attempt(d)
        .catch((err: unknown) => this.deps.logger.error({ err, delivery: d.id }, 'webhook attempt failed'))
        .finally(() => {
          this.running.delete(p);
          this.pump();
        });
      this.running.add(p);
    }
  }

  private async attempt(d: Delivery): Promise<void> {
    const sub = this.subs.get(d.subscriptionId);
    const started = this.clock();
    if (sub === undefined) {
      // Deleted since: nobody to deliver to. Marked DEAD (not attempted) so a re-created
      // receiver can still be given it with a retry.
      await this.finish({
        ...d,
        state: 'DEAD',
        lastError: 'subscription deleted',
        updatedTime: started,
        version: d.version + 1,
      });
      return;
    }
    let status: number | null = null;
    let error = '';
    try {
      const res = await this.fetch(sub.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'pospulse-webhooks/1',
          'x-pospulse-signature': signatureHeader(sub.secret, d.payload, this.clock()),
          'x-pospulse-delivery': d.id,
          'x-pospulse-event': d.event,
        },
        body: d.payload,
        // A redirect is not a delivery: the receiver's URL is what the subscription says.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      error = describe(err, this.options.timeoutMs);
    }
    const now = this.clock();
    const ok = error === '';
    const n = d.attempts + 1;
    const dead = !ok && n >= (sub.maxAttempts ?? this.options.maxAttempts);
    this.attemptsTotal?.inc({ outcome: ok ? 'success' : 'failure' });
    const next: Delivery = {
      ...d,
      state: ok ? 'SUCCEEDED' : dead ? 'DEAD' : 'PENDING',
      attempts: n,
      nextAttemptTime:
        ok || dead
          ? now
          : now + backoffDelay(n, this.options.backoffBaseMs, this.options.backoffMaxMs, this.random),
      lastStatus: status,
      lastError: error,
      updatedTime: now,
      version: d.version + 1,
    };
    const attempt: Attempt = {
      deliveryId: d.id,
      subscriptionId: d.subscriptionId,
      attempt: n,
      attemptedTime: started,
      status,
      error,
      durationMs: Math.max(0, now - started),
    };
    if (!(await this.persist(() => this.deps.store.recordAttempt(attempt, next)))) return;
    if (next.state === 'PENDING') {
      this.known.delete(d.id);
      this.schedule(next);
    } else {
      this.markFinished(next);
      if (dead)
        this.deps.logger.warn(
          { delivery: d.id, subscription: d.subscriptionId, attempts: n, error },
          'webhook delivery dead after its last attempt',
        );
    }
  }

  private async finish(d: Delivery): Promise<void> {
    if (await this.persist(() => this.deps.store.saveDeliveries([d]))) this.markFinished(d);
  }

  private markFinished(d: Delivery): void {
    this.known.delete(d.id);
    this.finished.set(d.id, { version: d.version, at: this.clock() });
    this.finishedTotal?.inc({ state: d.state.toLowerCase() });
    this.pendingGauge?.set(this.known.size);
  }

  /**
   * Writes until it is stored: the outcome of a request already made must not be lost while
   * ClickHouse is away. False when stopped first (the row keeps its older state and the
   * delivery is made again after the restart).
   */
  private async persist(write: () => Promise<void>): Promise<boolean> {
    for (let failures = 1; ; failures++) {
      try {
        await write();
        return true;
      } catch (err) {
        if (this.stopped) return false;
        this.deps.logger.warn({ err }, 'could not record a webhook attempt; retrying');
        await new Promise((r) => setTimeout(r, backoffDelay(failures, 500, 30_000, this.random) + 100));
        if (this.stopped) return false;
      }
    }
  }
}
