import { randomUUID } from 'node:crypto';
import http from 'node:http';

/*
 * The HTTP load of scripts/bench/gateway.ts: request bodies built once, then stamped with fresh
 * event ids per request, and C keep-alive connections each sending one request after another.
 */

/**
 * Pre-serialized JSON-array bodies. Each template is built once; `next()` copies one and writes a
 * fresh random UUID over every event's `event_id` (known byte offsets, same length), so every
 * request carries new ids (the gateway answers a repeated id `duplicate` without publishing it)
 * while the client spends microseconds, not milliseconds, per request.
 */
export class BodyPool {
  private readonly templates: { body: Buffer; idOffsets: number[] }[] = [];
  private turn = 0;
  readonly eventsPerBody: number;
  readonly averageBytes: number;
  readonly maxBytes: number;

  /**
   * `makeEvent(i)` gives event number i (0-based over all templates); its `event_id` is replaced.
   * The serialized event must start with `{"event_id":"` (put it first).
   */
  constructor(templates: number, eventsPerBody: number, makeEvent: (i: number) => Record<string, unknown>) {
    this.eventsPerBody = eventsPerBody;
    const placeholder = '00000000-0000-4000-8000-000000000000';
    const head = Buffer.byteLength('{"event_id":"');
    let bytes = 0;
    let maxBytes = 0;
    for (let t = 0; t < templates; t++) {
      const parts: string[] = [];
      const idOffsets: number[] = [];
      let offset = 1; // '['
      for (let e = 0; e < eventsPerBody; e++) {
        const { event_id: _ignored, ...rest } = makeEvent(t * eventsPerBody + e);
        const json = JSON.stringify({ event_id: placeholder, ...rest });
        if (!json.startsWith(`{"event_id":"${placeholder}"`))
          throw new Error('event_id must serialize first');
        idOffsets.push(offset + head);
        parts.push(json);
        offset += Buffer.byteLength(json) + 1; // ',' or ']'
      }
      const body = Buffer.from(`[${parts.join(',')}]`);
      if (body.length !== offset) throw new Error(`body length ${body.length} != computed ${offset}`);
      this.templates.push({ body, idOffsets });
      bytes += body.length;
      maxBytes = Math.max(maxBytes, body.length);
    }
    this.averageBytes = bytes / templates;
    this.maxBytes = maxBytes;
  }

  /** A body with fresh event ids (round robin over the templates). */
  next(): Buffer {
    const t = this.templates[this.turn++ % this.templates.length]!;
    const body = Buffer.allocUnsafe(t.body.length);
    t.body.copy(body);
    for (const off of t.idOffsets) body.write(randomUUID(), off, 36, 'latin1');
    return body;
  }
}

export interface Reply {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** One POST (or GET without a body) over `agent`; resolves with the whole reply. */
export function request(
  agent: http.Agent,
  url: URL,
  method: 'GET' | 'POST',
  headers: http.OutgoingHttpHeaders,
  body?: Buffer,
  timeoutMs = 60_000,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        agent,
        method,
        headers: body === undefined ? headers : { ...headers, 'content-length': body.length },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no reply in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface Counts {
  accepted: number;
  duplicates: number;
  rejected: number;
}

/**
 * The counts at the head of a gateway reply. fastify serializes the reply in its schema's property
 * order (`{"accepted":…,"duplicates":…,"rejected":…,"results":[…]}`), so the client need not parse
 * 1000 results per request; anything else falls back to a full parse.
 */
export function replyCounts(body: Buffer): Counts {
  const head = body.toString('latin1', 0, Math.min(body.length, 120));
  const m = /^\{"accepted":(\d+),"duplicates":(\d+),"rejected":(\d+),/.exec(head);
  if (m) return { accepted: Number(m[1]), duplicates: Number(m[2]), rejected: Number(m[3]) };
  const parsed = JSON.parse(body.toString('utf8')) as Partial<Counts>;
  return {
    accepted: Number(parsed.accepted),
    duplicates: Number(parsed.duplicates),
    rejected: Number(parsed.rejected),
  };
}

/** Thrown when the gateway refuses events: the generated input (or the key setup) is wrong. */
export class LoadError extends Error {
  override readonly name = 'LoadError';
}

function describeFailure(reply: Reply, counts?: Counts): string {
  let detail = reply.body.toString('utf8');
  try {
    const parsed = JSON.parse(detail) as { results?: { status: string }[] };
    if (Array.isArray(parsed.results)) {
      const bad = parsed.results.filter((r) => r.status !== 'accepted');
      detail = `first refusals: ${JSON.stringify(bad.slice(0, 5))}`;
    }
  } catch {
    detail = detail.slice(0, 2000);
  }
  const what = counts
    ? ` accepted ${counts.accepted}, duplicates ${counts.duplicates}, rejected ${counts.rejected};`
    : '';
  return `HTTP ${reply.status}${what} ${detail}`;
}

export interface LoadOptions {
  url: URL;
  authorization: string;
  connections: number;
  pool: BodyPool;
  warmupMs: number;
  durationMs: number;
  /** Called every `progressMs` with the numbers of the interval just ended. */
  onProgress?: (p: Progress) => void;
  progressMs: number;
  /** Called once when the measured window opens and once when it closes. */
  onPhase?: (phase: 'measure' | 'done') => void;
}

export interface Progress {
  phase: 'warm-up' | 'measure';
  /** Seconds since the load started. */
  elapsed: number;
  eventsPerSec: number;
  requestsPerSec: number;
  p50Ms: number;
}

export interface LoadResult {
  /** Length of the measured window, seconds. */
  seconds: number;
  requests: number;
  events: number;
  /** Reply latency of every request completed in the window, ms, sorted. */
  latenciesMs: number[];
  bodyBytes: number;
  warmupRequests: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/**
 * Keeps `connections` requests in flight (one per keep-alive socket) for a warm-up and then a
 * measured window; counts the requests that complete inside the window. Throws LoadError at the
 * first refused event or non-200 reply.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections, scheduling: 'fifo' });
  const headers = { 'content-type': 'application/json', authorization: opts.authorization };
  const started = performance.now();
  const measureFrom = started + opts.warmupMs;
  const measureTo = measureFrom + opts.durationMs;
  let phase: 'warm-up' | 'measure' | 'done' = 'warm-up';
  let failure: unknown;
  const latencies: number[] = [];
  let events = 0;
  let bodyBytes = 0;
  let warmupRequests = 0;
  // Interval numbers for progress lines.
  let intervalEvents = 0;
  let intervalLatencies: number[] = [];
  let intervalFrom = started;
  let intervalPhase: 'warm-up' | 'measure' = 'warm-up';

  const phaseTimer = setTimeout(() => {
    phase = 'measure';
    opts.onPhase?.('measure');
  }, opts.warmupMs);
  const endTimer = setTimeout(() => {
    phase = 'done';
    opts.onPhase?.('done');
  }, opts.warmupMs + opts.durationMs);
  const progressTimer = setInterval(() => {
    const now = performance.now();
    const secs = (now - intervalFrom) / 1000;
    const sorted = intervalLatencies.sort((a, b) => a - b);
    if (phase !== 'done')
      opts.onProgress?.({
        phase: intervalPhase,
        elapsed: (now - started) / 1000,
        eventsPerSec: intervalEvents / secs,
        requestsPerSec: sorted.length / secs,
        p50Ms: percentile(sorted, 50),
      });
    intervalEvents = 0;
    intervalLatencies = [];
    intervalFrom = now;
    if (phase !== 'done') intervalPhase = phase;
  }, opts.progressMs);

  async function worker(): Promise<void> {
    while (phase !== 'done' && performance.now() < measureTo && failure === undefined) {
      const body = opts.pool.next();
      const t0 = performance.now();
      const reply = await request(agent, opts.url, 'POST', headers, body);
      const t1 = performance.now();
      if (reply.status !== 200) throw new LoadError(describeFailure(reply));
      const counts = replyCounts(reply.body);
      if (counts.accepted !== opts.pool.eventsPerBody || counts.rejected > 0 || counts.duplicates > 0)
        throw new LoadError(describeFailure(reply, counts));
      intervalEvents += counts.accepted;
      intervalLatencies.push(t1 - t0);
      if (t1 < measureFrom) warmupRequests++;
      else if (t1 <= measureTo) {
        latencies.push(t1 - t0);
        events += counts.accepted;
        bodyBytes += body.length;
      }
    }
  }

  try {
    await Promise.all(
      Array.from({ length: opts.connections }, () =>
        worker().catch((err: unknown) => {
          failure ??= err;
        }),
      ),
    );
  } finally {
    clearTimeout(phaseTimer);
    clearTimeout(endTimer);
    clearInterval(progressTimer);
    agent.destroy();
  }
  if (failure !== undefined) throw failure;
  return {
    seconds: opts.durationMs / 1000,
    requests: latencies.length,
    events,
    latenciesMs: latencies.sort((a, b) => a - b),
    bodyBytes,
    warmupRequests,
  };
}
