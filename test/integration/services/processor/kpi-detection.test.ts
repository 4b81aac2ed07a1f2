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
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { testProcessor } from '../../support/processor.ts';
import { type TestStore } from '../../support/store.ts';
import { openPipeline } from '../../support/pipeline.ts';
import { eventually } from './pipeline-queries.ts';

const MIN = 60_000;

describeKafka('entity KPI detection on the real broker and engine', () => {
  const logger = createLogger({ service: 'processor-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('kpidetect')}.`;
  const topics = topicNames(prefix);
  const db = `kpidetect_${Math.random().toString(36).slice(2, 10)}`;
  const dir = mkdtempSync(join(tmpdir(), 'pospulse-rules-'));
  const rulesPath = join(dir, 'rules.json');
  const group = uniqueName('g');
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  let processor: Processor | undefined;
  let rules: RulesSource;
  let seq = 0;

  /** 20 attempts a minute at each merchant over minutes [from, to) after `t0`. */
  function minutes(merchants: readonly string[], t0: number, from: number, to: number, declineShare: number) {
    const out: TransactionEvent[] = [];
    for (let m = from; m < to; m++) {
      for (const [k, merchant] of merchants.entries()) {
        for (let i = 0; i < 20; i++) {
          const declined = i < Math.round(20 * declineShare);
          const t = t0 + m * MIN + i * 2_500 + k * 100;
          seq += 1;
          out.push(
            transactionAt(seq, t, t + 400, {
              merchant_id: merchant,
              terminal_serial: `${merchant}-T${i % 3}`,
              status: declined ? 'DECLINED' : 'APPROVED',
              response_code: declined ? '05' : '00',
              response_message: declined ? 'Do not honour' : 'Approved',
              auth_code: declined ? null : '123456',
              transaction_type: 'SALE',
            }),
          );
        }
      }
    }
    return out;
  }

  async function send(events: readonly TransactionEvent[]): Promise<void> {
    await producer.send(
      topics.transactions,
      'TransactionEvent',
      events.map((v) => ({ key: v.terminal_serial, value: v })),
    );
  }

  const firing = () =>
    store.query<{ entity_id: string; entity_level: string; summary: string }>(
      `SELECT entity_id, entity_level, summary FROM ${db}.alerts FINAL
       WHERE rule = 'decline_spike' AND state = 'FIRING' ORDER BY entity_id`,
    );

  async function startProcessor(): Promise<void> {
    processor = testProcessor({ kafka, codec, store, producer, topics, db, logger }, group, {}, { rules });
    await processor.start();
  }

  beforeAll(async () => {
    ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db }));
    // Merchant level only, judged over 2 minutes, against a baseline of at least 5 settled minutes.
    writeFileSync(
      rulesPath,
      JSON.stringify({
        rules: {
          decline_spike: {
            levels: ['MERCHANT'],
            window: '2m',
            min_baseline_minutes: 5,
            min_transactions: 20,
          },
          timeout_spike: { enabled: false },
          latency_spike: { enabled: false },
        },
      }),
    );
    rules = await RulesSource.open(rulesPath, RULE_DEFINITIONS, logger);
    await startProcessor();
  }, 60_000);

  afterAll(async () => {
    await processor?.stop();
    await producer?.disconnect();
    await test?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fires decline_spike on a merchant’s jump against its baseline, and again after a restart from kpi_1m', async () => {
    // Minutes settle into baselines once 60 minutes behind the newest: 75 minutes of history.
    const t0 = Math.floor(Date.now() / MIN) * MIN - 85 * MIN;
    const [a, b, calm] = ['MKD-A', 'MKD-B', 'MKD-CALM'] as const;
    const phase1 = [
      ...minutes([a, b, calm], t0, 0, 75, 0.05),
      ...minutes([calm], t0, 75, 78, 0.05),
      ...minutes([a], t0, 75, 78, 0.6),
    ].sort((x, y) => x.request_time - y.request_time);
    await send(phase1);

    const first = await eventually(firing, (r) => r.length > 0, 'a decline_spike alert for merchant A');
    expect(first).toEqual([expect.objectContaining({ entity_level: 'MERCHANT', entity_id: a })]);
    expect(first[0]!.summary).toMatch(/decline share of merchant MKD-A/);

    // A new instance of the group reads kpi-updates from the committed offset, past B's history:
    // it can judge B only with the baseline it rebuilds from kpi_1m.
    await processor!.stop();
    await startProcessor();
    const start = Math.floor((Date.now() - t0) / MIN) - 2;
    await send(minutes([b], t0, start, start + 2, 0.6).filter((e) => e.request_time < Date.now() - 5_000));
    const both = await eventually(firing, (r) => r.length > 1, 'a decline_spike alert for merchant B');
    expect(both.map((r) => r.entity_id)).toEqual([a, b]);
  }, 120_000);
});
