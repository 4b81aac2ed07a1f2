import { randomBytes } from 'node:crypto';
import { retryWhileElecting } from '../shared/kafka/metadata-retry.ts';
import type { Consumer, Kafka } from 'kafkajs';
import type { Alert } from '../shared/avro/types.generated.ts';
import type { Store } from '../shared/clickhouse/store.ts';
import { isPosPulseError } from '../shared/errors.ts';
import type { RecordCodec } from '../shared/kafka/producer.ts';
import type { Logger } from '../shared/logger.ts';
import type { AlertmanagerForwarder } from './alertmanager.ts';

/** The alerts still FIRING in the alerts table, as Alert records. */
export async function firingAlerts(store: Pick<Store, 'query'>, table: string): Promise<Alert[]> {
  const rows = await store.query<Record<string, unknown>>(
    `SELECT toString(alert_id) AS alert_id, rule, severity, state, entity_level, entity_id, summary, value, threshold,
            evidence, labels, toUnixTimestamp64Milli(window_start) AS window_start,
            toUnixTimestamp64Milli(window_end) AS window_end, toUnixTimestamp64Milli(fired_time) AS fired_time
     FROM ${table} FINAL WHERE state = 'FIRING'`,
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return rows.map((r): Alert => ({
    alert_id: String(r['alert_id']),
    rule: String(r['rule']),
    severity: String(r['severity']) as Alert['severity'],
    state: 'FIRING',
    entity_level: String(r['entity_level']) as Alert['entity_level'],
    entity_id: String(r['entity_id']),
    window_start: Number(r['window_start']),
    window_end: Number(r['window_end']),
    fired_time: Number(r['fired_time']),
    resolved_time: null,
    summary: String(r['summary']),
    value: num(r['value']),
    threshold: num(r['threshold']),
    evidence: { ...(r['evidence'] as Record<string, string>) },
    labels: { ...(r['labels'] as Record<string, string>) },
  }));
}

/**
 * Feeds the Alertmanager forwarder: at start, the alerts still FIRING in the alerts table (so a
 * restart keeps resending them); then every record of the alerts topic from its end. Each API
 * instance reads with a consumer group of its own and never commits: several instances send the
 * same alerts, which Alertmanager deduplicates by their labels, and any of them may stop.
 */
export class AlertFeed {
  private readonly consumer: Consumer;

  constructor(
    private readonly kafka: Kafka,
    private readonly codec: RecordCodec,
    private readonly topic: string,
    private readonly forwarder: AlertmanagerForwarder,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: `pospulse-api-alertmanager-${randomBytes(6).toString('hex')}`,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 200,
    });
  }

  async start(store: Pick<Store, 'query'>, alertsTable: string): Promise<void> {
    // The topic is read from a minute before the table was, so no alert falls between the two
    // (one read twice is sent twice, which changes nothing).
    const admin = this.kafka.admin();
    await admin.connect();
    const since = Date.now() - 60_000;
    const offsets = await retryWhileElecting(() =>
      admin.fetchTopicOffsetsByTimestamp(this.topic, since),
    ).finally(() => admin.disconnect());
    await this.forwarder.restore(await firingAlerts(store, alertsTable));
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topic], fromBeginning: false });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (message.value === null) return;
        try {
          const alert = await this.codec.decode(message.value, 'Alert', {
            topic: this.topic,
            partition,
            offset: message.offset,
          });
          await this.forwarder.onAlert(alert);
        } catch (err) {
          if (!isPosPulseError(err)) throw err;
          this.logger.warn(
            { code: err.code, partition, offset: message.offset },
            'alert record the API cannot read: not forwarded',
          );
        }
      },
    });
    for (const o of offsets)
      this.consumer.seek({ topic: this.topic, partition: o.partition, offset: o.offset });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
