import { describe, expect, it } from 'vitest';
import { retryWhileElecting } from '../../../../../services/shared/kafka/metadata-retry.ts';

const notLeader = Object.assign(new Error('This server is not the leader for that topic-partition'), {
  retriable: true,
});

describe('retryWhileElecting', () => {
  it('reads again while the error is retriable, and returns the first answer', async () => {
    let calls = 0;
    const v = await retryWhileElecting(
      async () => {
        calls += 1;
        if (calls < 3) throw notLeader;
        return 'offsets';
      },
      5,
      1,
    );
    expect([v, calls]).toEqual(['offsets', 3]);
  });

  it('gives up after the attempts, and at once on an error that is not retriable', async () => {
    let calls = 0;
    const always = () => {
      calls += 1;
      return Promise.reject(notLeader);
    };
    await expect(retryWhileElecting(always, 4, 1)).rejects.toBe(notLeader);
    expect(calls).toBe(4);
    const fatal = new Error('unknown topic');
    calls = 0;
    await expect(
      retryWhileElecting(
        () => {
          calls += 1;
          return Promise.reject(fatal);
        },
        4,
        1,
      ),
    ).rejects.toBe(fatal);
    expect(calls).toBe(1);
  });
});
