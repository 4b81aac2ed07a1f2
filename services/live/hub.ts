import type { WebSocket } from 'ws';
import { sameSecret } from '../shared/bearer.ts';
import type { Alert, KpiUpdate, TerminalStatus } from '../shared/avro/types.generated.ts';
import type { Logger } from '../shared/logger.ts';
import {
  matchesAlert,
  matchesKpi,
  projectKpi,
  type SubscriptionFilter,
} from '../shared/subscription-filter.ts';
import {
  compileFilter,
  relevance,
  type Delta,
  type FleetState,
  type TerminalPredicate,
} from './fleet-state.ts';
import type { FleetMinute } from './fleet-kpis.ts';
import {
  CLOSE,
  PROTOCOL_VERSION,
  parseClientMessage,
  type ErrorCode,
  type Subscribe,
  type SubscribeRecords,
} from './protocol.ts';

export interface HubOptions {
  /** Tokens that may connect (LIVE_TOKENS). */
  tokens: readonly string[];
  /** A connection must authenticate within this (ms). */
  authTimeoutMs: number;
  maxConnectionsPerToken: number;
  maxSubscriptionsPerConnection: number;
  /** Subscriptions all connections of one token may hold together. */
  maxSubscriptionsPerToken: number;
  /** A terminal's changes reach a subscription at most once per this (ms): the flush interval. */
  coalesceMs: number;
  /** Past this many bytes waiting in a client's send buffer it gets snapshots instead of deltas. */
  maxBufferedBytes: number;
  /** A client still over the limit this long after switching to snapshots is closed (ms). */
  slowCloseMs: number;
  /** Fleet summary interval (ms). */
  summaryMs: number;
  /** Ping interval; a connection that did not answer the previous ping is terminated (ms). */
  pingMs: number;
  /** Alerts kept for the `welcome` frame. */
  recentAlerts: number;
}

/** Fleet-wide KPIs for the summary frame, null while none are known. */
export interface FleetKpis {
  tps: number;
  approval_rate: number | null;
  latency_p95_ms: number | null;
  /** Start of the newest minute they include. */
  as_of: number;
}

interface Subscription {
  id: string;
  predicate: TerminalPredicate;
  /** Changes since the last flush, newest per terminal. */
  pending: Map<string, { status: TerminalStatus; left: boolean }>;
}

interface Connection {
  ws: WebSocket;
  token: string | undefined;
  subscriptions: Map<string, Subscription>;
  /** Subscriptions to alerts or KPI updates, by id (ids are unique over both maps). */
  records: Map<string, SubscriptionFilter>;
  /** Sending snapshots instead of deltas since this time (a slow reader), else undefined. */
  slowSince: number | undefined;
  alive: boolean;
  authTimer: NodeJS.Timeout | undefined;
}

/**
 * Serves the fleet to WebSocket clients (protocol: docs/LIVE_PROTOCOL.md): authentication by token,
 * subscriptions with filters, a snapshot then coalesced deltas with sequence numbers, resume after
 * a reconnect, a fleet summary every second, alerts as they come.
 *
 * Memory per client is bounded: pending changes are at most one per terminal per subscription, and
 * a client whose send buffer stays over `maxBufferedBytes` gets no deltas — only a snapshot once it
 * drained — and is closed (4408) if it does not drain within `slowCloseMs`.
 */
export class LiveHub {
  private readonly connections = new Set<Connection>();
  private readonly perToken = new Map<string, number>();
  private readonly subsPerToken = new Map<string, number>();
  private readonly alerts: Alert[] = [];
  /** KPI subscriptions per entity level, so the feed decodes only the levels someone wants. */
  private readonly kpiLevels = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private kpis: () => FleetKpis | null = () => null;
  private series: () => readonly FleetMinute[] = () => [];

  constructor(
    private readonly fleet: FleetState,
    private readonly options: HubOptions,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Starts the flush, summary and ping timers. */
  start(): void {
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.options.coalesceMs, () => this.flush());
    every(this.options.summaryMs, () => this.broadcastSummary());
    every(this.options.pingMs, () => this.ping());
  }

  /** Where the summary's KPIs come from, and the minutes the welcome carries (for sparklines). */
  useKpis(current: () => FleetKpis | null, series: () => readonly FleetMinute[] = () => []): void {
    this.kpis = current;
    this.series = series;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Takes a socket whose upgrade passed the origin check; it must say hello first. */
  attach(ws: WebSocket): void {
    const c: Connection = {
      ws,
      token: undefined,
      subscriptions: new Map(),
      records: new Map(),
      slowSince: undefined,
      alive: true,
      authTimer: undefined,
    };
    this.connections.add(c);
    c.authTimer = setTimeout(() => {
      if (c.token === undefined) this.close(c, CLOSE.UNAUTHORIZED, 'no hello in time');
    }, this.options.authTimeoutMs);
    c.authTimer.unref();
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (c.token === undefined) this.close(c, CLOSE.UNAUTHORIZED, 'hello first');
        else this.refuse(c, 'bad_json', 'frames are JSON text');
        return;
      }
      this.onMessage(c, (data as Buffer).toString('utf8'));
    });
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('close', () => this.forget(c));
    ws.on('error', (err) => {
      this.logger.warn({ err }, 'live client socket error');
      this.forget(c);
    });
  }

  /** A terminal changed: queued for every subscription it matters to. */
  onDelta(delta: Delta): void {
    for (const c of this.connections) {
      if (c.token === undefined || c.slowSince !== undefined) continue;
      for (const s of c.subscriptions.values()) {
        const r = relevance(delta, s.predicate);
        if (r !== null)
          s.pending.set(delta.status.terminal_serial, { status: delta.status, left: r === 'leave' });
      }
    }
  }

  /**
   * An alert fired or resolved: to every client, and kept for the next ones' welcome; once more,
   * tagged with `sub`, for each alert subscription it matches.
   */
  onAlert(alert: Alert): void {
    this.alerts.push(alert);
    if (this.alerts.length > this.options.recentAlerts) this.alerts.shift();
    const text = JSON.stringify({ type: 'alert', alert });
    for (const c of this.connections) {
      if (c.token === undefined) continue;
      this.sendText(c, text);
      for (const [id, f] of c.records)
        if (f.topic === 'alerts' && matchesAlert(f.filter, alert))
          this.send(c, { type: 'alert', sub: id, alert });
    }
  }

  /** Whether some connection subscribed to KPI updates of `level`. */
  wantsKpiLevel(level: string): boolean {
    return (this.kpiLevels.get(level) ?? 0) > 0;
  }

  /**
   * A KPI update (any level): to the subscriptions it matches, with the metrics each asked for.
   * A client reading too slowly misses them (the next window's update follows), as it does deltas.
   */
  onKpiUpdate(update: KpiUpdate): void {
    if (!this.wantsKpiLevel(update.entity_level)) return;
    for (const c of this.connections) {
      if (c.token === undefined || c.slowSince !== undefined) continue;
      for (const [id, f] of c.records)
        if (f.topic === 'kpis' && matchesKpi(f.filter, update))
          this.send(c, { type: 'kpi', sub: id, update: projectKpi(f.filter, update) });
    }
  }

  /** Sends every subscription its pending changes (one frame each); handles slow readers. */
  flush(): void {
    const now = this.clock();
    for (const c of this.connections) {
      if (c.token === undefined) continue;
      if (c.slowSince !== undefined) {
        if (c.ws.bufferedAmount <= this.options.maxBufferedBytes / 2) {
          // Drained: one snapshot per subscription replaces every change it missed.
          c.slowSince = undefined;
          for (const s of c.subscriptions.values()) this.sendSnapshot(c, s);
        } else if (now - c.slowSince >= this.options.slowCloseMs) {
          this.close(c, CLOSE.TOO_SLOW, 'client too slow');
        }
        continue;
      }
      if (c.ws.bufferedAmount > this.options.maxBufferedBytes) {
        c.slowSince = now;
        for (const s of c.subscriptions.values()) s.pending.clear();
        this.logger.warn({ buffered: c.ws.bufferedAmount }, 'live client reads too slowly: snapshots only');
        continue;
      }
      for (const s of c.subscriptions.values()) {
        if (s.pending.size === 0) continue;
        const changes = [...s.pending.values()].map(change);
        s.pending.clear();
        this.send(c, { type: 'delta', sub: s.id, epoch: this.fleet.epoch, seq: this.fleet.seq, changes });
      }
    }
  }

  /** Closes every connection (1001, going away): clients reconnect, to this or another instance. */
  disconnectAll(reason = 'server stopping'): void {
    for (const c of [...this.connections]) this.close(c, CLOSE.GOING_AWAY, reason);
  }

  /** Stops the timers and closes every connection. */
  closeAll(): void {
    for (const t of this.timers) clearInterval(t);
    this.disconnectAll();
  }

  private onMessage(c: Connection, text: string): void {
    const parsed = parseClientMessage(text);
    if (c.token === undefined) {
      // Nothing but a valid hello with a known token before data: anything else closes.
      if (!parsed.ok || parsed.message.type !== 'hello') {
        this.close(c, CLOSE.UNAUTHORIZED, 'hello first');
        return;
      }
      const m = parsed.message;
      if (m.v !== PROTOCOL_VERSION) {
        this.close(c, CLOSE.UNSUPPORTED_VERSION, `protocol version ${PROTOCOL_VERSION} only`);
        return;
      }
      const token = this.options.tokens.find((t) => sameSecret(t, m.token));
      if (token === undefined) {
        this.close(c, CLOSE.UNAUTHORIZED, 'unknown token');
        return;
      }
      const open = this.perToken.get(token) ?? 0;
      if (open >= this.options.maxConnectionsPerToken) {
        this.close(c, CLOSE.TOO_MANY_CONNECTIONS, 'too many connections for this token');
        return;
      }
      this.perToken.set(token, open + 1);
      c.token = token;
      clearTimeout(c.authTimer);
      this.send(c, {
        type: 'welcome',
        v: PROTOCOL_VERSION,
        epoch: this.fleet.epoch,
        seq: this.fleet.seq,
        alerts: this.alerts,
        kpi_series: this.series(),
      });
      return;
    }
    if (!parsed.ok) {
      this.refuse(c, parsed.code, parsed.error);
      return;
    }
    const m = parsed.message;
    switch (m.type) {
      case 'hello':
        this.refuse(c, 'already_authenticated', 'this connection is authenticated already');
        return;
      case 'subscribe':
        if ('topic' in m) this.subscribeRecords(c, m);
        else this.subscribe(c, m);
        return;
      case 'unsubscribe': {
        const records = c.records.get(m.id);
        if (records !== undefined) {
          c.records.delete(m.id);
          this.countKpiLevel(records, -1);
        }
        if (records === undefined && !c.subscriptions.delete(m.id))
          this.refuse(c, 'unknown_subscription', `no subscription ${m.id}`, m.id);
        else {
          this.releaseSubscriptions(c.token as string, 1);
          this.send(c, { type: 'unsubscribed', sub: m.id });
        }
        return;
      }
    }
  }

  private subscribeRecords(c: Connection, m: SubscribeRecords): void {
    if (!this.admit(c, m.id)) return;
    c.records.set(m.id, m.subscription);
    this.countKpiLevel(m.subscription, 1);
    this.send(c, { type: 'subscribed', sub: m.id, topic: m.topic, filter: m.subscription.filter });
  }

  private countKpiLevel(f: SubscriptionFilter, by: 1 | -1): void {
    if (f.topic !== 'kpis') return;
    const n = (this.kpiLevels.get(f.filter.level) ?? 0) + by;
    if (n <= 0) this.kpiLevels.delete(f.filter.level);
    else this.kpiLevels.set(f.filter.level, n);
  }

  private subscribe(c: Connection, m: Subscribe): void {
    if (!this.admit(c, m.id)) return;
    const s: Subscription = { id: m.id, predicate: compileFilter(m.filter), pending: new Map() };
    c.subscriptions.set(m.id, s);
    const missed =
      m.resume !== undefined && m.resume.epoch === this.fleet.epoch
        ? this.fleet.since(m.resume.seq, s.predicate)
        : null;
    if (missed === null) {
      this.sendSnapshot(c, s);
      return;
    }
    // The missed changes, newest per terminal, as one delta.
    const latest = new Map<string, { status: TerminalStatus; left: boolean }>();
    for (const d of missed)
      latest.set(d.status.terminal_serial, { status: d.status, left: relevance(d, s.predicate) === 'leave' });
    this.send(c, {
      type: 'delta',
      sub: s.id,
      epoch: this.fleet.epoch,
      seq: this.fleet.seq,
      resumed: true,
      changes: [...latest.values()].map(change),
    });
  }

  /** Checks the id is free and the limits allow one more, and takes the token's slot; else refuses. */
  private admit(c: Connection, id: string): boolean {
    if (c.subscriptions.has(id) || c.records.has(id)) {
      this.refuse(c, 'duplicate_subscription', `subscription ${id} exists; unsubscribe first`, id);
      return false;
    }
    if (c.subscriptions.size + c.records.size >= this.options.maxSubscriptionsPerConnection) {
      this.refuse(
        c,
        'too_many_subscriptions',
        `at most ${this.options.maxSubscriptionsPerConnection} subscriptions per connection`,
        id,
      );
      return false;
    }
    const token = c.token as string;
    const held = this.subsPerToken.get(token) ?? 0;
    if (held >= this.options.maxSubscriptionsPerToken) {
      this.refuse(
        c,
        'too_many_subscriptions',
        `at most ${this.options.maxSubscriptionsPerToken} subscriptions per token, over all its connections`,
        id,
      );
      return false;
    }
    this.subsPerToken.set(token, held + 1);
    return true;
  }

  private sendSnapshot(c: Connection, s: Subscription): void {
    s.pending.clear();
    this.send(c, {
      type: 'snapshot',
      sub: s.id,
      epoch: this.fleet.epoch,
      seq: this.fleet.seq,
      terminals: this.fleet.snapshot(s.predicate),
    });
  }

  private broadcastSummary(): void {
    // One frame for every client: serialized once.
    const text = JSON.stringify({
      type: 'summary',
      epoch: this.fleet.epoch,
      seq: this.fleet.seq,
      time: this.clock(),
      terminals: this.fleet.size,
      statuses: this.fleet.statusCounts(),
      kpis: this.kpis(),
    });
    for (const c of this.connections) {
      if (c.token !== undefined && c.slowSince === undefined) this.sendText(c, text);
    }
  }

  private ping(): void {
    for (const c of this.connections) {
      if (!c.alive) {
        c.ws.terminate();
        this.forget(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  private refuse(c: Connection, code: ErrorCode, error: string, sub?: string): void {
    this.send(c, { type: 'error', code, error, ...(sub === undefined ? {} : { sub }) });
  }

  private send(c: Connection, frame: object): void {
    this.sendText(c, JSON.stringify(frame));
  }

  private sendText(c: Connection, text: string): void {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(text);
  }

  private close(c: Connection, code: number, reason: string): void {
    c.ws.close(code, reason);
    this.forget(c);
  }

  private releaseSubscriptions(token: string, n: number): void {
    const left = (this.subsPerToken.get(token) ?? 0) - n;
    if (left <= 0) this.subsPerToken.delete(token);
    else this.subsPerToken.set(token, left);
  }

  private forget(c: Connection): void {
    if (!this.connections.delete(c)) return;
    clearTimeout(c.authTimer);
    if (c.token !== undefined) {
      this.releaseSubscriptions(c.token, c.subscriptions.size + c.records.size);
      for (const f of c.records.values()) this.countKpiLevel(f, -1);
      const n = (this.perToken.get(c.token) ?? 1) - 1;
      if (n <= 0) this.perToken.delete(c.token);
      else this.perToken.set(c.token, n);
    }
  }
}

/** A change on the wire: the terminal's TerminalStatus as JSON, or its serial and `left`. */
function change(p: {
  status: TerminalStatus;
  left: boolean;
}): TerminalStatus | { terminal_serial: string; left: true } {
  return p.left ? { terminal_serial: p.status.terminal_serial, left: true } : p.status;
}
