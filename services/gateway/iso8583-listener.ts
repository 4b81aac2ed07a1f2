import { randomUUID } from 'node:crypto';
import net, { type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls, { type TLSSocket } from 'node:tls';
import type { TerminalHeartbeat, TransactionEvent } from '../shared/avro/types.generated.ts';
import { Iso8583Error, isPosPulseError, OverloadError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { counter, gauge, histogram, type Registry } from '../shared/metrics.ts';
import { cardReference, panProblem, type TokenKeys } from './card-data.ts';
import { readIsoTls, type IsoConfig } from './iso-config.ts';
import { decodeMessage, encodeMessage, type Iso8583Message } from './iso8583/codec.ts';
import { SENSITIVE_FIELDS } from './iso8583/fields.ts';
import { FrameSplitter, frame } from './iso8583/framing.ts';
import { networkManagement, requestMtiFor, responseMtiFor, toTransactionFields } from './iso8583/mapping.ts';
import { PairingTable, type PendingRequest } from './iso8583/pairing.ts';
import type { EventSink, PublishItem } from './sink.ts';
import { TerminalRegistry } from './terminal-registry.ts';

/** The parts of the parsed ISO config (iso-config.ts) the listener uses; host and port go to `listen`. */
export type IsoListenerConfig = Pick<
  IsoConfig,
  | 'allowedPeers'
  | 'responseTimeoutMs'
  | 'maxPending'
  | 'maxConnections'
  | 'idleTimeoutMs'
  | 'maxFrameLength'
  | 'bitmap'
  | 'tlsCert'
  | 'tlsKey'
  | 'tlsCa'
>;

export interface Iso8583ListenerOptions {
  sink: EventSink;
  logger: Logger;
  metrics: Registry;
  gatewayId: string;
  tokenKeys: TokenKeys;
  /** @default TerminalRegistry.EMPTY (every terminal gets the fallbacks) */
  registry?: TerminalRegistry;
  /** TLS files (tlsCert/tlsKey/tlsCa) are read once, in the constructor. */
  config: IsoListenerConfig;
  /** Publish attempts per event before it is counted as lost. @default 5 */
  publishAttempts?: number;
  /** Delay before the first retry, doubled each time (at least the sink's `retryAfterMs`). @default 200 */
  publishBackoffMs?: number;
  /** How long `close()` and a framing error wait for the peer to close before destroying. @default 5000 */
  closeGraceMs?: number;
  /** Sweep period of the pairing table. @default see PairingTable */
  sweepIntervalMs?: number;
  /** @default Date.now */
  clock?: () => number;
  /** @default crypto.randomUUID */
  newEventId?: () => string;
}

/** What a request keeps while it waits: its card reference, so the PAN itself need not be kept. */
type CardFields = Pick<TransactionEvent, 'card_token' | 'card_token_key_id' | 'card_bin' | 'card_last4'>;

const NO_CARD: CardFields = Object.freeze({
  card_token: null,
  card_token_key_id: null,
  card_bin: null,
  card_last4: null,
});

/** Why a transaction event was published (label of `…_transactions_total`). */
type Outcome = 'paired' | 'timeout' | 'overflow' | 'shutdown';

/** Longest delay between two publish attempts, whatever the sink suggests. */
const MAX_BACKOFF_MS = 5_000;
/** A TLS peer that has not finished its handshake by then is dropped (node's default is 120 s). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

function isoMetrics(registry: Registry) {
  const p = 'pospulse_gateway_iso_';
  return {
    connections: gauge(
      registry,
      `${p}connections`,
      'Open ISO 8583 connections (TLS handshakes included).',
      [],
    ),
    refused: counter(
      registry,
      `${p}connections_refused_total`,
      'ISO 8583 connections refused: peer not on the allow-list, connection limit, failed TLS handshake.',
      ['reason'],
    ),
    closed: counter(
      registry,
      `${p}connections_closed_by_gateway_total`,
      'ISO 8583 connections the gateway closed: idle, framing error, shutdown.',
      ['reason'],
    ),
    frames: counter(registry, `${p}frames_total`, 'ISO 8583 frames read.', []),
    messageErrors: counter(
      registry,
      `${p}message_errors_total`,
      'ISO 8583 frames or messages dropped, by Iso8583Error reason (INTERNAL: unexpected handler error).',
      ['reason'],
    ),
    transactions: counter(
      registry,
      `${p}transactions_total`,
      'Transaction events built: paired with a response, or without one (timeout, overflow, shutdown).',
      ['outcome'],
    ),
    pending: gauge(registry, `${p}pending_requests`, 'ISO 8583 requests awaiting their response.', []),
    unmatched: counter(
      registry,
      `${p}unmatched_responses_total`,
      'Responses that matched no pending request (late or unknown): not published.',
      [],
    ),
    duplicates: counter(
      registry,
      `${p}duplicate_requests_total`,
      'Requests whose pairing key was already pending: the first one is kept.',
      [],
    ),
    heartbeats: counter(
      registry,
      `${p}heartbeats_total`,
      'Echo tests (0800/301) turned into heartbeats.',
      [],
    ),
    latency: histogram(
      registry,
      `${p}host_latency_seconds`,
      'Host latency: response read time minus request read time.',
      [],
      [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    ),
    invalidPans: counter(
      registry,
      `${p}invalid_pans_total`,
      'Card numbers that failed the check (card fields published as null), by problem.',
      ['problem'],
    ),
    unregistered: counter(
      registry,
      `${p}unregistered_terminal_events_total`,
      'Events of terminals absent from the terminal registry (fallback values used).',
      [],
    ),
    rejected: counter(
      registry,
      `${p}events_rejected_total`,
      'Events that could not be built (missing_currency: none in message or registry).',
      ['reason'],
    ),
    published: counter(registry, `${p}events_published_total`, 'Events accepted by the sink.', ['schema']),
    retries: counter(registry, `${p}publish_retries_total`, 'Publish attempts repeated after a refusal.', [
      'schema',
    ]),
    failed: counter(
      registry,
      `${p}events_failed_total`,
      'Events lost: the sink still refused them after the last attempt.',
      ['schema', 'code'],
    ),
  };
}

interface Connection {
  id: number;
  address: string;
  raw: Socket;
  /** The socket messages are read from and written to: `raw`, or its TLSSocket once the handshake is done. */
  socket: Socket | undefined;
  splitter: FrameSplitter;
  /** A framing error was seen: no later byte can be trusted. */
  broken: boolean;
  frames: number;
  graceTimer: NodeJS.Timeout | undefined;
  /** Its key in `handshaking` while its TLS handshake runs. */
  handshakeKey: string | undefined;
  /** Code of the TLS error that ended the handshake, for the one log line of the refusal. */
  tlsError: string | undefined;
  /** Resolves once the socket closed and the connection is forgotten. */
  gone: Promise<void>;
  forget: () => void;
}

function text(msg: Iso8583Message, field: number): string | undefined {
  const v = msg.fields.get(field);
  return typeof v === 'string' ? v.trimEnd() : undefined;
}

/** Fields that identify a message in logs: never card data. */
function ids(msg: Iso8583Message) {
  return { mti: msg.mti, terminal: text(msg, 41), stan: text(msg, 11), rrn: text(msg, 37) };
}

function withoutSensitiveFields(msg: Iso8583Message): Iso8583Message {
  const fields = new Map(msg.fields);
  for (const n of SENSITIVE_FIELDS) fields.delete(n);
  return { mti: msg.mti, fields };
}

/**
 * The ISO 8583 TCP (or TLS) door of the gateway: reads framed messages from switches and
 * terminals, pairs requests with responses into TransactionEvents, answers 0800s, and publishes to
 * the sink. The contract is docs/ISO8583.md ("Listener", "Pairing and the timeout rule").
 */
export class Iso8583Listener {
  private readonly log: Logger;
  private readonly m: ReturnType<typeof isoMetrics>;
  private readonly server: net.Server;
  private readonly tlsServer: tls.Server | undefined;
  private readonly pairing: PairingTable<CardFields>;
  private readonly config: IsoListenerConfig;
  private readonly terminals: TerminalRegistry;
  private readonly clock: () => number;
  private readonly newEventId: () => string;
  private readonly publishAttempts: number;
  private readonly publishBackoffMs: number;
  private readonly closeGraceMs: number;
  private readonly connections = new Set<Connection>();
  /** TLS connections by `address|port` until their handshake completes (node hands over a new socket). */
  private readonly handshaking = new Map<string, Connection>();
  private readonly inflight = new Set<Promise<void>>();
  private nextId = 1;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: Iso8583ListenerOptions) {
    this.log = opts.logger;
    this.m = isoMetrics(opts.metrics);
    this.config = opts.config;
    this.terminals = opts.registry ?? TerminalRegistry.EMPTY;
    this.clock = opts.clock ?? Date.now;
    this.newEventId = opts.newEventId ?? randomUUID;
    this.publishAttempts = Math.max(1, opts.publishAttempts ?? 5);
    this.publishBackoffMs = opts.publishBackoffMs ?? 200;
    this.closeGraceMs = opts.closeGraceMs ?? 5_000;
    // Built before any connection arrives: a bad maxFrameLength fails here, not per connection.
    new FrameSplitter({ maxFrameLength: this.config.maxFrameLength });
    this.pairing = new PairingTable<CardFields>({
      timeoutMs: this.config.responseTimeoutMs,
      maxPending: this.config.maxPending,
      clock: this.clock,
      ...(opts.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: opts.sweepIntervalMs }),
      onExpire: (entry, cause) => this.expire(entry, cause),
    });

    // One plain TCP server does the accepting, so the allow-list is checked before any TLS work
    // and a refused peer never shows up as a TLS error; allowed sockets are handed to the TLS
    // server, which never listens itself.
    this.server = net.createServer((raw) => this.accept(raw));
    this.server.maxConnections = this.config.maxConnections;
    this.server.on('drop', (data) => {
      this.m.refused.inc({ reason: 'max_connections' });
      this.log.warn({ peer: data?.remoteAddress }, 'ISO 8583 connection limit reached: peer disconnected');
    });
    this.server.on('error', (err) => this.log.error({ err }, 'ISO 8583 server error'));
    const material = readIsoTls(this.config);
    if (material !== undefined) {
      const mutual = material.ca !== undefined;
      this.tlsServer = tls.createServer({
        cert: material.cert,
        key: material.key,
        ...(mutual ? { ca: material.ca } : {}),
        requestCert: mutual,
        rejectUnauthorized: mutual,
        minVersion: 'TLSv1.2',
        handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      });
      this.tlsServer.on('secureConnection', (socket) => this.secured(socket));
      // With a listener here node leaves the socket to us: destroy it, or it would linger. The
      // refusal is logged and counted once, when the connection closes.
      this.tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
        const conn = this.handshaking.get(`${socket.remoteAddress}|${socket.remotePort}`);
        if (conn !== undefined) conn.tlsError = err.code ?? err.message;
        socket.destroy();
      });
    }
  }

  /** Starts accepting (port 0 picks a free port) and the timeout sweep. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.pairing.start();
        const address = this.server.address() as AddressInfo;
        this.log.info(
          { host: address.address, port: address.port, tls: this.tlsServer !== undefined },
          'ISO 8583 listener ready',
        );
        resolve(address);
      });
    });
  }

  get stats(): { connections: number; pending: number; publishing: number } {
    return { connections: this.connections.size, pending: this.pairing.size, publishing: this.inflight.size };
  }

  /**
   * Stops accepting, ends every connection (frames still arriving meanwhile are handled; a peer
   * that does not close within `closeGraceMs` is destroyed), then publishes every pending request
   * as a TIMEOUT event at once, and resolves when every publish has succeeded or been counted lost.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const open = [...this.connections];
    for (const conn of open) this.endConnection(conn, 'shutdown');
    // The server reports itself closed before its sockets' 'close' listeners have run.
    await Promise.all([stopped, ...open.map((c) => c.gone)]);
    this.pairing.stop();
    for (const entry of this.pairing.drain()) this.expire(entry, 'shutdown');
    this.m.pending.set(0);
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
    this.log.info('ISO 8583 listener closed');
  }

  private accept(raw: Socket): void {
    const address = raw.remoteAddress ?? 'unknown';
    if (this.closing !== undefined || !this.config.allowedPeers.allows(raw.remoteAddress)) {
      raw.destroy();
      if (this.closing === undefined) {
        this.m.refused.inc({ reason: 'not_allowed' });
        this.log.warn({ peer: address }, 'ISO 8583 peer not on the allow-list: disconnected');
      }
      return;
    }
    let forget = (): void => undefined;
    const gone = new Promise<void>((resolve) => (forget = resolve));
    const conn: Connection = {
      id: this.nextId++,
      address,
      raw,
      socket: undefined,
      splitter: new FrameSplitter({ maxFrameLength: this.config.maxFrameLength }),
      broken: false,
      frames: 0,
      graceTimer: undefined,
      handshakeKey: undefined,
      tlsError: undefined,
      gone,
      forget,
    };
    this.connections.add(conn);
    this.m.connections.inc();
    raw.on('error', (err: NodeJS.ErrnoException) =>
      this.log.info({ conn: conn.id, code: err.code }, 'ISO 8583 connection error'),
    );
    raw.once('close', () => this.closed(conn));
    this.log.info({ conn: conn.id, peer: address }, 'ISO 8583 connection opened');
    if (this.tlsServer === undefined) {
      this.serve(conn, raw);
    } else {
      conn.handshakeKey = `${address}|${raw.remotePort}`;
      this.handshaking.set(conn.handshakeKey, conn);
      this.tlsServer.emit('connection', raw);
    }
  }

  private secured(socket: TLSSocket): void {
    const conn = this.handshaking.get(`${socket.remoteAddress}|${socket.remotePort}`);
    if (conn?.handshakeKey !== undefined) this.handshaking.delete(conn.handshakeKey);
    if (conn === undefined) {
      // The raw socket closed in the meantime; nothing to serve.
      socket.destroy();
      return;
    }
    this.serve(conn, socket);
  }

  private serve(conn: Connection, socket: Socket): void {
    conn.socket = socket;
    if (socket !== conn.raw) {
      socket.on('error', (err: NodeJS.ErrnoException) =>
        this.log.info({ conn: conn.id, code: err.code }, 'ISO 8583 connection error'),
      );
    }
    if (this.config.idleTimeoutMs > 0) {
      socket.setTimeout(this.config.idleTimeoutMs, () => {
        this.log.info(
          { conn: conn.id, idleMs: this.config.idleTimeoutMs },
          'ISO 8583 connection idle: closing',
        );
        this.endConnection(conn, 'idle');
      });
    }
    socket.on('data', (chunk: Buffer) => this.received(conn, chunk));
    socket.on('end', () => {
      const err = conn.broken ? undefined : conn.splitter.end();
      if (err !== undefined) {
        conn.broken = true;
        this.messageError(conn, err, conn.splitter.pendingBytes);
      }
    });
    if (this.closing !== undefined) this.endConnection(conn, 'shutdown');
  }

  private closed(conn: Connection): void {
    this.connections.delete(conn);
    this.m.connections.dec();
    if (conn.graceTimer !== undefined) clearTimeout(conn.graceTimer);
    if (conn.handshakeKey !== undefined && this.handshaking.get(conn.handshakeKey) === conn) {
      this.handshaking.delete(conn.handshakeKey);
    }
    if (this.tlsServer !== undefined && conn.socket === undefined && this.closing === undefined) {
      // No TLS connection came of it: a failed handshake (tlsError says why), an untrusted client
      // certificate (rejectUnauthorized destroys those without an event), or a peer that left.
      this.m.refused.inc({ reason: 'tls' });
      this.log.warn(
        { conn: conn.id, peer: conn.address, code: conn.tlsError ?? 'HANDSHAKE_NOT_COMPLETED' },
        'ISO 8583 TLS handshake failed: disconnected',
      );
    }
    this.log.info({ conn: conn.id, frames: conn.frames }, 'ISO 8583 connection closed');
    conn.forget();
  }

  /** Ends our side cleanly (written responses are flushed first); destroys after the grace period. */
  private endConnection(conn: Connection, reason: 'idle' | 'framing_error' | 'shutdown'): void {
    if (conn.graceTimer !== undefined) return;
    this.m.closed.inc({ reason });
    if (conn.socket === undefined) {
      // Still in its TLS handshake: nothing of it to flush.
      conn.raw.destroy();
      return;
    }
    conn.socket.end();
    conn.graceTimer = setTimeout(() => conn.raw.destroy(), this.closeGraceMs);
    conn.graceTimer.unref();
  }

  private received(conn: Connection, chunk: Buffer): void {
    if (conn.broken) return;
    const { frames, error } = conn.splitter.push(chunk);
    for (const body of frames) this.handleFrame(conn, body);
    if (error !== undefined) {
      conn.broken = true;
      this.messageError(conn, error, undefined);
      this.endConnection(conn, 'framing_error');
    }
  }

  /** Never throws: whatever the bytes, the connection and the process go on. */
  private handleFrame(conn: Connection, body: Buffer): void {
    conn.frames++;
    this.m.frames.inc();
    const receivedAt = this.clock();
    let mti: string | undefined;
    try {
      const msg = decodeMessage(body, { bitmap: this.config.bitmap });
      mti = msg.mti;
      this.dispatch(conn, msg, receivedAt);
    } catch (err) {
      this.messageError(conn, err, body.length, mti);
    }
  }

  private messageError(conn: Connection, err: unknown, frameSize: number | undefined, mti?: string): void {
    if (err instanceof Iso8583Error) {
      this.m.messageErrors.inc({ reason: err.reason });
      // The error names the field and byte offset, never its content.
      this.log.warn(
        { conn: conn.id, reason: err.reason, field: err.field, offset: err.offset, frameSize, mti },
        err.closeConnection ? 'ISO 8583 framing error: closing the connection' : 'ISO 8583 message dropped',
      );
      return;
    }
    this.m.messageErrors.inc({ reason: 'INTERNAL' });
    this.log.error({ conn: conn.id, err, frameSize, mti }, 'ISO 8583 message handler failed');
  }

  private dispatch(conn: Connection, msg: Iso8583Message, receivedAt: number): void {
    if (msg.mti === '0800' || msg.mti === '0801') this.networkRequest(conn, msg);
    else if (responseMtiFor(msg.mti) !== undefined) this.request(conn, msg, receivedAt);
    else if (requestMtiFor(msg.mti) !== undefined) this.response(conn, msg, receivedAt);
    else throw new Iso8583Error('UNSUPPORTED_MTI', `MTI ${msg.mti} is not handled by the listener`, 0);
  }

  private networkRequest(conn: Connection, msg: Iso8583Message): void {
    const nm = networkManagement(msg);
    const socket = conn.socket;
    if (socket !== undefined && socket.writable) {
      socket.write(frame(encodeMessage(nm.response, { bitmap: this.config.bitmap })));
    }
    const terminal = text(msg, 41);
    this.log.debug({ conn: conn.id, kind: nm.kind, code: nm.code, terminal }, 'ISO 8583 network management');
    if (!nm.heartbeat) return;
    if (terminal === undefined || terminal === '') {
      this.log.debug({ conn: conn.id }, 'echo test without a terminal id (field 41): answered, no heartbeat');
      return;
    }
    const profile = this.terminals.profile(terminal);
    if (!profile.known) this.m.unregistered.inc();
    this.m.heartbeats.inc();
    const now = this.clock();
    // ISO 8583 carries none of the terminal's health: what it cannot say is UNKNOWN, not guessed.
    const heartbeat: TerminalHeartbeat = {
      event_id: this.newEventId(),
      terminal_serial: terminal,
      merchant_id: profile.registeredMerchantId,
      gateway_id: this.opts.gatewayId,
      event_time: now,
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
      gateway_received_time: now,
    };
    this.publish({
      schema: 'TerminalHeartbeat',
      eventId: heartbeat.event_id,
      key: terminal,
      value: heartbeat,
    });
  }

  private request(conn: Connection, msg: Iso8583Message, receivedAt: number): void {
    // Mapped now, not when the response comes: a request that can never become an event (no
    // terminal id, unknown currency) is reported as it arrives, and the card number is tokenized
    // here so the pending table keeps only the reference, never the PAN.
    const card = this.cardFields(toTransactionFields(msg, undefined, { requestTime: receivedAt }).pan);
    const result = this.pairing.add(withoutSensitiveFields(msg), card, receivedAt);
    if (result === 'unkeyed') {
      throw new Iso8583Error('MISSING_FIELD', 'a request needs a STAN (11) or an RRN (37) to be paired', 11);
    }
    if (result === 'duplicate') {
      this.m.duplicates.inc();
      this.log.info(
        { conn: conn.id, ...ids(msg) },
        'duplicate ISO 8583 request: the first one stays pending',
      );
    }
    this.m.pending.set(this.pairing.size);
  }

  private cardFields(pan: string | null): CardFields {
    if (pan === null) return NO_CARD;
    const problem = panProblem(pan);
    if (problem === undefined) return cardReference(pan, this.opts.tokenKeys);
    this.m.invalidPans.inc({ problem });
    return NO_CARD;
  }

  private response(conn: Connection, msg: Iso8583Message, receivedAt: number): void {
    const pending = this.pairing.match(msg);
    this.m.pending.set(this.pairing.size);
    if (pending === undefined) {
      this.m.unmatched.inc();
      this.log.info(
        { conn: conn.id, ...ids(msg) },
        'ISO 8583 response matches no pending request (late, or its request was not seen): not published',
      );
      return;
    }
    this.emitTransaction(pending, msg, receivedAt, 'paired');
  }

  /** Timer and overflow path: must not throw (see PairingTable's onExpire). */
  private expire(entry: PendingRequest<CardFields>, outcome: Exclude<Outcome, 'paired'>): void {
    try {
      this.emitTransaction(entry, undefined, this.clock(), outcome);
      if (outcome !== 'shutdown') this.m.pending.set(this.pairing.size);
    } catch (err) {
      this.m.messageErrors.inc({ reason: err instanceof Iso8583Error ? err.reason : 'INTERNAL' });
      this.log.error({ err, ...ids(entry.message) }, 'ISO 8583 timeout event could not be built');
    }
  }

  private emitTransaction(
    pending: PendingRequest<CardFields>,
    response: Iso8583Message | undefined,
    now: number,
    outcome: Outcome,
  ): void {
    const { fields, hostLatencyMs } = toTransactionFields(pending.message, response, {
      requestTime: pending.receivedAt,
      ...(response === undefined ? {} : { responseTime: now }),
    });
    const profile = this.terminals.profile(fields.terminal_serial);
    if (!profile.known) this.m.unregistered.inc();
    const currency = fields.currency ?? profile.currency;
    if (currency === undefined) {
      this.m.rejected.inc({ reason: 'missing_currency' });
      this.log.warn(
        { ...ids(pending.message), status: fields.status },
        'ISO 8583 transaction has no currency (no field 49, none in the terminal registry): not published',
      );
      return;
    }
    this.m.transactions.inc({ outcome });
    if (hostLatencyMs !== null) this.m.latency.observe(hostLatencyMs / 1000);
    const event: TransactionEvent = {
      event_id: this.newEventId(),
      gateway_id: this.opts.gatewayId,
      merchant_id: profile.merchant_id,
      merchant_name: profile.merchant_name,
      mcc: profile.mcc,
      acquirer_id: profile.acquirer_id,
      region: profile.region,
      latitude: profile.latitude,
      longitude: profile.longitude,
      cashier_id: null,
      response_message: null,
      basket: null,
      // When the event was complete at the gateway (response read, or timeout declared), so
      // ingested_at - gateway_received_time downstream is the pipeline's own lag.
      gateway_received_time: now,
      ...pending.data,
      ...fields,
      currency,
    };
    this.publish({
      schema: 'TransactionEvent',
      eventId: event.event_id,
      key: event.terminal_serial,
      value: event,
    });
  }

  private publish(item: PublishItem): void {
    const done: Promise<void> = this.publishWithRetry(item).finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  /** Resolves once the sink accepted the item or it is counted lost; never rejects. */
  private async publishWithRetry(item: PublishItem): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.sink.publish([item]);
        this.m.published.inc({ schema: item.schema });
        return;
      } catch (err) {
        // A ShutdownError (retryable: false) will not change with time; an OverloadError will.
        const retryable = !isPosPulseError(err) || err.retryable;
        if (!retryable || attempt >= this.publishAttempts) {
          const code = isPosPulseError(err) ? err.code : 'UNEXPECTED';
          this.m.failed.inc({ schema: item.schema, code });
          this.log.error(
            { event_id: item.eventId, schema: item.schema, terminal: item.key, attempts: attempt, code, err },
            'ISO 8583 event lost: the sink refused it',
          );
          return;
        }
        this.m.retries.inc({ schema: item.schema });
        const hint = err instanceof OverloadError ? err.retryAfterMs : 0;
        await sleep(Math.min(MAX_BACKOFF_MS, Math.max(hint, this.publishBackoffMs * 2 ** (attempt - 1))));
      }
    }
  }
}
