/**
 * Runs work for one partition at a time: batches of both topics and the periodic tick touch the
 * same window engine and status tracker, and each must see the other's writes finished.
 */
export class PartitionLocks {
  private readonly tails = new Map<number, Promise<unknown>>();

  run<T>(partition: number, work: () => Promise<T> | T): Promise<T> {
    const previous = this.tails.get(partition) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(partition, tail);
    void tail.then(() => {
      if (this.tails.get(partition) === tail) this.tails.delete(partition);
    });
    return result;
  }
}
