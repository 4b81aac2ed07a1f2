import fc from 'fast-check';
import { AssignerProtocol, type Cluster, type Logger, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  CO_PARTITION_ASSIGNER_NAME,
  CoPartitionAssigner,
  planCoPartitioned,
} from '../../../../services/processor/co-partition-assigner.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** topic → partition → member, failing on a partition dealt twice. */
function owners(plan: Map<string, Record<string, number[]>>): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  for (const [member, assignment] of plan) {
    for (const [topic, partitions] of Object.entries(assignment)) {
      let byPartition = out.get(topic);
      if (byPartition === undefined) out.set(topic, (byPartition = new Map()));
      for (const p of partitions) {
        expect(byPartition.has(p), `${topic}/${p} dealt twice`).toBe(false);
        byPartition.set(p, member);
      }
    }
  }
  return out;
}

describe('planCoPartitioned', () => {
  it('deals partition numbers round-robin over the members sorted by id, the same numbers in every topic', () => {
    const plan = planCoPartitioned(
      ['member-b', 'member-c', 'member-a'],
      new Map([
        ['transactions', range(6)],
        ['heartbeats', range(6)],
      ]),
    );
    expect(Object.fromEntries(plan)).toEqual({
      'member-a': { transactions: [0, 3], heartbeats: [0, 3] },
      'member-b': { transactions: [1, 4], heartbeats: [1, 4] },
      'member-c': { transactions: [2, 5], heartbeats: [2, 5] },
    });
  });

  it('gives every member the same plan whatever order it lists the members in', () => {
    const topics = new Map([
      ['transactions', [4, 1, 0, 3, 2]],
      ['heartbeats', [2, 0, 4, 1, 3]],
    ]);
    const a = planCoPartitioned(['z', 'y', 'x'], topics);
    const b = planCoPartitioned(['x', 'z', 'y'], topics);
    expect(Object.fromEntries(b)).toEqual(Object.fromEntries(a));
    expect(a.get('x')).toEqual({ transactions: [0, 3], heartbeats: [0, 3] });
  });

  it('keeps partition p of both topics together when one topic has more partitions', () => {
    const plan = planCoPartitioned(
      ['m1', 'm2'],
      new Map([
        ['transactions', range(5)],
        ['heartbeats', range(3)],
      ]),
    );
    expect(Object.fromEntries(plan)).toEqual({
      m1: { transactions: [0, 2, 4], heartbeats: [0, 2] },
      m2: { transactions: [1, 3], heartbeats: [1] },
    });
  });

  it('lists a member without partitions when there are more members than partitions', () => {
    const plan = planCoPartitioned(['a', 'b', 'c'], new Map([['transactions', [0, 1]]]));
    expect(Object.fromEntries(plan)).toEqual({ a: { transactions: [0] }, b: { transactions: [1] }, c: {} });
  });

  it('deals nothing to nobody', () => {
    expect(planCoPartitioned([], new Map([['transactions', [0, 1]]])).size).toBe(0);
  });

  it('deals every partition of every topic exactly once, co-located and balanced, for any group', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 9 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 4 }),
        (members, counts) => {
          const topics = new Map(counts.map((n, i) => [`topic-${i}`, range(n).reverse()]));
          const plan = planCoPartitioned(members, topics);
          expect([...plan.keys()].sort()).toEqual([...members].sort());
          const byTopic = owners(plan);
          for (const [topic, partitions] of topics) {
            expect([...(byTopic.get(topic)?.keys() ?? [])].sort((a, b) => a - b)).toEqual(
              [...partitions].sort((a, b) => a - b),
            );
          }
          // Partition p has one owner across all topics.
          const ownerOf = new Map<number, string>();
          for (const byPartition of byTopic.values()) {
            for (const [p, member] of byPartition) {
              expect(ownerOf.get(p) ?? member).toBe(member);
              ownerOf.set(p, member);
            }
          }
          // Numbers per member differ by at most one.
          const load = members.map((m) => [...ownerOf.values()].filter((o) => o === m).length);
          expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});

describe('CoPartitionAssigner', () => {
  const metadata = (n: number): PartitionMetadata[] =>
    range(n)
      .reverse()
      .map((partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 1, replicas: [1], isr: [1] }));
  const cluster = {
    findTopicPartitionMetadata: (topic: string) => metadata(topic === 'transactions' ? 4 : 2),
  } as unknown as Cluster;
  const assigner = CoPartitionAssigner({ cluster, groupId: 'g', logger: {} as Logger });

  it('encodes the co-partitioned plan for every member, from the partitions the cluster reports', async () => {
    const members = ['consumer-2', 'consumer-1'].map((memberId) => ({
      memberId,
      memberMetadata: Buffer.alloc(0),
    }));
    const result = await assigner.assign({ members, topics: ['transactions', 'heartbeats'] });
    const decoded = Object.fromEntries(
      result.map((r) => [r.memberId, AssignerProtocol.MemberAssignment.decode(r.memberAssignment)]),
    );
    expect(Object.keys(decoded).sort()).toEqual(['consumer-1', 'consumer-2']);
    expect(decoded['consumer-1']).toMatchObject({
      version: 0,
      assignment: { transactions: [0, 2], heartbeats: [0] },
    });
    expect(decoded['consumer-2']).toMatchObject({
      version: 0,
      assignment: { transactions: [1, 3], heartbeats: [1] },
    });
  });

  it('announces itself by name with the subscribed topics', () => {
    expect(assigner.name).toBe(CO_PARTITION_ASSIGNER_NAME);
    const state = assigner.protocol({ topics: ['transactions', 'heartbeats'] });
    expect(state.name).toBe(CO_PARTITION_ASSIGNER_NAME);
    expect(AssignerProtocol.MemberMetadata.decode(state.metadata)).toMatchObject({
      version: 0,
      topics: ['transactions', 'heartbeats'],
    });
  });
});
