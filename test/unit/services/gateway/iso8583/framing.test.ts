import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Iso8583Error, ValidationError } from '../../../../../services/shared/errors.ts';
import { decodeMessage, encodeMessage } from '../../../../../services/gateway/iso8583/codec.ts';
import { FrameSplitter, frame } from '../../../../../services/gateway/iso8583/framing.ts';

const bodyArb = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));

/** Cuts `stream` at the given positions (taken modulo its length) into consecutive chunks. */
function chunk(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1))))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    chunks.push(stream.subarray(from, p));
    from = p;
  }
  return chunks;
}

function feed(splitter: FrameSplitter, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const c of chunks) {
    const result = splitter.push(c);
    expect(result.error).toBeUndefined();
    frames.push(...result.frames);
  }
  return frames;
}

describe('ISO 8583 framing', () => {
  it('prefixes a body with its length as two big-endian bytes', () => {
    expect(frame(Buffer.from('abc')).toString('hex')).toBe('0003616263');
    expect(frame(Buffer.alloc(0x0102, 1)).subarray(0, 2).toString('hex')).toBe('0102');
  });

  it.each([0, 65536])('refuses to frame a body of %d bytes', (size) => {
    expect(() => frame(Buffer.alloc(size))).toThrow(Iso8583Error);
  });

  it('yields the same frames however the stream is chunked', () => {
    fc.assert(
      fc.property(
        fc.array(bodyArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (bodies, cuts) => {
          const splitter = new FrameSplitter({ maxFrameLength: 300 });
          const frames = feed(splitter, chunk(Buffer.concat(bodies.map(frame)), cuts));
          expect(frames).toEqual(bodies);
          expect(splitter.pendingBytes).toBe(0);
          expect(splitter.end()).toBeUndefined();
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('yields the frames when fed one byte at a time', () => {
    const bodies = [Buffer.from('0800a'), Buffer.from('x'), Buffer.alloc(1000, 7)];
    const stream = Buffer.concat(bodies.map(frame));
    const splitter = new FrameSplitter();
    const frames = feed(
      splitter,
      [...stream].map((b) => Buffer.from([b])),
    );
    expect(frames).toEqual(bodies);
  });

  it('yields many frames from one chunk, in order', () => {
    const bodies = Array.from({ length: 50 }, (_, i) => Buffer.from(`frame ${i}`));
    expect(new FrameSplitter().push(Buffer.concat(bodies.map(frame))).frames).toEqual(bodies);
  });

  it('takes a 64 KiB frame fed one byte at a time in linear time', () => {
    const body = Buffer.alloc(65535, 0x5a);
    const stream = frame(body);
    const splitter = new FrameSplitter({ maxFrameLength: 65535 });
    const started = performance.now();
    const frames: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) frames.push(...splitter.push(stream.subarray(i, i + 1)).frames);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.equals(body)).toBe(true);
  });

  it('reports a zero length as a framing error that closes the connection, after the frames before it', () => {
    const splitter = new FrameSplitter();
    const result = splitter.push(
      Buffer.concat([frame(Buffer.from('ok')), Buffer.from([0, 0]), frame(Buffer.from('lost'))]),
    );
    expect(result.frames).toEqual([Buffer.from('ok')]);
    expect(result.error).toBeInstanceOf(Iso8583Error);
    expect(result.error?.reason).toBe('BAD_FRAME_LENGTH');
    expect(result.error?.closeConnection).toBe(true);
    expect(result.error?.offset).toBe(4);
  });

  it('reports a length above the configured maximum without waiting for the body', () => {
    const splitter = new FrameSplitter({ maxFrameLength: 100 });
    const result = splitter.push(Buffer.from([0, 101]));
    expect(result.frames).toEqual([]);
    expect(result.error?.reason).toBe('BAD_FRAME_LENGTH');
    expect(result.error?.closeConnection).toBe(true);
  });

  it('stays broken after a framing error: every later push returns the same error and no frame', () => {
    const splitter = new FrameSplitter({ maxFrameLength: 10 });
    const first = splitter.push(Buffer.from([0xff, 0xff]));
    const later = splitter.push(frame(Buffer.from('fine')));
    expect(later.frames).toEqual([]);
    expect(later.error).toBe(first.error);
    expect(splitter.end()).toBe(first.error);
  });

  it('detects a length prefix split across two chunks', () => {
    const splitter = new FrameSplitter({ maxFrameLength: 300 });
    expect(splitter.push(Buffer.from([0x01]))).toEqual({ frames: [] });
    expect(splitter.push(Buffer.from([0x2d])).error?.reason).toBe('BAD_FRAME_LENGTH');
  });

  it('reports a stream that ends inside a frame as truncated', () => {
    const inBody = new FrameSplitter();
    inBody.push(frame(Buffer.from('hello')).subarray(0, 4));
    expect(inBody.pendingBytes).toBe(2);
    expect(inBody.end()?.reason).toBe('TRUNCATED_FRAME');
    const inPrefix = new FrameSplitter();
    inPrefix.push(Buffer.from([0]));
    expect(inPrefix.end()?.reason).toBe('TRUNCATED_FRAME');
    expect(inPrefix.end()?.closeConnection).toBe(true);
  });

  it.each([0, -1, 1.5, 65536])('refuses a maximum frame length of %d', (max) => {
    expect(() => new FrameSplitter({ maxFrameLength: max })).toThrow(ValidationError);
  });

  it('lets the connection go on after a frame whose body does not decode', () => {
    const good = encodeMessage({ mti: '0800', fields: new Map([[11, '000001']]) });
    const garbage = Buffer.from('0800 not a bitmap');
    const splitter = new FrameSplitter();
    const { frames, error } = splitter.push(Buffer.concat([frame(garbage), frame(good)]));
    expect(error).toBeUndefined();
    expect(frames).toHaveLength(2);
    let messageError: unknown;
    try {
      decodeMessage(frames[0]!);
    } catch (err) {
      messageError = err;
    }
    expect(messageError).toBeInstanceOf(Iso8583Error);
    expect((messageError as Iso8583Error).closeConnection).toBe(false);
    expect(decodeMessage(frames[1]!).fields.get(11)).toBe('000001');
  });
});
