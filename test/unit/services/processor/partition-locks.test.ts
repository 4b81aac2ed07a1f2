import { describe, expect, it } from 'vitest';
import { PartitionLocks } from '../../../../services/processor/partition-locks.ts';

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every already-queued continuation run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

describe('PartitionLocks', () => {
  it('starts work on a partition only after the previous work on it finished', async () => {
    const locks = new PartitionLocks();
    const log: string[] = [];
    const first = deferred();
    const a = locks.run(3, async () => {
      log.push('a start');
      await first.promise;
      log.push('a end');
      return 'a';
    });
    const b = locks.run(3, () => {
      log.push('b start');
      return 'b';
    });
    await settle();
    expect(log).toEqual(['a start']);
    first.resolve();
    expect(await Promise.all([a, b])).toEqual(['a', 'b']);
    expect(log).toEqual(['a start', 'a end', 'b start']);
  });

  it('runs queued work of one partition in the order it was submitted', async () => {
    const locks = new PartitionLocks();
    const log: number[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((g, i) =>
      locks.run(0, async () => {
        log.push(i);
        await g.promise;
      }),
    );
    // Release them in reverse: order must still follow submission.
    gates[2]!.resolve();
    gates[1]!.resolve();
    await settle();
    expect(log).toEqual([0]);
    gates[0]!.resolve();
    await Promise.all(runs);
    expect(log).toEqual([0, 1, 2]);
  });

  it("rejects the failing work's caller but still runs the work queued behind it", async () => {
    const locks = new PartitionLocks();
    const gate = deferred();
    const failing = locks.run(1, async () => {
      await gate.promise;
      throw new Error('insert failed');
    });
    const syncThrow = locks.run(1, () => {
      throw new Error('sync failure');
    });
    const next = locks.run(1, () => 42);
    gate.resolve();
    await expect(failing).rejects.toThrow('insert failed');
    await expect(syncThrow).rejects.toThrow('sync failure');
    await expect(next).resolves.toBe(42);
  });

  it('runs work of different partitions concurrently', async () => {
    const locks = new PartitionLocks();
    const gate = deferred();
    const log: string[] = [];
    const slow = locks.run(0, async () => {
      log.push('p0 start');
      await gate.promise;
      log.push('p0 end');
    });
    const fast = locks.run(1, () => {
      log.push('p1 ran');
    });
    await fast;
    expect(log).toEqual(['p0 start', 'p1 ran']);
    gate.resolve();
    await slow;
    expect(log).toEqual(['p0 start', 'p1 ran', 'p0 end']);
  });

  it('takes new work after a partition went idle, without waiting for anything', async () => {
    const locks = new PartitionLocks();
    await locks.run(2, () => 'first');
    await expect(locks.run(2, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await settle();
    let ran = false;
    const r = locks.run(2, () => {
      ran = true;
      return 'later';
    });
    await expect(r).resolves.toBe('later');
    expect(ran).toBe(true);
  });
});
