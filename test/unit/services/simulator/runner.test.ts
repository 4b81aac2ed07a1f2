import { describe, expect, it } from 'vitest';
import { parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { AuthError } from '../../../../services/shared/errors.ts';
import type { SimEvent } from '../../../../services/simulator/events.ts';
import { formatProgress, formatSummary } from '../../../../services/simulator/progress.ts';
import { runSimulation, type Progress } from '../../../../services/simulator/runner.ts';
import { emptyStats, type Sink, type SinkStats } from '../../../../services/simulator/sink.ts';
import { Simulator } from '../../../../services/simulator/simulator.ts';

const KEYS = parseTokenKeys(`k1:${Buffer.alloc(32, 4).toString('base64')}`);
const START = Date.UTC(2026, 2, 3, 10);

class MemorySink implements Sink {
  readonly name = 'memory';
  readonly batches: { at: number; events: SimEvent[] }[] = [];
  private readonly s: SinkStats = emptyStats();
  closed = false;
  constructor(private readonly clock: () => number = Date.now) {}
  async send(events: readonly SimEvent[]): Promise<void> {
    this.batches.push({ at: this.clock(), events: [...events] });
    for (const e of events) {
      if (e.kind === 'transaction') this.s.sent.transactions++;
      else this.s.sent.heartbeats++;
    }
    this.s.accepted += events.length;
  }
  stats(): SinkStats {
    return structuredClone(this.s);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A fake wall clock that sleeping advances. */
function fakeTime(start = 1_000_000) {
  let now = start;
  return {
    clock: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
}

const make = (end = START + 300_000) =>
  new Simulator({
    seed: 'runner',
    fleet: { terminals: 30 },
    rate: 5,
    start: START,
    end,
    tokenKeys: KEYS,
    incidents: [{ kind: 'card_testing', start: START + 60_000, end: START + 240_000 }],
  });

describe('runSimulation', { timeout: 30_000 }, () => {
  it('sends every event of a backfill, in order, and reports the labels', async () => {
    const expected = [...make().events()];
    const sink = new MemorySink();
    const report = await runSimulation(make(), sink, {
      pace: 'backfill',
      batchSize: 200,
      progressIntervalMs: 0,
    });
    const sent = sink.batches.flatMap((b) => b.events);
    expect(sent).toEqual(expected);
    expect(sink.batches.every((b) => b.events.length <= 200)).toBe(true);
    expect(report).toMatchObject({
      from: START,
      to: START + 300_000,
      stoppedEarly: false,
      transactions: expected.filter((e) => e.kind === 'transaction').length,
    });
    expect(report.labels).toHaveLength(1);
  });

  it('paces a realtime run by the clock: at speed 10, five simulated minutes take thirty seconds', async () => {
    const time = fakeTime();
    const sink = new MemorySink(time.clock);
    const report = await runSimulation(make(), sink, {
      pace: 'realtime',
      speed: 10,
      clock: time.clock,
      sleep: time.sleep,
      progressIntervalMs: 0,
    });
    expect(report.wallMs).toBeGreaterThanOrEqual(30_000);
    expect(report.wallMs).toBeLessThan(30_500);
    // Each event is sent once its simulated moment has passed on the scaled clock, and not much later.
    for (const b of sink.batches) {
      for (const e of b.events) {
        const due = 1_000_000 + (Math.min(e.time, START + 300_000) - START) / 10;
        expect(b.at).toBeGreaterThanOrEqual(due - 1);
        if (e.time < START + 300_000) expect(b.at - due).toBeLessThan(500);
      }
    }
  });

  it('stops at an abort after sending what was generated, with labels cut at the stop', async () => {
    const time = fakeTime();
    const sink = new MemorySink(time.clock);
    const stop = new AbortController();
    const report = await runSimulation(make(), sink, {
      pace: 'realtime',
      clock: time.clock,
      sleep: async (ms) => {
        await time.sleep(ms);
        if (time.clock() >= 1_000_000 + 120_000) stop.abort();
      },
      signal: stop.signal,
      progressIntervalMs: 0,
    });
    expect(report.stoppedEarly).toBe(true);
    expect(report.to).toBeLessThan(START + 125_000);
    expect(report.labels[0]!.end).toBe(new Date(report.to).toISOString());
    const sent = sink.batches.flatMap((b) => b.events);
    expect(sent.length).toBe(report.transactions + report.heartbeats);
    // Answers of requests made before the stop are still sent.
    expect(sent.some((e) => e.time >= report.to)).toBe(true);
    expect(
      sent.every((e) => (e.kind === 'transaction' ? e.fields.request_time : e.fields.event_time) < report.to),
    ).toBe(true);
  });

  it('reports progress on long runs', async () => {
    const time = fakeTime();
    const seen: Progress[] = [];
    await runSimulation(make(), new MemorySink(time.clock), {
      pace: 'realtime',
      clock: time.clock,
      sleep: time.sleep,
      progressIntervalMs: 60_000,
      onProgress: (p) => seen.push(p),
    });
    expect(seen.length).toBeGreaterThanOrEqual(4);
    const during = seen.find((p) => p.active.length > 0)!;
    const line = formatProgress(during);
    expect(line).toMatch(
      /^\[simulator\] \d\d:\d\d:\d\d \| sim 2026-03-03T10:0\d:\d\d\.\d{3}Z \| sent \d+ tx \+ \d+ hb \(\d+\.\d\/s\) \| accepted \d+, duplicates 0, rejected 0, failed 0 \| incidents: card_testing\(T\d{7}\)$/,
    );
  });

  it('passes a sink’s fatal error on', async () => {
    const sink = new MemorySink();
    sink.send = async () => {
      throw new AuthError('key refused');
    };
    await expect(runSimulation(make(), sink, { pace: 'backfill', progressIntervalMs: 0 })).rejects.toThrow(
      /key refused/,
    );
  });

  it('summarises a run with rejection reasons', () => {
    const stats = emptyStats();
    stats.sent.transactions = 10;
    stats.accepted = 8;
    stats.rejected = 2;
    stats.rejections = { clock_skew: 2 };
    stats.rejectionSamples = [
      { event_id: 'e1', code: 'clock_skew', path: '/request_time', message: 'too old' },
    ];
    const text = formatSummary(
      {
        from: START,
        to: START + 60_000,
        stoppedEarly: false,
        transactions: 10,
        heartbeats: 0,
        wallMs: 1500,
        sink: stats,
        labels: [],
      },
      'http',
    );
    expect(text).toContain('rejected by reason: clock_skew 2');
    expect(text).toContain('e.g. e1: clock_skew at /request_time (too old)');
  });
});
