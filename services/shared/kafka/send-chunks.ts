import type { IHeaders } from 'kafkajs';

/** A message as kafkajs sends it. */
export interface WireMessage {
  key: Buffer | string | null;
  value: Buffer | null;
  headers?: IHeaders;
  timestamp?: string;
}

/**
 * The broker's default `message.max.bytes` is 1 MiB per record batch; a chunk stays under it with
 * room for the batch and record framing the estimate below leaves out.
 */
export const DEFAULT_MAX_SEND_BYTES = 900 * 1024;

/** Per-record framing (length, attributes, deltas, header counts), counted generously. */
const RECORD_OVERHEAD = 64;

const byteLength = (v: Buffer | string | null | undefined): number =>
  v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

function headerBytes(headers: IHeaders | undefined): number {
  if (headers === undefined) return 0;
  let n = 0;
  for (const [k, v] of Object.entries(headers)) {
    n += Buffer.byteLength(k) + 8;
    for (const item of Array.isArray(v) ? v : [v]) n += byteLength(item as Buffer | string | undefined);
  }
  return n;
}

/** Encoded size of one record in a batch, an upper estimate. */
export function messageBytes(m: WireMessage): number {
  return RECORD_OVERHEAD + byteLength(m.key) + byteLength(m.value) + headerBytes(m.headers);
}

/**
 * Splits messages, in order, into chunks whose estimated size stays within `maxBytes`, so a large
 * backlog batch is never refused by the broker as one oversized request (which kafkajs would
 * retry forever). A single record larger than the limit gets a chunk of its own: the broker then
 * refuses that record alone, with an error that names the topic.
 */
export function chunkBySize<M extends WireMessage>(messages: readonly M[], maxBytes: number): M[][] {
  const chunks: M[][] = [];
  let current: M[] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = messageBytes(m);
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(m);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
