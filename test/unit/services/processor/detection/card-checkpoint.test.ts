import { describe, expect, it } from 'vitest';
import {
  CardReplayMarks,
  cardCheckpointOf,
  cardCommitPoint,
} from '../../../../../services/processor/detection/card-checkpoint.ts';
import { commitPointOf } from '../../../../../services/processor/kpi/checkpoint-metadata.ts';

const MIN = 60_000;
const T = Date.UTC(2026, 10, 3, 10);

const batch = (from: number, n: number, received: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => ({ offset: from + i, received: received(i) }));

describe('card checkpoint in the commit metadata', () => {
  it('round-trips through the commit point', () => {
    const cp = { restartOffset: 120, nextOffset: 400, historyFrom: T };
    const point = cardCommitPoint(cp);
    expect(point.offset).toBe('120');
    expect(cardCheckpointOf({ offset: point.offset, metadata: point.metadata ?? null })).toEqual({
      kind: 'checkpoint',
      checkpoint: cp,
    });
    const empty = cardCommitPoint({ restartOffset: 0, nextOffset: 0, historyFrom: null });
    expect(cardCheckpointOf({ offset: empty.offset, metadata: empty.metadata ?? null })).toMatchObject({
      kind: 'checkpoint',
      checkpoint: { historyFrom: null },
    });
  });

  it('reads nothing committed, or committed without metadata, as no checkpoint', () => {
    expect(cardCheckpointOf(undefined)).toEqual({ kind: 'none' });
    expect(cardCheckpointOf({ offset: '-1', metadata: null })).toEqual({ kind: 'none' });
    expect(cardCheckpointOf({ offset: '42', metadata: '' })).toEqual({ kind: 'none' });
  });

  it('refuses metadata that is not a card checkpoint, a window checkpoint included', () => {
    const kpi = commitPointOf({ partition: 0, restartOffset: 1, nextOffset: 2, maxEventTime: T });
    for (const metadata of [
      kpi.metadata!,
      'not json',
      'null',
      '{"v":1,"kind":"card","next":0,"from":null}',
    ]) {
      expect(cardCheckpointOf({ offset: '1', metadata }).kind, metadata).toBe('invalid');
    }
    expect(
      cardCheckpointOf({ offset: '1', metadata: '{"v":1,"kind":"card","next":5,"from":"x"}' }).kind,
    ).toBe('invalid');
  });
});

describe('card replay marks', () => {
  it('restart at the first batch whose newest event is within the span, history from the span start', () => {
    const marks = new CardReplayMarks(null);
    marks.note(batch(0, 10, (i) => T + i * 1000)); // T … T+9s
    marks.note(batch(10, 10, (i) => T + 20 * MIN + i * 1000));
    marks.note(batch(20, 10, (i) => T + 40 * MIN + i * 1000));
    expect(marks.from).toBe(T + 9000);
    // Span 30 min from the newest (T+40m+9s): the first batch (newest T+9s) is out, the second in.
    expect(marks.checkpoint(30, 30 * MIN)).toEqual({
      restartOffset: 10,
      nextOffset: 30,
      historyFrom: T + 40 * MIN + 9000 - 30 * MIN,
    });
  });

  it('keeps a batch while any of its events is within the span, whatever its first event', () => {
    const marks = new CardReplayMarks(T - 60 * MIN);
    // Out of order: the batch's first record is old, its last one recent.
    marks.note(batch(0, 3, (i) => (i === 2 ? T + 25 * MIN : T - 50 * MIN)));
    marks.note(batch(3, 1, () => T + 30 * MIN));
    expect(marks.checkpoint(4, 10 * MIN).restartOffset).toBe(0);
    expect(marks.checkpoint(4, 2 * MIN).restartOffset).toBe(3);
  });

  it('after a pause longer than the span restarts at the newest batch; history never starts before the state began', () => {
    const marks = new CardReplayMarks(T);
    marks.note(batch(0, 5, () => T + MIN));
    marks.note(batch(5, 5, () => T + 90 * MIN));
    expect(marks.checkpoint(10, 30 * MIN)).toEqual({
      restartOffset: 5,
      nextOffset: 10,
      historyFrom: T + 60 * MIN,
    });
    const young = new CardReplayMarks(T);
    young.note(batch(0, 1, () => T + MIN));
    expect(young.checkpoint(1, 60 * MIN).historyFrom).toBe(T);
    expect(new CardReplayMarks(null).checkpoint(7, MIN)).toEqual({
      restartOffset: 7,
      nextOffset: 7,
      historyFrom: null,
    });
  });
});
