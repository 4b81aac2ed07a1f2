import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { findPans, panProblem, parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { parseIsoConfig } from '../../../../services/gateway/iso-config.ts';
import {
  Iso8583Listener,
  type Iso8583ListenerOptions,
  type IsoListenerConfig,
} from '../../../../services/gateway/iso8583-listener.ts';
import {
  decodeMessage,
  encodeMessage,
  type Iso8583Message,
} from '../../../../services/gateway/iso8583/codec.ts';
import { FrameSplitter, frame } from '../../../../services/gateway/iso8583/framing.ts';
import { parsePeerAllowList } from '../../../../services/gateway/peer-allowlist.ts';
import type { EventSink, PublishItem, PublishResult } from '../../../../services/gateway/sink.ts';
import { TerminalRegistry } from '../../../../services/gateway/terminal-registry.ts';
import { AvroCodec } from '../../../../services/shared/avro/codec.ts';
import { loadSchemaCatalog } from '../../../../services/shared/avro/schemas.ts';
import type {
  TerminalHeartbeat,
  TransactionEvent,
} from '../../../../services/shared/avro/types.generated.ts';
import { ConfigError, OverloadError, ShutdownError } from '../../../../services/shared/errors.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { createMetricsRegistry, type Registry } from '../../../../services/shared/metrics.ts';

const PAN = '5500005555555559';
const TRACK_PAN = '4111111111111111';
const TRACK2 = `${TRACK_PAN}=29122011234567890`;
const BAD_PAN = '4000123456789011';
const TOKEN_KEYS = parseTokenKeys(`k1:${Buffer.alloc(32, 7).toString('base64')}`);
const T0 = 1_750_000_000_000;

const REGISTRY = TerminalRegistry.fromJson({
  default: { currency: 'EUR' },
  terminals: {
    TERM0001: {
      merchant_id: 'M42',
      merchant_name: 'Cafe du Coin',
      mcc: '5812',
      acquirer_id: 'ACQ1',
      region: 'eu-west',
      latitude: 48.85,
      longitude: 2.35,
    },
  },
});

const codec = new AvroCodec({ catalog: loadSchemaCatalog() });

function message(mti: string, fields: Record<number, string | Buffer>): Iso8583Message {
  return { mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
}

function sale(stan: string, extra: Record<number, string | Buffer> = {}): Iso8583Message {
  return message('0200', {
    2: PAN,
    3: '003000',
    4: '000000001999',
    11: stan,
    14: '2912',
    22: '051',
    35: TRACK2,
    41: 'TERM0001',
    49: '978',
    52: Buffer.from('A1B2C3D4E5F60718', 'hex'),
    ...extra,
  });
}

function approval(stan: string, extra: Record<number, string | Buffer> = {}): Iso8583Message {
  return message('0210', { 11: stan, 37: 'RRN000000001', 38: 'AB12CD', 39: '00', 41: 'TERM0001', ...extra });
}

const echo = (terminal = 'TERM0001') =>
  message('0800', { 7: '0614123456', 11: '000777', 41: terminal, 70: '301' });

/** Records what the listener publishes, after checking each record against its Avro schema. */
class RecordingSink implements EventSink {
  readonly items: PublishItem[] = [];
  readonly failures: Error[] = [];
  calls = 0;

  async publish(items: readonly PublishItem[]): Promise<PublishResult[]> {
    this.calls++;
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    for (const item of items) {
      if (item.schema === 'TransactionEvent') await codec.encode('TransactionEvent', item.value);
      else await codec.encode('TerminalHeartbeat', item.value);
    }
    this.items.push(...items);
    return items.map(() => 'accepted');
  }

  transactions(): TransactionEvent[] {
    return this.items.flatMap((i) => (i.schema === 'TransactionEvent' ? [i.value] : []));
  }

  heartbeats(): TerminalHeartbeat[] {
    return this.items.flatMap((i) => (i.schema === 'TerminalHeartbeat' ? [i.value] : []));
  }
}

function captureLogs() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return {
    logger: createLogger({ service: 'gateway', level: 'debug', destination }),
    text: () => lines.join(''),
  };
}

async function metric(metrics: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.getSingleMetric(name);
  if (m === undefined) return 0;
  const { values } = await m.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

async function histogramCount(metrics: Registry, name: string): Promise<number> {
  const m = metrics.getSingleMetric(name);
  const { values } = await m!.get();
  return values.find((v) => 'metricName' in v && v.metricName === `${name}_count`)?.value ?? 0;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let eventIds = 0;
const newEventId = () => `00000000-0000-4000-8000-${String(++eventIds).padStart(12, '0')}`;

async function start(config: Partial<IsoListenerConfig> = {}, options: Partial<Iso8583ListenerOptions> = {}) {
  const sink = new RecordingSink();
  const logs = captureLogs();
  const metrics = createMetricsRegistry('gateway', false);
  const listener = new Iso8583Listener({
    sink,
    logger: logs.logger,
    metrics,
    gatewayId: 'gw-test',
    tokenKeys: TOKEN_KEYS,
    registry: REGISTRY,
    config: { ...parseIsoConfig({}), ...config },
    publishBackoffMs: 1,
    closeGraceMs: 1_000,
    sweepIntervalMs: 10,
    newEventId,
    ...options,
  });
  const { port } = await listener.listen(0, '127.0.0.1');
  cleanups.push(() => listener.close());
  return { listener, sink, logs, metrics, port };
}

/** The test's side of a connection: sends framed messages, collects the framed ones it receives. */
class Peer {
  readonly received: Iso8583Message[] = [];
  readonly closed: Promise<void>;
  gotEnd = false;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: net.Socket) {
    const splitter = new FrameSplitter();
    socket.on('data', (chunk: Buffer) => {
      for (const body of splitter.push(chunk).frames) this.received.push(decodeMessage(body));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('end', () => {
      this.gotEnd = true;
    });
    // Resets and EPIPE are expected when the gateway refuses or closes first.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    cleanups.push(() => socket.destroy());
  }

  static async connect(port: number): Promise<Peer> {
    const socket = net.connect(port, '127.0.0.1');
    const peer = new Peer(socket);
    await once(socket, 'connect');
    return peer;
  }

  send(...msgs: Iso8583Message[]): void {
    this.socket.write(Buffer.concat(msgs.map((m) => frame(encodeMessage(m)))));
  }

  async next(): Promise<Iso8583Message> {
    const seen = this.received.length;
    await vi.waitFor(() => expect(this.received.length).toBeGreaterThan(seen), { timeout: 3_000 });
    return this.received[seen]!;
  }
}

describe('Iso8583Listener', () => {
  it('pairs a 0200 with its 0210 into one event with the host latency', async () => {
    let now = T0;
    const { listener, sink, metrics, port } = await start({}, { clock: () => now });
    const peer = await Peer.connect(port);
    peer.send(sale('000101'));
    await vi.waitFor(() => expect(listener.stats.pending).toBe(1));
    now += 180;
    peer.send(approval('000101'));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(1));

    const [event] = sink.transactions();
    expect(event).toMatchObject({
      terminal_serial: 'TERM0001',
      gateway_id: 'gw-test',
      merchant_id: 'M42',
      merchant_name: 'Cafe du Coin',
      mcc: '5812',
      acquirer_id: 'ACQ1',
      region: 'eu-west',
      latitude: 48.85,
      longitude: 2.35,
      transaction_type: 'SALE',
      payment_method: 'CREDIT',
      entry_mode: 'CHIP',
      amount_minor: 1999,
      currency: 'EUR',
      card_token_key_id: 'k1',
      card_bin: PAN.slice(0, 8),
      card_last4: PAN.slice(-4),
      status: 'APPROVED',
      response_code: '00',
      auth_code: 'AB12CD',
      request_time: T0,
      response_time: T0 + 180,
      gateway_received_time: T0 + 180,
      stan: '000101',
      rrn: 'RRN000000001',
      ingest_channel: 'ISO8583',
      cashier_id: null,
      basket: null,
      response_message: null,
    });
    expect(event!.card_token).toMatch(/^[0-9a-f]{64}$/);
    expect(sink.items[0]).toMatchObject({ key: 'TERM0001', eventId: event!.event_id });
    expect(listener.stats.pending).toBe(0);
    expect(await metric(metrics, 'pospulse_gateway_iso_transactions_total', { outcome: 'paired' })).toBe(1);
    expect(await histogramCount(metrics, 'pospulse_gateway_iso_host_latency_seconds')).toBe(1);
    expect(await metric(metrics, 'pospulse_gateway_iso_frames_total')).toBe(2);
  });

  it('pairs by RRN a response that arrives on another connection without a STAN', async () => {
    const { listener, sink, port } = await start();
    const requests = await Peer.connect(port);
    const responses = await Peer.connect(port);
    requests.send(message('0100', { 3: '003000', 4: '000000005000', 37: 'REF000000042', 41: 'TERM0001' }));
    await vi.waitFor(() => expect(listener.stats.pending).toBe(1));
    responses.send(message('0110', { 37: 'REF000000042', 38: 'XY99  ', 39: '05' }));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(1));
    expect(sink.transactions()[0]).toMatchObject({
      transaction_type: 'PRE_AUTH',
      status: 'DECLINED',
      response_code: '05',
      auth_code: 'XY99',
      rrn: 'REF000000042',
      stan: null,
      card_token: null,
    });
  });

  it('publishes a request without a response in time as a TIMEOUT and ignores the late response', async () => {
    const { sink, metrics, port, logs } = await start({ responseTimeoutMs: 100 });
    const peer = await Peer.connect(port);
    peer.send(sale('000202'));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(1));
    expect(sink.transactions()[0]).toMatchObject({
      status: 'TIMEOUT',
      response_code: null,
      response_time: null,
      auth_code: null,
      stan: '000202',
    });
    expect(await metric(metrics, 'pospulse_gateway_iso_transactions_total', { outcome: 'timeout' })).toBe(1);

    peer.send(approval('000202'));
    await vi.waitFor(async () =>
      expect(await metric(metrics, 'pospulse_gateway_iso_unmatched_responses_total')).toBe(1),
    );
    expect(sink.transactions()).toHaveLength(1);
    expect(logs.text()).toContain('matches no pending request');
  });

  it('answers an echo test with an 0810 and turns it into a heartbeat of the terminal', async () => {
    let now = T0;
    const { sink, metrics, port } = await start({}, { clock: () => now });
    const peer = await Peer.connect(port);
    peer.send(echo());
    const answer = await peer.next();
    expect(answer.mti).toBe('0810');
    expect(Object.fromEntries(answer.fields)).toEqual({
      7: '0614123456',
      11: '000777',
      39: '00',
      41: 'TERM0001',
      70: '301',
    });
    await vi.waitFor(() => expect(sink.heartbeats()).toHaveLength(1));
    expect(sink.heartbeats()[0]).toEqual({
      event_id: expect.any(String),
      terminal_serial: 'TERM0001',
      merchant_id: 'M42',
      gateway_id: 'gw-test',
      event_time: T0,
      online: true,
      firmware_version: 'unknown',
      app_version: 'unknown',
      battery_pct: null,
      paper_state: 'UNKNOWN',
      signal_strength_dbm: null,
      connection_type: 'UNKNOWN',
      last_error_code: null,
      offline_queue_length: 0,
      ingest_channel: 'ISO8583',
      gateway_received_time: T0,
    });

    now += 1;
    peer.send(message('0800', { 11: '000778', 41: 'TERM0001', 70: '001' }));
    expect((await peer.next()).fields.get(70)).toBe('001');
    peer.send(echo('UNKNOWN1'));
    await peer.next();
    await vi.waitFor(() => expect(sink.heartbeats()).toHaveLength(2));
    // A sign-on is answered but is not a heartbeat; an unregistered terminal has no merchant.
    expect(sink.heartbeats()[1]).toMatchObject({ terminal_serial: 'UNKNOWN1', merchant_id: null });
    expect(await metric(metrics, 'pospulse_gateway_iso_heartbeats_total')).toBe(2);
    expect(await metric(metrics, 'pospulse_gateway_iso_unregistered_terminal_events_total')).toBe(1);
  });

  it('drops a malformed message, counts it by reason and keeps the connection working', async () => {
    const { metrics, port, logs } = await start();
    const peer = await Peer.connect(port);
    peer.socket.write(frame(Buffer.from('02X0garbage')));
    peer.send(message('0220', { 11: '000001', 41: 'TERM0001' }));
    peer.send(echo());
    expect((await peer.next()).mti).toBe('0810');
    expect(await metric(metrics, 'pospulse_gateway_iso_message_errors_total', { reason: 'BAD_MTI' })).toBe(1);
    expect(
      await metric(metrics, 'pospulse_gateway_iso_message_errors_total', { reason: 'UNSUPPORTED_MTI' }),
    ).toBe(1);
    const line = logs
      .text()
      .split('\n')
      .find((l) => l.includes('"reason":"BAD_MTI"'));
    expect(JSON.parse(line!)).toMatchObject({ level: 'warn', field: 0, offset: 2, frameSize: 11 });
    expect(peer.gotEnd).toBe(false);
  });

  it('handles the frames before a bad frame length, then closes the connection cleanly', async () => {
    const { listener, metrics, port } = await start();
    const peer = await Peer.connect(port);
    peer.socket.write(
      Buffer.concat([frame(encodeMessage(echo())), Buffer.from([0x00, 0x00]), frame(encodeMessage(echo()))]),
    );
    await peer.closed;
    expect(peer.gotEnd).toBe(true);
    expect(peer.received.map((m) => m.mti)).toEqual(['0810']);
    expect(
      await metric(metrics, 'pospulse_gateway_iso_message_errors_total', { reason: 'BAD_FRAME_LENGTH' }),
    ).toBe(1);
    expect(
      await metric(metrics, 'pospulse_gateway_iso_connections_closed_by_gateway_total', {
        reason: 'framing_error',
      }),
    ).toBe(1);
    await vi.waitFor(() => expect(listener.stats.connections).toBe(0));
    expect(await metric(metrics, 'pospulse_gateway_iso_connections')).toBe(0);
  });

  it('counts a stream that ends inside a frame', async () => {
    const { metrics, port } = await start();
    const peer = await Peer.connect(port);
    peer.socket.end(frame(encodeMessage(echo())).subarray(0, 10));
    await peer.closed;
    expect(
      await metric(metrics, 'pospulse_gateway_iso_message_errors_total', { reason: 'TRUNCATED_FRAME' }),
    ).toBe(1);
  });

  it('disconnects a peer that is not on the allow-list, logging its address only', async () => {
    const { metrics, port, logs, sink } = await start({ allowedPeers: parsePeerAllowList('10.1.2.3') });
    const peer = await Peer.connect(port);
    peer.send(echo());
    await peer.closed;
    expect(peer.received).toEqual([]);
    expect(sink.calls).toBe(0);
    expect(
      await metric(metrics, 'pospulse_gateway_iso_connections_refused_total', { reason: 'not_allowed' }),
    ).toBe(1);
    const line = logs
      .text()
      .split('\n')
      .find((l) => l.includes('allow-list'));
    expect(JSON.parse(line!)).toMatchObject({ level: 'warn', peer: '127.0.0.1' });
  });

  it('refuses connections beyond the limit', async () => {
    const { metrics, port } = await start({ maxConnections: 1 });
    const first = await Peer.connect(port);
    first.send(echo());
    await first.next();
    const second = await Peer.connect(port);
    await second.closed;
    expect(
      await metric(metrics, 'pospulse_gateway_iso_connections_refused_total', { reason: 'max_connections' }),
    ).toBe(1);
    first.send(echo());
    await first.next();
  });

  it('closes a connection that stays silent past the idle timeout', async () => {
    const { metrics, port } = await start({ idleTimeoutMs: 50 });
    const peer = await Peer.connect(port);
    await peer.closed;
    expect(peer.gotEnd).toBe(true);
    expect(
      await metric(metrics, 'pospulse_gateway_iso_connections_closed_by_gateway_total', { reason: 'idle' }),
    ).toBe(1);
  });

  it('on close, ends connections and publishes every pending request as a TIMEOUT at once', async () => {
    const { listener, sink, metrics, port } = await start({ responseTimeoutMs: 60_000 });
    const peer = await Peer.connect(port);
    peer.send(sale('000301'), sale('000302', { 41: 'TERM0002' }));
    await vi.waitFor(() => expect(listener.stats.pending).toBe(2));
    await listener.close();
    expect(sink.transactions().map((e) => [e.stan, e.status])).toEqual([
      ['000301', 'TIMEOUT'],
      ['000302', 'TIMEOUT'],
    ]);
    expect(await metric(metrics, 'pospulse_gateway_iso_transactions_total', { outcome: 'shutdown' })).toBe(2);
    expect(await metric(metrics, 'pospulse_gateway_iso_unregistered_terminal_events_total')).toBe(1);
    expect(peer.gotEnd).toBe(true);
    expect(listener.stats).toEqual({ connections: 0, pending: 0, publishing: 0 });
    // Not listening any more.
    await expect(once(net.connect(port, '127.0.0.1'), 'connect')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('when full, publishes the oldest pending request early as a TIMEOUT', async () => {
    const { listener, sink, metrics, port } = await start({ maxPending: 2, responseTimeoutMs: 60_000 });
    const peer = await Peer.connect(port);
    peer.send(sale('000401'), sale('000402'), sale('000403'));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(1));
    expect(sink.transactions()[0]).toMatchObject({ stan: '000401', status: 'TIMEOUT' });
    expect(listener.stats.pending).toBe(2);
    expect(await metric(metrics, 'pospulse_gateway_iso_transactions_total', { outcome: 'overflow' })).toBe(1);
    expect(await metric(metrics, 'pospulse_gateway_iso_pending_requests')).toBe(2);
  });

  it('keeps the first of two requests with the same key and counts the duplicate', async () => {
    const { listener, sink, metrics, port } = await start();
    const peer = await Peer.connect(port);
    peer.send(sale('000501', { 4: '000000000100' }), {
      ...sale('000501', { 4: '000000000200' }),
      mti: '0201',
    });
    await vi.waitFor(async () =>
      expect(await metric(metrics, 'pospulse_gateway_iso_duplicate_requests_total')).toBe(1),
    );
    expect(listener.stats.pending).toBe(1);
    peer.send(approval('000501'));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(1));
    expect(sink.transactions()[0]!.amount_minor).toBe(100);
  });

  it('refuses to publish a transaction without a currency, and says so', async () => {
    const { sink, metrics, port, logs } = await start(
      { responseTimeoutMs: 60_000 },
      { registry: TerminalRegistry.EMPTY },
    );
    const peer = await Peer.connect(port);
    const request = sale('000601');
    request.fields.delete(49);
    peer.send(request, approval('000601'));
    await vi.waitFor(async () =>
      expect(
        await metric(metrics, 'pospulse_gateway_iso_events_rejected_total', { reason: 'missing_currency' }),
      ).toBe(1),
    );
    expect(sink.calls).toBe(0);
    expect(logs.text()).toContain('no currency');
  });

  it('fills what neither message nor registry knows with the fallbacks', async () => {
    const { sink, port } = await start(
      {},
      { registry: TerminalRegistry.fromJson({ default: { currency: 'EUR' } }) },
    );
    const peer = await Peer.connect(port);
    peer.send(sale('000701', { 41: 'TERMX   ' }), approval('000701', { 41: 'TERMX   ' }));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(1));
    expect(sink.transactions()[0]).toMatchObject({
      terminal_serial: 'TERMX',
      merchant_id: 'unknown',
      merchant_name: 'unknown',
      mcc: '0000',
      acquirer_id: 'unknown',
      region: 'unknown',
      latitude: null,
      longitude: null,
      currency: 'EUR',
    });
  });

  it('never publishes or logs a card number from field 2, track 2 or track 1', async () => {
    expect([PAN, TRACK_PAN].map(panProblem)).toEqual([undefined, undefined]);
    const { sink, metrics, port, logs } = await start({ responseTimeoutMs: 100 });
    const peer = await Peer.connect(port);
    const trackOnly = sale('000802');
    trackOnly.fields.delete(2);
    const track1Only = sale('000803', { 45: `B${TRACK_PAN}^DOE/JANE^2912201123400000000` });
    track1Only.fields.delete(2);
    track1Only.fields.delete(35);
    peer.send(
      sale('000801'),
      trackOnly,
      track1Only,
      sale('000804', { 2: BAD_PAN }),
      // Duplicate, unmatched response echoing the PAN, and a message that fails after field 2.
      sale('000801'),
      approval('999999', { 2: PAN }),
    );
    peer.socket.write(frame(Buffer.concat([encodeMessage(sale('000805')), Buffer.from('trailing')])));
    peer.send(approval('000801', { 2: PAN }), approval('000802', { 2: TRACK_PAN }));
    await vi.waitFor(() => expect(sink.transactions()).toHaveLength(4));

    const byStan = Object.fromEntries(sink.transactions().map((e) => [e.stan, e]));
    expect(byStan['000801']).toMatchObject({ card_last4: '5559', status: 'APPROVED' });
    expect(byStan['000802']).toMatchObject({ card_last4: '1111', card_bin: '41111111' });
    expect(byStan['000803']).toMatchObject({ card_last4: '1111', status: 'TIMEOUT' });
    expect(byStan['000804']).toMatchObject({ card_token: null, card_bin: null, card_last4: null });
    expect(await metric(metrics, 'pospulse_gateway_iso_invalid_pans_total', { problem: 'luhn' })).toBe(1);
    expect(
      await metric(metrics, 'pospulse_gateway_iso_message_errors_total', { reason: 'TRAILING_BYTES' }),
    ).toBe(1);

    const published = JSON.stringify(sink.items);
    const logged = logs.text();
    expect(logged).toContain('duplicate');
    expect(logged).toContain('TRAILING_BYTES');
    for (const text of [published, logged]) {
      for (const secret of [PAN, TRACK_PAN, BAD_PAN, '29122011234567890', 'DOE/JANE']) {
        expect(text).not.toContain(secret);
      }
    }
    // Log lines hold no epoch-millisecond numbers that could pass Luhn by chance; event ids aside,
    // no run of digits there looks like a card number.
    expect(findPans(logged.replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/g, 'uuid'))).toEqual([]);
  });

  it('retries a publish the sink refuses for overload, then counts the event lost', async () => {
    const { sink, metrics, port, logs } = await start({}, { publishAttempts: 3 });
    const overload = () => new OverloadError('queue_full', 'queue full', 1);
    sink.failures.push(overload());
    const peer = await Peer.connect(port);
    peer.send(echo());
    await vi.waitFor(() => expect(sink.heartbeats()).toHaveLength(1));
    expect(sink.calls).toBe(2);
    expect(await metric(metrics, 'pospulse_gateway_iso_publish_retries_total')).toBe(1);

    sink.failures.push(overload(), overload(), overload());
    peer.send(echo());
    await vi.waitFor(async () =>
      expect(
        await metric(metrics, 'pospulse_gateway_iso_events_failed_total', {
          schema: 'TerminalHeartbeat',
          code: 'PP_ERR_OVERLOADED',
        }),
      ).toBe(1),
    );
    expect(sink.calls).toBe(5);
    const lost = logs
      .text()
      .split('\n')
      .find((l) => l.includes('event lost'));
    expect(JSON.parse(lost!)).toMatchObject({ level: 'error', schema: 'TerminalHeartbeat', attempts: 3 });
    expect(JSON.parse(lost!).event_id).toMatch(/^00000000-0000-4000-8000-/);
  });

  it('does not retry a publish refused because the sink is shutting down', async () => {
    const { sink, metrics, port } = await start();
    sink.failures.push(new ShutdownError('closing'));
    const peer = await Peer.connect(port);
    peer.send(echo());
    await vi.waitFor(async () =>
      expect(
        await metric(metrics, 'pospulse_gateway_iso_events_failed_total', { code: 'PP_ERR_SHUTDOWN' }),
      ).toBe(1),
    );
    expect(sink.calls).toBe(1);
  });

  it('survives arbitrary byte streams on its connections (property)', async () => {
    const { sink, port, listener } = await start();
    const validFrame = fc
      .constantFrom(encodeMessage(echo()), encodeMessage(sale('000901')), encodeMessage(approval('000901')))
      .chain((body) =>
        fc
          .array(fc.tuple(fc.nat(body.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })
          .map((mutations) => {
            const copy = Buffer.from(body);
            for (const [at, byte] of mutations) copy[at] = byte;
            return frame(copy);
          }),
      );
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => frame(Buffer.from(a))),
      validFrame,
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 8 }), async (pieces) => {
        const peer = await Peer.connect(port);
        for (const p of pieces) peer.socket.write(p);
        peer.socket.end();
        await peer.closed;
      }),
      { numRuns: 60 },
    );
    const check = await Peer.connect(port);
    check.send(echo());
    expect((await check.next()).mti).toBe('0810');
    await vi.waitFor(() => expect(listener.stats.connections).toBe(1));
    expect(sink.calls).toBeGreaterThan(0);
  });
});

function opensslWorks(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!opensslWorks() && process.env['CI'] !== 'true')('Iso8583Listener over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pospulse-iso-tls-'));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const read = (name: string) => readFileSync(path(name));

  function issue(name: string, ca: string, ext: string): void {
    writeFileSync(path(`${name}.ext`), ext);
    openssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }

  beforeAll(() => {
    for (const ca of ['ca', 'rogue-ca']) {
      openssl(
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.crt`,
        '-days',
        '2',
        '-subj',
        `/CN=${ca}`,
      );
    }
    issue('server', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    issue('client', 'ca', 'extendedKeyUsage=clientAuth\n');
    issue('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function tlsPeer(port: number, client?: string): Promise<Peer> {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: read('ca.crt'),
      ...(client === undefined ? {} : { cert: read(`${client}.crt`), key: read(`${client}.key`) }),
    });
    const peer = new Peer(socket);
    await Promise.race([once(socket, 'secureConnect'), peer.closed]);
    return peer;
  }

  const mutual = () => ({ tlsCert: path('server.crt'), tlsKey: path('server.key'), tlsCa: path('ca.crt') });

  it('with mutual TLS, serves a client whose certificate the CA signed', async () => {
    const { sink, port } = await start(mutual());
    const peer = await tlsPeer(port, 'client');
    peer.send(echo());
    expect((await peer.next()).mti).toBe('0810');
    await vi.waitFor(() => expect(sink.heartbeats()).toHaveLength(1));
  });

  it.each([
    ['without a certificate', undefined],
    ['with a certificate of another CA', 'rogue'],
  ])('with mutual TLS, refuses a client %s', async (_label, client) => {
    const { sink, metrics, port, logs } = await start(mutual());
    const peer = await tlsPeer(port, client);
    if (!peer.socket.destroyed) peer.send(echo());
    await peer.closed;
    expect(peer.received).toEqual([]);
    expect(sink.calls).toBe(0);
    await vi.waitFor(async () =>
      expect(await metric(metrics, 'pospulse_gateway_iso_connections_refused_total', { reason: 'tls' })).toBe(
        1,
      ),
    );
    expect(logs.text()).toContain('TLS handshake failed');
  });

  it('with TLS but no CA, serves a client without a certificate', async () => {
    const { port } = await start({ tlsCert: path('server.crt'), tlsKey: path('server.key') });
    const peer = await tlsPeer(port);
    peer.send(echo());
    expect((await peer.next()).mti).toBe('0810');
  });

  it('fails at construction naming the variable of a TLS file it cannot read', async () => {
    await expect(start({ tlsCert: path('absent.crt'), tlsKey: path('server.key') })).rejects.toThrow(
      /GATEWAY_ISO_TLS_CERT/,
    );
  });
});

describe('parseIsoConfig', () => {
  it('has defaults for everything', () => {
    const config = parseIsoConfig({});
    expect(config).toMatchObject({
      enabled: true,
      host: '127.0.0.1',
      port: 8583,
      responseTimeoutMs: 30_000,
      maxFrameLength: 8192,
      bitmap: 'binary',
      tlsMode: 'none',
      terminalsFile: undefined,
    });
    expect(config.allowedPeers.entries).toEqual(['127.0.0.1', '::1']);
    expect(config.allowedPeers.allows('::ffff:127.0.0.1')).toBe(true);
  });

  it('reads TLS and mutual TLS from the file variables', () => {
    const tlsEnv = { GATEWAY_ISO_TLS_CERT: '/c.pem', GATEWAY_ISO_TLS_KEY: '/k.pem' };
    expect(parseIsoConfig(tlsEnv).tlsMode).toBe('tls');
    expect(parseIsoConfig({ ...tlsEnv, GATEWAY_ISO_TLS_CA: '/ca.pem' }).tlsMode).toBe('mutual');
  });

  it.each([
    [{ GATEWAY_ISO_TLS_KEY: '/k.pem' }, 'GATEWAY_ISO_TLS_CERT'],
    [{ GATEWAY_ISO_TLS_CERT: '/c.pem' }, 'GATEWAY_ISO_TLS_KEY'],
    [{ GATEWAY_ISO_TLS_CA: '/ca.pem' }, 'GATEWAY_ISO_TLS_CERT'],
    [{ GATEWAY_ISO_ALLOWED_PEERS: '127.0.0.1,example.com' }, 'GATEWAY_ISO_ALLOWED_PEERS'],
    [{ GATEWAY_ISO_MAX_FRAME: '70000' }, 'GATEWAY_ISO_MAX_FRAME'],
    [{ GATEWAY_ISO_BITMAP: 'ascii' }, 'GATEWAY_ISO_BITMAP'],
    [{ GATEWAY_ISO_RESPONSE_TIMEOUT: 'soon' }, 'GATEWAY_ISO_RESPONSE_TIMEOUT'],
  ])('refuses %j naming %s', (env, variable) => {
    let error: unknown;
    try {
      parseIsoConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
  });

  it('names the bad allow-list entry', () => {
    expect(() => parseIsoConfig({ GATEWAY_ISO_ALLOWED_PEERS: '127.0.0.1,example.com' })).toThrow(
      '"example.com"',
    );
  });
});
