/**
 * Proves the client the app uses (kafkajs 2.2.4) works against the broker the project runs
 * (Apache Kafka 4.1.x, KRaft): admin topic management and configs, the idempotent producer, and
 * consumer groups.
 */
import kafkajs, {
  Kafka,
  logLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type KafkaMessage,
  type Producer,
} from 'kafkajs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeKafka, kafkaBrokers, uniqueName } from '../support/kafka.ts';

// Not a named ESM export of the CommonJS kafkajs package under plain Node: read it off the default.
const { ConfigResourceTypes } = kafkajs;

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describeKafka('kafkajs 2.2.4 against the Kafka broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  const createdTopics = new Set<string>();
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  beforeAll(async () => {
    kafka = new Kafka({
      clientId: uniqueName('it-kafka-broker'),
      brokers: kafkaBrokers(),
      logLevel: logLevel.WARN,
    });
    admin = kafka.admin();
    await admin.connect();
  });

  afterEach(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    consumer = undefined;
    producer = undefined;
  });

  afterAll(async () => {
    if (admin === undefined) return;
    const leftovers = [...createdTopics];
    if (leftovers.length > 0) await admin.deleteTopics({ topics: leftovers }).catch(() => undefined);
    await admin.disconnect();
  });

  async function createTopic(topic: string, numPartitions: number, config: Record<string, string> = {}) {
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions,
          replicationFactor: 1,
          configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
        },
      ],
    });
    createdTopics.add(topic);
    return created;
  }

  it('creates a three-partition topic and a compacted topic whose cleanup policies read back as delete and compact', async () => {
    const plain = uniqueName('it-plain');
    const compacted = uniqueName('it-compacted');

    expect(await createTopic(plain, 3)).toBe(true);
    expect(await createTopic(compacted, 3, { 'cleanup.policy': 'compact' })).toBe(true);

    const metadata = await admin.fetchTopicMetadata({ topics: [plain, compacted] });
    const partitions = Object.fromEntries(metadata.topics.map((t) => [t.name, t.partitions.length]));
    expect(partitions).toEqual({ [plain]: 3, [compacted]: 3 });

    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: plain, configNames: ['cleanup.policy'] },
        { type: ConfigResourceTypes.TOPIC, name: compacted, configNames: ['cleanup.policy'] },
      ],
    });
    const policies = Object.fromEntries(
      described.resources.map((r) => {
        expect(r.errorCode).toBe(0);
        return [r.resourceName, r.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue];
      }),
    );
    expect(policies).toEqual({ [plain]: 'delete', [compacted]: 'compact' });
  });

  it('an idempotent producer with acks=-1 writes keyed messages that a consumer group reads back complete and in per-key order', async () => {
    const topic = uniqueName('it-keyed');
    await createTopic(topic, 3);

    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();

    const keys = ['term-a', 'term-b', 'term-c', 'term-d', 'term-e', 'term-f'];
    const perKey = 25;
    // Several sends, each interleaving all keys, so per-key order spans requests and partitions.
    for (let seq = 0; seq < perKey; seq += 5) {
      const messages = [];
      for (let s = seq; s < seq + 5; s++) {
        for (const key of keys) messages.push({ key, value: JSON.stringify({ key, seq: s }) });
      }
      const metadata = await producer.send({ topic, acks: -1, messages });
      for (const m of metadata) expect(m.errorCode).toBe(0);
    }

    const received: { partition: number; message: KafkaMessage }[] = [];
    // disconnect() waits for the in-flight long-poll Fetch: keep it short (default 5 s).
    consumer = kafka.consumer({ groupId: uniqueName('it-keyed-group'), maxWaitTimeInMs: 250 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        received.push({ partition, message });
      },
    });
    await eventually('all messages', async () =>
      received.length >= keys.length * perKey ? true : undefined,
    );

    expect(received).toHaveLength(keys.length * perKey);
    const byKey = new Map<string, { seqs: number[]; partitions: Set<number> }>();
    for (const { partition, message } of received) {
      const key = message.key?.toString() ?? '(null)';
      const value = JSON.parse(message.value?.toString() ?? 'null') as { key: string; seq: number };
      expect(value.key).toBe(key);
      const entry = byKey.get(key) ?? { seqs: [], partitions: new Set<number>() };
      entry.seqs.push(value.seq);
      entry.partitions.add(partition);
      byKey.set(key, entry);
    }
    expect([...byKey.keys()].sort()).toEqual(keys);
    const inOrder = Array.from({ length: perKey }, (_, i) => i);
    for (const [, { seqs, partitions }] of byKey) {
      expect(seqs).toEqual(inOrder);
      expect(partitions.size).toBe(1);
    }
    // With six keys over three partitions, more than one partition is in use.
    expect(new Set(received.map((r) => r.partition)).size).toBeGreaterThan(1);
  });

  it('deletes topics so that they are no longer listed', async () => {
    const a = uniqueName('it-delete-a');
    const b = uniqueName('it-delete-b');
    await createTopic(a, 3);
    await createTopic(b, 1, { 'cleanup.policy': 'compact' });
    expect(await admin.listTopics()).toEqual(expect.arrayContaining([a, b]));

    await admin.deleteTopics({ topics: [a, b], timeout: 10_000 });
    createdTopics.delete(a);
    createdTopics.delete(b);

    // Deletion is committed by the controller; the broker's metadata view follows shortly after.
    await eventually('the topics to disappear', async () => {
      const topics = await admin.listTopics();
      return topics.includes(a) || topics.includes(b) ? undefined : true;
    });
  });
});
