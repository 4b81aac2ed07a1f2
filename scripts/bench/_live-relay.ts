import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { createAvroCodec } from '../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../services/shared/avro/config.ts';
import { createKafka } from '../../services/shared/kafka/client.ts';
import { parseKafkaConfig } from '../../services/shared/kafka/config.ts';
import { topicNames } from '../../services/shared/kafka/topics.ts';
import { createLogger } from '../../services/shared/logger.ts';

/*
 * The live benchmark's peer: the least a Kafka-to-WebSocket relay does — read terminal-status
 * from its end, decode, and send each fetched batch at once to every connected socket (no state,
 * no snapshot, no filters, no coalescing, no auth). Same broker, same clients, same run: the live
 * service's delay is reported against this floor. Listens on RELAY_PORT; `/readyz` once consuming.
 */

const logger = createLogger({ service: 'relay', level: 'warn' });
const kafkaConfig = parseKafkaConfig(process.env);
const topic = topicNames(kafkaConfig.topicPrefix).terminalStatus;
const codec = createAvroCodec(parseAvroCodecConfig({}));
const kafka = createKafka(kafkaConfig, logger);
let consuming = false;

const server = createServer((req, res) => {
  res.writeHead(req.url === '/readyz' && consuming ? 200 : 503).end();
});
const wss = new WebSocketServer({ server, path: '/ws' });
wss.on('connection', (ws) => {
  // The bench's clients say hello and subscribe; the relay answers as the live service would.
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { type: string };
    if (m.type === 'hello') ws.send(JSON.stringify({ type: 'welcome' }));
    if (m.type === 'subscribe') ws.send(JSON.stringify({ type: 'snapshot', terminals: [] }));
  });
});
server.listen(Number(process.env['RELAY_PORT']), '127.0.0.1');

const consumer = kafka.consumer({
  groupId: `bench-relay-${randomBytes(4).toString('hex')}`,
  maxWaitTimeInMs: 100,
});
await consumer.connect();
await consumer.subscribe({ topics: [topic], fromBeginning: false });
consumer.on(consumer.events.GROUP_JOIN, () => {
  consuming = true;
});
await consumer.run({
  autoCommit: false,
  eachBatch: async ({ batch }) => {
    const changes = [];
    for (const m of batch.messages) {
      if (m.value !== null) changes.push(await codec.decode(m.value, 'TerminalStatus'));
    }
    const frame = JSON.stringify({ type: 'delta', changes });
    for (const ws of wss.clients) ws.send(frame);
  },
});
process.on('SIGTERM', () => {
  void consumer.disconnect().finally(() => process.exit(0));
});
