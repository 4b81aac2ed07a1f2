import type { SimEvent } from './events.ts';
import type { Incident, Label } from './incidents.ts';
import { sleep as defaultSleep, type Sink, type SinkStats } from './sink.ts';
import type { Simulator } from './simulator.ts';

/**
 * Maps simulated time to wall-clock time and feeds a sink:
 *
 * - `realtime`: simulated second s is sent when `(s - start) / speed` wall seconds have passed
 *   (speed 1: real time, events stamped with the present if the run starts now);
 * - `backfill`: as fast as the sink takes them.
 *
 * Sends are awaited one after another, so a slow sink slows the run (reported as "behind") rather
 * than piling events up. An abort (SIGTERM) stops the simulation at the next tick; what was
 * generated is still sent, including the answers of requests made before the stop.
 */

export interface Progress {
  wallElapsedMs: number;
  simTime: number;
  transactions: number;
  heartbeats: number;
  /** Events per wall second since the start. */
  eventsPerSecond: number;
  active: readonly Incident[];
  sink: SinkStats;
  /** How far the run trails its schedule (realtime only; 0 when on time). */
  behindMs: number;
}

export interface RunOptions {
  pace: 'realtime' | 'backfill';
  /** Simulated seconds per wall second in realtime. @default 1 */
  speed?: number;
  /** Events per sink call at most (backfill), or sooner in realtime. @default 1000 */
  batchSize?: number;
  /** Realtime: send at least this often (wall ms). @default 250 */
  flushIntervalMs?: number;
  signal?: AbortSignal;
  /** Wall clock; injectable for tests. */
  clock?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  onProgress?: (progress: Progress) => void;
  /** @default 5000; 0 turns progress off */
  progressIntervalMs?: number;
}

export interface RunReport {
  /** Simulated window actually run. */
  from: number;
  to: number;
  stoppedEarly: boolean;
  transactions: number;
  heartbeats: number;
  wallMs: number;
  sink: SinkStats;
  /** Labels as of the stop. */
  labels: Label[];
}

export async function runSimulation(sim: Simulator, sink: Sink, options: RunOptions): Promise<RunReport> {
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const speed = options.speed ?? 1;
  const batchSize = options.batchSize ?? 1_000;
  const flushEvery = options.flushIntervalMs ?? 250;
  const progressEvery = options.progressIntervalMs ?? 5_000;
  const realtime = options.pace === 'realtime';
  if (!(speed > 0)) throw new RangeError(`speed must be above 0, got ${speed}`);

  const wallStart = clock();
  let lastFlush = wallStart;
  let lastProgress = wallStart;
  let transactions = 0;
  let heartbeats = 0;
  let behindMs = 0;
  const buffer: SimEvent[] = [];

  /** Sends the buffer in chunks of at most batchSize; a last, smaller chunk only when `all`. */
  const flush = async (all: boolean) => {
    while (buffer.length >= batchSize || (all && buffer.length > 0)) {
      const batch = buffer.splice(0, batchSize);
      for (const ev of batch) {
        if (ev.kind === 'transaction') transactions++;
        else heartbeats++;
      }
      await sink.send(batch);
      lastFlush = clock();
    }
  };

  const progress = () => {
    const now = clock();
    const elapsed = now - wallStart;
    options.onProgress?.({
      wallElapsedMs: elapsed,
      simTime: sim.position,
      transactions,
      heartbeats,
      eventsPerSecond: elapsed > 0 ? ((transactions + heartbeats) * 1000) / elapsed : 0,
      active: sim.activeAt(sim.position - 1),
      sink: sink.stats(),
      behindMs,
    });
    lastProgress = now;
  };

  while (sim.position < sim.end && !options.signal?.aborted) {
    if (realtime) {
      const due = wallStart + (Math.min(sim.position + 1_000, sim.end) - sim.start) / speed;
      const wait = due - clock();
      behindMs = Math.max(0, -wait);
      if (wait > 0) await sleep(wait, options.signal);
      if (options.signal?.aborted) break;
    }
    for (const ev of sim.step()) buffer.push(ev);
    const now = clock();
    if (buffer.length >= batchSize || (realtime && now - lastFlush >= flushEvery)) await flush(realtime);
    if (progressEvery > 0 && now - lastProgress >= progressEvery) progress();
  }
  const stoppedAt = sim.position;
  for (const ev of sim.drain()) buffer.push(ev);
  await flush(true);
  if (progressEvery > 0 && clock() - wallStart >= progressEvery) progress();
  return {
    from: sim.start,
    to: stoppedAt,
    stoppedEarly: stoppedAt < sim.end,
    transactions,
    heartbeats,
    wallMs: clock() - wallStart,
    sink: sink.stats(),
    labels: sim.labelsUntil(stoppedAt),
  };
}
