import type { SimEvent } from './events.ts';

/**
 * Where simulated events go: the gateway's HTTP API, its ISO 8583 port, or Kafka directly. A sink
 * never drops an event silently: what it could not deliver is counted as `failed` with the last
 * error; what the other side refused is counted as `rejected` by reason.
 */
export interface Sink {
  readonly name: string;
  /**
   * Delivers `events` (in report-time order). Resolves once each is delivered, refused or given up
   * on; throws only when going on is pointless (credentials refused, connection lost for good).
   */
  send(events: readonly SimEvent[]): Promise<void>;
  stats(): SinkStats;
  /** Waits for what is in flight, then releases connections. */
  close(): Promise<void>;
}

export interface SinkStats {
  /** Events handed to the other side. */
  sent: { transactions: number; heartbeats: number };
  accepted: number;
  /** Resent events the gateway already had (a retry after a lost answer): delivered, not lost. */
  duplicates: number;
  rejected: number;
  /** Events that could not be delivered after the retries. */
  failed: number;
  /** Rejections by the other side's reason code. */
  rejections: Record<string, number>;
  /** A few rejected events (id, code, path, message: never event contents). */
  rejectionSamples: { event_id: string; code: string; path?: string; message?: string }[];
  lastError: string | undefined;
}

export function emptyStats(): SinkStats {
  return {
    sent: { transactions: 0, heartbeats: 0 },
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    failed: 0,
    rejections: {},
    rejectionSamples: [],
    lastError: undefined,
  };
}

export const MAX_REJECTION_SAMPLES = 20;

export function countRejection(
  stats: SinkStats,
  sample: { event_id: string; code: string; path?: string; message?: string },
): void {
  stats.rejected++;
  stats.rejections[sample.code] = (stats.rejections[sample.code] ?? 0) + 1;
  if (stats.rejectionSamples.length < MAX_REJECTION_SAMPLES) stats.rejectionSamples.push(sample);
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
