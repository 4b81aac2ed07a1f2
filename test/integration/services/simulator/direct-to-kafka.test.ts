import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { createAvroCodec, type AvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames, type TopicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { KafkaSink } from '../../../../services/simulator/kafka-sink.ts';
import { runSimulation } from '../../../../services/simulator/runner.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';
import { testTokenKeys } from '../../support/gateway.ts';
import { describeKafka, kafkaBrokers, readTopic, uniqueName } from '../../support/kafka.ts';

const KEYS = parseTokenKeys(testTokenKeys());

describeKafka('the simulator straight to Kafka', () => {
  let kafka: Kafka;
  let producer: EventProducer;
  let codec: AvroCodec;
  let topics: TopicNames;

  beforeAll(async () => {
    const prefix = `${uniqueName('sim')}.`;
    const logger = createLogger({ service: 'simulator-test', level: 'warn' });
    kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
    codec = createAvroCodec(parseAvroCodecConfig({}));
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 3, replicationFactor: 1 });
    await admin.disconnect();
    topics = topicNames(prefix);
    producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
  }, 60_000);
  afterAll(async () => {
    await producer?.disconnect();
  });

  it('publishes exactly the records it sent, keyed and ordered by terminal, with tokens and no card number', async () => {
    const start = Date.UTC(2026, 2, 3, 10);
    const sim = new Simulator({
      seed: 'it-kafka',
      // A small card population: every card's PAN is searched for on the topics below.
      fleet: { terminals: 40, regions: 4, cards: 1_600 },
      rate: 8,
      start,
      end: start + 10 * 60_000,
      tokenKeys: KEYS,
      incidents: [
        { kind: 'velocity_fraud_ring', start: start + 60_000, end: start + 540_000 },
        { kind: 'duplicate_submissions', start: start + 60_000, end: start + 540_000 },
      ],
    });
    const sink = new KafkaSink({ producer, topics, tokenKeys: KEYS, gatewayId: 'sim-it', batchSize: 400 });
    const expected = sink.records([...new Simulator(sim.options).events()]);
    const report = await runSimulation(sim, sink, {
      pace: 'backfill',
      batchSize: 400,
      progressIntervalMs: 0,
    });
    expect(report.sink).toMatchObject({
      failed: 0,
      accepted: expected.transactions.length + expected.heartbeats.length,
    });

    const txRecords = await readTopic(kafka, topics.transactions);
    const hbRecords = await readTopic(kafka, topics.heartbeats);
    expect(txRecords).toHaveLength(expected.transactions.length);
    expect(hbRecords).toHaveLength(expected.heartbeats.length);

    // Per partition in offset order, each terminal's records come in the order they were sent.
    const decoded = await Promise.all(
      [...txRecords]
        .sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
        .map(async (r) => ({
          key: r.key!.toString(),
          value: await codec.decode(r.value!, 'TransactionEvent'),
        })),
    );
    const perTerminal = (records: { key: string; value: { event_id: string } }[]) => {
      const out = new Map<string, string[]>();
      for (const r of records) out.set(r.key, [...(out.get(r.key) ?? []), r.value.event_id]);
      return out;
    };
    expect(perTerminal(decoded)).toEqual(perTerminal(expected.transactions));
    const byId = new Map(decoded.map((d) => [d.value.event_id, d.value]));
    for (const r of expected.transactions) expect(byId.get(r.value.event_id)).toEqual(r.value);

    // The ring's cards appear on the topic under the tokens the label names.
    const ring = report.labels.find((l) => l.kind === 'velocity_fraud_ring')!;
    for (const token of ring.entity_ids) {
      const uses = decoded.filter((d) => d.value.card_token === token);
      expect(new Set(uses.map((u) => u.value.terminal_serial)).size).toBeGreaterThan(4);
    }
    const haystack = Buffer.concat([...txRecords, ...hbRecords].map((r) => r.value!));
    for (const card of sim.fleet.cards)
      expect(haystack.includes(Buffer.from(card.pan, 'latin1'))).toBe(false);
  }, 30_000);
});
