import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/**
 * Deals partition numbers, not topic-partitions, to the group's members: whoever owns partition p
 * of `transactions` also owns partition p of `heartbeats`. Both topics are keyed by terminal serial
 * with the same partition count, so one member then sees all of a terminal's events and is the
 * only one publishing its status. (kafkajs's round-robin would split them across members.)
 *
 * Partition numbers go round-robin over the members sorted by id, so every member computes the
 * same plan and a member that joins or leaves moves as few numbers as round-robin allows.
 */
export const CO_PARTITION_ASSIGNER_NAME = 'PosPulseCoPartitioned';

/** The plan alone, for tests: member id → topic → partitions. */
export function planCoPartitioned(
  memberIds: readonly string[],
  partitionsByTopic: ReadonlyMap<string, readonly number[]>,
): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const plan = new Map<string, Record<string, number[]>>(members.map((m) => [m, {}]));
  if (members.length === 0) return plan;
  const numbers = [...new Set([...partitionsByTopic.values()].flat())].sort((a, b) => a - b);
  numbers.forEach((p, i) => {
    const owner = plan.get(members[i % members.length] as string) as Record<string, number[]>;
    for (const [topic, partitions] of partitionsByTopic) {
      if (partitions.includes(p)) (owner[topic] ??= []).push(p);
    }
  });
  return plan;
}

export const CoPartitionAssigner: PartitionAssigner = ({ cluster }) => ({
  name: CO_PARTITION_ASSIGNER_NAME,
  version: 0,
  async assign({ members, topics }) {
    const partitions = new Map(
      topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId)]),
    );
    const plan = planCoPartitioned(
      members.map((m) => m.memberId),
      partitions,
    );
    return [...plan].map(([memberId, assignment]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: 0,
        assignment,
        userData: Buffer.alloc(0),
      }),
    }));
  },
  protocol({ topics }) {
    return {
      name: CO_PARTITION_ASSIGNER_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    };
  },
});
