import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import type { Processor } from '../../../../services/processor/processor.ts';
import { RulesSource } from '../../../../services/processor/detection/rules-file.ts';
import { RULE_DEFINITIONS } from '../../../../services/processor/detection/rules/index.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, readTopic, uniqueName } from '../../support/kafka.ts';
import { testProcessor } from '../../support/processor.ts';
import { type TestStore } from '../../support/store.ts';
import { openPipeline } from '../../support/pipeline.ts';
import { eventually } from './pipeline-queries.ts';

describeKafka('processor detection on the real broker and engine', () => {
  const logger = createLogger({ service: 'processor-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('detect')}.`;
  const topics = topicNames(prefix);
  const db = `detect_${Math.random().toString(36).slice(2, 10)}`;
  const dir = mkdtempSync(join(tmpdir(), 'pospulse-rules-'));
  const rulesPath = join(dir, 'rules.json');
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  let processor: Processor;
  let rules: RulesSource;

  const writeRules = (rulesDoc: unknown): void => writeFileSync(rulesPath, JSON.stringify(rulesDoc, null, 2));

  async function send(events: readonly TransactionEvent[]): Promise<void> {
    await producer.send(
      topics.transactions,
      'TransactionEvent',
      events.map((v) => ({ key: v.terminal_serial, value: v })),
    );
  }

  const alertsOf = (rule: string) =>
    store.query<{
      alert_id: string;
      state: string;
      entity_id: string;
      entity_level: string;
      summary: string;
    }>(
      `SELECT alert_id, state, entity_id, entity_level, summary FROM ${db}.alerts FINAL
       WHERE rule = {rule:String} ORDER BY entity_id`,
      { rule },
    );

  beforeAll(async () => {
    ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db }));
    // Duplicates resolve quickly so the test sees a RESOLVED record.
    writeRules({ rules: { duplicate_transaction: { resolve_after: '3s' } } });
    rules = await RulesSource.open(rulesPath, RULE_DEFINITIONS, logger);
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
    rmSync(dir, { recursive: true, force: true });
  });

  it('raises one card-testing alert for a burst of small declines on many cards, none for clean traffic', async () => {
    const now = Date.now();
    // Clean traffic on 20 terminals: varied amounts and cards, few declines.
    await send(Array.from({ length: 400 }, (_, i) => transactionAt(i, now - 60_000 + i * 100, now - 1_000)));
    // The attack: 12 small attempts on 12 cards of one BIN at one terminal, 10 declined 05/51.
    const attacked = 'TRM-ATTACK';
    const attack = Array.from({ length: 12 }, (_, i) =>
      transactionAt(10_000 + i, now - 30_000 + i * 2_000, now - 500, {
        terminal_serial: attacked,
        amount_minor: 100 + i,
        card_token: `${(0xabc000 + i).toString(16)}`.padStart(64, '0'),
        card_bin: '555555',
        status: i < 10 ? 'DECLINED' : 'APPROVED',
        response_code: i < 10 ? (i % 2 === 0 ? '05' : '51') : '00',
        response_message: i < 10 ? 'Declined' : 'Approved',
        auth_code: i < 10 ? null : '123456',
      }),
    );
    await send(attack);

    const alerts = await eventually(
      () => alertsOf('card_testing'),
      (r) => r.length > 0,
      'a card-testing alert',
    );
    expect(alerts).toEqual([
      expect.objectContaining({ state: 'FIRING', entity_level: 'TERMINAL', entity_id: attacked }),
    ]);
    const flags = await store.query<{ event_ids: string[]; evidence: Record<string, string> }>(
      `SELECT event_ids, evidence FROM ${db}.flags FINAL WHERE rule = 'card_testing'`,
    );
    expect(flags.length).toBeGreaterThanOrEqual(1);
    const attackIds = new Set(attack.map((e) => e.event_id));
    for (const id of flags[0]!.event_ids) expect(attackIds.has(id)).toBe(true);

    const onTopic = await readTopic(kafka, topics.alerts);
    const decoded = await Promise.all(onTopic.map((r) => codec.decode(r.value!, 'Alert')));
    const testing = decoded.filter((a) => a.rule === 'card_testing');
    expect(testing.map((a) => [a.state, a.entity_id])).toEqual([['FIRING', attacked]]);
    expect(testing[0]!.labels['merchant_id']).toBe(attack[0]!.merchant_id);
  }, 60_000);

  it('fires on a double charge, resolves once quiet, and applies a reloaded rules file (refusing a bad one)', async () => {
    const now = Date.now();
    const sale = transactionAt(20_000, now - 10_000, now - 1_000, {
      terminal_serial: 'TRM-DOUBLE',
      status: 'APPROVED',
      response_code: '00',
      transaction_type: 'SALE',
    });
    await send([
      sale,
      { ...sale, event_id: transactionAt(20_001, now).event_id, request_time: sale.request_time + 4_000 },
    ]);
    // resolve_after is 3 s of event time; the tick's clock is the wall clock once caught up, so the
    // alert fires and resolves within a tick or two.
    await eventually(
      () => alertsOf('duplicate_transaction'),
      (r) => r.length === 1 && r[0]!.state === 'RESOLVED',
      'the duplicate alert fired and resolved',
      30_000,
    );
    const records = await Promise.all(
      (await readTopic(kafka, topics.alerts)).map((r) => codec.decode(r.value!, 'Alert')),
    );
    expect(
      records.filter((a) => a.rule === 'duplicate_transaction').map((a) => [a.state, a.entity_id]),
    ).toEqual([
      ['FIRING', 'TRM-DOUBLE'],
      ['RESOLVED', 'TRM-DOUBLE'],
    ]);

    // A bad file is refused; the rules in force stay.
    writeFileSync(rulesPath, '{"rules": {"duplicate_transaction": {"min_copies": 1, "colour": "red"}}}');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(rules.current.get(RULE_DEFINITIONS[0]!).resolve_after).toBe(3_000);

    // A good one applies without a restart: with duplicates disabled, a new double charge is quiet…
    writeRules({ rules: { duplicate_transaction: { enabled: false } } });
    await eventually(
      async () => rules.current.enabled,
      (enabled) => !enabled.includes('duplicate_transaction'),
      'the reloaded rules',
    );
    const again = { ...sale, event_id: transactionAt(20_002, now).event_id, terminal_serial: 'TRM-DOUBLE-2' };
    await send([again, { ...again, event_id: transactionAt(20_003, now).event_id }]);
    // …while the other rules still run: a second card-testing terminal is flagged after it.
    const later = Date.now();
    await send(
      Array.from({ length: 8 }, (_, i) =>
        transactionAt(30_000 + i, later - 10_000 + i * 1_000, later - 200, {
          terminal_serial: 'TRM-ATTACK-2',
          amount_minor: 99,
          card_token: `${(0xdef000 + i).toString(16)}`.padStart(64, '0'),
          status: 'DECLINED',
          response_code: '54',
          response_message: 'Expired card',
          auth_code: null,
        }),
      ),
    );
    await eventually(
      () => alertsOf('card_testing'),
      (r) => r.some((a) => a.entity_id === 'TRM-ATTACK-2'),
      'the second card-testing alert',
    );
    expect((await alertsOf('duplicate_transaction')).map((a) => a.entity_id)).toEqual(['TRM-DOUBLE']);
  }, 90_000);
});
