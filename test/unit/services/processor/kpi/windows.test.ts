import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TransactionEvent } from '../../../../../services/shared/avro/types.generated.ts';
import { KPI_LEVELS, entityIdOf, windowStartOf } from '../../../../../services/processor/kpi/window-state.ts';
import {
  KpiWindowEngine,
  kpiUpdateOf,
  windowVersion,
  type LateEvent,
  type OffsetEvent,
  type WindowCheckpoint,
  type WindowEmission,
  type WindowEngineConfig,
} from '../../../../../services/processor/kpi/windows.ts';
import { MINUTE, T0, eventArb, naiveKpis, tx } from './events.ts';

const SECOND = 1000;

function offsets(events: readonly TransactionEvent[], from = 0): OffsetEvent[] {
  return events.map((event, i) => ({ offset: from + i, event }));
}

/** An emission as comparable data. */
function plain(e: WindowEmission) {
  return {
    key: `${e.partition}/${e.level}/${e.entityId}/${e.windowStart}`,
    version: e.version,
    isFinal: e.isFinal,
    windowEnd: e.windowEnd,
    state: e.state.toPlain(),
  };
}

function lateKey(l: LateEvent) {
  return { offset: l.offset, reason: l.reason, watermark: l.watermark, windowStart: l.windowStart };
}

/** Runs `batches` of the records through `engine`, collecting everything it emits. */
function run(engine: KpiWindowEngine, records: readonly OffsetEvent[], cuts: readonly number[] = []) {
  const updates: WindowEmission[] = [];
  const late: LateEvent[] = [];
  const bounds = [...new Set([0, ...cuts.filter((c) => c > 0 && c < records.length), records.length])].sort(
    (a, b) => a - b,
  );
  for (let i = 0; i + 1 < bounds.length; i++) {
    const r = engine.process(records.slice(bounds[i], bounds[i + 1]));
    updates.push(...r.updates);
    late.push(...r.late);
  }
  return { updates, late };
}

function finals(updates: readonly WindowEmission[]) {
  return updates
    .filter((u) => u.isFinal)
    .map(plain)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Events in offset order whose request times drift forward (~2 s apart) with jitter up to 100 s
 * into the past: windows stay open across batches, some events land within lateness and some
 * beyond it; a few come from terminals whose clock is far ahead.
 */
const driftingEvents = fc
  .array(
    fc.record({
      base: eventArb({ spanMs: 1 }),
      step: fc.integer({ min: 0, max: 4 * SECOND }),
      jitter: fc.oneof(fc.integer({ min: -100 * SECOND, max: 0 }), fc.constant(0)),
      ahead: fc.oneof(
        { weight: 15, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.constant(10 * MINUTE) },
      ),
    }),
    { minLength: 1, maxLength: 160 },
  )
  .map((parts) => {
    let now = T0;
    return parts.map(({ base, step, jitter, ahead }) => {
      now += step;
      const request_time = now + jitter + ahead;
      const latency = base.response_time === null ? null : base.response_time - base.request_time;
      return {
        ...base,
        request_time,
        response_time: latency === null ? null : request_time + latency,
        gateway_received_time: now + 500,
      };
    });
  });

const CONFIG: WindowEngineConfig = {
  partition: 4,
  allowedLatenessMs: 30 * SECOND,
  maxFutureSkewMs: 60 * SECOND,
};

describe('KpiWindowEngine', () => {
  it('computes each (level, entity, minute) exactly as a naive recomputation over its events', () => {
    fc.assert(
      fc.property(fc.array(eventArb({ spanMs: 4 * MINUTE }), { maxLength: 150 }), (events) => {
        const engine = new KpiWindowEngine({ partition: 0, allowedLatenessMs: 10 * MINUTE });
        const { updates, late } = run(engine, offsets(events));
        updates.push(...engine.advanceWatermark(T0 + 60 * MINUTE).updates);
        expect(late).toEqual([]);
        const final = updates.filter((u) => u.isFinal);
        const groups = new Map<string, TransactionEvent[]>();
        for (const e of events) {
          for (const level of KPI_LEVELS) {
            const key = `${level}/${entityIdOf(level, e)}/${windowStartOf(e.request_time)}`;
            groups.set(key, [...(groups.get(key) ?? []), e]);
          }
        }
        expect(final).toHaveLength(groups.size);
        for (const f of final) {
          const mine = groups.get(`${f.level}/${f.entityId}/${f.windowStart}`)!;
          const n = naiveKpis(mine);
          const u = kpiUpdateOf(f, 0);
          expect(u).toMatchObject({
            tx_count: n.tx_count,
            approved_count: n.approved_count,
            declines_by_code: n.declines_by_code,
            amounts: n.amounts,
            unique_cards: n.unique_cards,
            payment_method_mix: n.payment_method_mix,
            version: windowVersion(n.tx_count, true),
            is_final: true,
            window_end: f.windowStart + MINUTE,
          });
        }
        expect(engine.openWindows).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('re-emits a window with a higher version for an event within lateness and routes one beyond it to late', () => {
    const engine = new KpiWindowEngine({ partition: 2, allowedLatenessMs: 30 * SECOND });
    const first = engine.process(offsets([tx({ request_time: T0 + 10 * SECOND })]));
    expect(first.updates.filter((u) => u.level === 'FLEET').map((u) => [u.windowStart, u.version])).toEqual([
      [T0, windowVersion(1, false)],
    ]);

    // Watermark 70 s − 30 s = 40 s: minute 0 is still open.
    engine.process(offsets([tx({ request_time: T0 + 70 * SECOND })], 1));
    expect(engine.watermark).toBe(T0 + 40 * SECOND);
    const within = engine.process(offsets([tx({ request_time: T0 + 20 * SECOND })], 2));
    const fleet0 = within.updates.find((u) => u.level === 'FLEET' && u.windowStart === T0)!;
    expect(fleet0.version).toBe(windowVersion(2, false));
    expect(fleet0.version).toBeGreaterThan(first.updates[0]!.version);
    expect(within.late).toEqual([]);

    // Watermark 95 s − 30 s = 65 s: minute 0 becomes final, emitted once more and evicted.
    const closing = engine.process(offsets([tx({ request_time: T0 + 95 * SECOND })], 3));
    const final0 = closing.updates.filter((u) => u.windowStart === T0);
    expect(final0).toHaveLength(KPI_LEVELS.length);
    expect(final0.every((u) => u.isFinal && u.version === windowVersion(2, true))).toBe(true);

    const stale = tx({ request_time: T0 + 30 * SECOND });
    const beyond = engine.process(offsets([stale], 4));
    expect(beyond.updates).toEqual([]);
    expect(beyond.late).toEqual([
      {
        partition: 2,
        offset: 4,
        event: stale,
        reason: 'beyond_allowed_lateness',
        watermark: T0 + 65 * SECOND,
        windowStart: T0,
      },
    ]);
    expect(engine.stats).toMatchObject({ events: 5, folded: 4, beyondLateness: 1, clockAhead: 0 });
  });

  it('keeps an event from a clock far ahead out of the windows and the watermark', () => {
    const engine = new KpiWindowEngine({
      partition: 0,
      allowedLatenessMs: 30 * SECOND,
      maxFutureSkewMs: 60 * SECOND,
    });
    engine.process(offsets([tx({ request_time: T0 + 5 * SECOND })]));
    const watermark = engine.watermark;
    const future = tx({ request_time: T0 + 3 * 3_600_000, gateway_received_time: T0 + 6 * SECOND });
    const r = engine.process(offsets([future], 1));
    expect(r.late.map((l) => [l.reason, l.watermark])).toEqual([['clock_ahead', watermark]]);
    expect(r.updates).toEqual([]);
    expect(engine.watermark).toBe(watermark);
    // Minute 0 still takes events: nothing was closed.
    const after = engine.process(offsets([tx({ request_time: T0 + 7 * SECOND })], 2));
    expect(after.updates.find((u) => u.level === 'FLEET')).toMatchObject({ windowStart: T0, isFinal: false });
    expect(engine.stats.clockAhead).toBe(1);
  });

  it('folds a terminal slightly ahead but lets the gateway clock drive the watermark', () => {
    const engine = new KpiWindowEngine({ partition: 0, allowedLatenessMs: 0, maxFutureSkewMs: 60 * SECOND });
    engine.process(offsets([tx({ request_time: T0 + 5 * SECOND })]));
    // 59 s ahead of the gateway: accepted into minute 1, but the watermark only moves to 6 s.
    const ahead = tx({ request_time: T0 + 65 * SECOND, gateway_received_time: T0 + 6 * SECOND });
    const r = engine.process(offsets([ahead], 1));
    expect(r.late).toEqual([]);
    expect(engine.watermark).toBe(T0 + 6 * SECOND);
    expect(r.updates.filter((u) => u.isFinal)).toEqual([]);
    const onTime = engine.process(offsets([tx({ request_time: T0 + 8 * SECOND })], 2));
    expect(onTime.late).toEqual([]);
  });

  it('skips records at offsets it has already processed', () => {
    const engine = new KpiWindowEngine(CONFIG);
    const records = offsets([tx({ request_time: T0 }), tx({ request_time: T0 + SECOND })]);
    engine.process(records);
    const again = engine.process(records);
    expect(again).toEqual({ updates: [], late: [] });
    expect(engine.stats.duplicates).toBe(2);
  });

  it('emits the same final windows and late events whatever the batch boundaries', () => {
    fc.assert(
      fc.property(driftingEvents, fc.array(fc.nat(160), { maxLength: 8 }), (events, cuts) => {
        const records = offsets(events);
        const one = run(new KpiWindowEngine(CONFIG), records);
        const many = run(new KpiWindowEngine(CONFIG), records, cuts);
        expect(finals(many.updates)).toEqual(finals(one.updates));
        expect(many.late.map(lateKey)).toEqual(one.late.map(lateKey));
      }),
    );
  });

  it('rebuilds from a checkpoint and then emits exactly what one uninterrupted run emits', () => {
    fc.assert(
      fc.property(
        driftingEvents,
        fc.nat(160),
        fc.nat(40),
        fc.nat(40),
        fc.array(fc.nat(200), { maxLength: 6 }),
        (events, cutAt, crashAfter, earlier, cuts) => {
          const records = offsets(events, 1000);
          const c = Math.min(cutAt, records.length);
          const reference = run(new KpiWindowEngine(CONFIG), records, cuts);
          const referenceEnd = new KpiWindowEngine(CONFIG);
          run(referenceEnd, records);

          // First life: processes [0, c), checkpoints, then goes on a little and crashes before
          // its next checkpoint (those outputs are written, the commit is lost).
          const first = new KpiWindowEngine(CONFIG);
          const before = run(first, records.slice(0, c), cuts);
          const cp: WindowCheckpoint = JSON.parse(JSON.stringify(first.checkpoint())) as WindowCheckpoint;
          expect(cp.nextOffset).toBe(c === 0 ? 0 : 1000 + c);
          const lost = run(first, records.slice(c, c + crashAfter));

          // Second life: from the checkpoint, fed from restartOffset (or earlier: skipped).
          const second = new KpiWindowEngine(CONFIG, c === 0 ? undefined : cp);
          const from = Math.max(0, cp.restartOffset - 1000 - earlier);
          const after = run(second, records.slice(from), cuts);

          // Every final row, and every late event, is the uninterrupted run's.
          expect(finals([...before.updates, ...after.updates])).toEqual(finals(reference.updates));
          expect([...before.late, ...after.late].map(lateKey)).toEqual(reference.late.map(lateKey));
          // Non-final rows after the restart: same content for the same version, and the state at
          // the end is the same too.
          const byVersion = new Map<string, string>();
          for (const u of [...reference.updates, ...before.updates, ...lost.updates, ...after.updates]) {
            const p = plain(u);
            const id = `${p.key}#${p.version}`;
            const content = JSON.stringify(p);
            expect(byVersion.get(id) ?? content).toBe(content);
            byVersion.set(id, content);
          }
          expect(second.checkpoint()).toEqual(referenceEnd.checkpoint());
          expect(second.openWindows).toBe(referenceEnd.openWindows);
          expect(second.rebuilding).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('checkpoints the first offset of the oldest open window as the restart offset', () => {
    const engine = new KpiWindowEngine({ partition: 1, allowedLatenessMs: 0 });
    expect(engine.checkpoint()).toEqual({
      partition: 1,
      restartOffset: 0,
      nextOffset: 0,
      maxEventTime: null,
    });
    engine.process([
      { offset: 40, event: tx({ request_time: T0 + 10 * SECOND, gateway_received_time: T0 + 11 * SECOND }) },
      { offset: 41, event: tx({ request_time: T0 + 50 * SECOND, gateway_received_time: T0 + 51 * SECOND }) },
      { offset: 43, event: tx({ request_time: T0 + 70 * SECOND, gateway_received_time: T0 + 71 * SECOND }) },
    ]);
    // Minute 0 closed at watermark 70 s; minute 1 opened at offset 43.
    expect(engine.checkpoint()).toEqual({
      partition: 1,
      restartOffset: 43,
      nextOffset: 44,
      maxEventTime: T0 + 70 * SECOND,
    });
    engine.advanceWatermark(T0 + 5 * MINUTE);
    expect(engine.checkpoint()).toMatchObject({ restartOffset: 44, nextOffset: 44 });
  });

  it('emits nothing for the records it replays from a checkpoint', () => {
    const first = new KpiWindowEngine(CONFIG);
    first.process(offsets([tx({ request_time: T0 }), tx({ request_time: T0 + SECOND })]));
    const second = new KpiWindowEngine(CONFIG, first.checkpoint());
    expect(second.rebuilding).toBe(true);
    expect(second.process(offsets([tx({ request_time: T0 }), tx({ request_time: T0 + SECOND })]))).toEqual({
      updates: [],
      late: [],
    });
    expect(second.stats).toMatchObject({ replayed: 2, events: 0 });
    const next = second.process(offsets([tx({ request_time: T0 + 2 * SECOND })], 2));
    expect(next.updates.find((u) => u.level === 'FLEET')!.version).toBe(windowVersion(3, false));
  });

  it('refuses invalid configuration and a checkpoint of another partition', () => {
    expect(() => new KpiWindowEngine({ partition: -1 })).toThrow(RangeError);
    expect(() => new KpiWindowEngine({ partition: 0, allowedLatenessMs: 1.5 })).toThrow(RangeError);
    const cp: WindowCheckpoint = { partition: 3, restartOffset: 0, nextOffset: 5, maxEventTime: null };
    expect(() => new KpiWindowEngine({ partition: 2 }, cp)).toThrow(/partition 3/);
    expect(() => new KpiWindowEngine({ partition: 3 }, { ...cp, restartOffset: 6 })).toThrow(RangeError);
  });
});
