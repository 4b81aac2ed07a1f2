import { describe, expect, it } from 'vitest';
import { AvroCodec } from '../../../../../services/shared/avro/codec.ts';
import { loadSchemaCatalog } from '../../../../../services/shared/avro/schemas.ts';
import type {
  TerminalHeartbeat,
  TerminalStatus,
  TransactionEvent,
} from '../../../../../services/shared/avro/types.generated.ts';
import {
  DEFAULT_STATUS_OPTIONS,
  REASON_CODES,
  TerminalStatusTracker,
  type TerminalStatusOptions,
} from '../../../../../services/processor/status/terminal-status.ts';
import { sampleHeartbeat, sampleTransaction } from '../../../../support/fixtures.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const SERIAL = 'TRM-1';

let seq = 0;

/** A healthy heartbeat of SERIAL received at `at` (event_time 1 s earlier on the terminal clock). */
function hb(at: number, overrides: Partial<TerminalHeartbeat> = {}): TerminalHeartbeat {
  return sampleHeartbeat(seq++, {
    terminal_serial: SERIAL,
    merchant_id: 'M1',
    event_time: at - SEC,
    gateway_received_time: at,
    online: true,
    battery_pct: 80,
    paper_state: 'OK',
    signal_strength_dbm: -70,
    connection_type: 'WIFI',
    offline_queue_length: 0,
    ...overrides,
  });
}

/** An approved transaction of SERIAL received at `at`. */
function tx(at: number, overrides: Partial<TransactionEvent> = {}): TransactionEvent {
  return sampleTransaction(seq++, {
    terminal_serial: SERIAL,
    merchant_id: 'M1',
    merchant_name: 'Kiosk 24',
    region: 'north',
    acquirer_id: 'ACQ1',
    latitude: 48.1,
    longitude: 11.5,
    status: 'APPROVED',
    request_time: at - 300,
    gateway_received_time: at,
    ...overrides,
  });
}

/** A tracker whose processor clock the test moves by hand. */
function tracker(options: Partial<TerminalStatusOptions> = {}) {
  const clock = { now: T0 };
  const t = new TerminalStatusTracker({ clock: () => clock.now, ...options });
  return { t, clock };
}

function only(records: TerminalStatus[]): TerminalStatus {
  expect(records).toHaveLength(1);
  return records[0]!;
}

describe('TerminalStatusTracker', () => {
  it('publishes a new terminal ONLINE on its first heartbeat, with the heartbeat data', () => {
    const { t } = tracker();
    const r = only(t.onHeartbeat(hb(T0)));
    expect(r).toEqual({
      terminal_serial: SERIAL,
      merchant_id: 'M1',
      merchant_name: null,
      region: null,
      acquirer_id: null,
      latitude: null,
      longitude: null,
      status: 'ONLINE',
      reasons: [],
      since: T0,
      last_seen_time: T0,
      last_heartbeat_time: T0 - SEC,
      last_transaction_time: null,
      reported_online: true,
      battery_pct: 80,
      paper_state: 'OK',
      signal_strength_dbm: -70,
      connection_type: 'WIFI',
      offline_queue_length: 0,
      firmware_version: '4.2.1',
      app_version: '2.9.0',
      recent_tx_count: 0,
      recent_decline_share: null,
      recent_timeout_share: null,
      version: T0,
      updated_time: T0,
    } satisfies TerminalStatus);
  });

  it('publishes nothing for events that change neither status, reasons nor placement', () => {
    const { t, clock } = tracker();
    expect(t.onHeartbeat(hb(T0))).toHaveLength(1);
    expect(t.onTransaction(tx(T0 + SEC))).toHaveLength(1); // merchant name, region, position: placement
    for (let i = 2; i < 200; i++) {
      clock.now = T0 + i * SEC;
      expect(t.onHeartbeat(hb(T0 + i * SEC, { battery_pct: 80 - (i % 10) }))).toEqual([]);
      expect(t.onTransaction(tx(T0 + i * SEC, { latitude: 48.1 + i / 1000 }))).toEqual([]);
      expect(t.tick(T0 + i * SEC + 500)).toEqual([]);
    }
    // The data moved on all the same, and the next record carries it.
    expect(t.get(SERIAL)).toMatchObject({ battery_pct: 80 - (199 % 10), last_seen_time: T0 + 199 * SEC });
  });

  describe('reason codes, each raised and cleared', () => {
    it('low_battery at battery_pct <= lowBatteryPct, not for mains-powered terminals', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0, { battery_pct: 16 }));
      expect(only(t.onHeartbeat(hb(T0 + MIN, { battery_pct: 15 })))).toMatchObject({
        status: 'DEGRADED',
        reasons: ['low_battery'],
        since: T0 + MIN,
      });
      expect(only(t.onHeartbeat(hb(T0 + 2 * MIN, { battery_pct: null })))).toMatchObject({
        status: 'ONLINE',
        reasons: [],
        since: T0 + 2 * MIN,
      });
    });

    it('paper_out and paper_low from the paper state', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0));
      expect(only(t.onHeartbeat(hb(T0 + MIN, { paper_state: 'LOW' }))).reasons).toEqual(['paper_low']);
      expect(only(t.onHeartbeat(hb(T0 + 2 * MIN, { paper_state: 'OUT' }))).reasons).toEqual(['paper_out']);
      expect(t.onHeartbeat(hb(T0 + 3 * MIN, { paper_state: 'NOT_APPLICABLE' }))[0]).toMatchObject({
        status: 'ONLINE',
        reasons: [],
      });
    });

    it('reports_offline while the newest heartbeat says online=false', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0));
      expect(only(t.onHeartbeat(hb(T0 + MIN, { online: false })))).toMatchObject({
        status: 'DEGRADED',
        reasons: ['reports_offline'],
        reported_online: false,
      });
      expect(only(t.onHeartbeat(hb(T0 + 2 * MIN, { online: true })))).toMatchObject({
        status: 'ONLINE',
        reasons: [],
      });
    });

    it('offline_queue_growing when the queue grew by queueGrowthMin within queueWindowMs', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0, { offline_queue_length: 0 }));
      expect(t.onHeartbeat(hb(T0 + MIN, { offline_queue_length: 2 }))).toEqual([]);
      expect(t.onHeartbeat(hb(T0 + 2 * MIN, { offline_queue_length: 4 }))).toEqual([]);
      expect(only(t.onHeartbeat(hb(T0 + 3 * MIN, { offline_queue_length: 5 })))).toMatchObject({
        status: 'DEGRADED',
        reasons: ['offline_queue_growing'],
        offline_queue_length: 5,
      });
      // Draining clears it.
      expect(only(t.onHeartbeat(hb(T0 + 4 * MIN, { offline_queue_length: 1 })))).toMatchObject({
        status: 'ONLINE',
      });
    });

    it('offline_queue_growing clears once the growth is older than queueWindowMs, even if the queue stays long', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0, { offline_queue_length: 0 }));
      expect(only(t.onHeartbeat(hb(T0 + MIN, { offline_queue_length: 40 }))).reasons).toEqual([
        'offline_queue_growing',
      ]);
      for (let m = 2; m <= 15; m++) {
        expect(t.onHeartbeat(hb(T0 + m * MIN, { offline_queue_length: 40 }))).toEqual([]);
      }
      // The sample of length 0 (event_time T0 − 1 s) leaves the 15-minute window.
      expect(only(t.onHeartbeat(hb(T0 + 16 * MIN, { offline_queue_length: 40 })))).toMatchObject({
        status: 'ONLINE',
        reasons: [],
      });
    });

    it('high_decline_rate once minTransactions are in the window and the decline share reaches the threshold', () => {
      const { t } = tracker();
      for (let i = 0; i < 9; i++)
        expect(t.onTransaction(tx(T0 + i * SEC, { status: 'DECLINED' })).length).toBe(i === 0 ? 1 : 0);
      const raised = only(t.onTransaction(tx(T0 + 9 * SEC, { status: 'DECLINED' })));
      expect(raised).toMatchObject({
        status: 'DEGRADED',
        reasons: ['high_decline_rate'],
        recent_tx_count: 10,
        recent_decline_share: 1,
        recent_timeout_share: 0,
      });
      // 10 declined of 20: still 0.5; the 21st (approved) takes it below.
      for (let i = 10; i < 20; i++) expect(t.onTransaction(tx(T0 + i * SEC))).toEqual([]);
      const cleared = only(t.onTransaction(tx(T0 + 20 * SEC)));
      expect(cleared).toMatchObject({ status: 'ONLINE', reasons: [], recent_tx_count: 21 });
      expect(cleared.recent_decline_share).toBeCloseTo(10 / 21, 12);
    });

    it('high_decline_rate clears at a tick once the declines are older than rateWindowMs', () => {
      const { t, clock } = tracker({ offlineAfterMs: 60 * MIN });
      for (let i = 0; i < 10; i++) t.onTransaction(tx(T0 + i * SEC, { status: 'DECLINED' }));
      expect(t.get(SERIAL)?.reasons).toEqual(['high_decline_rate']);
      expect(t.tick(T0 + 15 * MIN)).toEqual([]); // the first decline was received at T0: still in

      clock.now = T0 + 20 * MIN;
      const r = only(t.tick(T0 + 20 * MIN));
      expect(r).toMatchObject({
        status: 'ONLINE',
        reasons: [],
        recent_tx_count: 0,
        recent_decline_share: null,
      });
      expect(r.since).toBe(T0 + 20 * MIN);
    });

    it('high_timeout_rate at a timeout share of timeoutShareThreshold', () => {
      const { t } = tracker();
      for (let i = 0; i < 8; i++) t.onTransaction(tx(T0 + i * SEC));
      expect(t.onTransaction(tx(T0 + 8 * SEC, { status: 'TIMEOUT' }))).toEqual([]); // 9 < minTransactions
      expect(only(t.onTransaction(tx(T0 + 9 * SEC, { status: 'TIMEOUT' })))).toMatchObject({
        status: 'DEGRADED',
        reasons: ['high_timeout_rate'],
        recent_timeout_share: 0.2,
      });
      expect(only(t.onTransaction(tx(T0 + 10 * SEC))).reasons).toEqual([]); // 2/11 < 0.2
    });

    it('the rate window keeps only the last rateWindowSize transactions', () => {
      const { t } = tracker({ rateWindowSize: 10, minTransactions: 5 });
      for (let i = 0; i < 5; i++) t.onTransaction(tx(T0 + i * SEC, { status: 'TIMEOUT' }));
      expect(t.get(SERIAL)?.reasons).toEqual(['high_timeout_rate']);
      for (let i = 5; i < 14; i++) t.onTransaction(tx(T0 + i * SEC));
      // Transactions 4..13 are left: one timeout in ten.
      expect(t.get(SERIAL)).toMatchObject({ reasons: [], recent_tx_count: 10, recent_timeout_share: 0.1 });
    });

    it('lists several reasons in the fixed order of REASON_CODES', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0));
      for (let i = 0; i < 10; i++)
        t.onTransaction(tx(T0 + i * SEC, { status: i < 5 ? 'DECLINED' : 'TIMEOUT' }));
      const r = only(
        t.onHeartbeat(
          hb(T0 + MIN, { online: false, paper_state: 'OUT', battery_pct: 3, offline_queue_length: 9 }),
        ),
      );
      expect(r.reasons).toEqual([
        'low_battery',
        'paper_out',
        'high_decline_rate',
        'high_timeout_rate',
        'offline_queue_growing',
        'reports_offline',
      ]);
      expect(REASON_CODES.filter((c) => r.reasons.includes(c))).toEqual(r.reasons);
    });
  });

  describe('silence', () => {
    it('turns a terminal OFFLINE offlineAfterMs after it was last seen, and ONLINE again on a heartbeat', () => {
      const { t, clock } = tracker();
      t.onHeartbeat(hb(T0));
      t.onTransaction(tx(T0 + 10 * SEC));
      expect(t.tick(T0 + 10 * SEC + 5 * MIN - 1)).toEqual([]);
      clock.now = T0 + 6 * MIN;
      const off = only(t.tick(T0 + 6 * MIN));
      expect(off).toMatchObject({
        status: 'OFFLINE',
        reasons: ['silent'],
        since: T0 + 10 * SEC + 5 * MIN, // when the silence crossed the threshold, not the tick
        last_seen_time: T0 + 10 * SEC,
        version: T0 + 6 * MIN,
        updated_time: T0 + 6 * MIN,
      });
      expect(t.tick(T0 + 7 * MIN)).toEqual([]); // no repeat
      clock.now = T0 + 8 * MIN;
      expect(only(t.onHeartbeat(hb(T0 + 8 * MIN)))).toMatchObject({
        status: 'ONLINE',
        reasons: [],
        since: T0 + 8 * MIN,
        last_seen_time: T0 + 8 * MIN,
      });
    });

    it('keeps other reasons out of an OFFLINE record and re-evaluates them when the terminal returns', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0, { paper_state: 'OUT' }));
      expect(only(t.tick(T0 + 5 * MIN)).reasons).toEqual(['silent']);
      expect(only(t.onHeartbeat(hb(T0 + 6 * MIN, { paper_state: 'OUT' })))).toMatchObject({
        status: 'DEGRADED',
        reasons: ['paper_out'],
      });
    });

    it('does not let a late event received long ago bring an OFFLINE terminal back', () => {
      const { t } = tracker();
      t.onTransaction(tx(T0));
      t.tick(T0 + 6 * MIN);
      expect(t.onTransaction(tx(T0 + 30 * SEC))).toEqual([]); // received before the silence began
      expect(t.get(SERIAL)).toMatchObject({ status: 'OFFLINE', last_seen_time: T0 + 30 * SEC });
    });

    it('measures silence on the gateway clock, so a terminal clock hours off does not matter', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0, { event_time: T0 - 5 * 3_600_000 }));
      expect(t.tick(T0 + MIN)).toEqual([]);
    });
  });

  describe('out-of-order events', () => {
    it('never lets an older heartbeat overwrite the data of a newer one, but counts it as a sign of life', () => {
      const { t } = tracker();
      t.onHeartbeat(hb(T0 + MIN, { battery_pct: 90, paper_state: 'OK' }));
      // Produced earlier on the terminal, delivered later by the gateway.
      expect(
        t.onHeartbeat(
          hb(T0 + 2 * MIN, { event_time: T0, battery_pct: 5, paper_state: 'OUT', online: false }),
        ),
      ).toEqual([]);
      expect(t.get(SERIAL)).toMatchObject({
        status: 'ONLINE',
        battery_pct: 90,
        paper_state: 'OK',
        reported_online: true,
        last_heartbeat_time: T0 + MIN - SEC,
        last_seen_time: T0 + 2 * MIN,
      });
    });

    it('never lets an older transaction overwrite merchant, region or position', () => {
      const { t } = tracker();
      t.onTransaction(
        tx(T0 + MIN, { merchant_name: 'New name', region: 'south', latitude: 1, longitude: 2 }),
      );
      expect(
        t.onTransaction(
          tx(T0 + 2 * MIN, {
            request_time: T0,
            merchant_name: 'Old name',
            region: 'north',
            latitude: 3,
            longitude: 4,
          }),
        ),
      ).toEqual([]);
      expect(t.get(SERIAL)).toMatchObject({
        merchant_name: 'New name',
        region: 'south',
        latitude: 1,
        longitude: 2,
        last_transaction_time: T0 + MIN - 300,
        recent_tx_count: 2,
      });
    });

    it('drops a late transaction older than a full rate window instead of pushing out a newer one', () => {
      const { t } = tracker({ rateWindowSize: 10 });
      for (let i = 0; i < 10; i++) t.onTransaction(tx(T0 + MIN + i * SEC));
      t.onTransaction(tx(T0 + 2 * MIN, { request_time: T0, status: 'DECLINED' }));
      expect(t.get(SERIAL)).toMatchObject({ recent_tx_count: 10, recent_decline_share: 0 });
    });

    it('counts a re-delivered transaction once', () => {
      const { t } = tracker();
      const declined = Array.from({ length: 5 }, (_, i) => tx(T0 + i * SEC, { status: 'DECLINED' }));
      for (const ev of [...declined, ...declined, ...declined]) t.onTransaction(ev);
      expect(t.get(SERIAL)).toMatchObject({ recent_tx_count: 5, status: 'ONLINE' });
    });

    it('gives the same final state for any arrival order of one set of events', () => {
      const events: (['hb', TerminalHeartbeat] | ['tx', TransactionEvent])[] = [
        ['hb', hb(T0, { battery_pct: 50 })],
        ['tx', tx(T0 + SEC, { merchant_name: 'A' })],
        ['hb', hb(T0 + 2 * SEC, { battery_pct: 10, paper_state: 'LOW' })],
        ['tx', tx(T0 + 3 * SEC, { merchant_name: 'B', status: 'DECLINED' })],
        ['hb', hb(T0 + 4 * SEC, { battery_pct: 9, paper_state: 'LOW' })],
      ];
      const finalState = (order: number[]) => {
        const { t } = tracker();
        for (const i of order) {
          const [kind, ev] = events[i]!;
          if (kind === 'hb') t.onHeartbeat(ev);
          else t.onTransaction(ev);
        }
        const { version: _v, updated_time: _u, since: _s, ...rest } = t.get(SERIAL)!;
        return rest;
      };
      const expected = finalState([0, 1, 2, 3, 4]);
      expect(expected).toMatchObject({
        battery_pct: 9,
        merchant_name: 'B',
        reasons: ['low_battery', 'paper_low'],
      });
      for (const order of [
        [4, 3, 2, 1, 0],
        [2, 0, 4, 1, 3],
        [1, 4, 0, 3, 2],
      ]) {
        expect(finalState(order)).toEqual(expected);
      }
    });
  });

  describe('versions', () => {
    it('increase strictly per terminal and are never below updated_time, even within one millisecond', () => {
      const { t } = tracker();
      const versions: number[] = [];
      for (let i = 0; i < 20; i++) {
        for (const r of t.onHeartbeat(hb(T0 + i * SEC, { paper_state: i % 2 === 0 ? 'OUT' : 'OK' }))) {
          expect(r.version).toBeGreaterThanOrEqual(r.updated_time);
          versions.push(r.version);
        }
      }
      expect(versions).toHaveLength(20);
      for (let i = 1; i < versions.length; i++) expect(versions[i]).toBe(versions[i - 1]! + 1);
    });

    it('keep increasing for a terminal that was forgotten and comes back', () => {
      const { t, clock } = tracker({ forgetAfterMs: 60 * MIN });
      const first = only(t.onHeartbeat(hb(T0)));
      for (let i = 1; i < 50; i++) t.onHeartbeat(hb(T0 + i, { paper_state: i % 2 === 0 ? 'OUT' : 'OK' }));
      const offline = only(t.tick(T0 + 10 * MIN)); // a processor clock still at T0: versions ran ahead
      expect(offline.version).toBe(first.version + 49); // 48 paper changes (i = 2..49), then OFFLINE
      clock.now = T0 + 61 * MIN;
      t.tick(T0 + 61 * MIN);
      expect(t.size).toBe(0);
      const back = only(t.onHeartbeat(hb(T0 + 61 * MIN + SEC)));
      expect(back.version).toBeGreaterThan(offline.version);
    });
  });

  describe('snapshot and restore', () => {
    /**
     * Four terminals: one with a high timeout rate, one out of paper, one queueing offline, one
     * silent. `steady(minute)` sends what the live ones keep sending, changing nothing.
     */
    function busyTracker() {
      const { t, clock } = tracker();
      const published: TerminalStatus[] = [];
      const send = (records: TerminalStatus[]) => published.push(...records);
      send(t.onHeartbeat(hb(T0)));
      for (let i = 0; i < 12; i++) {
        send(t.onTransaction(tx(T0 + i * SEC, { status: i % 3 === 0 ? 'TIMEOUT' : 'APPROVED' })));
      }
      send(
        t.onHeartbeat(hb(T0 + 20 * SEC, { terminal_serial: 'TRM-2', paper_state: 'OUT', merchant_id: null })),
      );
      send(t.onHeartbeat(hb(T0 + 20 * SEC, { terminal_serial: 'TRM-3', offline_queue_length: 0 })));
      send(
        t.onHeartbeat(
          hb(T0 + 30 * SEC, { terminal_serial: 'TRM-3', offline_queue_length: 7, online: false }),
        ),
      );
      send(t.onHeartbeat(hb(T0 + 30 * SEC, { terminal_serial: 'TRM-4' })));
      clock.now = T0 + 10 * MIN;
      send(t.tick(T0 + 10 * MIN)); // everyone OFFLINE
      const steady = (
        tracker: TerminalStatusTracker,
        minute: number,
        serials = [SERIAL, 'TRM-2', 'TRM-3'],
      ) => {
        const at = T0 + minute * MIN;
        const out: TerminalStatus[] = [];
        if (serials.includes('TRM-2')) {
          out.push(
            ...tracker.onHeartbeat(
              hb(at, { terminal_serial: 'TRM-2', paper_state: 'OUT', merchant_id: null }),
            ),
          );
        }
        if (serials.includes('TRM-3')) {
          out.push(
            ...tracker.onHeartbeat(
              hb(at, { terminal_serial: 'TRM-3', offline_queue_length: 12, online: false }),
            ),
          );
        }
        if (serials.includes(SERIAL)) {
          out.push(...tracker.onHeartbeat(hb(at)));
          for (let i = 0; i < 3; i++) {
            out.push(
              ...tracker.onTransaction(tx(at + i * SEC, { status: i === 0 ? 'TIMEOUT' : 'APPROVED' })),
            );
          }
        }
        out.push(...tracker.tick(at + 30 * SEC));
        return out;
      };
      clock.now = T0 + 11 * MIN;
      send(steady(t, 11));
      return { t, clock, published, steady };
    }

    it('round-trips: a tracker restored from a snapshot holds the same records', () => {
      const { t } = busyTracker();
      const snap = t.snapshot();
      expect(snap.map((r) => [r.terminal_serial, r.status, r.reasons])).toEqual([
        [SERIAL, 'DEGRADED', ['high_timeout_rate']],
        ['TRM-2', 'DEGRADED', ['paper_out']],
        ['TRM-3', 'DEGRADED', ['offline_queue_growing', 'reports_offline']],
        ['TRM-4', 'OFFLINE', ['silent']],
      ]);
      const { t: restored } = tracker();
      restored.restore(snap, T0 + 12 * MIN);
      expect(restored.snapshot()).toEqual(snap);
      expect(restored.size).toBe(4);
    });

    it('after a restart from the topic, publishes the same changes as a tracker that never stopped', () => {
      const { t, clock, published, steady } = busyTracker();
      for (let m = 12; m < 60; m++) {
        clock.now = T0 + m * MIN;
        published.push(...steady(t, m));
      }
      // The compacted topic: the last record of each terminal, most of them long before the restart.
      const topic = new Map<string, TerminalStatus>();
      for (const r of published) topic.set(r.terminal_serial, r);
      expect(topic.get('TRM-2')!.last_seen_time).toBeLessThan(T0 + 12 * MIN);

      const { t: restored, clock: restoredClock } = tracker();
      restoredClock.now = T0 + 60 * MIN;
      restored.restore(topic.values(), T0 + 60 * MIN);
      const changes = (records: TerminalStatus[]) =>
        records.map((r) => [r.terminal_serial, r.status, r.reasons.join(','), r.since]);
      // A tick before the first event after the restart: quiet terminals are not silent yet.
      clock.now = T0 + 60 * MIN;
      expect(t.tick(T0 + 60 * MIN)).toEqual([]);
      expect(restored.tick(T0 + 60 * MIN)).toEqual([]);
      const seen: unknown[] = [];
      for (let m = 60; m < 80; m++) {
        clock.now = restoredClock.now = T0 + m * MIN;
        const serials = m < 62 ? [SERIAL, 'TRM-2', 'TRM-3'] : [SERIAL, 'TRM-3']; // TRM-2 goes quiet
        const expected = changes(steady(t, m, serials));
        expect(changes(steady(restored, m, serials)), `minute ${m}`).toEqual(expected);
        seen.push(...expected);
      }
      expect(seen).toEqual([['TRM-2', 'OFFLINE', 'silent', T0 + 61 * MIN + 5 * MIN]]);
    });

    it('continues versions after a restore and keeps the highest version per terminal', () => {
      const { t } = busyTracker();
      const snap = t.snapshot();
      const mine = snap.find((r) => r.terminal_serial === SERIAL)!;
      const { t: restored, clock } = tracker();
      restored.restore([{ ...mine, status: 'ONLINE', reasons: [], version: mine.version - 1 }, mine]);
      restored.restore([{ ...mine, status: 'OFFLINE', reasons: ['silent'], version: mine.version - 5 }]);
      expect(restored.get(SERIAL)).toEqual(mine);
      clock.now = T0; // a processor clock behind the old one
      const next = only(restored.onHeartbeat(hb(T0 + 12 * MIN, { paper_state: 'OUT' })));
      expect(next.version).toBe(mine.version + 1);
    });

    it('lets restored rate reasons clear once real transactions replace the rebuilt window', () => {
      const { t } = busyTracker();
      const { t: restored } = tracker();
      restored.restore(t.snapshot(), T0 + 12 * MIN);
      const cleared: TerminalStatus[] = [];
      for (let i = 0; i < 50; i++) cleared.push(...restored.onTransaction(tx(T0 + 12 * MIN + i * SEC)));
      expect(cleared.map((r) => r.reasons)).toEqual([[]]);
    });
  });

  it('re-publishes a terminal whose data changed once refreshAfterMs passed, when asked to', () => {
    const { t, clock } = tracker({ refreshAfterMs: 10 * MIN });
    const first = only(t.onHeartbeat(hb(T0, { battery_pct: 80 })));
    clock.now = T0 + 9 * MIN;
    expect(t.onHeartbeat(hb(T0 + 9 * MIN, { battery_pct: 70 }))).toEqual([]);
    clock.now = T0 + 10 * MIN;
    const refreshed = only(t.tick(T0 + 10 * MIN));
    expect(refreshed).toMatchObject({
      status: 'ONLINE',
      since: first.since,
      battery_pct: 70,
      updated_time: T0 + 10 * MIN,
    });
    expect(refreshed.version).toBeGreaterThan(first.version);
    clock.now = T0 + 30 * MIN;
    expect(t.tick(T0 + 9 * MIN + 1)).toEqual([]); // nothing new since
  });

  it('forgets an OFFLINE terminal not seen nor published for forgetAfterMs, without publishing; never with 0', () => {
    const a = tracker({ forgetAfterMs: 60 * MIN });
    const b = tracker({ forgetAfterMs: 0 });
    for (const { t, clock } of [a, b]) {
      t.onHeartbeat(hb(T0));
      clock.now = T0 + 10 * MIN;
      expect(only(t.tick(T0 + 10 * MIN)).status).toBe('OFFLINE');
      clock.now = T0 + 69 * MIN;
      expect(t.tick(T0 + 69 * MIN)).toEqual([]); // silent for 69 min, but its last record is 59 min old
      expect(t.size).toBe(1);
      clock.now = T0 + 70 * MIN;
      expect(t.tick(T0 + 70 * MIN)).toEqual([]);
    }
    expect(a.t.size).toBe(0);
    expect(b.t.size).toBe(1);
  });

  it('judges a terminal first seen through a late event at the latest tick: OFFLINE at once if it is silent', () => {
    const { t } = tracker();
    t.onHeartbeat(hb(T0, { terminal_serial: 'TRM-OTHER' }));
    t.tick(T0 + 10 * MIN);
    expect(only(t.onTransaction(tx(T0 + MIN)))).toMatchObject({
      status: 'OFFLINE',
      reasons: ['silent'],
      since: T0 + 6 * MIN,
      last_seen_time: T0 + MIN,
    });
  });

  it('publishes the arrival of a merchant, a new merchant name and a first position, not later moves', () => {
    const { t } = tracker();
    t.onHeartbeat(hb(T0, { merchant_id: null }));
    expect(only(t.onHeartbeat(hb(T0 + SEC, { merchant_id: 'M1' }))).merchant_id).toBe('M1');
    expect(only(t.onTransaction(tx(T0 + 2 * SEC, { latitude: null, longitude: null })))).toMatchObject({
      merchant_name: 'Kiosk 24',
      region: 'north',
      latitude: null,
    });
    expect(only(t.onTransaction(tx(T0 + 3 * SEC, { latitude: 1, longitude: 2 })))).toMatchObject({
      latitude: 1,
    });
    expect(t.onTransaction(tx(T0 + 4 * SEC, { latitude: 1.5, longitude: 2.5 }))).toEqual([]);
    expect(only(t.onTransaction(tx(T0 + 5 * SEC, { merchant_name: 'Kiosk 24/7' }))).merchant_name).toBe(
      'Kiosk 24/7',
    );
  });

  it('emits records the Avro codec encodes and decodes unchanged', async () => {
    const codec = new AvroCodec({ catalog: loadSchemaCatalog() });
    const { t } = tracker();
    const records = [
      ...t.onHeartbeat(hb(T0, { merchant_id: null, battery_pct: null, signal_strength_dbm: null })),
      ...t.onTransaction(tx(T0 + SEC)),
      ...t.tick(T0 + 10 * MIN),
    ];
    expect(records).toHaveLength(3);
    for (const r of records) {
      expect(await codec.decode(await codec.encode('TerminalStatus', r), 'TerminalStatus')).toEqual(r);
    }
  });

  it('refuses options out of range, naming the option', () => {
    expect(() => new TerminalStatusTracker({ offlineAfterMs: 0 })).toThrow(/offlineAfterMs=0/);
    expect(() => new TerminalStatusTracker({ declineShareThreshold: 1.5 })).toThrow(/declineShareThreshold/);
    expect(() => new TerminalStatusTracker({ rateWindowSize: 5, minTransactions: 6 })).toThrow(
      /minTransactions/,
    );
    expect(() => new TerminalStatusTracker({ lowBatteryPct: 12.5 })).toThrow(/lowBatteryPct/);
    expect(() => new TerminalStatusTracker({ forgetAfterMs: 1000 })).toThrow(/forgetAfterMs=1000/);
    expect(new TerminalStatusTracker().options).toMatchObject({
      ...DEFAULT_STATUS_OPTIONS,
      clock: expect.any(Function),
    });
  });
});
