import { describe, expect, it } from 'vitest';
import { ReadAlignment } from '../../../../services/processor/read-alignment.ts';

const MIN = 60_000;

function setup(aheadMs = MIN) {
  const paused = new Set<string>();
  const calls: string[] = [];
  const alignment = new ReadAlignment(aheadMs, {
    pause: (topic, p) => {
      paused.add(`${topic}:${p}`);
      calls.push(`pause ${topic}:${p}`);
    },
    resume: (topic, p) => {
      paused.delete(`${topic}:${p}`);
      calls.push(`resume ${topic}:${p}`);
    },
  });
  return { alignment, paused, calls };
}

describe('ReadAlignment', () => {
  it('pauses a partition read ahead of the slowest one with records left, and resumes it as that one catches up', () => {
    const { alignment, paused } = setup();
    alignment.note('tx', 0, 10 * MIN, true);
    alignment.note('tx', 1, 100 * MIN, true);
    expect([...paused]).toEqual(['tx:1']);
    // Heartbeats weigh too: a heartbeats partition far ahead waits as well.
    alignment.note('hb', 0, 50 * MIN, true);
    expect([...paused].sort()).toEqual(['hb:0', 'tx:1']);
    alignment.note('tx', 0, 60 * MIN, true);
    // hb:0 is the slowest now.
    expect([...paused].sort()).toEqual(['tx:0', 'tx:1']);
    alignment.note('hb', 0, 99.5 * MIN, true);
    // …and tx:0 again, so both others wait for it.
    expect([...paused].sort()).toEqual(['hb:0', 'tx:1']);
    alignment.note('tx', 0, 99.5 * MIN, true);
    expect([...paused]).toEqual([]);
  });

  it('never pauses the slowest: the fast one that became the slowest is resumed', () => {
    const { alignment, paused } = setup();
    alignment.note('tx', 0, 10 * MIN, true);
    alignment.note('tx', 1, 100 * MIN, true);
    alignment.note('tx', 0, 300 * MIN, true);
    expect([...paused]).toEqual(['tx:0']);
  });

  it('is not held back by a partition with nothing left to read (live, a quiet one)', () => {
    const { alignment, paused } = setup();
    alignment.note('tx', 0, 10 * MIN, false);
    alignment.note('tx', 1, 500 * MIN, true);
    expect([...paused]).toEqual([]);
    // Once every other partition is paused or caught up, everything is resumed.
    alignment.note('tx', 0, 10 * MIN, true);
    expect([...paused]).toEqual(['tx:1']);
    alignment.note('tx', 0, 20 * MIN, false);
    expect([...paused]).toEqual([]);
  });

  it('resumes a partition it forgets (revoked or failed), so a later owner does not find it paused', () => {
    const { alignment, paused, calls } = setup();
    alignment.note('tx', 0, 10 * MIN, true);
    alignment.note('tx', 1, 100 * MIN, true);
    alignment.forget('tx', 1);
    expect([...paused]).toEqual([]);
    expect(calls).toEqual(['pause tx:1', 'resume tx:1']);
    // And the slowest leaving frees the others.
    alignment.note('tx', 1, 100 * MIN, true);
    alignment.forget('tx', 0);
    expect([...paused]).toEqual([]);
    expect(alignment.pausedCount).toBe(0);
  });

  it('keeps the newest time it saw when a batch brings nothing newer', () => {
    const { alignment, paused } = setup();
    alignment.note('tx', 1, 100 * MIN, true);
    alignment.note('tx', 1, undefined, true);
    alignment.note('tx', 0, 10 * MIN, true);
    expect(alignment.isPaused('tx', 1)).toBe(true);
    expect([...paused]).toEqual(['tx:1']);
  });
});
