import {
  FilterError,
  parseSubscriptionFilter,
  type SubscriptionFilter,
} from '../shared/subscription-filter.ts';
import { STATUSES, type Status, type TerminalFilter } from './fleet-state.ts';

/*
 * The live protocol, version 1: JSON text frames over WebSocket (docs/LIVE_PROTOCOL.md). This
 * module parses what clients send; a frame that is not a valid message gets an error frame with a
 * stable code naming what was wrong, and the connection stays open.
 */

export const PROTOCOL_VERSION = 1;

/** Close codes (4000–4999 are the application's, RFC 6455 §7.4.2). */
export const CLOSE = {
  /** No valid `hello` with a known token in time, or a bad one. */
  UNAUTHORIZED: 4401,
  /** The page's Origin is not among LIVE_ALLOWED_ORIGINS. */
  FORBIDDEN_ORIGIN: 4403,
  /** The token already has its LIVE_MAX_CONNECTIONS_PER_TOKEN connections open. */
  TOO_MANY_CONNECTIONS: 4429,
  /** The client read too slowly even with coalesced snapshots: its send buffer stayed full. */
  TOO_SLOW: 4408,
  /** A frame larger than LIVE_MAX_MESSAGE_BYTES. */
  MESSAGE_TOO_BIG: 1009,
  /** The service is stopping; reconnect (another instance, or this one when back). */
  GOING_AWAY: 1001,
  /** A protocol version this server does not speak. */
  UNSUPPORTED_VERSION: 4400,
} as const;

/** Codes of error frames (the connection stays open). */
export type ErrorCode =
  | 'bad_json'
  | 'bad_message'
  | 'unknown_type'
  | 'not_authenticated'
  | 'already_authenticated'
  | 'duplicate_subscription'
  | 'unknown_subscription'
  | 'too_many_subscriptions';

export interface Hello {
  type: 'hello';
  v: number;
  token: string;
}

export interface Subscribe {
  type: 'subscribe';
  /** The client's name for the subscription, echoed on every frame of it. */
  id: string;
  filter: TerminalFilter;
  /** Resume after a reconnect: the last sequence number received, and the epoch it belongs to. */
  resume?: { epoch: string; seq: number };
}

/**
 * A subscription to alerts or KPI updates (`topic`), with the filter model the API's webhooks use
 * (services/shared/subscription-filter.ts). Its records come as they are read; there is no
 * snapshot and no resume.
 */
export interface SubscribeRecords {
  type: 'subscribe';
  id: string;
  topic: 'alerts' | 'kpis';
  subscription: SubscriptionFilter;
}

export interface Unsubscribe {
  type: 'unsubscribe';
  id: string;
}

export type ClientMessage = Hello | Subscribe | SubscribeRecords | Unsubscribe;

export type Parsed = { ok: true; message: ClientMessage } | { ok: false; code: ErrorCode; error: string };

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_LIST = 10_000;

/** Parses one text frame. */
export function parseClientMessage(text: string): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'bad_json', error: `not JSON: ${(err as Error).message}` };
  }
  if (!isObject(v)) return bad('a message is a JSON object');
  const type = v['type'];
  if (typeof type !== 'string') return bad('`type` must be a string');
  try {
    switch (type) {
      case 'hello':
        return { ok: true, message: hello(v) };
      case 'subscribe':
        return { ok: true, message: subscribe(v) };
      case 'unsubscribe':
        return { ok: true, message: { type, id: id(v['id'], 'id') } };
      default:
        return {
          ok: false,
          code: 'unknown_type',
          error: `unknown type ${JSON.stringify(type.slice(0, 40))}: hello, subscribe or unsubscribe`,
        };
    }
  } catch (err) {
    if (err instanceof FieldError) return bad(err.message);
    throw err;
  }
}

class FieldError extends Error {}

function bad(error: string): Parsed {
  return { ok: false, code: 'bad_message', error };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function id(v: unknown, path: string): string {
  if (typeof v !== 'string' || !ID.test(v))
    throw new FieldError(`\`${path}\` must be 1–64 characters of letters, digits and . _ : -`);
  return v;
}

function hello(v: Record<string, unknown>): Hello {
  const version = v['v'];
  if (!Number.isInteger(version)) throw new FieldError('`v` must be the protocol version, an integer');
  const token = v['token'];
  if (typeof token !== 'string' || token.length === 0 || token.length > 512)
    throw new FieldError('`token` must be a string of 1–512 characters');
  return { type: 'hello', v: version as number, token };
}

function subscribe(v: Record<string, unknown>): Subscribe | SubscribeRecords {
  const topic = v['topic'];
  if (topic !== undefined && topic !== 'terminals') {
    if (topic !== 'alerts' && topic !== 'kpis')
      throw new FieldError('`topic` must be terminals (the default), alerts or kpis');
    if (v['resume'] !== undefined) throw new FieldError('`resume` is for terminal subscriptions only');
    const sid = id(v['id'], 'id');
    try {
      return { type: 'subscribe', id: sid, topic, subscription: parseSubscriptionFilter(topic, v['filter']) };
    } catch (err) {
      if (err instanceof FilterError) throw new FieldError(err.message);
      throw err;
    }
  }
  const out: Subscribe = { type: 'subscribe', id: id(v['id'], 'id'), filter: filter(v['filter']) };
  const resume = v['resume'];
  if (resume !== undefined) {
    if (!isObject(resume)) throw new FieldError('`resume` must be an object with `epoch` and `seq`');
    const epoch = resume['epoch'];
    const seq = resume['seq'];
    if (typeof epoch !== 'string' || epoch.length === 0 || epoch.length > 64)
      throw new FieldError('`resume.epoch` must be the epoch of the last frame received');
    if (!Number.isSafeInteger(seq) || (seq as number) < 0)
      throw new FieldError('`resume.seq` must be the last sequence number received, an integer ≥ 0');
    out.resume = { epoch, seq: seq as number };
  }
  return out;
}

const FILTER_KEYS = ['regions', 'merchants', 'acquirers', 'statuses', 'terminals'] as const;

function filter(v: unknown): TerminalFilter {
  if (v === undefined) return {};
  if (!isObject(v)) throw new FieldError('`filter` must be an object');
  const out: TerminalFilter = {};
  for (const key of Object.keys(v)) {
    if (!(FILTER_KEYS as readonly string[]).includes(key))
      throw new FieldError(`\`filter.${key.slice(0, 40)}\` is not a filter: ${FILTER_KEYS.join(', ')}`);
  }
  for (const key of FILTER_KEYS) {
    const list = v[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length > MAX_LIST)
      throw new FieldError(`\`filter.${key}\` must be an array of at most ${MAX_LIST} strings`);
    list.forEach((item, i) => {
      if (typeof item !== 'string' || item.length === 0 || item.length > 128)
        throw new FieldError(`\`filter.${key}[${i}]\` must be a string of 1–128 characters`);
      if (key === 'statuses' && !(STATUSES as readonly string[]).includes(item))
        throw new FieldError(`\`filter.statuses[${i}]\` must be one of ${STATUSES.join(', ')}`);
    });
    if (key === 'statuses') out.statuses = list as Status[];
    else out[key] = list as string[];
  }
  return out;
}
