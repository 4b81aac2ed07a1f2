import { spawn } from 'node:child_process';
import path from 'node:path';

/*
 * Kafka's own producer benchmark (`kafka-producer-perf-test`, the class
 * org.apache.kafka.tools.ProducerPerformance from the kafka-tools jar in infra/kafka/lib), run as a
 * child JVM for scripts/bench/gateway.ts, with its final summary line parsed.
 */

export interface PerfToolResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** CPU seconds (user + system) of the JVM, JIT and start-up included (bash's `times`). */
  cpuSeconds: number;
  /** Wall time of the whole child, JVM start-up included. */
  wallSeconds: number;
  /** The summary line as printed. */
  summary: string;
}

export interface PerfToolOptions {
  repoRoot: string;
  brokers: readonly string[];
  topic: string;
  records: number;
  recordSize: number;
  /** Extra producer properties (name=value) after acks=all and enable.idempotence=true. */
  extraProps?: readonly string[];
  heap?: string;
  /** Each line the tool prints while it runs (its 5-second window lines). */
  onLine?: (line: string) => void;
  timeoutMs: number;
}

// "300000 records sent, 55648.3 records/sec (21.23 MB/sec), 428.57 ms avg latency, 793.00 ms max
// latency, 426 ms 50th, 683 ms 95th, 744 ms 99th, 768 ms 99.9th."
const NUM = String.raw`([0-9]+(?:\.[0-9]+)?)`;
const SUMMARY = new RegExp(
  String.raw`^(\d+) records sent, ${NUM} records/sec \(${NUM} MB/sec\), ${NUM} ms avg latency, ${NUM} ms max latency, ${NUM} ms 50th, ${NUM} ms 95th, ${NUM} ms 99th, ${NUM} ms 99\.9th\.?$`,
);

/** Parses the tool's final line; undefined for any other line (the periodic window lines). */
export function parseSummary(line: string): Omit<PerfToolResult, 'cpuSeconds' | 'wallSeconds'> | undefined {
  const m = SUMMARY.exec(line.trim());
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  return {
    records: n[0]!,
    recordsPerSec: n[1]!,
    mbPerSec: n[2]!,
    avgLatencyMs: n[3]!,
    maxLatencyMs: n[4]!,
    p50Ms: n[5]!,
    p95Ms: n[6]!,
    p99Ms: n[7]!,
    p999Ms: n[8]!,
    summary: line.trim(),
  };
}

/** bash's `times`: the second line is the children's user and system time, `0m7.197s 0m0.340s`. */
function parseTimes(stderr: string): number | undefined {
  const lines = stderr.trim().split('\n');
  const children = lines.at(-1) ?? '';
  const parts = [...children.matchAll(/(\d+)m([0-9.]+)s/g)];
  if (parts.length !== 2 || lines.length < 2) return undefined;
  return parts.reduce((s, p) => s + Number(p[1]) * 60 + Number(p[2]), 0);
}

/**
 * Runs ProducerPerformance with `acks=all enable.idempotence=true --throughput -1` and returns
 * its summary. Rejects, with the tool's output, when it fails or prints no summary.
 */
export function runProducerPerformance(opts: PerfToolOptions): Promise<PerfToolResult> {
  const java = process.env['JAVA_HOME'] ? path.join(process.env['JAVA_HOME'], 'bin', 'java') : 'java';
  const args = [
    opts.heap ?? '-Xmx512m',
    '-cp',
    path.join(opts.repoRoot, 'infra/kafka/lib/*'),
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    opts.topic,
    '--num-records',
    String(opts.records),
    '--record-size',
    String(opts.recordSize),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${opts.brokers.join(',')}`,
    'acks=all',
    'enable.idempotence=true',
    ...(opts.extraProps ?? []),
  ];
  // bash runs the JVM and then `times`, which prints the CPU time of the shell's finished children:
  // the JVM's own CPU, which /proc no longer shows once it has exited.
  const script = '"$@"; rc=$?; times >&2; exit $rc';
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'bash', java, ...args], {
      cwd: opts.repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') opts.onLine?.(l.trim());
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - started) / 1000;
      const summary = stdout
        .split('\n')
        .map(parseSummary)
        .find((s) => s !== undefined);
      const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-30).join('\n');
      if (code !== 0 || summary === undefined) {
        const why =
          signal !== null ? `killed (${signal}, timeout ${opts.timeoutMs} ms?)` : `exit code ${code}`;
        reject(new Error(`ProducerPerformance failed: ${why}, no summary line\n${output}`));
        return;
      }
      resolve({ ...summary, cpuSeconds: parseTimes(stderr) ?? NaN, wallSeconds });
    });
  });
}
