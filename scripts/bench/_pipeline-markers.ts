import http from 'node:http';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import WebSocket from 'ws';
import { postOne } from './_pipeline-load.ts';

/*
 * The end-to-end probes of scripts/bench/pipeline.ts. A marker is a transaction of a terminal
 * never seen before, sent alone in its request between the load's requests: the processor
 * publishes a terminal's first event as a TerminalStatus record whatever else happens
 * (docs/TERMINAL_STATUS.md), so every marker reaches a wall subscribed to the markers' region as a
 * delta, and lands as a row in `transactions`. Ordinary events of known terminals change the wall
 * only when a terminal's status changes, so they cannot be timed this way.
 */

export const MARKER_REGION = 'bench-marker';

export interface Marker {
  /** The gateway's acceptance: when its HTTP reply arrived (ms since the epoch); NaN until then. */
  acceptedAt: number;
  /** When the live service's delta naming the marker's terminal arrived on the WebSocket. */
  liveAt?: number;
  /** When a query first found the marker's row in ClickHouse. */
  queryableAt?: number;
}

export interface MarkerOptions {
  gatewayUrl: URL;
  authorization: string;
  liveWsUrl: string;
  liveToken: string;
  clickhouse: { url: string; user: string; password: string; database: string };
  merchantId: string;
  /** Marker n as the client sends it; its terminal_serial must be new, its region MARKER_REGION. */
  makeMarker: (n: number) => Record<string, unknown> & { terminal_serial: string };
  everyMs: number;
  pollMs: number;
}

export class MarkerProbe {
  readonly markers = new Map<string, Marker>();
  /** Markers the gateway did not accept (the load generator's view of an overload). */
  sendFailures = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly ch: ClickHouseClient;
  private ws: WebSocket | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private sent = 0;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly o: MarkerOptions) {
    this.ch = createClient({
      url: o.clickhouse.url,
      username: o.clickhouse.user,
      password: o.clickhouse.password,
      database: o.clickhouse.database,
      request_timeout: 10_000,
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  /** Connects the wall client (hello, then a subscription to the markers' region) and starts. */
  async start(): Promise<void> {
    const ws = new WebSocket(this.o.liveWsUrl);
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('close', (code) =>
        reject(new Error(`live closed the connection (${code}) during the handshake`)),
      );
      ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: this.o.liveToken })));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as {
          type: string;
          sub?: string;
          changes?: { terminal_serial: string }[];
          terminals?: { terminal_serial: string }[];
        };
        if (m.type === 'welcome')
          ws.send(JSON.stringify({ type: 'subscribe', id: 'markers', filter: { regions: [MARKER_REGION] } }));
        else if (m.type === 'snapshot' && m.sub === 'markers') {
          // The first snapshot answers the subscription; a later one replaces deltas a slow reader missed.
          this.received(m.terminals ?? []);
          ws.removeAllListeners('close');
          ws.removeAllListeners('error');
          ws.on('error', () => undefined);
          resolve();
        } else if (m.type === 'delta' && m.sub === 'markers') this.received(m.changes ?? []);
      });
    });
    this.sendTimer = setInterval(() => this.sendMarker(), this.o.everyMs);
    this.pollTimer = setInterval(() => {
      this.polling ??= this.poll().finally(() => (this.polling = undefined));
    }, this.o.pollMs);
  }

  /** Markers accepted more than `olderThanMs` ago and not yet queryable, or not yet on the wall. */
  pending(olderThanMs = 0): { queryable: number; live: number } {
    const before = Date.now() - olderThanMs;
    let queryable = 0;
    let live = 0;
    for (const m of this.markers.values()) {
      if (Number.isNaN(m.acceptedAt) || m.acceptedAt > before) continue;
      if (m.queryableAt === undefined) queryable++;
      if (m.liveAt === undefined) live++;
    }
    return { queryable, live };
  }

  /**
   * Delays (ms, sorted) of the markers accepted in [from, to): to the wall and to ClickHouse. A
   * marker not seen yet counts with its age at `now`, a lower bound, so an overload shows while it
   * is still under way.
   */
  delays(
    from: number,
    to: number,
    now: number,
  ): { live: number[]; queryable: number[]; count: number; unseen: number } {
    const live: number[] = [];
    const queryable: number[] = [];
    let unseen = 0;
    for (const m of this.markers.values()) {
      if (Number.isNaN(m.acceptedAt) || m.acceptedAt < from || m.acceptedAt >= to) continue;
      if (m.liveAt === undefined || m.queryableAt === undefined) unseen++;
      live.push((m.liveAt ?? now) - m.acceptedAt);
      queryable.push((m.queryableAt ?? now) - m.acceptedAt);
    }
    const sort = (a: number[]) => a.sort((x, y) => x - y);
    return { live: sort(live), queryable: sort(queryable), count: live.length, unseen };
  }

  /** Stops sending markers; keeps receiving and polling until `stop`. */
  async stopSending(): Promise<void> {
    clearInterval(this.sendTimer);
    await Promise.all(this.inFlight);
  }

  async stop(): Promise<void> {
    await this.stopSending();
    clearInterval(this.pollTimer);
    await this.polling;
    this.ws?.close();
    this.agent.destroy();
    await this.ch.close();
  }

  private received(changes: { terminal_serial: string }[]): void {
    const at = Date.now();
    for (const c of changes) {
      const m = this.markers.get(c.terminal_serial);
      if (m !== undefined && m.liveAt === undefined) m.liveAt = at;
    }
  }

  private sendMarker(): void {
    const event = this.o.makeMarker(this.sent++);
    // Known before the reply: the wall's delta may arrive before the reply is read.
    const m: Marker = { acceptedAt: NaN };
    this.markers.set(event.terminal_serial, m);
    const p = postOne(this.agent, this.o.gatewayUrl, this.o.authorization, event)
      .then((acceptedAt) => {
        m.acceptedAt = acceptedAt;
      })
      .catch(() => {
        this.markers.delete(event.terminal_serial);
        this.sendFailures++;
      });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async poll(): Promise<void> {
    const waiting = [...this.markers].filter(([, m]) => m.queryableAt === undefined).map(([s]) => s);
    if (waiting.length === 0) return;
    try {
      const rs = await this.ch.query({
        query:
          'SELECT DISTINCT terminal_serial FROM transactions WHERE merchant_id = {m:String} AND terminal_serial IN {s:Array(String)}',
        query_params: { m: this.o.merchantId, s: waiting },
        format: 'JSONEachRow',
      });
      const at = Date.now();
      for (const row of await rs.json<{ terminal_serial: string }>()) {
        const m = this.markers.get(row.terminal_serial);
        if (m !== undefined) m.queryableAt ??= at;
      }
    } catch {
      // A query that failed under load is retried at the next poll: the delay grows meanwhile.
    }
  }
}
