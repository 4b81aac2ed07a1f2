import { connect, type Socket } from 'node:net';
import type { TransactionType } from '../shared/avro/types.generated.ts';
import { ValidationError } from '../shared/errors.ts';
import { decodeMessage, encodeMessage, type Iso8583Message } from '../gateway/iso8583/codec.ts';
import { FrameSplitter, frame } from '../gateway/iso8583/framing.ts';
import { CURRENCY_ALPHA } from '../gateway/iso8583/mapping.ts';
import type { HeartbeatFields, SimEvent, TransactionFields } from './events.ts';
import { emptyStats, sleep, type Sink, type SinkStats } from './sink.ts';

/**
 * Plays a switch that mirrors its traffic to the gateway's ISO 8583 port (docs/ISO8583.md): for each
 * transaction the request (0200, 0100 for a pre-authorisation, 0400 for a reversal) at once and the
 * host's response (0210/0110/0410) after the simulated host latency, nothing for a timeout (the
 * gateway publishes it as TIMEOUT after GATEWAY_ISO_RESPONSE_TIMEOUT); for each heartbeat an 0800
 * echo test, which the gateway answers and turns into a heartbeat.
 *
 * What ISO 8583 cannot carry comes from the gateway's terminal registry (`--write-registry`):
 * region, coordinates, merchant name, acquirer. The gateway stamps times with its own clock as it
 * reads each message, and reads the payment method from the account type (CREDIT, DEBIT, else
 * UNKNOWN), a COMPLETION as a SALE (0220 advices are not taken). ISO 8583 has no per-event
 * acknowledgement: a transaction counts as accepted once its last message was written, a heartbeat
 * once its 0810 came back.
 */

/** Field 22 positions 1-2 (PAN entry mode) + position 3 (PIN entry capability: 1 = can accept PIN). */
const ENTRY_CODE: Readonly<Record<string, string>> = {
  MANUAL: '011',
  SWIPE: '021',
  CHIP: '051',
  CONTACTLESS: '071',
  FALLBACK: '801',
};

const ACCOUNT_CODE: Readonly<Record<string, string>> = { CREDIT: '30', DEBIT: '20' };

const NUMERIC_CURRENCY: ReadonlyMap<string, string> = new Map([...CURRENCY_ALPHA].map(([n, a]) => [a, n]));

/** MTI class and field 3 positions 1-2 of each transaction type. */
function requestKind(type: TransactionType): { mti: string; code: string } {
  switch (type) {
    case 'PRE_AUTH':
      return { mti: '0100', code: '00' };
    case 'REVERSAL':
      return { mti: '0400', code: '00' };
    case 'REFUND':
      return { mti: '0200', code: '20' };
    case 'VOID':
      return { mti: '0200', code: '02' };
    case 'BALANCE_INQUIRY':
      return { mti: '0200', code: '31' };
    case 'SALE':
    case 'COMPLETION':
    case 'UNKNOWN':
      return { mti: '0200', code: '00' };
  }
}

/** MMDDhhmmss in UTC (field 7). */
function transmissionTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}`;
}

function terminalId(serial: string): string {
  if (serial.length > 8)
    throw new ValidationError(`terminal ${serial} is longer than ISO 8583 field 41 (8)`, 'terminal_serial');
  return serial.padEnd(8, ' ');
}

/** The request message of a transaction; the PAN travels in field 2. */
export function isoRequest(f: TransactionFields): Iso8583Message {
  const { mti, code } = requestKind(f.transaction_type);
  const currency = NUMERIC_CURRENCY.get(f.currency);
  if (currency === undefined)
    throw new ValidationError(`no ISO 4217 numeric code known for ${f.currency}`, 'currency');
  if (f.stan === null) throw new ValidationError('an ISO 8583 request needs a STAN', 'stan');
  const fields = new Map<number, string | Buffer>([
    [3, `${code}${ACCOUNT_CODE[f.payment_method] ?? '00'}00`],
    [4, String(f.amount_minor).padStart(12, '0')],
    [7, transmissionTime(f.request_time)],
    [11, f.stan],
    [18, f.mcc],
    [41, terminalId(f.terminal_serial)],
    [42, f.merchant_id.padEnd(15, ' ')],
    [49, currency],
  ]);
  if (f.pan !== null) fields.set(2, f.pan);
  const entry = ENTRY_CODE[f.entry_mode];
  if (entry !== undefined) fields.set(22, entry);
  return { mti, fields };
}

/** The host's response, or undefined for a timeout (no answer came). */
export function isoResponse(f: TransactionFields): Iso8583Message | undefined {
  if (f.response_code === null) return undefined;
  const { mti } = requestKind(f.transaction_type);
  const fields = new Map<number, string | Buffer>([
    [11, f.stan ?? '000000'],
    [39, f.response_code],
    [41, terminalId(f.terminal_serial)],
  ]);
  if (f.rrn !== null) fields.set(37, f.rrn.padEnd(12, ' '));
  if (f.auth_code !== null) fields.set(38, f.auth_code.padEnd(6, ' '));
  return { mti: `${mti.slice(0, 2)}10`, fields };
}

/** An 0800 echo test for a heartbeat. */
export function isoEcho(hb: HeartbeatFields, stan: string): Iso8583Message {
  return {
    mti: '0800',
    fields: new Map<number, string | Buffer>([
      [7, transmissionTime(hb.event_time)],
      [11, stan],
      [41, terminalId(hb.terminal_serial)],
      [70, '301'],
    ]),
  };
}

export interface IsoSinkOptions {
  host: string;
  port: number;
  /** As the gateway's GATEWAY_ISO_BITMAP. @default 'binary' */
  bitmap?: 'binary' | 'hex';
  /** @default 5 s */
  connectTimeoutMs?: number;
}

export class IsoSink implements Sink {
  readonly name = 'iso';
  private readonly s: SinkStats = emptyStats();
  private socket: Socket | undefined;
  private splitter = new FrameSplitter();
  private readonly scheduled = new Set<Promise<void>>();
  private echoStan = 0;
  private closing = false;

  constructor(private readonly options: IsoSinkOptions) {}

  stats(): SinkStats {
    return structuredClone(this.s);
  }

  /** Opens the connection (again, after it was lost). */
  async connect(): Promise<void> {
    const { host, port } = this.options;
    const timeout = this.options.connectTimeoutMs ?? 5_000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no connection to ${host}:${port} within ${timeout} ms`));
      }, timeout);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${host}:${port}: ${err.message}`));
      });
    });
    socket.setNoDelay(true);
    this.splitter = new FrameSplitter();
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (err) => {
      this.s.lastError = `ISO 8583 connection to ${host}:${port}: ${err.message}`;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
    });
    this.socket = socket;
  }

  private read(chunk: Buffer): void {
    const { frames, error } = this.splitter.push(chunk);
    for (const body of frames) {
      try {
        const msg = decodeMessage(body, { bitmap: this.options.bitmap ?? 'binary' });
        if (msg.mti === '0810') this.s.accepted++;
      } catch (err) {
        this.s.lastError = `unreadable answer from the gateway: ${(err as Error).message}`;
      }
    }
    if (error !== undefined) {
      this.s.lastError = `broken framing from the gateway: ${error.message}`;
      this.socket?.destroy();
    }
  }

  private write(msg: Iso8583Message): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return false;
    socket.write(frame(encodeMessage(msg, { bitmap: this.options.bitmap ?? 'binary' })));
    return true;
  }

  private async ensureConnected(): Promise<boolean> {
    if (this.socket !== undefined && !this.socket.destroyed) return true;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.connect();
        return true;
      } catch (err) {
        this.s.lastError = (err as Error).message;
        await sleep(500 * 2 ** attempt);
      }
    }
    return false;
  }

  async send(events: readonly SimEvent[]): Promise<void> {
    if (this.closing) throw new Error('the ISO 8583 sink is closed');
    if (!(await this.ensureConnected())) {
      this.s.failed += events.length;
      return;
    }
    for (const ev of events) {
      if (ev.kind === 'heartbeat') {
        this.echoStan = (this.echoStan % 999_999) + 1;
        if (this.write(isoEcho(ev.fields, String(this.echoStan).padStart(6, '0')))) this.s.sent.heartbeats++;
        else this.s.failed++;
        continue;
      }
      const f = ev.fields;
      const response = isoResponse(f);
      if (!this.write(isoRequest(f))) {
        this.s.failed++;
        continue;
      }
      this.s.sent.transactions++;
      if (response === undefined) {
        this.s.accepted++;
        continue;
      }
      // The host answers after its latency; the gateway measures it from its own read times.
      const latency = Math.max(1, (f.response_time ?? f.request_time) - f.request_time);
      const pending = sleep(latency).then(() => {
        if (this.write(response)) this.s.accepted++;
        else {
          this.s.failed++;
          this.s.lastError ??= 'the connection closed before a response could be written';
        }
      });
      this.scheduled.add(pending);
      void pending.finally(() => this.scheduled.delete(pending));
    }
    const socket = this.socket;
    if (socket !== undefined && socket.writableNeedDrain) {
      await new Promise<void>((resolve) => socket.once('drain', () => resolve()));
    }
  }

  /** Writes the responses still waiting for their latency, then ends the connection. */
  async close(): Promise<void> {
    this.closing = true;
    while (this.scheduled.size > 0) await Promise.all([...this.scheduled]);
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return;
    // Give the gateway a moment to answer the last echo tests before the FIN.
    await sleep(200);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 2_000).unref();
    });
  }
}
