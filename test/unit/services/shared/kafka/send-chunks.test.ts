import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  chunkBySize,
  messageBytes,
  type WireMessage,
} from '../../../../../services/shared/kafka/send-chunks.ts';

const msg = (key: string, valueBytes: number): WireMessage => ({
  key,
  value: Buffer.alloc(valueBytes),
  headers: { 'pospulse-source-partition': '3' },
});

describe('chunkBySize', () => {
  it('keeps a small send in one chunk', () => {
    const messages = [msg('a', 10), msg('b', 10)];
    expect(chunkBySize(messages, 1024)).toEqual([messages]);
  });

  it('splits a backlog batch larger than the limit, keeping the order', () => {
    const messages = Array.from({ length: 3000 }, (_, i) => msg(`t${i % 7}`, 900));
    const chunks = chunkBySize(messages, 900 * 1024);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.flat()).toEqual(messages);
    for (const c of chunks)
      expect(c.reduce((n, m) => n + messageBytes(m), 0)).toBeLessThanOrEqual(900 * 1024);
  });

  it('gives a record larger than the limit a chunk of its own', () => {
    const big = msg('big', 5000);
    const chunks = chunkBySize([msg('a', 10), big, msg('b', 10)], 1000);
    expect(chunks).toEqual([
      [expect.objectContaining({ key: 'a' })],
      [big],
      [expect.objectContaining({ key: 'b' })],
    ]);
  });

  it('counts keys, values and headers', () => {
    expect(messageBytes({ key: 'abc', value: null })).toBeLessThan(
      messageBytes({ key: 'abc', value: Buffer.alloc(100) }),
    );
    expect(messageBytes({ key: null, value: null, headers: { h: 'x'.repeat(50) } })).toBeGreaterThan(
      messageBytes({ key: null, value: null }),
    );
  });

  it('never loses, reorders or overfills (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(3000)), fc.integer({ min: 100, max: 5000 }), (sizes, max) => {
        const messages = sizes.map((n, i) => msg(String(i), n));
        const chunks = chunkBySize(messages, max);
        expect(chunks.flat()).toEqual(messages);
        for (const c of chunks) {
          expect(c.length).toBeGreaterThan(0);
          const total = c.reduce((n, m) => n + messageBytes(m), 0);
          if (c.length > 1) expect(total).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});
