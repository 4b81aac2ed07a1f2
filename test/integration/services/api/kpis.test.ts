import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApiApp } from '../../../support/api-app.ts';
import type { Processor } from '../../../../services/processor/processor.ts';
import { processorTables } from '../../../../services/processor/tables.ts';
import type { TransactionEvent } from '../../../../services/shared/avro/types.generated.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import type { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { openPipeline } from '../../support/pipeline.ts';
import { testProcessor } from '../../support/processor.ts';
import type { TestStore } from '../../support/store.ts';
import { eventually } from '../processor/pipeline-queries.ts';

const KEY = 'viewer-key-0123456789abcdef';
const HOUR = 3_600_000;

describeKafka('GET /v1/kpis against the processor’s kpi_1m, checked with SQL on the raw transactions', () => {
  const logger = createLogger({ service: 'api-test', level: 'silent' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('api')}.`;
  const topics = topicNames(prefix);
  const db = `api_${Math.random().toString(36).slice(2, 10)}`;
  const tables = processorTables(db);
  let test: TestStore;
  let store: Store;
  let producer: EventProducer;
  let processor: Processor;
  // Two whole hours that ended at least 10 minutes ago, so every window is final.
  const t0 = Math.floor((Date.now() - 10 * 60_000) / HOUR) * HOUR - 2 * HOUR;
  const merchant = 'M-API';

  beforeAll(async () => {
    ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db }));
    processor = testProcessor({ kafka, codec, store, producer, topics, db, logger }, uniqueName('g'));
    await processor.start();
    const events: TransactionEvent[] = [];
    for (let i = 0; i < 900; i++) {
      const t = t0 + Math.floor((i * 2 * HOUR) / 900);
      const declined = i % 7 === 0;
      const timedOut = i % 23 === 0;
      const latency = 150 + ((i * 37) % 900);
      events.push(
        transactionAt(i + 1, t, t + 300, {
          merchant_id: merchant,
          terminal_serial: `API-T${i % 5}`,
          status: declined ? 'DECLINED' : timedOut ? 'TIMEOUT' : 'APPROVED',
          response_code: declined ? '05' : timedOut ? null : '00',
          response_time: timedOut ? null : t + latency,
          amount_minor: 500 + ((i * 131) % 20_000),
          currency: 'EUR',
          transaction_type: 'SALE',
        }),
      );
    }
    await producer.send(
      topics.transactions,
      'TransactionEvent',
      events.map((v) => ({ key: v.terminal_serial, value: v })),
    );
    await eventually(
      () =>
        store.query<{ n: string }>(
          `SELECT sum(tx_count) AS n FROM ${tables.kpi1m} FINAL WHERE entity_level = 'MERCHANT' AND entity_id = {m:String} AND is_final`,
          { m: merchant },
        ),
      (r) => Number(r[0]?.n ?? 0) === 900,
      'every transaction in final kpi_1m windows',
    );
  }, 120_000);

  afterAll(async () => {
    await processor?.stop();
    await producer?.disconnect();
    await test?.close();
  });

  it('gives per hour the counts, amounts, approval rate and latency the raw transactions give', async () => {
    const { app } = testApiApp({ store, tables }, [{ key: KEY, role: 'viewer', id: 't' }]);
    const res = await app.inject({
      url: `/v1/kpis?merchant=${merchant}&from=${t0}&to=${t0 + 2 * HOUR}&granularity=1h&metric=count,approved,timeouts,amount,approval_rate,latency_max_ms,latency_p95_ms`,
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.warnings).toEqual([]);
    const sql = await store.query<{
      hour: string;
      n: string;
      approved: string;
      timeouts: string;
      amount: string;
      lat_max: string;
      p95_low: number;
      p95_high: number;
    }>(
      `SELECT toUnixTimestamp64Milli(toDateTime64(toStartOfHour(request_time), 3)) AS hour, count() AS n,
              countIf(status = 'APPROVED') AS approved, countIf(status = 'TIMEOUT') AS timeouts,
              sumIf(amount_minor, status = 'APPROVED') AS amount,
              max(dateDiff('millisecond', request_time, response_time)) AS lat_max,
              quantileExactLow(0.95)(dateDiff('millisecond', request_time, response_time)) AS p95_low,
              quantileExactHigh(0.95)(dateDiff('millisecond', request_time, response_time)) AS p95_high
       FROM (SELECT * FROM ${tables.transactions} FINAL) WHERE merchant_id = {m:String}
       GROUP BY hour ORDER BY hour`,
      { m: merchant },
    );
    expect(sql).toHaveLength(2);
    expect(body.buckets).toHaveLength(2);
    sql.forEach((row, i) => {
      const b = body.buckets[i];
      expect(Date.parse(b.start)).toBe(Number(row.hour));
      expect(b.complete).toBe(true);
      expect(b.values.count).toBe(Number(row.n));
      expect(b.values.approved).toBe(Number(row.approved));
      expect(b.values.timeouts).toBe(Number(row.timeouts));
      expect(b.values.amount).toEqual({ EUR: Number(row.amount) });
      expect(b.values.approval_rate).toBeCloseTo(Number(row.approved) / Number(row.n), 12);
      expect(b.values.latency_max_ms).toBe(Number(row.lat_max));
      // DDSketch p95: within its 1 % of the exact one.
      expect(b.values.latency_p95_ms).toBeGreaterThanOrEqual(row.p95_low * 0.99);
      expect(b.values.latency_p95_ms).toBeLessThanOrEqual(row.p95_high * 1.01);
    });
    await app.close();
  }, 60_000);
});
