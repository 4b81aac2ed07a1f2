import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkpointOf, commitPointOf } from '../../../../../services/processor/kpi/checkpoint-metadata.ts';
import type { WindowCheckpoint } from '../../../../../services/processor/kpi/windows.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);

function committed(offset: string, metadata: unknown) {
  return { offset, metadata: typeof metadata === 'string' ? metadata : JSON.stringify(metadata) };
}

describe('window checkpoint in the offset commit metadata', () => {
  it('commits the restart offset and carries the processed end and watermark driver in the metadata', () => {
    const point = commitPointOf({ partition: 3, restartOffset: 120, nextOffset: 175, maxEventTime: T0 });
    expect(point.offset).toBe('120');
    expect(JSON.parse(point.metadata!)).toEqual({ v: 1, next: 175, maxEventTime: T0 });
  });

  it('reads back every checkpoint it wrote, for the partition it is asked about', () => {
    const checkpoint = fc
      .record({
        partition: fc.integer({ min: 0, max: 1000 }),
        restartOffset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        gap: fc.integer({ min: 0, max: 1_000_000 }),
        maxEventTime: fc.option(fc.integer({ min: -1e15, max: 1e15 }), { nil: null }),
      })
      .filter((c) => c.restartOffset + c.gap <= Number.MAX_SAFE_INTEGER)
      .map((c): WindowCheckpoint => ({
        partition: c.partition,
        restartOffset: c.restartOffset,
        nextOffset: c.restartOffset + c.gap,
        maxEventTime: c.maxEventTime,
      }));
    fc.assert(
      fc.property(checkpoint, (cp) => {
        const point = commitPointOf(cp);
        expect(
          checkpointOf(cp.partition, { offset: point.offset, metadata: point.metadata ?? null }),
        ).toEqual({ kind: 'checkpoint', checkpoint: cp });
      }),
    );
  });

  it('keeps the metadata far below the broker limit on its size (offset.metadata.max.bytes = 4096)', () => {
    const point = commitPointOf({
      partition: 0,
      restartOffset: Number.MAX_SAFE_INTEGER - 10,
      nextOffset: Number.MAX_SAFE_INTEGER,
      maxEventTime: -Number.MAX_SAFE_INTEGER,
    });
    expect(Buffer.byteLength(point.metadata!, 'utf8')).toBeLessThan(200);
  });

  it.each([
    ['nothing committed', undefined],
    ['a commit without metadata (an older processor)', { offset: '42', metadata: null }],
    ['a commit with empty metadata', { offset: '42', metadata: '' }],
    ['the "never committed" offset', { offset: '-1', metadata: '{"v":1,"next":5,"maxEventTime":null}' }],
  ])('reads %s as no checkpoint', (_what, c) => {
    expect(checkpointOf(0, c)).toEqual({ kind: 'none' });
  });

  it.each([
    ['text that is not JSON', committed('10', 'not json{'), /not JSON/],
    ['another version', committed('10', { v: 2, next: 12, maxEventTime: null }), /version 2 is not 1/],
    ['a JSON value that is not an object', committed('10', 'null'), /version undefined is not 1/],
    ['a JSON number', committed('10', '7'), /version undefined is not 1/],
    [
      'a processed end before the restart offset',
      committed('10', { v: 1, next: 9, maxEventTime: null }),
      /9/,
    ],
    [
      'a processed end that is not a whole number',
      committed('10', { v: 1, next: 12.5, maxEventTime: null }),
      /12\.5/,
    ],
    [
      'a processed end given as text',
      committed('10', { v: 1, next: '12', maxEventTime: null }),
      /next offset/,
    ],
    ['a missing processed end', committed('10', { v: 1, maxEventTime: null }), /undefined/],
    [
      'a watermark driver that is not a number',
      committed('10', { v: 1, next: 12, maxEventTime: 'x' }),
      /maxEventTime x/,
    ],
    ['a missing watermark driver', committed('10', { v: 1, next: 12 }), /maxEventTime undefined/],
  ])('reads %s as an invalid checkpoint, saying why', (_what, c, reason) => {
    const reading = checkpointOf(0, c);
    expect(reading.kind).toBe('invalid');
    expect(reading.kind === 'invalid' && reading.reason).toMatch(reason);
  });

  it('accepts a processed end equal to the restart offset (no window open) and no watermark yet', () => {
    expect(checkpointOf(5, committed('10', { v: 1, next: 10, maxEventTime: null }))).toEqual({
      kind: 'checkpoint',
      checkpoint: { partition: 5, restartOffset: 10, nextOffset: 10, maxEventTime: null },
    });
  });
});
