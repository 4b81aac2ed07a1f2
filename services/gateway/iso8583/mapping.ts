import type {
  EntryMode,
  PaymentMethod,
  TransactionEvent,
  TransactionStatus,
  TransactionType,
} from '../../shared/avro/types.generated.ts';
import { Iso8583Error, ValidationError } from '../../shared/errors.ts';
import type { Iso8583Message } from './codec.ts';
import { ISO8583_FIELDS } from './fields.ts';

/**
 * Pure mapping between ISO 8583:1987 messages and TransactionEvent fields. The table of what goes
 * where is in docs/ISO8583.md; keep the two in step.
 */

/** Request MTI → response MTI. A repeat (function digit 1) is answered like the original. */
const RESPONSE_MTI: ReadonlyMap<string, string> = new Map([
  ['0100', '0110'],
  ['0101', '0110'],
  ['0200', '0210'],
  ['0201', '0210'],
  ['0400', '0410'],
  ['0401', '0410'],
  ['0800', '0810'],
  ['0801', '0810'],
]);

const REQUEST_MTI: ReadonlyMap<string, string> = new Map([
  ['0110', '0100'],
  ['0210', '0200'],
  ['0410', '0400'],
  ['0810', '0800'],
]);

/** The response MTI that answers `mti`, or undefined if `mti` is not a request we handle. */
export function responseMtiFor(mti: string): string | undefined {
  return RESPONSE_MTI.get(mti);
}

/** The (original) request MTI that `mti` answers, or undefined if `mti` is not a response we handle. */
export function requestMtiFor(mti: string): string | undefined {
  return REQUEST_MTI.get(mti);
}

function text(msg: Iso8583Message, field: number): string | undefined {
  const v = msg.fields.get(field);
  return typeof v === 'string' ? v : undefined;
}

/** Trailing padding removed; undefined when nothing is left. */
function trimmed(msg: Iso8583Message, field: number): string | undefined {
  const v = text(msg, field)?.trimEnd();
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Keys that pair a request with its response, computed the same way on both. `byStan` is message
 * class + terminal id (41) + STAN (11); `byRrn` is message class + RRN (37). The message class
 * (first two MTI digits: 01, 02, 04, 08) keeps a 0410 from answering a pending 0200 that reused
 * the STAN. Each is undefined when its fields are absent; the two live in separate maps.
 */
export interface PairingKeys {
  byStan: string | undefined;
  byRrn: string | undefined;
}

export function requestKey(msg: Iso8583Message): PairingKeys {
  const cls = msg.mti.slice(0, 2);
  // Fields 41 (ans 8) and 11 (n 6) are fixed-width, so the raw values cannot run into each other.
  const tid = text(msg, 41);
  const stan = text(msg, 11);
  const rrn = trimmed(msg, 37);
  return {
    byStan: tid !== undefined && stan !== undefined ? `${cls}:${tid}:${stan}` : undefined,
    byRrn: rrn !== undefined ? `${cls}:${rrn}` : undefined,
  };
}

/** ISO 4217 numeric → alphabetic code, for the currencies terminals in our regions use. */
export const CURRENCY_ALPHA: ReadonlyMap<string, string> = new Map([
  ['032', 'ARS'],
  ['036', 'AUD'],
  ['124', 'CAD'],
  ['152', 'CLP'],
  ['156', 'CNY'],
  ['170', 'COP'],
  ['203', 'CZK'],
  ['208', 'DKK'],
  ['344', 'HKD'],
  ['348', 'HUF'],
  ['352', 'ISK'],
  ['356', 'INR'],
  ['360', 'IDR'],
  ['376', 'ILS'],
  ['392', 'JPY'],
  ['404', 'KES'],
  ['410', 'KRW'],
  ['414', 'KWD'],
  ['458', 'MYR'],
  ['484', 'MXN'],
  ['504', 'MAD'],
  ['554', 'NZD'],
  ['566', 'NGN'],
  ['578', 'NOK'],
  ['604', 'PEN'],
  ['608', 'PHP'],
  ['634', 'QAR'],
  ['682', 'SAR'],
  ['702', 'SGD'],
  ['704', 'VND'],
  ['710', 'ZAR'],
  ['752', 'SEK'],
  ['756', 'CHF'],
  ['764', 'THB'],
  ['784', 'AED'],
  ['818', 'EGP'],
  ['826', 'GBP'],
  ['840', 'USD'],
  ['901', 'TWD'],
  ['941', 'RSD'],
  ['946', 'RON'],
  ['949', 'TRY'],
  ['975', 'BGN'],
  ['978', 'EUR'],
  ['980', 'UAH'],
  ['985', 'PLN'],
  ['986', 'BRL'],
]);

/** Field 22 positions 1-2 (PAN entry mode) → EntryMode. */
const ENTRY_MODE: ReadonlyMap<string, EntryMode> = new Map([
  ['01', 'MANUAL'],
  ['02', 'SWIPE'],
  ['05', 'CHIP'],
  ['07', 'CONTACTLESS'],
  ['80', 'FALLBACK'],
  ['90', 'SWIPE'],
  ['91', 'CONTACTLESS'],
  ['95', 'CHIP'],
]);

/** Field 3 positions 1-2 (transaction type) in a 0200 → TransactionType. */
const FINANCIAL_TYPE: ReadonlyMap<string, TransactionType> = new Map([
  ['00', 'SALE'],
  ['09', 'SALE'],
  ['02', 'VOID'],
  ['20', 'REFUND'],
  ['30', 'BALANCE_INQUIRY'],
  ['31', 'BALANCE_INQUIRY'],
]);

/** Field 3 positions 3-4 (account type, from) → PaymentMethod. */
const ACCOUNT_METHOD: ReadonlyMap<string, PaymentMethod> = new Map([
  ['10', 'DEBIT'],
  ['20', 'DEBIT'],
  ['30', 'CREDIT'],
]);

/** Field 39 codes that approve (10: partial amount, 11: VIP); anything else is a decline. */
const APPROVED_CODES: ReadonlySet<string> = new Set(['00', '10', '11']);

export function transactionTypeOf(mti: string, processingCode: string | undefined): TransactionType {
  const cls = mti.slice(0, 2);
  const txType = processingCode?.slice(0, 2);
  if (cls === '04') return 'REVERSAL';
  if (cls === '01') return txType === '30' || txType === '31' ? 'BALANCE_INQUIRY' : 'PRE_AUTH';
  if (cls === '02' && txType !== undefined) return FINANCIAL_TYPE.get(txType) ?? 'UNKNOWN';
  return 'UNKNOWN';
}

export function entryModeOf(posEntryMode: string | undefined): EntryMode {
  return (posEntryMode === undefined ? undefined : ENTRY_MODE.get(posEntryMode.slice(0, 2))) ?? 'UNKNOWN';
}

export function paymentMethodOf(processingCode: string | undefined): PaymentMethod {
  return (
    (processingCode === undefined ? undefined : ACCOUNT_METHOD.get(processingCode.slice(2, 4))) ?? 'UNKNOWN'
  );
}

/** APPROVED/DECLINED from field 39 of the response; TIMEOUT without a response; UNKNOWN without 39. */
export function statusOf(response: Iso8583Message | undefined): TransactionStatus {
  if (response === undefined) return 'TIMEOUT';
  const code = text(response, 39);
  if (code === undefined) return 'UNKNOWN';
  return APPROVED_CODES.has(code) ? 'APPROVED' : 'DECLINED';
}

/** Field 49 (ISO 4217 numeric) → alphabetic code; an unknown code is an `Iso8583Error`. */
export function currencyOf(numeric: string): string {
  const alpha = CURRENCY_ALPHA.get(numeric);
  if (alpha === undefined) {
    throw new Iso8583Error('UNKNOWN_CURRENCY', `no ISO 4217 alphabetic code known for ${numeric}`, 49);
  }
  return alpha;
}

/** The TransactionEvent fields every ISO 8583 transaction provides. */
type AlwaysMapped = Pick<
  TransactionEvent,
  | 'terminal_serial'
  | 'transaction_type'
  | 'payment_method'
  | 'entry_mode'
  | 'amount_minor'
  | 'status'
  | 'response_code'
  | 'auth_code'
  | 'request_time'
  | 'response_time'
  | 'stan'
  | 'rrn'
  | 'ingest_channel'
>;

/**
 * Those the message may or may not carry: a key is absent (not undefined) when its field is, so
 * spreading the result over the gateway's registry defaults keeps the defaults.
 */
type MappedIfPresent = Partial<
  Pick<TransactionEvent, 'merchant_id' | 'merchant_name' | 'mcc' | 'acquirer_id' | 'currency'>
>;

export type IsoTransactionFields = AlwaysMapped & MappedIfPresent;

/** Field 43 beyond the name; TransactionEvent has no slot for these yet. */
export interface AcceptorLocation {
  city: string;
  state: string;
  country: string;
}

export interface IsoTransaction {
  fields: IsoTransactionFields;
  /**
   * The card number (field 2, else from track 2 or track 1), for the gateway to tokenize and then
   * forget. Never log it or put it in an event. Null when the message carries no card data.
   */
  pan: string | null;
  location: AcceptorLocation | null;
  /** response_time - request_time, null without a response. */
  hostLatencyMs: number | null;
}

export interface ExchangeTimes {
  /** When the request was seen (ms since the epoch). */
  requestTime: number;
  /** When the response was seen; required with a response. */
  responseTime?: number;
}

/**
 * Field 43 in the common ISO 8583:1987 layout: name 1-23, city 24-36, state 37-38, country 39-40.
 * Networks vary on the split; the name is what we rely on.
 */
function splitAcceptor(value: string): { name: string; location: AcceptorLocation } {
  return {
    name: value.slice(0, 23).trim(),
    location: {
      city: value.slice(23, 36).trim(),
      state: value.slice(36, 38).trim(),
      country: value.slice(38, 40).trim(),
    },
  };
}

/** PAN from field 2, else the digits before the separator of track 2, else the B-field of track 1. */
function panOf(msg: Iso8583Message): string | null {
  const pan = text(msg, 2);
  if (pan !== undefined && pan !== '') return pan;
  const track2 = text(msg, 35);
  const t2 = track2 === undefined ? null : /^(\d{8,19})[=D]/.exec(track2);
  if (t2?.[1] !== undefined) return t2[1];
  const track1 = text(msg, 45);
  const t1 = track1 === undefined ? null : /^%?B(\d{8,19})\^/.exec(track1);
  return t1?.[1] ?? null;
}

/**
 * Maps one request and its response (or none: a timeout) to the TransactionEvent fields the
 * ISO message provides. The caller adds event_id, gateway_id, region and the registry's fields, and
 * turns `pan` into card_token/bin/last4. Throws `Iso8583Error` for a request that is not a
 * transaction (UNSUPPORTED_MTI), a response of the wrong MTI (MISMATCHED_RESPONSE), a missing
 * field 41 (MISSING_FIELD) or an unknown currency (UNKNOWN_CURRENCY).
 */
export function toTransactionFields(
  request: Iso8583Message,
  response: Iso8583Message | undefined,
  times: ExchangeTimes,
): IsoTransaction {
  const expected = responseMtiFor(request.mti);
  if (expected === undefined || request.mti.startsWith('08')) {
    throw new Iso8583Error('UNSUPPORTED_MTI', `MTI ${request.mti} is not a transaction request`, 0);
  }
  if (response !== undefined && response.mti !== expected) {
    throw new Iso8583Error('MISMATCHED_RESPONSE', `${response.mti} does not answer ${request.mti}`, 0);
  }
  if (response !== undefined && times.responseTime === undefined) {
    throw new ValidationError('responseTime is required with a response', 'responseTime');
  }
  const terminal = trimmed(request, 41);
  if (terminal === undefined) {
    throw new Iso8583Error('MISSING_FIELD', 'a transaction request needs the terminal id', 41);
  }

  const processingCode = text(request, 3);
  const amount = text(request, 4);
  const responseTime = response === undefined ? null : (times.responseTime ?? null);
  const fields: IsoTransactionFields = {
    terminal_serial: terminal,
    transaction_type: transactionTypeOf(request.mti, processingCode),
    payment_method: paymentMethodOf(processingCode),
    entry_mode: entryModeOf(text(request, 22)),
    amount_minor: amount === undefined ? 0 : Number.parseInt(amount, 10),
    status: statusOf(response),
    response_code: response === undefined ? null : (text(response, 39) ?? null),
    auth_code: response === undefined ? null : (trimmed(response, 38) ?? null),
    request_time: times.requestTime,
    response_time: responseTime,
    stan: text(request, 11) ?? null,
    rrn: (response === undefined ? undefined : trimmed(response, 37)) ?? trimmed(request, 37) ?? null,
    ingest_channel: 'ISO8583',
  };

  const merchantId = trimmed(request, 42);
  if (merchantId !== undefined) fields.merchant_id = merchantId;
  const mcc = text(request, 18);
  if (mcc !== undefined) fields.mcc = mcc;
  const acquirer = text(request, 32);
  if (acquirer !== undefined && acquirer !== '') fields.acquirer_id = acquirer;
  const currency = text(request, 49) ?? (response === undefined ? undefined : text(response, 49));
  if (currency !== undefined) fields.currency = currencyOf(currency);

  let location: AcceptorLocation | null = null;
  const acceptor = text(request, 43);
  if (acceptor !== undefined) {
    const split = splitAcceptor(acceptor);
    if (split.name !== '') fields.merchant_name = split.name;
    location = split.location;
  }

  return {
    fields,
    pan: panOf(request),
    location,
    hostLatencyMs: responseTime === null ? null : responseTime - times.requestTime,
  };
}

/** Field 70 codes of an 0800. */
export type NetworkManagementKind = 'SIGN_ON' | 'SIGN_OFF' | 'ECHO_TEST' | 'OTHER';

const NETWORK_CODES: ReadonlyMap<string, NetworkManagementKind> = new Map([
  ['001', 'SIGN_ON'],
  ['002', 'SIGN_OFF'],
  ['301', 'ECHO_TEST'],
]);

export interface NetworkManagement {
  kind: NetworkManagementKind;
  /** Field 70 as received; null when absent. */
  code: string | null;
  /** An echo test proves the peer is alive: the gateway counts it as a heartbeat. */
  heartbeat: boolean;
  /** The 0810 to send back: fields 7, 11, 41 and 70 echoed (when present), 39 = "00". */
  response: Iso8583Message;
}

/** Reads an 0800 (or repeat 0801) and builds its 0810. Any other MTI is UNSUPPORTED_MTI. */
export function networkManagement(msg: Iso8583Message): NetworkManagement {
  if (msg.mti !== '0800' && msg.mti !== '0801') {
    throw new Iso8583Error('UNSUPPORTED_MTI', `MTI ${msg.mti} is not a network management request`, 0);
  }
  const code = text(msg, 70) ?? null;
  const kind = (code === null ? undefined : NETWORK_CODES.get(code)) ?? 'OTHER';
  const fields = new Map<number, string | Buffer>();
  // 41 is not required by 1987 for an 0810, but terminals that match responses by it expect it back.
  for (const n of [7, 11, 41]) {
    const v = msg.fields.get(n);
    if (v !== undefined) fields.set(n, v);
  }
  fields.set(39, '00');
  if (code !== null) fields.set(70, code);
  return { kind, code, heartbeat: kind === 'ECHO_TEST', response: { mti: '0810', fields } };
}

/**
 * A log-safe view of a message: sensitive fields (PAN, expiry, tracks, PIN block, EMV) reduced to
 * their size, the PAN to its last four digits; other `b` fields as hex.
 */
export function describeForLog(msg: Iso8583Message): { mti: string; fields: Record<string, string> } {
  const out: Record<string, string> = {};
  for (const [n, v] of [...msg.fields].sort((a, b) => a[0] - b[0])) {
    const sensitive = ISO8583_FIELDS.get(n)?.sensitive ?? true;
    if (n === 2 && typeof v === 'string' && v.length >= 12) out[n] = `…${v.slice(-4)} (${v.length} digits)`;
    else if (sensitive) out[n] = `[${v.length} ${Buffer.isBuffer(v) ? 'bytes' : 'chars'}]`;
    else out[n] = Buffer.isBuffer(v) ? v.toString('hex') : v;
  }
  return { mti: msg.mti, fields: out };
}
