import http from 'node:http';
import { LoadError, replyCounts, request } from './_gateway-load.ts';

/*
 * The open-loop load of scripts/bench/pipeline.ts: requests of a few events each, started on a
 * schedule at the offered rate whatever the gateway's reply time (closed-loop load, as in
 * gateway.ts, slows down with the system under test and so hides an overload). Requests that
 * would exceed `maxInFlight` are not sent and counted as `skipped`: the gateway is not keeping up.
 */

export interface RateLoadOptions {
  url: URL;
  authorization: string;
  eventsPerRequest: number;
  maxInFlight: number;
  /** Event number i as the client sends it, built when its request is due (fresh times and ids). */
  makeEvent: (i: number) => Record<string, unknown>;
}

/** Counters since the load started; the caller takes differences between two readings. */
export interface LoadCounts {
  offered: number;
  accepted: number;
  /** Events the gateway answered but did not accept (rejected, duplicate, 429, 503). */
  refused: number;
  /** Events of requests that failed without a reply (connection error, timeout). */
  failed: number;
  /** Events not sent because `maxInFlight` requests were waiting for their replies. */
  skipped: number;
  inFlight: number;
}

export class RateLoad {
  private readonly agent: http.Agent;
  private readonly headers: http.OutgoingHttpHeaders;
  private rate = 0;
  private rateSince = 0;
  private offeredAtRate = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextEvent = 0;
  private readonly pending = new Set<Promise<void>>();
  private latencies: number[] = [];
  private refusal: string | undefined;
  readonly counts: LoadCounts = { offered: 0, accepted: 0, refused: 0, failed: 0, skipped: 0, inFlight: 0 };

  constructor(private readonly o: RateLoadOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: o.maxInFlight });
    this.headers = { 'content-type': 'application/json', authorization: o.authorization };
  }

  /** Offers `eventsPerSecond` from now on (starts the schedule on the first call). */
  setRate(eventsPerSecond: number): void {
    this.rate = eventsPerSecond;
    this.rateSince = performance.now();
    this.offeredAtRate = 0;
    // 10 ms ticks: at 100 events per request and above 10,000 events/s a tick holds several requests.
    this.timer ??= setInterval(() => this.tick(), 10);
  }

  /** Forgets the reply times so far (a new step starts). */
  clearLatencies(): void {
    this.latencies = [];
  }

  /** How many reply times are held: a mark for `latenciesSince`. */
  latencyMark(): number {
    return this.latencies.length;
  }

  /** Reply times (ms) of the requests completed since `mark` (or the last clear), sorted. */
  latenciesSince(mark = 0): number[] {
    return this.latencies.slice(Math.min(mark, this.latencies.length)).sort((a, b) => a - b);
  }

  /** The first refusal's reply, if any: a refusal at a low rate means the input, not the load, is wrong. */
  firstRefusal(): string | undefined {
    return this.refusal;
  }

  /** Stops offering and waits for the requests in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all(this.pending);
    this.agent.destroy();
  }

  private tick(): void {
    const due = Math.floor((this.rate * (performance.now() - this.rateSince)) / 1000) - this.offeredAtRate;
    const n = this.o.eventsPerRequest;
    for (let left = due; left >= n; left -= n) {
      this.offeredAtRate += n;
      this.counts.offered += n;
      if (this.counts.inFlight >= this.o.maxInFlight) {
        this.counts.skipped += n;
        continue;
      }
      const events = Array.from({ length: n }, () => this.o.makeEvent(this.nextEvent++));
      const p = this.send(Buffer.from(JSON.stringify(events)), n);
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    }
  }

  private async send(body: Buffer, events: number): Promise<void> {
    this.counts.inFlight++;
    const t0 = performance.now();
    try {
      const reply = await request(this.agent, this.o.url, 'POST', this.headers, body, 30_000);
      this.latencies.push(performance.now() - t0);
      const accepted = reply.status === 200 ? replyCounts(reply.body).accepted : 0;
      this.counts.accepted += accepted;
      this.counts.refused += events - accepted;
      if (accepted < events)
        this.refusal ??= `HTTP ${reply.status} ${reply.body.toString('utf8').slice(0, 500)}`;
    } catch {
      this.counts.failed += events;
    } finally {
      this.counts.inFlight--;
    }
  }
}

/** POSTs one event and resolves with the time (ms since the epoch) of the gateway's acceptance. */
export async function postOne(
  agent: http.Agent,
  url: URL,
  authorization: string,
  event: Record<string, unknown>,
): Promise<number> {
  const reply = await request(
    agent,
    url,
    'POST',
    { 'content-type': 'application/json', authorization },
    Buffer.from(JSON.stringify([event])),
    30_000,
  );
  const at = Date.now();
  if (reply.status !== 200 || replyCounts(reply.body).accepted !== 1)
    throw new LoadError(`marker refused: HTTP ${reply.status} ${reply.body.toString('utf8').slice(0, 500)}`);
  return at;
}
