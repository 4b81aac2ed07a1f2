/**
 * Waits until a Kafka broker really answers: a kafkajs admin client connects and a Metadata request
 * (describeCluster) lists at least one broker. Then warms up what every client's first request would
 * otherwise wait for on a fresh cluster (the group coordinator with its __consumer_offsets topic, and
 * the broker's first block of producer ids), so the first consumer group join and the first idempotent
 * producer do not meet COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE and log errors.
 * Used by infra/kafka/start.sh.
 *
 *   tsx infra/kafka/wait-ready.ts <host:port> [timeoutMs=90000] [pid]
 *
 * When a pid is given and that process dies, it gives up at once. Exits 0 when ready, 1 otherwise,
 * with a one-line reason on stderr. Prints nothing on success.
 */
import { Kafka, logLevel } from 'kafkajs';

const [broker, timeoutArg, pidArg] = process.argv.slice(2);
if (broker === undefined || !/^[^:]+:\d+$/.test(broker)) {
  process.stderr.write('usage: wait-ready.ts <host:port> [timeoutMs] [pid]\n');
  process.exit(2);
}
const timeoutMs = timeoutArg === undefined ? 90_000 : Number(timeoutArg);
const pid = pidArg === undefined ? undefined : Number(pidArg);

function alive(p: number): boolean {
  try {
    process.kill(p, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function probe(): Promise<string | null> {
  const kafka = new Kafka({
    clientId: 'pospulse-wait-ready',
    brokers: [broker!],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 ? null : 'no broker registered yet';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** One warm-up attempt; resolves null when the group coordinator and producer ids are both available. */
async function warmUp(): Promise<string | null> {
  const kafka = new Kafka({
    clientId: 'pospulse-wait-ready',
    brokers: [broker!],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 1 } });
  try {
    await admin.connect();
    await admin.describeCluster(); // loads the broker list that FindCoordinator picks from
    // FindCoordinator for a group creates __consumer_offsets; DescribeGroups stops throwing
    // (COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS) once its partitions are loaded.
    await admin.describeGroups(['pospulse-wait-ready']);
    // InitProducerId answers COORDINATOR_LOAD_IN_PROGRESS until the broker holds a producer-id block.
    await producer.connect();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

const deadline = Date.now() + timeoutMs;
let last = 'not tried';
let answered = false;
for (;;) {
  if (pid !== undefined && !alive(pid)) {
    process.stderr.write(`wait-ready: broker process ${pid} exited before answering on ${broker}\n`);
    process.exit(1);
  }
  const failure = answered ? await warmUp() : await probe();
  if (failure === null) {
    if (answered) process.exit(0);
    answered = true;
    continue;
  }
  last = failure;
  if (Date.now() >= deadline) break;
  await sleep(answered ? 100 : 250);
}
const phase = answered ? 'answered but did not finish warming up' : 'gave no answer';
process.stderr.write(`wait-ready: ${broker} ${phase} within ${timeoutMs} ms (last error: ${last})\n`);
process.exit(1);
