import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { createAvroCodec } from '../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../services/shared/avro/config.ts';
import { createKafka } from '../../../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../../../services/shared/kafka/config.ts';
import { topicNames } from '../../../../services/shared/kafka/topics.ts';
import { createLogger } from '../../../../services/shared/logger.ts';
import { generateKey } from '../../../../services/gateway/api-keys.ts';
import { repoRoot } from '../../support/broker.ts';
import { testTokenKeys } from '../../support/gateway.ts';
import { describeKafka, kafkaBrokers, readTopic, uniqueName } from '../../support/kafka.ts';
import { transactionInput } from '../../../support/gateway-input.ts';

describeKafka('gateway process on SIGTERM', () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('finishes the request in flight, flushes its events to Kafka, then exits 0', async () => {
    const key = generateKey('acme');
    const prefix = `${uniqueName('gw-sigterm')}.`;
    const env = {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers().join(','),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_TOPIC_PARTITIONS: '2',
      GATEWAY_PORT: '0',
      GATEWAY_ISO_ENABLED: 'false',
      GATEWAY_TOKEN_KEYS: testTokenKeys(),
      GATEWAY_API_KEYS: JSON.stringify([{ id: 'acme', key_sha256: key.sha256, merchants: ['*'] }]),
      LOG_LEVEL: 'info',
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/gateway/main.ts'], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = createInterface({ input: child.stdout! });
    const logs: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => {
        logs.push(line);
        const entry = JSON.parse(line) as { msg?: string; http?: string };
        if (entry.msg === 'gateway listening' && entry.http) resolve(entry.http);
      });
      void exited.then((code) => reject(new Error(`gateway exited with ${code}: ${logs.join('\n')}`)));
    });

    const events = Array.from({ length: 2000 }, (_, i) => transactionInput(i));
    const inFlight = fetch(`${url}/v1/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    // Signal once the request is on its way but before its reply.
    await new Promise((r) => setTimeout(r, 30));
    child.kill('SIGTERM');

    const reply = await inFlight;
    expect(reply.status).toBe(200);
    const body = (await reply.json()) as { accepted: number };
    expect(body.accepted).toBe(2000);
    expect(await exited).toBe(0);
    expect(logs.some((l) => l.includes('gateway stopped'))).toBe(true);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    const logger = createLogger({ service: 'test', level: 'silent' });
    const kafka = createKafka(parseKafkaConfig(env), logger);
    const records = await readTopic(kafka, topicNames(prefix).transactions);
    const codec = createAvroCodec(parseAvroCodecConfig({}));
    const ids = new Set(
      await Promise.all(
        records.map(async (r) => (await codec.decode(r.value!, 'TransactionEvent')).event_id),
      ),
    );
    expect(events.every((e) => ids.has(e.event_id))).toBe(true);
  }, 90_000);
});
