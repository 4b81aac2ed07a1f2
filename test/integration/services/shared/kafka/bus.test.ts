import { Writable } from 'node:stream';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAvroCodec } from '../../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../../services/shared/avro/config.ts';
import type {
  TerminalHeartbeat,
  TransactionEvent,
} from '../../../../../services/shared/avro/types.generated.ts';
import { ErrorCodes } from '../../../../../services/shared/errors.ts';
import { createKafka } from '../../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../../services/shared/kafka/config.ts';
import { EventConsumer, type ConsumedRecord } from '../../../../../services/shared/kafka/consumer.ts';
import { DLQ_HEADERS } from '../../../../../services/shared/kafka/dead-letter.ts';
import { EventProducer } from '../../../../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames, type TopicNames } from '../../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../../services/shared/logger.ts';
import { createMetricsRegistry } from '../../../../../services/shared/metrics.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../../support/kafka.ts';

/** Resolves when `check` holds, polling; fails the test with `what` after `ms`. */
async function eventually(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeKafka('Kafka bus on the real broker', () => {
  const logLines: string[] = [];
  const logger = createLogger({
    service: 'bus-test',
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    }),
  });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const prefix = `${uniqueName('bus')}.`;
  const topics: TopicNames = topicNames(prefix);
  // Broker defaults (message.max.bytes 1 MiB per record batch), one partition.
  const bigSendTopic = `${prefix}big-send`;
  const open: { stop(): Promise<void> }[] = [];
  let kafka: Kafka;
  let admin: Admin;
  let producer: EventProducer;

  function consumer(
    groupId: string,
    handle: (records: ConsumedRecord<TransactionEvent>[]) => Promise<void>,
    metrics = createMetricsRegistry('bus-test', false),
  ): EventConsumer {
    const c = new EventConsumer(kafka, codec, producer, logger, {
      groupId,
      subscriptions: [{ topic: topics.transactions, schema: 'TransactionEvent', handle }],
      deadLetterTopic: topics.deadLetter,
      fromBeginning: true,
      metrics,
    });
    open.push(c);
    return c;
  }

  beforeAll(async () => {
    const config = parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(','), KAFKA_TOPIC_PARTITIONS: '3' });
    kafka = createKafka(config, logger);
    admin = kafka.admin();
    await admin.connect();
    producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
    await admin.createTopics({
      topics: [{ topic: bigSendTopic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  });

  afterAll(async () => {
    for (const c of open) await c.stop();
    await producer?.disconnect();
    if (admin) {
      await admin.deleteTopics({ topics: [...Object.values(topics), bigSendTopic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('creates every topic once, compacting the status topic, and reports existing ones on a second run', async () => {
    const layout = { prefix, partitions: 3, replicationFactor: 1 };
    const first = await ensureTopics(admin, layout);
    expect(first.created.sort()).toEqual(Object.values(topics).sort());
    const second = await ensureTopics(admin, layout);
    expect(second.created).toEqual([]);
    expect(second.existing.sort()).toEqual(Object.values(topics).sort());
    expect(second.mismatched).toEqual([]);
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topics.terminalStatus, configNames: ['cleanup.policy'] }],
    });
    expect(described.resources[0]?.configEntries[0]?.configValue).toBe('compact');
    const meta = await admin.fetchTopicMetadata({ topics: [topics.transactions, topics.alerts] });
    expect(meta.topics.map((t) => t.partitions.length).sort()).toEqual([1, 3]);
  });

  it('delivers produced TransactionEvents field by field, in per-terminal order', async () => {
    const sent = Array.from({ length: 300 }, (_, i) => sampleTransaction(i));
    for (let i = 0; i < sent.length; i += 100) {
      await producer.send(
        topics.transactions,
        'TransactionEvent',
        sent.slice(i, i + 100).map((value) => ({ key: value.terminal_serial, value })),
      );
    }
    const got: ConsumedRecord<TransactionEvent>[] = [];
    await consumer(uniqueName('g-roundtrip'), async (records) => {
      got.push(...records);
    }).start();
    await eventually(() => got.length >= sent.length, `${sent.length} records`);

    expect(got).toHaveLength(sent.length);
    const byId = new Map(got.map((r) => [r.value.event_id, r]));
    for (const value of sent) {
      const record = byId.get(value.event_id);
      expect(record?.key).toBe(value.terminal_serial);
      // avsc decodes into its record classes; compare the fields themselves.
      expect(Object.keys(record!.value).sort()).toEqual(Object.keys(value).sort());
      for (const field of Object.keys(value) as (keyof TransactionEvent)[]) {
        expect(JSON.parse(JSON.stringify(record!.value[field])), field).toStrictEqual(
          JSON.parse(JSON.stringify(value[field])),
        );
      }
    }
    for (const serial of new Set(sent.map((s) => s.terminal_serial))) {
      const order = got.filter((r) => r.key === serial).map((r) => r.value.request_time);
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
  });

  it("sends a batch far above the broker's 1 MiB message limit in one call, every record once", async () => {
    const topic = `${prefix}big-send`;
    // Broker defaults: message.max.bytes 1 MiB per record batch.
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    const sent = Array.from({ length: 15_000 }, (_, i) => sampleTransaction(i));
    const encoded = await Promise.all(
      sent.slice(0, 100).map((v) => codec.encode('TransactionEvent', v, topic)),
    );
    const estimate = (encoded.reduce((n, b) => n + b.length, 0) / encoded.length) * sent.length;
    expect(estimate).toBeGreaterThan(2 * 1024 * 1024);
    // One key: every record lands in the one partition's batch.
    await producer.send(
      topic,
      'TransactionEvent',
      sent.map((value) => ({ key: 'one-terminal', value })),
    );
    const [offsets] = await admin.fetchTopicOffsets(topic);
    expect(Number(offsets!.high) - Number(offsets!.low)).toBe(sent.length);
  });

  it('refuses a value that does not fit its schema before sending anything', async () => {
    const bad = {
      ...sampleTransaction(1),
      amount_minor: 1.5,
      status: 'MAYBE',
    } as unknown as TransactionEvent;
    const err = await producer
      .send(topics.transactions, 'TransactionEvent', [{ key: 'x', value: bad }])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.ENCODE });
    expect((err as { paths: string[] }).paths).toEqual(expect.arrayContaining(['amount_minor', 'status']));
  });

  it('sends a corrupted record to the dead-letter topic with its location and keeps consuming', async () => {
    const topic = topics.transactions;
    const before = sampleTransaction(1000);
    const after = sampleTransaction(1001, { terminal_serial: before.terminal_serial });
    const garbage = Buffer.from([0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff]);
    const wrongType = await codec.encode('TerminalHeartbeat', sampleHeartbeat(7) as TerminalHeartbeat);
    await producer.send(topic, 'TransactionEvent', [{ key: before.terminal_serial, value: before }]);
    const [garbageMeta] = await producer.sendRaw(topic, [{ key: before.terminal_serial, value: garbage }]);
    await producer.sendRaw(topic, [{ key: before.terminal_serial, value: wrongType }]);
    await producer.send(topic, 'TransactionEvent', [{ key: after.terminal_serial, value: after }]);

    const seen: string[] = [];
    const metrics = createMetricsRegistry('bus-test', false);
    await consumer(
      uniqueName('g-dlq'),
      async (records) => {
        for (const r of records) seen.push(r.value.event_id);
      },
      metrics,
    ).start();
    await eventually(() => seen.includes(after.event_id), 'the record after the corrupted ones');
    expect(seen).toContain(before.event_id);

    const dead: { value: Buffer | null; headers: Record<string, string> }[] = [];
    const reader = kafka.consumer({ groupId: uniqueName('g-dlq-reader') });
    open.push({ stop: () => reader.disconnect() });
    await reader.connect();
    await reader.subscribe({ topic: topics.deadLetter, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        dead.push({ value: message.value, headers });
      },
    });
    await eventually(() => dead.length >= 2, 'two dead-letter records');

    const g = dead.find((d) => d.value?.equals(garbage));
    expect(g?.headers).toMatchObject({
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(garbageMeta?.partition),
      [DLQ_HEADERS.offset]: garbageMeta?.baseOffset,
      [DLQ_HEADERS.code]: ErrorCodes.DECODE,
    });
    expect(dead.find((d) => d.value?.equals(wrongType))?.headers[DLQ_HEADERS.code]).toBe(ErrorCodes.DECODE);
    const counted = (await metrics.getSingleMetric('pospulse_consumer_records_total')?.get())?.values ?? [];
    expect(
      counted.find((v) => v.labels['outcome'] === 'dead_letter' && v.labels['topic'] === topic)?.value,
    ).toBe(2);
    const logged = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['code'] === ErrorCodes.DECODE);
    expect(logged.length).toBeGreaterThanOrEqual(2);
    expect(logged[0]).toMatchObject({ topic, deadLetterTopic: topics.deadLetter });
  });

  it('finishes the batch in hand and commits it when stopped', async () => {
    const topic = topics.transactions;
    const groupId = uniqueName('g-stop');
    let handled = 0;
    let inHandler!: () => void;
    const entered = new Promise<void>((r) => (inHandler = r));
    const c = consumer(groupId, async (records) => {
      inHandler();
      await new Promise((r) => setTimeout(r, 500)); // stop() arrives while this batch is in hand
      handled += records.length;
    });
    await c.start();
    await entered;
    await c.stop();

    const ends = await admin.fetchTopicOffsets(topic);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const handledPartitions = committed[0]!.partitions.filter((p) => p.offset !== '-1');
    expect(handled).toBeGreaterThan(0);
    expect(handledPartitions.length).toBeGreaterThan(0);
    for (const p of handledPartitions) {
      expect(p.offset).toBe(ends.find((e) => e.partition === p.partition)?.offset);
    }
  });
});
