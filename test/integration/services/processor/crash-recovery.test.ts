import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { runMigrations } from '../../../../services/shared/clickhouse/migrations.ts';
import type { Store } from '../../../../services/shared/clickhouse/store.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import { EventProducer } from '../../../../services/shared/kafka/producer.ts';
import { ensureTopics, topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { transactionAt } from '../../../support/fixtures.ts';
import { repoRoot } from '../../support/broker.ts';
import { describeKafka, kafkaBrokers, uniqueName } from '../../support/kafka.ts';
import { TEST_USERS, startStoreServer, type RunningStore } from '../../support/store-server.ts';
import { eventually, kpiTotals, rawTotals } from './pipeline-queries.ts';

const MINUTE = 60_000;

describeKafka('processor process killed mid-stream', () => {
  const logger = createLogger({ service: 'processor-test', level: 'warn' });
  const codec = createAvroCodec(parseAvroCodecConfig({}));
  const kafka = createKafka(parseKafkaConfig({ KAFKA_BROKERS: kafkaBrokers().join(',') }), logger);
  const prefix = `${uniqueName('crash')}.`;
  const topics = topicNames(prefix);
  const db = `crash_${Math.random().toString(36).slice(2, 10)}`;
  const children: ChildProcess[] = [];
  let server: RunningStore;
  let store: Store;
  let producer: EventProducer;

  /** The processor service as deployed (`npm run start:processor`), as a child process. */
  async function startProcessor(
    groupId: string,
  ): Promise<{ child: ChildProcess; exited: Promise<number | null>; logs: string[] }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/processor/main.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        KAFKA_BROKERS: kafkaBrokers().join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_TOPIC_PARTITIONS: '3',
        CLICKHOUSE_URL: server.url,
        CLICKHOUSE_USER: TEST_USERS.service.username,
        CLICKHOUSE_PASSWORD: TEST_USERS.service.password,
        CLICKHOUSE_DATABASE: db,
        PROCESSOR_PORT: '0',
        PROCESSOR_METRICS_TOKEN: 'crash-test-metrics-token',
        PROCESSOR_GROUP_ID: groupId,
        PROCESSOR_FETCH_MIN_BYTES: '1',
        PROCESSOR_FETCH_MAX_WAIT: '200ms',
        // The events carry receive times minutes old (a replayed backlog): no wall-clock watermark,
        // or they would all be late. Windows close by event time alone.
        PROCESSOR_IDLE_GRACE: '1h',
        PROCESSOR_TICK_INTERVAL: '500ms',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const logs: string[] = [];
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        logs.push(line);
        if (line.includes('"processor running"')) resolve();
      });
      void exited.then((code) => reject(new Error(`processor exited with ${code}: ${logs.join('\n')}`)));
    });
    return { child, exited, logs };
  }

  async function count(sql: string): Promise<number> {
    const [row] = await store.query<{ n: string }>(sql);
    return Number(row?.n ?? 0);
  }

  beforeAll(async () => {
    server = await startStoreServer();
    store = server.store();
    await runMigrations(store, { database: db, rawTtlDays: 90 });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, { prefix, partitions: 3, replicationFactor: 1 });
    await admin.disconnect();
    producer = new EventProducer(kafka, codec, logger);
    await producer.connect();
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await producer?.disconnect();
    await server?.close();
  });

  it('restarted after SIGKILL, it stores and counts every event exactly once, then stops cleanly on SIGTERM', async () => {
    const groupId = uniqueName('crash-group');
    const total = 15_000;
    const start = Math.floor((Date.now() - 7 * MINUTE) / MINUTE) * MINUTE;
    const events = Array.from({ length: total }, (_, i) =>
      transactionAt(i, start + i * 20, start + i * 20 + 300),
    );

    const first = await startProcessor(groupId);
    let sent = 0;
    const sendChunk = async (): Promise<void> => {
      const chunk = events.slice(sent, sent + 500);
      await producer.send(
        topics.transactions,
        'TransactionEvent',
        chunk.map((v) => ({ key: v.terminal_serial, value: v })),
      );
      sent += chunk.length;
    };
    // Feed while it works, and kill it without warning somewhere in the middle.
    while (sent < total / 3) await sendChunk();
    await eventually(
      () => count(`SELECT count() AS n FROM ${db}.transactions`),
      (n) => n >= 2_000,
      'the first process storing events',
    );
    await sendChunk();
    first.child.kill('SIGKILL');
    await first.exited;
    const storedBefore = await count(`SELECT count() AS n FROM ${db}.transactions FINAL`);
    expect(storedBefore).toBeGreaterThan(0);
    expect(storedBefore).toBeLessThan(total);
    while (sent < total) await sendChunk();

    const second = await startProcessor(groupId);
    await eventually(
      () => count(`SELECT count() AS n FROM ${db}.transactions FINAL`),
      (n) => n === total,
      'every transaction stored',
      90_000,
    );
    await eventually(
      () => kpiTotals(store, db, 'FLEET'),
      (rows) => rows.reduce((s, r) => s + r.tx_count, 0) === total,
      'fleet KPIs covering every transaction once',
      90_000,
    );
    for (const level of ['TERMINAL', 'MERCHANT', 'REGION', 'ACQUIRER', 'FLEET'] as const) {
      expect(await kpiTotals(store, db, level), level).toEqual(await rawTotals(store, db, level));
    }
    expect(await count(`SELECT count() AS n FROM ${db}.late_events FINAL`)).toBe(0);
    // The restart went through the rebuild: some partition resumed before its processed end.
    const opened = second.logs
      .map((l) => JSON.parse(l) as { msg?: string; restartOffset?: number; nextOffset?: number })
      .filter((e) => e.msg === 'window state of partition opened' && e.nextOffset !== undefined);
    expect(opened.some((e) => (e.restartOffset ?? 0) < (e.nextOffset ?? 0))).toBe(true);

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 240_000);
});
