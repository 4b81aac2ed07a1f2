import { AuthError } from '../shared/errors.ts';
import { heartbeatInput, transactionInput, type SimEvent } from './events.ts';
import { countRejection, emptyStats, sleep, type Sink, type SinkStats } from './sink.ts';

/**
 * Sends events to the gateway's HTTP API (docs/GATEWAY.md): transactions to `/v1/transactions`,
 * heartbeats to `/v1/heartbeats`, in batches, as a JSON array or NDJSON, with
 * `Authorization: Bearer <key>`. One request at a time, so each terminal's events reach the gateway
 * (and Kafka) in order.
 *
 * - 429 and 503 are retried after the reply's `Retry-After` (at least), with exponential backoff;
 *   so are 5xx, timeouts and connection errors. Resending is safe: the gateway deduplicates on
 *   `event_id` and answers `duplicate`.
 * - 413 splits the batch in two.
 * - 401/403 stop the run (AuthError): no later request can succeed.
 * - Per-event results are counted: accepted, duplicate, rejected by code. Whatever cannot be
 *   delivered after the retries is counted as failed, with the last error.
 *
 * Bodies carry card numbers: they are never logged, and errors name status codes and reply codes only.
 */

export interface HttpSinkOptions {
  /** Base URL of the gateway, e.g. http://127.0.0.1:8080. */
  url: string;
  apiKey: string;
  /** @default 'json' */
  format?: 'json' | 'ndjson';
  /** Events per request (at most the gateway's GATEWAY_MAX_BATCH). @default 500 */
  batchSize?: number;
  /** Tries per request before its events count as failed. @default 8 */
  maxAttempts?: number;
  /** @default 30 s */
  requestTimeoutMs?: number;
  /** Longest wait between tries. @default 10 s */
  maxBackoffMs?: number;
  fetch?: typeof globalThis.fetch;
  sleep?: (ms: number) => Promise<void>;
}

interface EventResult {
  index: number;
  event_id?: string;
  status: 'accepted' | 'duplicate' | 'rejected';
  code?: string;
  path?: string;
  message?: string;
}

interface Reply {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: EventResult[];
}

function isReply(v: unknown): v is Reply {
  const r = v as Partial<Reply> | null;
  return typeof r === 'object' && r !== null && Array.isArray(r.results) && typeof r.accepted === 'number';
}

/** Seconds (or an HTTP date) of a Retry-After header, as milliseconds. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class HttpSink implements Sink {
  readonly name = 'http';
  private readonly s: SinkStats = emptyStats();
  private readonly base: string;
  private readonly format: 'json' | 'ndjson';
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly fetch: typeof globalThis.fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private closed = false;

  constructor(private readonly options: HttpSinkOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.format = options.format ?? 'json';
    this.batchSize = options.batchSize ?? 500;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => sleep(ms));
  }

  stats(): SinkStats {
    return structuredClone(this.s);
  }

  async send(events: readonly SimEvent[]): Promise<void> {
    if (this.closed) throw new Error('the HTTP sink is closed');
    const tx: object[] = [];
    const hb: object[] = [];
    for (const ev of events) {
      if (ev.kind === 'transaction') tx.push(transactionInput(ev.fields));
      else hb.push(heartbeatInput(ev.fields));
    }
    // Heartbeats first: a terminal's heartbeat of the same second rarely matters for order, and
    // status logic prefers to know the terminal is alive before its transactions arrive.
    for (let i = 0; i < hb.length; i += this.batchSize)
      await this.post('/v1/heartbeats', hb.slice(i, i + this.batchSize));
    for (let i = 0; i < tx.length; i += this.batchSize)
      await this.post('/v1/transactions', tx.slice(i, i + this.batchSize));
    this.s.sent.heartbeats += hb.length;
    this.s.sent.transactions += tx.length;
  }

  private body(items: readonly object[]): string {
    return this.format === 'json'
      ? JSON.stringify(items)
      : items.map((i) => JSON.stringify(i)).join('\n') + '\n';
  }

  private fail(count: number, error: string): void {
    this.s.failed += count;
    this.s.lastError = error;
  }

  /** Exponential from 200 ms up to the cap; never shorter than what the gateway asked for. */
  private backoff(attempt: number, hintMs: number | undefined): number {
    return Math.max(hintMs ?? 0, Math.min(this.maxBackoffMs, 200 * 2 ** attempt));
  }

  private async post(path: string, items: readonly object[]): Promise<void> {
    const body = this.body(items);
    const contentType = this.format === 'json' ? 'application/json' : 'application/x-ndjson';
    let lastError = '';
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      let res: Response;
      try {
        res = await this.fetch(`${this.base}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.options.apiKey}`, 'content-type': contentType },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        lastError = `POST ${path}: ${(err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : `${(err as Error).message}${cause ? ` (${cause})` : ''}`}`;
        await this.sleep(this.backoff(attempt, undefined));
        continue;
      }
      if (res.status === 200) {
        const reply: unknown = await res.json().catch(() => undefined);
        if (!isReply(reply)) {
          this.fail(items.length, `POST ${path}: 200 without the reply format`);
          return;
        }
        this.count(reply, items.length, path);
        return;
      }
      const error = await res
        .json()
        .then((b: unknown) => (b as { error?: { code?: string; message?: string } }).error)
        .catch(() => undefined);
      const what = `POST ${path}: ${res.status}${error?.code ? ` ${error.code}` : ''}${error?.message ? `: ${error.message}` : ''}`;
      if (res.status === 401 || res.status === 403) {
        this.fail(items.length, what);
        throw new AuthError(
          `the gateway refused the API key (${what}); SIMULATOR_API_KEY must be a key with "merchants": ["*"] (npm run gateway:keygen -- --id simulator --merchants '*')`,
        );
      }
      if (res.status === 413 && items.length > 1) {
        const half = Math.ceil(items.length / 2);
        await this.post(path, items.slice(0, half));
        await this.post(path, items.slice(half));
        return;
      }
      if (res.status === 429 || res.status >= 500 || res.status === 408) {
        lastError = what;
        await this.sleep(this.backoff(attempt, retryAfterMs(res.headers.get('retry-after'))));
        continue;
      }
      // Any other refusal of the whole body (400, 413 of one event, 415) will not change on a retry.
      this.fail(items.length, what);
      return;
    }
    this.fail(items.length, `${lastError} (gave up after ${this.maxAttempts} tries)`);
  }

  private count(reply: Reply, expected: number, path: string): void {
    let seen = 0;
    for (const r of reply.results) {
      seen++;
      if (r.status === 'accepted') this.s.accepted++;
      else if (r.status === 'duplicate') this.s.duplicates++;
      else {
        const sample: { event_id: string; code: string; path?: string; message?: string } = {
          event_id: r.event_id ?? `#${r.index}`,
          code: r.code ?? 'unknown',
        };
        if (r.path !== undefined) sample.path = r.path;
        if (r.message !== undefined) sample.message = r.message;
        countRejection(this.s, sample);
      }
    }
    if (seen !== expected)
      this.fail(Math.abs(expected - seen), `POST ${path}: ${seen} results for ${expected} events`);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
