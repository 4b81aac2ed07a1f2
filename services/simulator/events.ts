import type {
  Basket,
  ConnectionType,
  EntryMode,
  IngestChannel,
  PaperState,
  PaymentMethod,
  TerminalHeartbeat,
  TransactionEvent,
  TransactionStatus,
  TransactionType,
} from '../shared/avro/types.generated.ts';
import { cardReference, type TokenKeys } from '../gateway/card-data.ts';
import type { HeartbeatInput, TransactionInput } from '../gateway/http/input-schema.ts';

/**
 * What the simulator produces: events in the gateway's HTTP input format (docs/INGEST.md), strictly
 * typed, times in ms. A transaction carries the card number in `pan`: it goes to the gateway (HTTP
 * body, ISO 8583 field 2) and nowhere else; the direct-Kafka sink turns it into the card token the
 * gateway would, with `transactionRecord`.
 */

export interface TransactionFields {
  event_id: string;
  terminal_serial: string;
  merchant_id: string;
  merchant_name: string;
  acquirer_id: string;
  region: string;
  latitude: number | null;
  longitude: number | null;
  mcc: string;
  cashier_id: string | null;
  transaction_type: TransactionType;
  payment_method: PaymentMethod;
  entry_mode: EntryMode;
  amount_minor: number;
  currency: string;
  pan: string | null;
  response_code: string | null;
  response_message: string | null;
  auth_code: string | null;
  status: TransactionStatus;
  request_time: number;
  response_time: number | null;
  stan: string | null;
  rrn: string | null;
  basket: Basket | null;
}

export interface HeartbeatFields {
  event_id: string;
  terminal_serial: string;
  merchant_id: string | null;
  event_time: number;
  online: boolean;
  firmware_version: string;
  app_version: string;
  battery_pct: number | null;
  paper_state: PaperState;
  signal_strength_dbm: number | null;
  connection_type: ConnectionType;
  last_error_code: string | null;
  offline_queue_length: number;
}

/**
 * `time` is when the terminal reports the event: a transaction once its answer came (or once the
 * terminal gave up waiting), a heartbeat when it is made. Streams are ordered by it. `incidents`
 * names the incidents that made or changed the event (empty for normal traffic): ground truth for
 * an evaluation, never sent.
 */
export interface SimTransaction {
  readonly kind: 'transaction';
  readonly time: number;
  readonly fields: TransactionFields;
  readonly incidents: readonly string[];
  /** A follow-up (refund, void, reversal, completion): the operationKey of the one it refers to. */
  readonly followsUp?: string;
}

/** Names an approved operation a follow-up may refer to. */
export function operationKey(
  fields: Pick<TransactionFields, 'merchant_id' | 'pan' | 'request_time' | 'amount_minor'>,
): string {
  return `${fields.merchant_id}|${fields.pan ?? ''}|${fields.request_time}|${fields.amount_minor}`;
}

export interface SimHeartbeat {
  readonly kind: 'heartbeat';
  readonly time: number;
  readonly fields: HeartbeatFields;
  readonly incidents: readonly string[];
}

export type SimEvent = SimTransaction | SimHeartbeat;

/** How long a terminal waits for the host before it reports a TIMEOUT. */
export const TERMINAL_TIMEOUT_MS = 15_000;

/** When a terminal reports a transaction: after the response, or after its own timeout. */
export function reportTime(fields: Pick<TransactionFields, 'request_time' | 'response_time'>): number {
  return fields.response_time ?? fields.request_time + TERMINAL_TIMEOUT_MS;
}

export function simTransaction(fields: TransactionFields, incidents: readonly string[] = []): SimTransaction {
  return { kind: 'transaction', time: reportTime(fields), fields, incidents };
}

export function simHeartbeat(fields: HeartbeatFields, incidents: readonly string[] = []): SimHeartbeat {
  return { kind: 'heartbeat', time: fields.event_time, fields, incidents };
}

/** Orders events by report time; ties by event id so the order never depends on the sort's stability. */
export function compareEvents(a: SimEvent, b: SimEvent): number {
  return (
    a.time - b.time ||
    (a.fields.event_id < b.fields.event_id ? -1 : a.fields.event_id > b.fields.event_id ? 1 : 0)
  );
}

function withoutNulls<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== null) out[k] = v;
  return out as T;
}

/** One element of a `POST /v1/transactions` body (null fields left out: the gateway reads them as absent). */
export function transactionInput(fields: TransactionFields): TransactionInput {
  return withoutNulls(fields) as TransactionInput;
}

/** One element of a `POST /v1/heartbeats` body. */
export function heartbeatInput(fields: HeartbeatFields): HeartbeatInput {
  return withoutNulls(fields) as HeartbeatInput;
}

export interface RecordContext {
  /** The gateway's key ring: the token must be the one the gateway would compute. */
  tokenKeys: TokenKeys;
  gatewayId: string;
  channel: IngestChannel;
  /** gateway_received_time. */
  receivedTime: number;
}

/** The Avro record the gateway would publish for these fields: the PAN becomes token, BIN, last 4. */
export function transactionRecord(fields: TransactionFields, ctx: RecordContext): TransactionEvent {
  const { pan, ...rest } = fields;
  const card =
    pan === null
      ? { card_token: null, card_token_key_id: null, card_bin: null, card_last4: null }
      : cardReference(pan, ctx.tokenKeys);
  return {
    ...rest,
    event_id: fields.event_id.toLowerCase(),
    gateway_id: ctx.gatewayId,
    ...card,
    ingest_channel: ctx.channel,
    gateway_received_time: ctx.receivedTime,
  };
}

export function heartbeatRecord(
  fields: HeartbeatFields,
  ctx: Omit<RecordContext, 'tokenKeys'>,
): TerminalHeartbeat {
  return {
    ...fields,
    event_id: fields.event_id.toLowerCase(),
    gateway_id: ctx.gatewayId,
    ingest_channel: ctx.channel,
    gateway_received_time: ctx.receivedTime,
  };
}
