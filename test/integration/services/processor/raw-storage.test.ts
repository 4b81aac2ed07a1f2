import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { transactionRow } from '../../../../services/shared/clickhouse/rows.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import type { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import type { Processor } from '../../../../services/processor/processor.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { testProcessor } from '../../support/processor.ts';
import { type TestStore } from '../../support/store.ts';
import { openPipeline } from '../../support/pipeline.ts';

async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describeKafka('processor raw storage on the real broker and engine', () => {
  const logger = createLogger({ service: 'processor-test', level: 'warn' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const prefix = `${uniqueName('proc-raw')}.`;
  const topics = topicNames(prefix);
  const db = `raw_${Math.random().toString(36).slice(2, 10)}`;
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  const processors: Processor[] = [];

  function processor(groupId: string): Processor {
    const p = testProcessor({ kafka, codec, store, producer, topics, db, logger }, groupId);
    processors.push(p);
    return p;
  }

  async function count(table: string, final = false): Promise<number> {
    const [row] = await store.query<{ n: string }>(
      `SELECT count() AS n FROM ${db}.${table}${final ? ' FINAL' : ''}`,
    );
    return Number(row?.n);
  }

  beforeAll(async () => {
    ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db }));
  }, 60_000);

  afterAll(async () => {
    for (const p of processors) await p.stop().catch(() => undefined);
    await producer?.disconnect();
    await test?.close();
  });

  it('ignores an INSERT repeated with the same deduplication token', async () => {
    const rows = [transactionRow(sampleTransaction(9001)), transactionRow(sampleTransaction(9002))];
    await store.insert(`${db}.transactions`, rows, { dedupToken: 'tx:0:5-6' });
    await store.insert(`${db}.transactions`, rows, { dedupToken: 'tx:0:5-6' });
    expect(await count('transactions')).toBe(2);
    await store.command(`TRUNCATE TABLE ${db}.transactions`);
  });

  it('stores every transaction and heartbeat, and a second pass over the same records adds nothing', async () => {
    const txs = Array.from({ length: 600 }, (_, i) => sampleTransaction(i));
    const hbs = Array.from({ length: 120 }, (_, i) => sampleHeartbeat(i));
    for (let i = 0; i < txs.length; i += 100)
      await producer.send(
        topics.transactions,
        'TransactionEvent',
        txs.slice(i, i + 100).map((v) => ({ key: v.terminal_serial, value: v })),
      );
    await producer.send(
      topics.heartbeats,
      'TerminalHeartbeat',
      hbs.map((v) => ({ key: v.terminal_serial, value: v })),
    );

    const first = processor(uniqueName('g1'));
    await first.start();
    await eventually(
      () => count('transactions'),
      (n) => n === 600,
      '600 transactions',
    );
    await eventually(
      () => count('terminal_heartbeats'),
      (n) => n === 120,
      '120 heartbeats',
    );
    await first.stop();

    const ids = await store.query<{ event_id: string }>(`SELECT event_id FROM ${db}.transactions FINAL`);
    expect(new Set(ids.map((r) => r.event_id))).toEqual(new Set(txs.map((t) => t.event_id)));

    // A new group reads everything again (what a crash before the commit would replay, at worst).
    const second = processor(uniqueName('g2'));
    await second.start();
    await eventually(
      () => count('transactions', true),
      (n) => n === 600,
      'replay settled',
      10_000,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    await second.stop();
    expect(await count('transactions', true)).toBe(600);
    expect(await count('terminal_heartbeats', true)).toBe(120);
  }, 120_000);
});
