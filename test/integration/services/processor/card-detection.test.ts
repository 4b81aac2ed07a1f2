import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import type { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { RulesSource } from '../../../../services/processor/detection/rules-file.ts';
import { RULE_DEFINITIONS } from '../../../../services/processor/detection/rules/index.ts';
import { partitionOfKey } from '../../../../services/processor/partition-of.ts';
import type { Processor } from '../../../../services/processor/processor.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, readTopic, uniqueName } from '../../support/kafka.ts';
import { testProcessor } from '../../support/processor.ts';
import { type TestStore } from '../../support/store.ts';
import { openPipeline } from '../../support/pipeline.ts';
import { eventually } from './pipeline-queries.ts';

const PARTITIONS = 3;

/** `n` serials of the form TRM-RING-k, spread so that every partition gets some. */
function ringSerials(n: number): string[] {
  const byPartition: string[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let k = 0; byPartition.some((s) => s.length < n); k++) {
    const serial = `TRM-RING-${k}`;
    byPartition[partitionOfKey(serial, PARTITIONS)]!.push(serial);
  }
  return Array.from({ length: n }, (_, i) => byPartition[i % PARTITIONS]![Math.floor(i / PARTITIONS)]!);
}

describeKafka('card-level detection through card-activity on the real broker and engine', () => {
  const logger = createLogger({ service: 'processor-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('cards')}.`;
  const topics = topicNames(prefix);
  const db = `cards_${Math.random().toString(36).slice(2, 10)}`;
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  let processor: Processor;

  beforeAll(async () => {
    ({ test, store, producer } = await openPipeline({
      kafka,
      codec,
      logger,
      prefix,
      db,
      partitions: PARTITIONS,
    }));
    const rules = RulesSource.defaults(RULE_DEFINITIONS, logger);
    processor = testProcessor(
      { kafka, codec, store, producer, topics, db, logger },
      uniqueName('g'),
      {},
      { rules },
    );
    await processor.start();
  }, 60_000);

  afterAll(async () => {
    await processor?.stop();
    await producer?.disconnect();
    await test?.close();
  });

  it('raises one CARD alert for a card run through terminals of every partition, and republishes by card', async () => {
    const now = Date.now();
    // Background: 150 attempts on 150 cards at 20 terminals, a few of them refunds.
    const background = Array.from({ length: 150 }, (_, i) =>
      transactionAt(i, now - 60_000 + i * 200, now - 1_000),
    );
    // The ring: one card at six terminals of three merchants, in every transactions partition, within a minute.
    const token = 'c0ffee'.repeat(10) + 'f00d';
    const serials = ringSerials(6);
    expect(new Set(serials.map((s) => partitionOfKey(s, PARTITIONS))).size).toBe(PARTITIONS);
    const ring = serials.map((serial, i) =>
      transactionAt(50_000 + i, now - 70_000 + i * 10_000, now - 500, {
        terminal_serial: serial,
        merchant_id: `M-RING-${i >> 1}`,
        card_token: token,
        card_bin: '535353',
        card_last4: '4242',
        transaction_type: 'SALE',
        status: 'APPROVED',
        response_code: '00',
        amount_minor: 4_999,
        latitude: 48.14,
        longitude: 11.58,
      }),
    );
    const all: TransactionEvent[] = [...background, ...ring];
    await producer.send(
      topics.transactions,
      'TransactionEvent',
      all.map((v) => ({ key: v.terminal_serial, value: v })),
    );

    const alertsOf = (rule: string) =>
      store.query<{ state: string; entity_level: string; entity_id: string; labels: Record<string, string> }>(
        `SELECT state, entity_level, entity_id, labels FROM ${db}.alerts FINAL WHERE rule = {rule:String}
         ORDER BY entity_id`,
        { rule },
      );
    const velocity = await eventually(
      () => alertsOf('velocity'),
      (r) => r.length > 0,
      'a velocity alert',
      25_000,
    );
    expect(velocity).toEqual([
      expect.objectContaining({ state: 'FIRING', entity_level: 'CARD', entity_id: token }),
    ]);
    expect(velocity[0]!.labels['card_bin']).toBe('535353');

    const flags = await store.query<{ event_ids: string[]; evidence: Record<string, string> }>(
      `SELECT event_ids, evidence FROM ${db}.flags FINAL WHERE rule = 'velocity'`,
    );
    expect(flags).toHaveLength(1);
    // Whichever five attempts arrived first (the partitions interleave) completed the pattern.
    expect(flags[0]!.event_ids).toHaveLength(5);
    const ringIds = new Set(ring.map((e) => e.event_id));
    for (const id of flags[0]!.event_ids) expect(ringIds.has(id)).toBe(true);
    expect(flags[0]!.evidence).toMatchObject({
      measure: 'terminals',
      distinct_terminals: '5',
      card: '535353…4242',
    });

    // The refunds of the background have no sale: looked up in the transactions table, unexplained.
    const refunds = background.filter((e) => e.transaction_type === 'REFUND' && e.status === 'APPROVED');
    expect(refunds.length).toBeGreaterThan(3);
    const refundAlerts = await eventually(
      () => alertsOf('refund_abuse'),
      (r) => r.length >= refunds.length,
      'refund alerts',
      10_000,
    );
    expect(refundAlerts.map((a) => [a.entity_level, a.entity_id])).toEqual(
      refunds.map((e) => ['CARD', e.card_token!]).sort((a, b) => a[1]!.localeCompare(b[1]!)),
    );

    // On the alerts topic: one FIRING velocity record about the card.
    const onTopic = await readTopic(kafka, topics.alerts);
    const decoded = await Promise.all(onTopic.map((r) => codec.decode(r.value!, 'Alert')));
    const velocityRecords = decoded.filter((a) => a.rule === 'velocity');
    expect(velocityRecords.map((a) => [a.state, a.entity_level, a.entity_id])).toEqual([
      ['FIRING', 'CARD', token],
    ]);
    expect(onTopic.find((r) => r.key?.toString() === `velocity:CARD:${token}`)).toBeDefined();

    // card-activity holds every transaction with a card, each in its card's partition.
    const activity = await readTopic(kafka, topics.cardActivity);
    const ids = new Set<string>();
    for (const r of activity) {
      const ev = await codec.decode(r.value!, 'TransactionEvent');
      expect(r.key?.toString()).toBe(ev.card_token);
      expect(r.partition).toBe(partitionOfKey(ev.card_token!, PARTITIONS));
      ids.add(ev.event_id);
    }
    expect(ids).toEqual(new Set(all.map((e) => e.event_id)));
  }, 30_000);
});
