import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertFeed } from '../../../../services/api/alert-feed.ts';
import { AlertmanagerForwarder } from '../../../../services/api/alertmanager.ts';
import { alertRow } from '../../../../services/processor/detection/rows.ts';
import { processorTables } from '../../../../services/processor/tables.ts';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import type { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { startAlertmanager, testAlert } from '../../support/alertmanager.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { openPipeline } from '../../support/pipeline.ts';
import type { TestStore } from '../../support/store.ts';
import { eventually } from '../processor/pipeline-queries.ts';

describeKafka(
  'the API forwards the alerts topic to a real Alertmanager, starting from the alerts table',
  () => {
    const logger = createLogger({ service: 'alert-feed-test', level: 'silent' });
    const codec = createAvroCodec(parseAvroCodecConfig({}));
    const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
    const prefix = `${uniqueName('amfeed')}.`;
    const topics = topicNames(prefix);
    const db = `amfeed_${Math.random().toString(36).slice(2, 10)}`;
    const tables = processorTables(db);
    let test: TestStore;
    let store: Store;
    let producer: EventProducer;
    let am: Awaited<ReturnType<typeof startAlertmanager>>;
    let forwarder: AlertmanagerForwarder;
    let feed: AlertFeed;

    beforeAll(async () => {
      am = await startAlertmanager();
      ({ test, store, producer } = await openPipeline({ kafka, codec, logger, prefix, db, partitions: 2 }));
    }, 60_000);

    afterAll(async () => {
      await feed?.stop();
      await forwarder?.stop();
      await producer?.disconnect();
      await test?.close();
      await am?.stop();
    });

    it('sends what was still firing at start, then the topic’s new alerts and resolutions', async () => {
      // Fired before this instance started: only the alerts table knows it.
      const old = testAlert(randomUUID(), 'terminal_silent', 'T-OLD');
      await store.insert(tables.alerts, [alertRow(old, 0, Date.now())]);
      forwarder = new AlertmanagerForwarder({ url: am.url, resendMs: 5_000 }, logger);
      feed = new AlertFeed(kafka, codec, topics.alerts, forwarder, logger);
      await feed.start(store, tables.alerts);
      forwarder.start();
      expect((await am.alerts('terminal_silent')).map((a) => a.labels['entity_id'])).toEqual(['T-OLD']);

      const fresh = testAlert(randomUUID(), 'card_testing', 'T-NEW');
      await producer.send(topics.alerts, 'Alert', [{ key: 'card_testing:TERMINAL:T-NEW', value: fresh }]);
      await eventually(
        () => am.alerts('card_testing'),
        (a) => a.length === 1,
        'the new alert in Alertmanager',
      );

      await producer.send(topics.alerts, 'Alert', [
        {
          key: 'terminal_silent:TERMINAL:T-OLD',
          value: { ...old, state: 'RESOLVED', resolved_time: Date.now() - 100 },
        },
      ]);
      await eventually(
        () => am.alerts('terminal_silent'),
        (a) => a.length === 0,
        'the old alert resolved',
      );
      expect(forwarder.firingCount).toBe(1);
    }, 60_000);
  },
);
