import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';
import type { TerminalStatus } from '../../../../../services/shared/avro/types.generated.ts';
import {
  REASON_CODES,
  TerminalStatusTracker,
  type TerminalStatusOptions,
} from '../../../../../services/processor/status/terminal-status.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../../support/fixtures.ts';

const statusType = loadSchemaCatalog().getSchema('TerminalStatus').type;
const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const SERIALS = ['T-A', 'T-B', 'T-C'] as const;

function avroProblems(record: TerminalStatus): string[] {
  const paths: string[] = [];
  statusType.isValid(record, {
    noUndeclaredFields: true,
    errorHook: (path) => paths.push(path.join('.') || '(root)'),
  });
  return paths;
}

/** Terminal clocks are mostly right, and sometimes hours off. */
const terminalSkewMs = fc.oneof(
  { arbitrary: fc.integer({ min: -2 * SEC, max: 2 * SEC }), weight: 4 },
  { arbitrary: fc.integer({ min: -3 * 3_600_000, max: 3 * 3_600_000 }), weight: 1 },
);

/** Mostly on time; sometimes delivered late (negative) or by a gateway whose clock is ahead. */
const receivedMs = fc.oneof(
  { arbitrary: fc.integer({ min: -2 * SEC, max: 2 * SEC }), weight: 4 },
  { arbitrary: fc.integer({ min: -20 * MIN, max: MIN }), weight: 1 },
);

/** Everything a time-ordered step can do; times are offsets from the step's base time. */
const step = fc.record({
  advanceMs: fc.oneof({ arbitrary: fc.nat(20 * SEC), weight: 5 }, { arbitrary: fc.nat(10 * MIN), weight: 1 }),
  /** The processor clock wanders around the base time, backwards included. */
  processorSkewMs: fc.integer({ min: -5 * SEC, max: 5 * SEC }),
  op: fc.oneof(
    fc.record({
      kind: fc.constant('heartbeat' as const),
      serial: fc.constantFrom(...SERIALS),
      receivedMs,
      terminalSkewMs,
      online: fc.boolean(),
      battery: fc.option(fc.integer({ min: 0, max: 100 })),
      paper: fc.constantFrom('OK', 'LOW', 'OUT', 'NOT_APPLICABLE', 'UNKNOWN' as const),
      queue: fc.integer({ min: 0, max: 40 }),
      merchant: fc.option(fc.constantFrom('M1', 'M2')),
    }),
    fc.record({
      kind: fc.constant('transaction' as const),
      serial: fc.constantFrom(...SERIALS),
      /** A small id space, so events get re-delivered. */
      id: fc.nat(60),
      receivedMs,
      terminalSkewMs,
      status: fc.constantFrom('APPROVED', 'DECLINED', 'TIMEOUT', 'CANCELLED', 'ERROR', 'UNKNOWN' as const),
      merchantName: fc.constantFrom('Kiosk', 'Kiosk 24'),
      region: fc.constantFrom('north', 'south'),
      position: fc.option(
        fc.tuple(
          fc.double({ min: -90, max: 90, noNaN: true }),
          fc.double({ min: -180, max: 180, noNaN: true }),
        ),
      ),
    }),
    fc.record({ kind: fc.constant('tick' as const), lagMs: fc.integer({ min: -MIN, max: MIN }) }),
  ),
});

const options: fc.Arbitrary<Partial<TerminalStatusOptions>> = fc
  .record({
    offlineAfterMs: fc.integer({ min: MIN, max: 10 * MIN }),
    lowBatteryPct: fc.integer({ min: 0, max: 50 }),
    rateWindowSize: fc.integer({ min: 5, max: 30 }),
    rateWindowMs: fc.integer({ min: MIN, max: 30 * MIN }),
    minTransactions: fc.integer({ min: 1, max: 5 }),
    declineShareThreshold: fc.double({ min: 0.05, max: 1, noNaN: true }),
    timeoutShareThreshold: fc.double({ min: 0.05, max: 1, noNaN: true }),
    queueGrowthMin: fc.integer({ min: 1, max: 20 }),
    queueWindowMs: fc.integer({ min: MIN, max: 30 * MIN }),
    refreshAfterMs: fc.constantFrom(0, 0, 5 * MIN),
    forgetFactor: fc.constantFrom(0, 1, 3),
  })
  .map(({ forgetFactor, ...o }) => ({ ...o, forgetAfterMs: forgetFactor * o.offlineAfterMs }));

const placement = (r: TerminalStatus) =>
  JSON.stringify([r.merchant_id, r.merchant_name, r.region, r.acquirer_id, r.latitude === null]);

describe('TerminalStatusTracker under any interleaving of events and ticks', () => {
  it('never throws, publishes only valid changes with strictly increasing versions, and restores what it snapshots', () => {
    fc.assert(
      fc.property(options, fc.array(step, { maxLength: 80 }), (opts, steps) => {
        let base = T0;
        let processorNow = T0;
        const tracker = new TerminalStatusTracker({ ...opts, clock: () => processorNow });
        const last = new Map<string, TerminalStatus>();
        let n = 0;

        for (const { advanceMs, processorSkewMs, op } of steps) {
          base += advanceMs;
          processorNow = base + processorSkewMs;
          let out: TerminalStatus[];
          if (op.kind === 'heartbeat') {
            const received = base + op.receivedMs;
            out = tracker.onHeartbeat(
              sampleHeartbeat(n++, {
                terminal_serial: op.serial,
                merchant_id: op.merchant,
                gateway_received_time: received,
                event_time: received + op.terminalSkewMs,
                online: op.online,
                battery_pct: op.battery,
                paper_state: op.paper,
                offline_queue_length: op.queue,
              }),
            );
          } else if (op.kind === 'transaction') {
            const received = base + op.receivedMs;
            out = tracker.onTransaction(
              sampleTransaction(op.id, {
                terminal_serial: op.serial,
                merchant_id: 'M1',
                merchant_name: op.merchantName,
                region: op.region,
                gateway_received_time: received,
                request_time: received + op.terminalSkewMs,
                status: op.status,
                latitude: op.position?.[0] ?? null,
                longitude: op.position?.[1] ?? null,
              }),
            );
          } else {
            out = tracker.tick(base + op.lagMs);
          }

          expect(new Set(out.map((r) => r.terminal_serial)).size).toBe(out.length);
          for (const r of out) {
            expect(avroProblems(r)).toEqual([]);
            expect(REASON_CODES.filter((c) => r.reasons.includes(c))).toEqual(r.reasons);
            if (r.status === 'OFFLINE') expect(r.reasons).toEqual(['silent']);
            else expect(r.reasons.includes('silent')).toBe(false);
            expect(r.status).toBe(
              r.status === 'OFFLINE' ? 'OFFLINE' : r.reasons.length > 0 ? 'DEGRADED' : 'ONLINE',
            );
            expect(r.version).toBeGreaterThanOrEqual(r.updated_time);
            const prev = last.get(r.terminal_serial);
            if (prev) {
              expect(r.version).toBeGreaterThan(prev.version);
            }
            // A forgotten terminal that comes back starts afresh; the rest holds for one life.
            if (prev && opts.forgetAfterMs === 0) {
              expect(r.since).toBeGreaterThanOrEqual(prev.since);
              if (r.status === prev.status) expect(r.since).toBe(prev.since);
              if (opts.refreshAfterMs === 0) {
                const changed =
                  r.status !== prev.status ||
                  r.reasons.join() !== prev.reasons.join() ||
                  placement(r) !== placement(prev);
                expect(changed, 'a record without a change').toBe(true);
              }
            }
            last.set(r.terminal_serial, r);
          }
        }

        // What the tracker holds is what it last published, as far as status goes…
        const snapshot = tracker.snapshot();
        for (const r of snapshot) {
          const published = last.get(r.terminal_serial)!;
          expect([r.status, r.reasons, r.since, r.version]).toEqual([
            published.status,
            published.reasons,
            published.since,
            published.version,
          ]);
          expect(avroProblems(r)).toEqual([]);
        }
        // …and a restarted tracker rebuilt from it holds the same.
        const restored = new TerminalStatusTracker({ ...opts, clock: () => processorNow });
        restored.restore(snapshot, processorNow);
        expect(restored.snapshot()).toEqual(snapshot);
      }),
      { numRuns: 300 },
    );
  });
});
