import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs an admin read of offsets again while the broker answers with a retriable error. Right after
 * a topic is created (the first `npm start`, a test) its partitions' leaders are still being
 * elected, and kafkajs's admin gives up on "not the leader for that topic-partition" at once.
 */
export async function retryWhileElecting<T>(
  read: () => Promise<T>,
  attempts = 20,
  delayMs = 250,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await read();
    } catch (err) {
      if (i >= attempts || (err as { retriable?: boolean }).retriable !== true) throw err;
      await sleep(delayMs);
    }
  }
}
