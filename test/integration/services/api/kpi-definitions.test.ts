import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApiApp } from '../../../support/api-app.ts';
import { KpiDefinitionsSource } from '../../../../services/processor/kpi-definitions-source.ts';
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
import { createMetricsRegistry } from '../../../../services/shared/metrics.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { openPipeline } from '../../support/pipeline.ts';
import { testProcessor } from '../../support/processor.ts';
import type { TestStore } from '../../support/store.ts';
import { eventually } from '../processor/pipeline-queries.ts';

const ADMIN = 'admin-key-0123456789abcdef';
const MINUTE = 60_000;

describeKafka(
  'KPI definitions: stored through the api, judged by the processor, queried like metrics',
  () => {
    const logger = createLogger({ service: 'api-test', level: 'silent' });
    const codec = createAvroCodec(parseAvroCodecConfig({}));
    const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
    const prefix = `${uniqueName('kdef')}.`;
    const topics = topicNames(prefix);
    const db = `kdef_${Math.random().toString(36).slice(2, 10)}`;
    const tables = processorTables(db);
    const merchant = 'M-KDEF';
    let test: TestStore;
    let store: Store;
    let producer: EventProducer;
    let processor: Processor | undefined;

    beforeAll(async () => {
      ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db }));
    }, 120_000);

    afterAll(async () => {
      await processor?.stop();
      await producer?.disconnect();
      await test?.close();
    });

    it('raises an alert through the pipeline when a definition’s threshold is crossed, and serves its values', async () => {
      const { app } = testApiApp({ store, tables }, [{ key: ADMIN, role: 'admin', id: 'ops' }]);
      const headers = { authorization: `Bearer ${ADMIN}` };
      const created = await app.inject({
        method: 'POST',
        url: '/v1/kpi-definitions',
        headers,
        payload: {
          name: 'decline_share',
          description: 'Share of attempts declined by the host',
          formula: 'declined / count * 100',
          unit: '%',
          level: 'MERCHANT',
          target: 3,
          warning: 10,
          critical: 30,
          window_minutes: 2,
          min_count: 20,
        },
      });
      expect(created.statusCode).toBe(201);

      const definitions = new KpiDefinitionsSource(
        store,
        tables.kpiDefinitions,
        1_000,
        logger,
        createMetricsRegistry('processor', false),
      );
      processor = testProcessor(
        { kafka, codec, store, producer, topics, db, logger },
        uniqueName('g'),
        {},
        { definitions },
      );
      await processor.start();
      expect(definitions.current.map((d) => d.name)).toEqual(['decline_share']);

      // Ten recent minutes: 5 % declined for six, then 60 % for four.
      const t0 = Math.floor(Date.now() / MINUTE) * MINUTE - 11 * MINUTE;
      const events: TransactionEvent[] = [];
      for (let i = 0; i < 600; i++) {
        const t = t0 + i * 1_000;
        const minute = Math.floor(i / 60);
        const declined = minute < 6 ? i % 20 === 0 : i % 10 < 6;
        events.push(
          transactionAt(i + 1, t, t + 300, {
            merchant_id: merchant,
            terminal_serial: `KDEF-T${i % 4}`,
            status: declined ? 'DECLINED' : 'APPROVED',
            response_code: declined ? '05' : '00',
            response_time: t + 150 + (i % 50),
            transaction_type: 'SALE',
          }),
        );
      }
      await producer.send(
        topics.transactions,
        'TransactionEvent',
        events.map((v) => ({ key: v.terminal_serial, value: v })),
      );

      const alerts = await eventually(
        () =>
          store.query<{
            severity: string;
            state: string;
            value: number;
            threshold: number;
            labels: Record<string, string>;
          }>(
            `SELECT severity, state, value, threshold, labels FROM ${tables.alerts} FINAL
           WHERE rule = 'kpi:decline_share' AND entity_level = 'MERCHANT' AND entity_id = {m:String}`,
            { m: merchant },
          ),
        (r) => r.some((a) => a.severity === 'CRITICAL'),
        'a CRITICAL kpi:decline_share alert in the alerts table',
      );
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({
        state: 'FIRING',
        threshold: 30,
        labels: { merchant, kpi: 'decline_share' },
      });
      expect(alerts[0]!.value).toBeGreaterThan(30);

      // The definition as a metric equals SQL on the raw transactions, per 5 minutes.
      await eventually(
        () =>
          store.query<{ n: string }>(
            `SELECT sum(tx_count) AS n FROM ${tables.kpi1m} FINAL WHERE entity_level = 'MERCHANT' AND entity_id = {m:String}`,
            { m: merchant },
          ),
        (r) => Number(r[0]?.n ?? 0) === 600,
        'every transaction in kpi_1m',
      );
      const res = await app.inject({
        url: `/v1/kpis?merchant=${merchant}&from=${t0}&to=${t0 + 10 * MINUTE}&granularity=5m&metric=count,decline_share`,
        headers,
      });
      expect(res.statusCode).toBe(200);
      const sql = await store.query<{ bucket: string; n: string; share: number }>(
        `SELECT toUnixTimestamp64Milli(toDateTime64(toStartOfInterval(request_time, INTERVAL 5 MINUTE), 3)) AS bucket,
              count() AS n, countIf(status = 'DECLINED') / count() * 100 AS share
       FROM (SELECT * FROM ${tables.transactions} FINAL) WHERE merchant_id = {m:String}
       GROUP BY bucket ORDER BY bucket`,
        { m: merchant },
      );
      const buckets = res.json().buckets as {
        start: string;
        values: { count: number; decline_share: number };
      }[];
      expect(buckets.map((b) => [Date.parse(b.start), b.values.count])).toEqual(
        sql.map((r) => [Number(r.bucket), Number(r.n)]),
      );
      buckets.forEach((b, i) => expect(b.values.decline_share).toBeCloseTo(sql[i]!.share, 9));

      // Deleted: the processor drops it at its next read and the alert resolves.
      expect(
        (await app.inject({ method: 'DELETE', url: '/v1/kpi-definitions/decline_share', headers }))
          .statusCode,
      ).toBe(204);
      await eventually(
        () =>
          store.query<{ state: string }>(
            `SELECT state FROM ${tables.alerts} FINAL WHERE rule = 'kpi:decline_share' AND entity_id = {m:String}`,
            { m: merchant },
          ),
        (r) => r.length === 1 && r[0]!.state === 'RESOLVED',
        'the alert of the deleted definition resolved',
      );
      await app.close();
    }, 120_000);
  },
);
