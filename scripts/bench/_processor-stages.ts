import { writeFileSync } from 'node:fs';
import { AvroCodec } from '../../services/shared/avro/codec.ts';
import { Store } from '../../services/shared/clickhouse/store.ts';
import { EventConsumer } from '../../services/shared/kafka/consumer.ts';
import { EventProducer } from '../../services/shared/kafka/producer.ts';
import { KpiWindowEngine } from '../../services/processor/kpi/windows.ts';
import { DetectionStage } from '../../services/processor/detection-stage.ts';
import { KpiStage } from '../../services/processor/kpi-stage.ts';
import { Processor } from '../../services/processor/processor.ts';
import { RawWriter } from '../../services/processor/raw-writer.ts';
import { StatusStage } from '../../services/processor/status-stage.ts';

/*
 * Stage timing for scripts/bench/processor.ts (BENCH_PROC_STAGES=1): preloaded into the processor
 * child with `--import`, after tsx, it wraps methods of the processor's classes on their
 * prototypes — the service's code is not changed — and adds up the wall time of each call. On
 * SIGUSR2 it writes the totals as JSON to BENCH_PROC_STAGES_FILE. Avro encode and decode count
 * their synchronous work only (see `sync`); encode also adds up the bytes it produced.
 *
 * Wall time, not CPU: an awaited insert counts the time ClickHouse took. Calls that overlap (the
 * kpi_1m and late_events inserts run together, so do a status insert and its publish) each count
 * in full, and an outer stage includes its inner ones (a batch includes its handler, the handler
 * its inserts).
 */

interface Total {
  calls: number;
  ms: number;
  /** Bytes of the results (Avro encode only). */
  bytes?: number;
}

const totals = new Map<string, Total>();

function add(name: string, ms: number): void {
  const t = totals.get(name);
  if (t === undefined) totals.set(name, { calls: 1, ms });
  else {
    t.calls++;
    t.ms += ms;
  }
}

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;

/** Methods named in wrap() calls that the classes no longer have (the processor changes). */
const missing: string[] = [];

/**
 * Wraps `proto[method]`; `label` names the call from its arguments (e.g. the table). `sync`: time
 * only the synchronous part, up to the returned promise — for async methods that do all their
 * work before their first await and are called many at a time (`Promise.all(records.map(encode))`),
 * whose promises would otherwise each count the whole batch.
 */
function wrap(
  proto: object,
  method: string,
  name: string,
  label?: (args: unknown[]) => string,
  sync = false,
  countBytes = false,
): void {
  const target = proto as Record<string, AnyFn>;
  const original = target[method];
  if (typeof original !== 'function') {
    missing.push(`${name} (${method})`);
    return;
  }
  target[method] = function (this: unknown, ...args: unknown[]) {
    const key = label ? `${name} ${label(args)}` : name;
    const t0 = performance.now();
    const result = original.apply(this, args);
    if (result instanceof Promise && countBytes) {
      void result.then(
        (b: unknown) => {
          const t = totals.get(key);
          if (t !== undefined && Buffer.isBuffer(b)) t.bytes = (t.bytes ?? 0) + b.length;
        },
        () => undefined,
      );
    }
    if (result instanceof Promise && !sync) {
      return result.finally(() => add(key, performance.now() - t0));
    }
    add(key, performance.now() - t0);
    return result;
  };
}

/** The part of a name after the deployment's prefix: `pospulse.kpi-updates` → `kpi-updates`. */
const short = (s: unknown) => {
  const text = String(s);
  return text.slice(text.lastIndexOf('.') + 1);
};

wrap(EventConsumer.prototype, 'handleBatch', 'consumer batch (decode + handler + commit)', (args) =>
  short((args[0] as { batch: { topic: string } }).batch.topic),
);
wrap(AvroCodec.prototype, 'decode', 'avro decode', (args) => String(args[1]), true);
wrap(AvroCodec.prototype, 'encode', 'avro encode', (args) => String(args[0]), true, true);
wrap(Processor.prototype, 'onTransactions', 'handler transactions');
wrap(Processor.prototype, 'onHeartbeats', 'handler heartbeats');
wrap(Processor.prototype, 'tick', 'tick (includes waiting for partition locks)');
wrap(RawWriter.prototype, 'transactions', 'raw transactions (rows + insert)');
wrap(RawWriter.prototype, 'heartbeats', 'raw heartbeats (rows + insert)');
wrap(KpiStage.prototype, 'process', 'kpi stage (fold + inserts + publish)');
wrap(KpiWindowEngine.prototype, 'process', 'kpi fold (window engine)');
wrap(StatusStage.prototype, 'onTransactions', 'status stage transactions');
wrap(StatusStage.prototype, 'onHeartbeats', 'status stage heartbeats');
wrap(DetectionStage.prototype, 'onTransactions', 'detection stage transactions');
wrap(DetectionStage.prototype, 'tick', 'detection tick');
wrap(StatusStage.prototype, 'open', 'status open (read terminal_status_latest)');
wrap(Store.prototype, 'insert', 'store insert', (args) => short(args[0]));
wrap(Store.prototype, 'query', 'store query');
wrap(EventProducer.prototype, 'send', 'kafka send (encode + produce)', (args) => short(args[0]));
wrap(EventProducer.prototype, 'sendRaw', 'kafka sendRaw', (args) => short(args[0]));

const file = process.env['BENCH_PROC_STAGES_FILE'];
process.on('SIGUSR2', () => {
  if (file === undefined) return;
  const out: Record<string, Total> = {};
  for (const [k, v] of [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms)) out[k] = v;
  for (const m of missing) out[`not timed, no such method: ${m}`] = { calls: 0, ms: 0 };
  writeFileSync(file, JSON.stringify(out));
});
