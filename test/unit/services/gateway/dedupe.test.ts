import { describe, expect, it } from 'vitest';
import { DedupeWindow } from '../../../../services/gateway/dedupe.ts';

describe('DedupeWindow', () => {
  it('remembers ids for the window, then forgets them', () => {
    let now = 0;
    const w = new DedupeWindow(1000, 100, () => now);
    w.add('a');
    now = 500;
    w.add('b');
    expect(w.has('a')).toBe(true);
    now = 1000;
    expect(w.has('a')).toBe(false);
    expect(w.has('b')).toBe(true);
    now = 1500;
    expect(w.has('b')).toBe(false);
    expect(w.size).toBe(0);
  });

  it('forgets the oldest ids first when full, and counts them', () => {
    const w = new DedupeWindow(60_000, 3, () => 0);
    for (const id of ['a', 'b', 'c', 'd']) w.add(id);
    expect(w.has('a')).toBe(false);
    expect(['b', 'c', 'd'].every((id) => w.has(id))).toBe(true);
    expect(w.evicted).toBe(1);
  });

  it('restarts the window of an id added again', () => {
    let now = 0;
    const w = new DedupeWindow(1000, 10, () => now);
    w.add('a');
    w.add('b');
    now = 900;
    w.add('a');
    now = 1100;
    expect(w.has('b')).toBe(false);
    expect(w.has('a')).toBe(true);
  });
});
