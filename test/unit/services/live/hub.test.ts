import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { FleetState } from '../../../../services/live/fleet-state.ts';
import { LiveHub, type HubOptions } from '../../../../services/live/hub.ts';
import { CLOSE } from '../../../../services/live/protocol.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { status } from './statuses.ts';

const OPTIONS: HubOptions = {
  tokens: ['wall-token', 'other-token'],
  authTimeoutMs: 2_000,
  maxConnectionsPerToken: 3,
  maxSubscriptionsPerConnection: 2,
  maxSubscriptionsPerToken: 3,
  coalesceMs: 60_000,
  maxBufferedBytes: 1_000,
  slowCloseMs: 5_000,
  summaryMs: 60_000,
  pingMs: 60_000,
  recentAlerts: 2,
};

const logger = createLogger({ service: 'test', level: 'silent' });
const opened: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

/** A hub behind a real WebSocket server on port 0 (timers not started: tests call flush()). */
async function serve(options: Partial<HubOptions> = {}, fleet = new FleetState('epoch-1')) {
  const hub = new LiveHub(fleet, { ...OPTIONS, ...options }, logger);
  const server: Server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 4_096 });
  wss.on('connection', (ws) => hub.attach(ws));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  opened.push({
    close: async () => {
      hub.closeAll();
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
      await new Promise((r) => server.close(r));
    },
  });
  return { hub, fleet, url };
}

/** A client that records every frame and how it closed. */
async function connect(url: string) {
  const ws = new WebSocket(url);
  const frames: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let closed: { code: number; reason: string } | undefined;
  ws.on('message', (d) => {
    frames.push(JSON.parse(d.toString()) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  opened.push({ close: async () => ws.terminate() });
  const until = async (done: () => boolean) => {
    const deadline = Date.now() + 5_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out; frames: ${JSON.stringify(frames)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  const client = {
    ws,
    frames,
    closed: () => closed,
    send: (v: unknown) => ws.send(typeof v === 'string' ? v : JSON.stringify(v)),
    /** The next frame of `type` after the `n` already seen of it. */
    next: async (type: string, n = frames.filter((f) => f['type'] === type).length) => {
      await until(() => frames.filter((f) => f['type'] === type).length > n);
      return frames.filter((f) => f['type'] === type)[n] as Record<string, unknown>;
    },
    waitClosed: async () => {
      await until(() => closed !== undefined);
      return closed as { code: number; reason: string };
    },
  };
  return client;
}

async function authed(url: string, token = 'wall-token') {
  const c = await connect(url);
  c.send({ type: 'hello', v: 1, token });
  await c.next('welcome', 0);
  return c;
}

describe('LiveHub', () => {
  it('closes a client that does not say hello with a known token first, before sending it anything', async () => {
    const { url } = await serve({ authTimeoutMs: 200 });
    const early = await connect(url);
    early.send({ type: 'subscribe', id: 's' });
    expect(await early.waitClosed()).toMatchObject({ code: CLOSE.UNAUTHORIZED });
    const wrong = await connect(url);
    wrong.send({ type: 'hello', v: 1, token: 'guess' });
    expect(await wrong.waitClosed()).toMatchObject({ code: CLOSE.UNAUTHORIZED, reason: 'unknown token' });
    const silent = await connect(url);
    expect(await silent.waitClosed()).toMatchObject({ code: CLOSE.UNAUTHORIZED, reason: 'no hello in time' });
    const binary = await connect(url);
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect(await binary.waitClosed()).toMatchObject({ code: CLOSE.UNAUTHORIZED });
    const future = await connect(url);
    future.send({ type: 'hello', v: 2, token: 'wall-token' });
    expect(await future.waitClosed()).toMatchObject({ code: CLOSE.UNSUPPORTED_VERSION });
    for (const c of [early, wrong, silent, binary, future]) expect(c.frames).toEqual([]);
  });

  it('sends a snapshot, then each terminal’s changes coalesced to one per flush, with sequence numbers', async () => {
    const { hub, fleet, url } = await serve();
    fleet.apply(status('T1', 'ONLINE', 1));
    fleet.apply(status('T2', 'ONLINE', 1));
    const c = await authed(url);
    c.send({ type: 'subscribe', id: 'all' });
    const snap = await c.next('snapshot', 0);
    expect(snap).toMatchObject({ sub: 'all', epoch: 'epoch-1', seq: 2 });
    expect((snap['terminals'] as { terminal_serial: string }[]).map((t) => t.terminal_serial)).toEqual([
      'T1',
      'T2',
    ]);
    for (const [v, s] of [
      [2, 'DEGRADED'],
      [3, 'OFFLINE'],
      [4, 'ONLINE'],
    ] as const) {
      hub.onDelta(fleet.apply(status('T1', s, v))!);
    }
    hub.onDelta(fleet.apply(status('T3', 'UNKNOWN', 1))!);
    hub.flush();
    const delta = await c.next('delta', 0);
    expect(delta).toMatchObject({ sub: 'all', seq: 6 });
    expect(delta['changes']).toEqual([
      expect.objectContaining({ terminal_serial: 'T1', status: 'ONLINE', version: 4 }),
      expect.objectContaining({ terminal_serial: 'T3', status: 'UNKNOWN' }),
    ]);
    // Nothing changed: the next flush sends nothing.
    hub.flush();
    await new Promise((r) => setTimeout(r, 100));
    expect(c.frames.filter((f) => f['type'] === 'delta')).toHaveLength(1);
  });

  it('filters per subscription and says when a terminal leaves a view', async () => {
    const { hub, fleet, url } = await serve();
    fleet.apply(status('T1', 'OFFLINE', 1));
    fleet.apply(status('T2', 'OFFLINE', 1, { region: 'de-berlin' }));
    const c = await authed(url);
    c.send({ type: 'subscribe', id: 'paris-down', filter: { regions: ['fr-paris'], statuses: ['OFFLINE'] } });
    c.send({ type: 'subscribe', id: 'berlin', filter: { regions: ['de-berlin'] } });
    const [a, b] = [await c.next('snapshot', 0), await c.next('snapshot', 1)];
    const serials = (f: Record<string, unknown>) =>
      (f['terminals'] as { terminal_serial: string }[]).map((t) => t.terminal_serial);
    expect([a['sub'], serials(a), b['sub'], serials(b)]).toEqual(['paris-down', ['T1'], 'berlin', ['T2']]);
    hub.onDelta(fleet.apply(status('T1', 'ONLINE', 2))!);
    hub.flush();
    const d = await c.next('delta', 0);
    expect(d).toMatchObject({ sub: 'paris-down', changes: [{ terminal_serial: 'T1', left: true }] });
    // A third subscription is over the limit; the error names it and the connection stays.
    c.send({ type: 'subscribe', id: 'third' });
    expect(await c.next('error', 0)).toMatchObject({ code: 'too_many_subscriptions', sub: 'third' });
    c.send({ type: 'unsubscribe', id: 'berlin' });
    expect(await c.next('unsubscribed', 0)).toMatchObject({ sub: 'berlin' });
  });

  it('resumes with the missed changes, or a fresh snapshot when they are gone or from another epoch', async () => {
    const fleet = new FleetState('epoch-1', 3);
    const { hub, url } = await serve({}, fleet);
    fleet.apply(status('T1', 'ONLINE', 1));
    const first = await authed(url);
    first.send({ type: 'subscribe', id: 's' });
    const seen = (await first.next('snapshot', 0))['seq'] as number;
    first.ws.close();
    // While it was away: T1 twice, T2 once.
    for (const s of [status('T1', 'OFFLINE', 2), status('T2', 'ONLINE', 1), status('T1', 'DEGRADED', 3)])
      hub.onDelta(fleet.apply(s)!);
    const again = await authed(url);
    again.send({ type: 'subscribe', id: 's', resume: { epoch: 'epoch-1', seq: seen } });
    const resumed = await again.next('delta', 0);
    expect(resumed).toMatchObject({ resumed: true, seq: 4 });
    expect(
      (resumed['changes'] as { terminal_serial: string; status: string }[]).map((c) => [
        c.terminal_serial,
        c.status,
      ]),
    ).toEqual([
      ['T1', 'DEGRADED'],
      ['T2', 'ONLINE'],
    ]);
    // Too far behind (3 changes kept), or another instance's epoch: a snapshot.
    hub.onDelta(fleet.apply(status('T3', 'ONLINE', 1))!);
    again.send({ type: 'subscribe', id: 'old', resume: { epoch: 'epoch-1', seq: seen } });
    expect(await again.next('snapshot', 0)).toMatchObject({ sub: 'old', seq: 5 });
    again.send({ type: 'unsubscribe', id: 'old' });
    again.send({ type: 'subscribe', id: 'other', resume: { epoch: 'epoch-0', seq: 5 } });
    expect(await again.next('snapshot', 1)).toMatchObject({ sub: 'other', epoch: 'epoch-1', seq: 5 });
  });

  it('answers a malformed message with an error frame and keeps serving', async () => {
    const { url } = await serve();
    const c = await authed(url);
    c.send('{nope');
    expect(await c.next('error', 0)).toMatchObject({ code: 'bad_json' });
    c.send({ type: 'subscribe', id: 's', filter: { statuses: ['DOWN'] } });
    expect(await c.next('error', 1)).toMatchObject({
      code: 'bad_message',
      error: expect.stringMatching(/statuses/),
    });
    c.send({ type: 'hello', v: 1, token: 'wall-token' });
    expect(await c.next('error', 2)).toMatchObject({ code: 'already_authenticated' });
    c.send({ type: 'subscribe', id: 's' });
    expect(await c.next('snapshot', 0)).toMatchObject({ sub: 's' });
    // A frame over the size limit closes with 1009 (the server's maxPayload).
    c.send({
      type: 'subscribe',
      id: 'big',
      filter: { terminals: Array.from({ length: 1_000 }, (_, i) => `T${i}`) },
    });
    expect(await c.waitClosed()).toMatchObject({ code: CLOSE.MESSAGE_TOO_BIG });
  });

  it('limits connections per token, and frees a slot when one closes', async () => {
    const { hub, url } = await serve({ maxConnectionsPerToken: 2 });
    const [a] = [await authed(url), await authed(url)];
    const third = await connect(url);
    third.send({ type: 'hello', v: 1, token: 'wall-token' });
    expect(await third.waitClosed()).toMatchObject({ code: CLOSE.TOO_MANY_CONNECTIONS });
    // Another token has its own slots.
    await authed(url, 'other-token');
    a!.ws.close();
    await a!.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    await authed(url);
    expect(hub.connectionCount).toBe(3);
  });

  it('limits subscriptions per token over all its connections, and frees them when they end', async () => {
    const { url } = await serve();
    const [a, b] = [await authed(url), await authed(url)];
    a.send({ type: 'subscribe', id: 'a1' });
    a.send({ type: 'subscribe', id: 'a2' });
    b.send({ type: 'subscribe', id: 'b1' });
    await b.next('snapshot', 0);
    await a.next('snapshot', 1);
    b.send({ type: 'subscribe', id: 'b2' });
    expect(await b.next('error', 0)).toMatchObject({
      code: 'too_many_subscriptions',
      sub: 'b2',
      error: expect.stringMatching(/per token/),
    });
    // Another token is not affected.
    const other = await authed(url, 'other-token');
    other.send({ type: 'subscribe', id: 'o1' });
    await other.next('snapshot', 0);
    // An unsubscription, or a closed connection, gives the slots back.
    a.send({ type: 'unsubscribe', id: 'a1' });
    await a.next('unsubscribed', 0);
    b.send({ type: 'subscribe', id: 'b2' });
    await b.next('snapshot', 1);
    // Now a2, b1, b2: full. Closing a frees a2 for a new connection.
    const c = await authed(url);
    c.send({ type: 'subscribe', id: 'c1' });
    expect(await c.next('error', 0)).toMatchObject({ code: 'too_many_subscriptions', sub: 'c1' });
    a.ws.close();
    await a.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    c.send({ type: 'subscribe', id: 'c1' });
    await c.next('snapshot', 0);
  });

  it('sends alerts to every client and the latest ones in the welcome', async () => {
    const { hub, url } = await serve();
    const c = await authed(url);
    const alert = (n: number) =>
      ({ alert_id: `a${n}`, rule: 'card_testing', state: 'FIRING' }) as unknown as Parameters<
        LiveHub['onAlert']
      >[0];
    for (const n of [1, 2, 3]) hub.onAlert(alert(n));
    await c.next('alert', 2);
    expect(
      c.frames.filter((f) => f['type'] === 'alert').map((f) => (f['alert'] as { alert_id: string }).alert_id),
    ).toEqual(['a1', 'a2', 'a3']);
    const late = await authed(url);
    const welcome = late.frames.find((f) => f['type'] === 'welcome')!;
    expect((welcome['alerts'] as { alert_id: string }[]).map((a) => a.alert_id)).toEqual(['a2', 'a3']);
  });

  it('sends the fleet summary every interval', async () => {
    const { hub, fleet, url } = await serve({ summaryMs: 50 });
    fleet.apply(status('T1', 'ONLINE', 1));
    fleet.apply(status('T2', 'OFFLINE', 1));
    hub.useKpis(() => ({ tps: 2.5, approval_rate: 0.9, latency_p95_ms: 420, as_of: 0 }));
    hub.start();
    const c = await authed(url);
    expect(await c.next('summary', 0)).toMatchObject({
      terminals: 2,
      statuses: { ONLINE: 1, OFFLINE: 1, DEGRADED: 0, UNKNOWN: 0 },
      kpis: { tps: 2.5, approval_rate: 0.9 },
      epoch: 'epoch-1',
    });
  });
});

describe('LiveHub with a real client that stops reading', () => {
  /** A fleet whose every terminal changes at each call, flushed at once. */
  function churn(hub: LiveHub, fleet: FleetState, round: number, terminals = 2_000) {
    for (let i = 0; i < terminals; i++)
      hub.onDelta(fleet.apply(status(`T${i}`, round % 2 === 0 ? 'ONLINE' : 'DEGRADED', round + 1))!);
    hub.flush();
  }

  it('sends a client that fell behind one snapshot once it reads again, instead of every delta it missed', async () => {
    const { hub, fleet, url } = await serve({ maxBufferedBytes: 64 * 1024, slowCloseMs: 60_000 });
    for (let i = 0; i < 2_000; i++) fleet.apply(status(`T${i}`, 'ONLINE', 0));
    const c = await authed(url);
    c.send({ type: 'subscribe', id: 'all' });
    await c.next('snapshot', 0);
    c.ws.pause();
    // Deltas of ~1 MB each until the server's send buffer is over the limit (the kernel's fills first).
    let round = 0;
    for (; round < 200; round++) {
      churn(hub, fleet, round);
      await new Promise((r) => setTimeout(r, 5));
    }
    c.ws.resume();
    // Reading again: the buffer drains, and the next flushes bring one snapshot, then deltas.
    const deadline = Date.now() + 20_000;
    while (c.frames.filter((f) => f['type'] === 'snapshot').length < 2 && Date.now() < deadline) {
      hub.flush();
      await new Promise((r) => setTimeout(r, 50));
    }
    const deltas = c.frames.filter((f) => f['type'] === 'delta').length;
    expect(c.frames.filter((f) => f['type'] === 'snapshot')).toHaveLength(2);
    // Far fewer deltas than rounds: those sent while it lagged were skipped.
    expect(deltas).toBeLessThan(round);
    const last = c.frames.filter((f) => f['type'] === 'snapshot')[1]!;
    expect(last['seq']).toBe(fleet.seq);
    expect(c.closed()).toBeUndefined();
  });

  it('closes a client that stays behind past LIVE_SLOW_CLOSE with 4408', async () => {
    const { hub, fleet, url } = await serve({ maxBufferedBytes: 64 * 1024, slowCloseMs: 300 });
    for (let i = 0; i < 2_000; i++) fleet.apply(status(`T${i}`, 'ONLINE', 0));
    const c = await authed(url);
    c.send({ type: 'subscribe', id: 'all' });
    await c.next('snapshot', 0);
    c.ws.pause();
    const deadline = Date.now() + 20_000;
    for (let round = 0; hub.connectionCount > 0 && Date.now() < deadline; round++) {
      churn(hub, fleet, round);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(hub.connectionCount).toBe(0);
    c.ws.resume();
    expect(await c.waitClosed()).toMatchObject({ code: CLOSE.TOO_SLOW });
  });
});

/** The parts of a ws socket the hub uses, with a send buffer the test controls. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: Record<string, unknown>[] = [];
  closedWith: number | undefined;
  terminated = false;
  pings = 0;
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(code: number): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
  ping(): void {
    this.pings += 1;
  }
  say(v: unknown): void {
    this.emit('message', Buffer.from(JSON.stringify(v)), false);
  }
}

describe('LiveHub with a slow or dead client', () => {
  function fake() {
    let now = 0;
    const fleet = new FleetState('e');
    const hub = new LiveHub(fleet, OPTIONS, logger, () => now);
    const ws = new FakeSocket();
    hub.attach(ws as unknown as WebSocket);
    ws.say({ type: 'hello', v: 1, token: 'wall-token' });
    ws.say({ type: 'subscribe', id: 's' });
    return { hub, fleet, ws, at: (t: number) => (now = t) };
  }

  it('switches a client whose send buffer is full to a snapshot once it drained, and closes it if it never does', () => {
    const { hub, fleet, ws, at } = fake();
    ws.bufferedAmount = 5_000;
    hub.onDelta(fleet.apply(status('T1', 'ONLINE', 1))!);
    hub.flush();
    // No delta while it is behind, and none queued (memory stays bounded).
    hub.onDelta(fleet.apply(status('T1', 'OFFLINE', 2))!);
    at(1_000);
    hub.flush();
    expect(ws.sent.map((f) => f['type'])).toEqual(['welcome', 'snapshot']);
    ws.bufferedAmount = 100;
    at(2_000);
    hub.flush();
    expect(ws.sent.at(-1)).toMatchObject({
      type: 'snapshot',
      seq: 2,
      terminals: [{ terminal_serial: 'T1', status: 'OFFLINE' }],
    });
    // Back to deltas…
    hub.onDelta(fleet.apply(status('T1', 'ONLINE', 3))!);
    hub.flush();
    expect(ws.sent.at(-1)).toMatchObject({ type: 'delta', seq: 3 });
    // …until it falls behind again and stays so past slowCloseMs.
    ws.bufferedAmount = 5_000;
    at(3_000);
    hub.flush();
    at(3_000 + OPTIONS.slowCloseMs);
    hub.flush();
    expect(ws.closedWith).toBe(CLOSE.TOO_SLOW);
    expect(hub.connectionCount).toBe(0);
  });

  it('terminates a connection that did not answer the last ping', () => {
    vi.useFakeTimers();
    try {
      const { hub, ws } = fake();
      hub.start();
      vi.advanceTimersByTime(OPTIONS.pingMs);
      expect(ws.pings).toBe(1);
      ws.emit('pong');
      vi.advanceTimersByTime(OPTIONS.pingMs);
      expect([ws.pings, ws.terminated]).toEqual([2, false]);
      vi.advanceTimersByTime(OPTIONS.pingMs);
      expect(ws.terminated).toBe(true);
      expect(hub.connectionCount).toBe(0);
      hub.closeAll();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('LiveHub alert and KPI subscriptions', () => {
  type HubAlert = Parameters<LiveHub['onAlert']>[0];
  type HubKpi = Parameters<LiveHub['onKpiUpdate']>[0];
  const alert = (id: string, rule: string, over: Partial<HubAlert> = {}) =>
    ({
      alert_id: id,
      rule,
      severity: 'CRITICAL',
      state: 'FIRING',
      entity_level: 'MERCHANT',
      entity_id: 'M-1',
      labels: { region: 'north' },
      ...over,
    }) as HubAlert;
  const kpi = (level: string, entity: string, isFinal: boolean) =>
    ({
      entity_level: level,
      entity_id: entity,
      window_start: 0,
      window_end: 60_000,
      window_size_ms: 60_000,
      version: 1,
      is_final: isFinal,
      emitted_time: 61_000,
      tx_count: 12,
      approval_rate: 0.75,
      tps: 0.2,
      latency_sketch: null,
    }) as unknown as HubKpi;

  it('sends an alert subscription the alerts its filter matches, tagged with its id, besides the ticker', async () => {
    const { hub, url } = await serve();
    const c = await authed(url);
    c.send({
      type: 'subscribe',
      id: 'crit',
      topic: 'alerts',
      filter: { severities: ['CRITICAL'], labels: { region: 'north' } },
    });
    expect(await c.next('subscribed', 0)).toMatchObject({ sub: 'crit', topic: 'alerts' });
    hub.onAlert(alert('a1', 'card_testing'));
    hub.onAlert(alert('a2', 'card_testing', { severity: 'INFO' }));
    hub.onAlert(alert('a3', 'terminal_silent', { labels: { region: 'south' } }));
    hub.onAlert(alert('a4', 'approval_rate_drop'));
    await c.next('alert', 5);
    const tagged = c.frames.filter((f) => f['type'] === 'alert' && f['sub'] === 'crit');
    expect(tagged.map((f) => (f['alert'] as { alert_id: string }).alert_id)).toEqual(['a1', 'a4']);
    // The unsolicited ticker frames (no `sub`) still come for every alert.
    expect(c.frames.filter((f) => f['type'] === 'alert' && f['sub'] === undefined)).toHaveLength(4);
  });

  it('sends a KPI subscription the final updates of its level and entities, with the metrics it picked', async () => {
    const { hub, url } = await serve();
    const c = await authed(url);
    expect(hub.wantsKpiLevel('MERCHANT')).toBe(false);
    c.send({
      type: 'subscribe',
      id: 'm',
      topic: 'kpis',
      filter: { level: 'MERCHANT', entities: ['M-1'], metrics: ['approval_rate'] },
    });
    await c.next('subscribed', 0);
    expect(hub.wantsKpiLevel('MERCHANT')).toBe(true);
    expect(hub.wantsKpiLevel('TERMINAL')).toBe(false);
    hub.onKpiUpdate(kpi('MERCHANT', 'M-1', false));
    hub.onKpiUpdate(kpi('MERCHANT', 'M-2', true));
    hub.onKpiUpdate(kpi('REGION', 'M-1', true));
    hub.onKpiUpdate(kpi('MERCHANT', 'M-1', true));
    const frame = await c.next('kpi', 0);
    expect(frame).toEqual({
      type: 'kpi',
      sub: 'm',
      update: {
        entity_level: 'MERCHANT',
        entity_id: 'M-1',
        window_start: 0,
        window_end: 60_000,
        window_size_ms: 60_000,
        version: 1,
        is_final: true,
        emitted_time: 61_000,
        approval_rate: 0.75,
      },
    });
    c.send({ type: 'unsubscribe', id: 'm' });
    await c.next('unsubscribed', 0);
    expect(hub.wantsKpiLevel('MERCHANT')).toBe(false);
    hub.onKpiUpdate(kpi('MERCHANT', 'M-1', true));
    c.send({ type: 'subscribe', id: 'again', topic: 'kpis', filter: { level: 'FLEET' } });
    await c.next('subscribed', 1);
    expect(c.frames.filter((f) => f['type'] === 'kpi')).toHaveLength(1);
  });

  it('counts alert and KPI subscriptions in the same limits and ids as terminal ones, and frees them on close', async () => {
    const { hub, url } = await serve();
    const c = await authed(url);
    c.send({ type: 'subscribe', id: 'wall' });
    await c.next('snapshot', 0);
    c.send({ type: 'subscribe', id: 'wall', topic: 'alerts' });
    expect(await c.next('error', 0)).toMatchObject({ code: 'duplicate_subscription', sub: 'wall' });
    c.send({ type: 'subscribe', id: 'k', topic: 'kpis', filter: { level: 'REGION' } });
    await c.next('subscribed', 0);
    c.send({ type: 'subscribe', id: 'third', topic: 'alerts' });
    expect(await c.next('error', 1)).toMatchObject({ code: 'too_many_subscriptions' });
    c.send({ type: 'subscribe', id: 'bad', topic: 'kpis', filter: { level: 'CARD' } });
    expect(await c.next('error', 2)).toMatchObject({
      code: 'bad_message',
      error: expect.stringContaining('filter.level'),
    });
    expect(hub.wantsKpiLevel('REGION')).toBe(true);
    c.ws.close();
    await c.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    expect(hub.wantsKpiLevel('REGION')).toBe(false);
    // The token's slots are free again: a new connection may hold two.
    const d = await authed(url);
    d.send({ type: 'subscribe', id: 'a', topic: 'alerts' });
    d.send({ type: 'subscribe', id: 'b', topic: 'alerts' });
    await d.next('subscribed', 1);
  });
});
