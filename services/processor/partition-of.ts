import { Partitioners, type PartitionMetadata } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner();
const metadataCache = new Map<number, PartitionMetadata[]>();

/**
 * The partition the gateways' producer (kafkajs's default partitioner: murmur2 of the key, as the
 * Java client) puts a keyed record in, among `partitions`. The processor uses it to tell which
 * terminals belong to the partitions it owns when restoring their status.
 */
export function partitionOfKey(key: string, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new RangeError(`partition count must be a whole number >= 1, got ${partitions}`);
  }
  let metadata = metadataCache.get(partitions);
  if (metadata === undefined) {
    metadata = Array.from({ length: partitions }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    metadataCache.set(partitions, metadata);
  }
  return partitioner({ topic: 'pospulse', partitionMetadata: metadata, message: { key, value: null } });
}
