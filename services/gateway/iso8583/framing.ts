import { Iso8583Error, ValidationError } from '../../shared/errors.ts';

/** The largest body a 2-byte length prefix can announce. */
export const MAX_FRAME_LENGTH = 0xffff;

/** Prefixes a message body with its length as 2 bytes, big-endian. */
export function frame(body: Buffer): Buffer {
  if (body.length === 0 || body.length > MAX_FRAME_LENGTH) {
    throw new Iso8583Error('BAD_FRAME_LENGTH', `a body of ${body.length} bytes cannot be framed (1-65535)`);
  }
  const header = Buffer.alloc(2);
  header.writeUInt16BE(body.length, 0);
  return Buffer.concat([header, body]);
}

export interface FrameSplitterOptions {
  /**
   * Largest body accepted; a prefix announcing more is taken as a broken stream (a peer that does
   * not speak this framing, or bytes lost), not waited for.
   * @default 8192
   */
  maxFrameLength?: number;
}

/**
 * What one `push` produced. `frames` are the complete bodies (without prefix), in order. `error`,
 * when set, is a framing error (`closeConnection` is true): the frames before it are good, nothing
 * after it can be trusted, and every later `push` returns the same error.
 */
export interface PushResult {
  frames: Buffer[];
  error?: Iso8583Error;
}

/**
 * Splits a TCP byte stream into 2-byte big-endian length-prefixed frames, whatever the chunking:
 * a prefix split across chunks, one byte at a time, many frames in one chunk.
 */
export class FrameSplitter {
  readonly maxFrameLength: number;
  private chunks: Buffer[] = [];
  /** Index of the first chunk still holding unread bytes. */
  private head = 0;
  private buffered = 0;
  /** Body length of the frame being read, once its prefix is complete. */
  private expected: number | undefined;
  private broken: Iso8583Error | undefined;
  /** Bytes consumed since the start of the stream, for error offsets. */
  private consumed = 0;

  constructor(options: FrameSplitterOptions = {}) {
    const max = options.maxFrameLength ?? 8192;
    if (!Number.isInteger(max) || max < 1 || max > MAX_FRAME_LENGTH) {
      throw new ValidationError(
        `maxFrameLength must be an integer in 1-${MAX_FRAME_LENGTH}`,
        'maxFrameLength',
      );
    }
    this.maxFrameLength = max;
  }

  /** Bytes received but not yet returned as a frame (a partial prefix or body). */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): PushResult {
    if (this.broken !== undefined) return { frames: [], error: this.broken };
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Buffer[] = [];
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < 2) break;
        const at = this.consumed;
        const length = this.take(2).readUInt16BE(0);
        if (length === 0 || length > this.maxFrameLength) {
          this.broken = new Iso8583Error(
            'BAD_FRAME_LENGTH',
            `length prefix announces ${length} bytes, accepted 1-${this.maxFrameLength}`,
            undefined,
            at,
          );
          this.chunks = [];
          this.head = 0;
          this.buffered = 0;
          return { frames, error: this.broken };
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = undefined;
    }
    return { frames };
  }

  /**
   * Call when the peer closed the stream: returns the framing error if the stream stopped inside a
   * frame (or was already broken), undefined if it ended on a frame boundary.
   */
  end(): Iso8583Error | undefined {
    if (this.broken !== undefined) return this.broken;
    if (this.buffered === 0 && this.expected === undefined) return undefined;
    this.broken = new Iso8583Error(
      'TRUNCATED_FRAME',
      this.expected === undefined
        ? 'stream ended inside a length prefix'
        : `stream ended with ${this.buffered} of ${this.expected} body bytes`,
      undefined,
      this.consumed,
    );
    return this.broken;
  }

  /** Removes and returns the next `n` buffered bytes; the caller has checked `n <= buffered`. */
  private take(n: number): Buffer {
    this.buffered -= n;
    this.consumed += n;
    const first = this.chunks[this.head]!;
    if (first.length > n) {
      this.chunks[this.head] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.dropHead();
      return first;
    }
    // Spans chunks: copy once. A cursor rather than Array#shift keeps a frame fed one byte at a
    // time linear in its size.
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.head]!;
      const part = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, part);
      filled += part;
      if (part === chunk.length) this.dropHead();
      else this.chunks[this.head] = chunk.subarray(part);
    }
    return out;
  }

  private dropHead(): void {
    this.head++;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
