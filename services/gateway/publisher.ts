import { setTimeout as sleep } from 'node:timers/promises';
import { OverloadError, ShutdownError, isPosPulseError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, gauge, histogram, type Registry } from '../shared/metrics.ts';
import type { EventProducer, OutgoingRecord } from '../shared/kafka/producer.ts';
import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import { DedupeWindow } from './dedupe.ts';
import type { EventSink, PublishItem, PublishOptions, PublishResult } from './sink.ts';

export interface PublisherOptions {
  producer: Pick<EventProducer, 'send'>;
  topics: { transactions: string; heartbeats: string };
  logger: Logger;
  metrics: Registry;
  /** Events waiting for Kafka (queued or in flight) beyond which publish is refused at once. */
  maxQueued: number;
  /** Most events sent in one produce request. */
  maxBatch: number;
  /** Default deadline of a publish call. */
  timeoutMs: number;
  dedupeWindowMs: number;
  dedupeMaxEntries: number;
  /** The Retry-After hint given with an OverloadError. */
  retryAfterMs: number;
  clock?: () => number;
}

type State = 'queued' | 'sending' | 'done' | 'abandoned';

interface Entry {
  item: PublishItem;
  state: State;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const MAX_BACKOFF_MS = 2_000;

/**
 * The gateway's only path to Kafka. Events from every request are queued and sent in batches by a
 * single loop (the idempotent producer keeps one request in flight, so batching is where throughput
 * comes from). A publish call resolves only when Kafka acknowledged each of its events (acks=all);
 * when Kafka is slow or down the queue fills, new calls are refused with OverloadError at once, and
 * waiting calls fail at their deadline — never an acknowledgement for an event that is not on Kafka.
 * At the deadline, events still queued are withdrawn; those already handed to the producer are
 * retried with backoff until Kafka takes them, so a client's retry with the same event id waits for
 * that copy and is answered `duplicate`.
 */
export class Publisher implements EventSink {
  private queue: Entry[] = [];
  /** Entries not yet on Kafka, by event id: a second copy waits for the first instead of being sent. */
  private readonly inflight = new Map<string, Entry>();
  private readonly dedupe: DedupeWindow;
  private pending = 0;
  private draining = false;
  private closing = false;
  private failures = 0;
  private lastSendOk = true;
  private readonly idle: (() => void)[] = [];

  private readonly depthGauge;
  private readonly produceSeconds;
  private readonly sendFailures;
  private readonly dedupeEvicted;
  private readonly batchSize;

  constructor(private readonly opts: PublisherOptions) {
    this.dedupe = new DedupeWindow(opts.dedupeWindowMs, opts.dedupeMaxEntries, opts.clock);
    const m = opts.metrics;
    this.depthGauge = gauge(
      m,
      'pospulse_gateway_queue_depth',
      'Events waiting for a Kafka acknowledgement.',
      [],
    );
    this.produceSeconds = histogram(
      m,
      'pospulse_gateway_produce_seconds',
      'Time of one produce request to Kafka (acks=all), by outcome.',
      ['outcome'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    );
    this.batchSize = histogram(
      m,
      'pospulse_gateway_produce_batch_events',
      'Events per produce request.',
      [],
      [1, 10, 100, 500, 1000, 5000, 20000],
    );
    this.sendFailures = counter(
      m,
      'pospulse_gateway_produce_failures_total',
      'Produce requests that failed (the events are retried while their callers wait).',
      ['retryable'],
    );
    this.dedupeEvicted = counter(
      m,
      'pospulse_gateway_dedupe_evicted_total',
      'Event ids forgotten before the end of the dedupe window because the window was full.',
      [],
    );
  }

  /** Events waiting for Kafka. */
  get depth(): number {
    return this.pending;
  }

  /** False while the last produce request failed: Kafka is unreachable or refusing writes. */
  get kafkaHealthy(): boolean {
    return this.lastSendOk;
  }

  async publish(items: readonly PublishItem[], options: PublishOptions = {}): Promise<PublishResult[]> {
    if (this.closing) throw new ShutdownError(`gateway is shutting down; ${items.length} events not taken`);
    // Per item: already known as a duplicate, or the entry it waits for (its own, or an earlier
    // copy's — from another call or from this one — which makes it a duplicate once on Kafka).
    const results: (PublishResult | { entry: Entry; own: boolean })[] = [];
    const fresh: Entry[] = [];
    const batchIds = new Map<string, Entry>();
    for (const item of items) {
      if (this.dedupe.has(item.eventId)) {
        results.push('duplicate');
        continue;
      }
      const earlier = this.inflight.get(item.eventId) ?? batchIds.get(item.eventId);
      if (earlier) {
        results.push({ entry: earlier, own: false });
        continue;
      }
      const entry = newEntry(item);
      batchIds.set(item.eventId, entry);
      fresh.push(entry);
      results.push({ entry, own: true });
    }
    if (this.pending + fresh.length > this.opts.maxQueued) {
      throw new OverloadError(
        'queue_full',
        `publish queue full (${this.pending} events waiting for Kafka, limit ${this.opts.maxQueued})`,
        this.opts.retryAfterMs,
      );
    }
    for (const e of fresh) {
      this.inflight.set(e.item.eventId, e);
      this.queue.push(e);
    }
    this.pending += fresh.length;
    this.depthGauge.set(this.pending);
    if (fresh.length > 0) setImmediate(() => void this.drain());

    const waits = results.flatMap((r) => (typeof r === 'string' ? [] : [r.entry]));
    if (waits.length > 0) await this.waitFor(waits, fresh, options.timeoutMs ?? this.opts.timeoutMs);
    return results.map((r) => (typeof r === 'string' ? r : r.own ? 'accepted' : 'duplicate'));
  }

  private async waitFor(waits: Entry[], own: Entry[], timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new OverloadError(
            'timeout',
            `Kafka did not acknowledge ${waits.length} events within ${timeoutMs} ms`,
            this.opts.retryAfterMs,
          ),
        );
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all(waits.map((w) => w.promise)), deadline]);
    } catch (err) {
      // Entries not yet handed to the producer are withdrawn: nobody will be told they were accepted.
      for (const e of own) if (e.state === 'queued') this.settle(e, 'abandoned', err);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private settle(e: Entry, state: 'done' | 'abandoned', err?: unknown): void {
    if (e.state === 'done' || e.state === 'abandoned') return;
    e.state = state;
    this.inflight.delete(e.item.eventId);
    this.pending--;
    this.depthGauge.set(this.pending);
    if (state === 'done') {
      this.dedupe.add(e.item.eventId);
      e.resolve();
    } else e.reject(err);
    if (this.pending === 0) for (const f of this.idle.splice(0)) f();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        if (this.queue.length === 0) return;
        // Withdrawn entries are dropped as they reach the head, not by rescanning the whole queue.
        const batch = this.queue.splice(0, this.opts.maxBatch).filter((e) => e.state === 'queued');
        if (batch.length === 0) continue;
        for (const e of batch) e.state = 'sending';
        const failed = await this.send(batch);
        if (failed.length > 0) {
          for (const e of failed) e.state = 'queued';
          this.queue.unshift(...failed);
          this.failures++;
          await sleep(Math.min(MAX_BACKOFF_MS, 50 * 2 ** this.failures));
        } else this.failures = 0;
      }
    } finally {
      this.draining = false;
    }
  }

  /** Sends one batch, a produce request per topic; returns the entries to retry. */
  private async send(batch: Entry[]): Promise<Entry[]> {
    const retry: Entry[] = [];
    const transactions: Entry[] = [];
    const heartbeats: Entry[] = [];
    for (const e of batch) (e.item.schema === 'TransactionEvent' ? transactions : heartbeats).push(e);
    const groups = [transactions, heartbeats];
    for (const group of groups) {
      if (group.length === 0) continue;
      const started = performance.now();
      try {
        await this.sendGroup(group);
        this.produceSeconds.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
        this.batchSize.observe(group.length);
        this.lastSendOk = true;
        for (const e of group) this.settle(e, 'done');
      } catch (err) {
        this.produceSeconds.observe({ outcome: 'error' }, (performance.now() - started) / 1000);
        const retryable = !isPosPulseError(err) || err.retryable;
        this.sendFailures.inc({ retryable: String(retryable) });
        if (!retryable) {
          // An encoding error means a bug in validation, not a Kafka problem: retrying cannot help.
          this.opts.logger.error({ err, events: group.length }, 'events cannot be encoded; refused');
          for (const e of group) this.settle(e, 'abandoned', err);
          continue;
        }
        this.lastSendOk = false;
        this.opts.logger.warn(
          {
            err: { code: (err as { code?: string }).code, message: (err as Error).message },
            events: group.length,
          },
          'produce failed; retrying while callers wait',
        );
        retry.push(...group);
      }
    }
    return retry;
  }

  private async sendGroup(group: Entry[]): Promise<void> {
    const first = group[0];
    if (!first) return;
    // A group holds one schema (see send), so the records share the first entry's type.
    const records = group.map((e) => ({ key: e.item.key, value: e.item.value }));
    await (first.item.schema === 'TransactionEvent'
      ? this.opts.producer.send(
          this.opts.topics.transactions,
          'TransactionEvent',
          records as OutgoingRecord<TransactionEvent>[],
        )
      : this.opts.producer.send(
          this.opts.topics.heartbeats,
          'TerminalHeartbeat',
          records as OutgoingRecord<TerminalHeartbeat>[],
        ));
    const evicted = this.dedupe.evicted;
    if (evicted > 0) {
      this.dedupeEvicted.inc(evicted);
      this.dedupe.evicted = 0;
    }
  }

  /**
   * Refuses new events, waits up to `timeoutMs` for the queued ones to reach Kafka, then fails the
   * rest with ShutdownError (their callers answer 503; nothing is acknowledged).
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.pending > 0) {
      await Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), sleep(timeoutMs)]);
    }
    for (const e of [...this.inflight.values()]) {
      this.settle(e, 'abandoned', new ShutdownError('gateway shut down before Kafka acknowledged the event'));
    }
    this.queue = [];
  }
}

function newEntry(item: PublishItem): Entry {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejections are observed through Promise.all in waitFor; this keeps an abandoned entry nobody
  // waits for any more from surfacing as an unhandled rejection.
  promise.catch(() => undefined);
  return { item, state: 'queued', promise, resolve, reject };
}
