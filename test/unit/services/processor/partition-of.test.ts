import fc from 'fast-check';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionOfKey } from '../../../../services/processor/partition-of.ts';

/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written out independently of
 * kafkajs so the module is checked against the Java client, not against itself.
 */
function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const base = length & ~3;
  for (let i = 0; i < base; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length % 4;
  if (rest === 3) h ^= data[base + 2]! << 16;
  if (rest >= 2) h ^= data[base + 1]! << 8;
  if (rest >= 1) {
    h ^= data[base]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** What the Java producer's default partitioner does with a keyed record (Utils.toPositive). */
function javaPartition(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

/** Apache Kafka's UtilsTest.testMurmur2 vectors (the same table every compatible client pins). */
const JAVA_VECTORS: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

const serial = fc.string({ unit: 'binary', maxLength: 40 });

describe('partitionOfKey', () => {
  it.each(JAVA_VECTORS)('the reference murmur2 of %j is the Java client value %d', (key, hash) => {
    expect(murmur2(Buffer.from(key, 'utf8'))).toBe(hash);
  });

  it.each(JAVA_VECTORS)('puts key %j where the Java client would, for several partition counts', (key) => {
    for (const n of [1, 2, 3, 6, 12, 50, 64, 97]) {
      expect(partitionOfKey(key, n)).toBe(javaPartition(key, n));
    }
  });

  it('puts "foobar" in partition 16 of 50 (a value worked out from the Java hash by hand)', () => {
    // (-790332482 & 0x7fffffff) = 1357151166; 1357151166 % 50 = 16
    expect(partitionOfKey('foobar', 50)).toBe(16);
  });

  it('agrees with the Java client for any key, including non-ASCII ones (UTF-8 bytes)', () => {
    fc.assert(
      fc.property(serial, fc.integer({ min: 1, max: 256 }), (key, n) => {
        expect(partitionOfKey(key, n)).toBe(javaPartition(key, n));
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with a kafkajs DefaultPartitioner given a real topic's metadata, leaderless partitions included", () => {
    const producerSide = Partitioners.DefaultPartitioner();
    fc.assert(
      fc.property(serial, fc.integer({ min: 1, max: 48 }), fc.nat(), (key, n, leaderless) => {
        // As the cluster reports it: unordered, replicated, one partition without a leader.
        const metadata: PartitionMetadata[] = Array.from({ length: n }, (_, i) => ({
          partitionErrorCode: 0,
          partitionId: i,
          leader: i === leaderless % n ? -1 : 1 + (i % 3),
          replicas: [1, 2, 3],
          isr: [1, 2, 3],
        })).reverse();
        const expected = producerSide({
          topic: 'transactions',
          partitionMetadata: metadata,
          message: { key, value: null },
        });
        expect(partitionOfKey(key, n)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic and always within [0, partitions)', () => {
    fc.assert(
      fc.property(serial, fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        const p = partitionOfKey(key, n);
        expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true);
        expect(partitionOfKey(key, n)).toBe(p);
      }),
    );
  });

  it('spreads terminal serials evenly over the partitions', () => {
    const n = 12;
    const counts = new Array<number>(n).fill(0);
    const keys = 12_000;
    for (let i = 0; i < keys; i++) counts[partitionOfKey(`TRM-${String(i).padStart(5, '0')}`, n)]! += 1;
    for (const c of counts) {
      expect(c).toBeGreaterThan((keys / n) * 0.85);
      expect(c).toBeLessThan((keys / n) * 1.15);
    }
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses a partition count of %d', (n) => {
    expect(() => partitionOfKey('TRM-1', n)).toThrow(RangeError);
  });
});
