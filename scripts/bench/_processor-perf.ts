import { spawn } from 'node:child_process';
import path from 'node:path';

/*
 * Kafka's own consumer benchmark (`kafka-consumer-perf-test`, the class
 * org.apache.kafka.tools.ConsumerPerformance from the kafka-tools jar in infra/kafka/lib), run as a
 * child JVM for scripts/bench/processor.ts, with its summary (a header line and a value line,
 * comma-separated) parsed by column name.
 */

export interface ConsumerPerfResult {
  /** Records consumed (data.consumed.in.nMsg). */
  records: number;
  /** MB (2^20 bytes) of keys and values consumed. */
  mb: number;
  /** records/s over the tool's whole run, group join included (nMsg.sec). */
  recordsPerSec: number;
  mbPerSec: number;
  /** Time the consumer spent joining the group (rebalance.time.ms). */
  rebalanceMs: number;
  /** Time from the assignment to the last record (fetch.time.ms). */
  fetchMs: number;
  /** records/s over fetch.time.ms: the group join left out (fetch.nMsg.sec). */
  fetchRecordsPerSec: number;
  fetchMbPerSec: number;
  /** CPU seconds (user + system) of the JVM, JIT and start-up included (bash's `times`). */
  cpuSeconds: number;
  /** Wall time of the whole child, JVM start-up included. */
  wallSeconds: number;
  /** The two summary lines as printed. */
  summary: string;
  /** A warning the tool printed (e.g. it timed out before reading every record). */
  warning: string | undefined;
}

export interface ConsumerPerfOptions {
  repoRoot: string;
  brokers: readonly string[];
  topic: string;
  /** Records to read (--messages); the tool stops when it has them. */
  records: number;
  group: string;
  /** Longest pause between records before the tool gives up (--timeout). */
  idleTimeoutMs?: number;
  heap?: string;
  timeoutMs: number;
}

const COLUMNS = {
  mb: 'data.consumed.in.MB',
  mbPerSec: 'MB.sec',
  records: 'data.consumed.in.nMsg',
  recordsPerSec: 'nMsg.sec',
  rebalanceMs: 'rebalance.time.ms',
  fetchMs: 'fetch.time.ms',
  fetchMbPerSec: 'fetch.MB.sec',
  fetchRecordsPerSec: 'fetch.nMsg.sec',
} as const;

type Parsed = Pick<ConsumerPerfResult, keyof typeof COLUMNS | 'summary'>;

/**
 * The summary in the tool's output: the header line starting with `start.time` and the next
 * line. Undefined when it is missing or a column is not a number.
 */
export function parseConsumerPerf(stdout: string): Parsed | undefined {
  const lines = stdout.split('\n').map((l) => l.trim());
  const at = lines.findIndex((l) => l.startsWith('start.time'));
  const header = lines[at]?.split(/,\s*/);
  const values = lines[at + 1]?.split(/,\s*/);
  if (at < 0 || header === undefined || values === undefined || values.length !== header.length)
    return undefined;
  const out: Partial<Parsed> = { summary: `${lines[at]}\n${lines[at + 1]}` };
  for (const [key, column] of Object.entries(COLUMNS) as [keyof typeof COLUMNS, string][]) {
    const v = Number(values[header.indexOf(column)]);
    if (!Number.isFinite(v)) return undefined;
    out[key] = v;
  }
  return out as Parsed;
}

/** bash's `times`: the second line is the children's user and system time, `0m7.197s 0m0.340s`. */
function parseTimes(stderr: string): number | undefined {
  const lines = stderr.trim().split('\n');
  const parts = [...(lines.at(-1) ?? '').matchAll(/(\d+)m([0-9.]+)s/g)];
  if (parts.length !== 2 || lines.length < 2) return undefined;
  return parts.reduce((s, p) => s + Number(p[1]) * 60 + Number(p[2]), 0);
}

/** Runs ConsumerPerformance from the beginning of `topic` in a group of its own. */
export function runConsumerPerformance(opts: ConsumerPerfOptions): Promise<ConsumerPerfResult> {
  const java = process.env['JAVA_HOME'] ? path.join(process.env['JAVA_HOME'], 'bin', 'java') : 'java';
  const args = [
    opts.heap ?? '-Xmx512m',
    '-cp',
    path.join(opts.repoRoot, 'infra/kafka/lib/*'),
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    opts.brokers.join(','),
    '--topic',
    opts.topic,
    '--messages',
    String(opts.records),
    '--group',
    opts.group,
    '--timeout',
    String(opts.idleTimeoutMs ?? 30_000),
  ];
  // As for ProducerPerformance (_gateway-perf.ts): bash reports the finished JVM's CPU time.
  const script = '"$@"; rc=$?; times >&2; exit $rc';
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'bash', java, ...args], {
      cwd: opts.repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - started) / 1000;
      const parsed = parseConsumerPerf(stdout);
      const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-30).join('\n');
      if (code !== 0 || parsed === undefined) {
        const why =
          signal !== null ? `killed (${signal}, timeout ${opts.timeoutMs} ms?)` : `exit code ${code}`;
        reject(new Error(`ConsumerPerformance failed: ${why}, no summary\n${output}`));
        return;
      }
      const warning = `${stdout}\n${stderr}`
        .split('\n')
        .find((l) => /^WARNING/.test(l.trim()))
        ?.trim();
      resolve({ ...parsed, cpuSeconds: parseTimes(stderr) ?? NaN, wallSeconds, warning });
    });
  });
}
