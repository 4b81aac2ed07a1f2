import { describe, expect, it } from 'vitest';
import { cardReference, parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import { ValidationError } from '../../../../services/shared/errors.ts';
import { distanceKm } from '../../../../services/simulator/catalog.ts';
import type { SimEvent, SimHeartbeat, SimTransaction } from '../../../../services/simulator/events.ts';
import { terminalOpenAt, type Fleet } from '../../../../services/simulator/fleet.ts';
import {
  INCIDENT_KINDS,
  IncidentPlacementError,
  KINDS,
  type CardLabel,
  type Incident,
  type IncidentSpec,
  type Label,
} from '../../../../services/simulator/incidents.ts';
import { Simulator, originTime } from '../../../../services/simulator/simulator.ts';

const KEYS = parseTokenKeys(`k1:${Buffer.alloc(32, 3).toString('base64')}`);
const RUN_START = Date.UTC(2026, 2, 3, 9, 45); // a Tuesday, 10:45 in UTC+1
const RUN_END = Date.UTC(2026, 2, 3, 10, 15);
const START = Date.UTC(2026, 2, 3, 9, 50);
const END = Date.UTC(2026, 2, 3, 10, 10);

interface Outcome {
  incident: Incident;
  fleet: Fleet;
  events: SimEvent[];
  baseline: SimEvent[];
  /** The label as the run ends (first_evidence as generated). */
  label: Label;
}

function simulate(
  spec: Partial<IncidentSpec> & Pick<IncidentSpec, 'kind'>,
  runStart = RUN_START,
  runEnd = RUN_END,
): Outcome {
  const base = {
    seed: 'incidents',
    fleet: { terminals: 60, regions: 4 },
    rate: 5,
    start: runStart,
    end: runEnd,
    tokenKeys: KEYS,
    idSalt: 'salt',
  };
  const sim = new Simulator({ ...base, incidents: [{ start: START, end: END, ...spec }] });
  const events = [...sim.events()];
  const baseline = [...new Simulator({ ...base, incidents: 'none' }).events()];
  return { incident: sim.incidents[0]!, fleet: sim.fleet, events, baseline, label: sim.labels[0]! };
}

const token = (pan: string | null) => (pan === null ? null : cardReference(pan, KEYS).card_token);
const txs = (events: SimEvent[]) => events.filter((e): e is SimTransaction => e.kind === 'transaction');
const inWindow = (i: Incident, ev: SimEvent) => originTime(ev) >= i.start && originTime(ev) < i.end;

/** Everything the incident touched lies in its window; everything else is exactly the normal traffic. */
function expectOnlyWithin({ incident, events, baseline }: Outcome): void {
  const before = new Map(baseline.map((e) => [e.fields.event_id, JSON.stringify(e)]));
  const after = new Map(events.map((e) => [e.fields.event_id, e]));
  const changedUntagged: string[] = [];
  const taggedOutside: string[] = [];
  for (const ev of events) {
    if (ev.incidents.length === 0) {
      if (before.get(ev.fields.event_id) !== JSON.stringify(ev)) changedUntagged.push(ev.fields.event_id);
    } else if (ev.incidents.join() !== incident.id || !inWindow(incident, ev))
      taggedOutside.push(ev.fields.event_id);
  }
  const goneOutside = baseline
    .filter((ev) => {
      const now = after.get(ev.fields.event_id);
      return (now === undefined || now.incidents.length > 0) && !inWindow(incident, ev);
    })
    .map((ev) => ev.fields.event_id);
  expect({ changedUntagged, taggedOutside, goneOutside }).toEqual({
    changedUntagged: [],
    taggedOutside: [],
    goneOutside: [],
  });
  expect(events.some((e) => e.incidents.length > 0) || events.length < baseline.length).toBe(true);
}

describe('incidents', { timeout: 30_000 }, () => {
  it('has the ten kinds, each with docs, a level and defaults within their ranges', () => {
    expect(INCIDENT_KINDS).toHaveLength(10);
    for (const kind of INCIDENT_KINDS) {
      const info = KINDS[kind];
      expect(info.doc.length).toBeGreaterThan(10);
      for (const p of Object.values(info.params)) {
        expect(p.default).toBeGreaterThanOrEqual(p.min);
        expect(p.default).toBeLessThanOrEqual(p.max);
      }
    }
  });

  it('terminal_outage: the terminal sends neither transactions nor heartbeats in the window', () => {
    const o = simulate({ kind: 'terminal_outage' });
    expectOnlyWithin(o);
    const [serial] = o.incident.label.entity_ids as [string];
    expect(o.incident.label.entity_level).toBe('TERMINAL');
    const of = (events: SimEvent[]) =>
      events.filter((e) => e.fields.terminal_serial === serial && inWindow(o.incident, e));
    expect(of(o.baseline).filter((e) => e.kind === 'heartbeat')).toHaveLength(20);
    expect(of(o.events)).toHaveLength(0);
    expect(o.events.some((e) => e.fields.terminal_serial === serial && originTime(e) >= END)).toBe(true);
  });

  it('regional_network_degradation: timeouts, slow answers and missing heartbeats in one region only', () => {
    const o = simulate({ kind: 'regional_network_degradation', targets: { region: 'de-berlin' } });
    expectOnlyWithin(o);
    expect(o.incident.label).toMatchObject({ entity_level: 'REGION', entity_ids: ['de-berlin'] });
    const inRegion = txs(o.events).filter((e) => e.fields.region === 'de-berlin' && inWindow(o.incident, e));
    const timeouts = inRegion.filter((e) => e.fields.status === 'TIMEOUT').length / inRegion.length;
    expect(timeouts).toBeGreaterThan(0.2);
    expect(
      txs(o.events)
        .filter((e) => e.fields.region !== 'de-berlin')
        .every((e) => e.incidents.length === 0),
    ).toBe(true);
    const dropping = o.incident.label.params['terminals_dropping_heartbeats'] as string[];
    expect(dropping.length).toBeGreaterThan(0);
    const hb = o.events.filter((e): e is SimHeartbeat => e.kind === 'heartbeat' && inWindow(o.incident, e));
    for (const serial of dropping) expect(hb.some((h) => h.fields.terminal_serial === serial)).toBe(false);
    const flapping = hb.filter((h) => h.incidents.length > 0);
    expect(flapping.length).toBeGreaterThan(0);
    expect(flapping.every((h) => h.fields.last_error_code === 'NET-TIMEOUT')).toBe(true);
  });

  it('acquirer_host_slowdown: answers of one acquirer take latency_factor times longer', () => {
    const o = simulate({
      kind: 'acquirer_host_slowdown',
      targets: { acquirer: 'ACQ-NORD' },
      params: { latency_factor: 5, timeout_share: 0 },
    });
    expectOnlyWithin(o);
    expect(o.incident.label).toMatchObject({ entity_level: 'ACQUIRER', entity_ids: ['ACQ-NORD'] });
    const before = new Map(txs(o.baseline).map((e) => [e.fields.event_id, e]));
    let compared = 0;
    for (const e of txs(o.events)) {
      if (e.incidents.length === 0 || e.fields.response_time === null) continue;
      expect(e.fields.acquirer_id).toBe('ACQ-NORD');
      const b = before.get(e.fields.event_id)!;
      expect(e.fields.response_time - e.fields.request_time).toBe(
        Math.round((b.fields.response_time! - b.fields.request_time) * 5),
      );
      compared++;
    }
    expect(compared).toBeGreaterThan(200);
  });

  it('card_testing: many small, mostly declined attempts with cards of one BIN, whose tokens the label names', () => {
    const o = simulate({ kind: 'card_testing' });
    expectOnlyWithin(o);
    const label = o.incident.label;
    expect(label.entity_level).toBe('TERMINAL');
    const attempts = txs(o.events).filter((e) => e.incidents.includes(o.incident.id));
    expect(attempts.length).toBe(label.params['attempts']);
    expect(attempts.length).toBeGreaterThan(30);
    for (const a of attempts) {
      expect(a.fields.terminal_serial).toBe(label.entity_ids[0]);
      expect(a.fields.amount_minor).toBeLessThanOrEqual(500);
      expect(a.fields.pan!.startsWith(label.params['bin'] as string)).toBe(true);
      if (a.fields.status === 'DECLINED') expect(['05', '14', '51', '54']).toContain(a.fields.response_code);
    }
    const declined = attempts.filter((a) => a.fields.status === 'DECLINED').length / attempts.length;
    expect(declined).toBeGreaterThan(0.7);
    const cards = label.params['cards'] as CardLabel[];
    expect(new Set(attempts.map((a) => token(a.fields.pan)))).toEqual(new Set(cards.map((c) => c.token)));
    expect(cards.length).toBeGreaterThan(5);
    expect(JSON.stringify(label)).not.toContain(attempts[0]!.fields.pan!);
    // Fresh numbers: none of the fleet's cards.
    const pans = new Set(o.fleet.cards.map((c) => c.pan));
    expect(attempts.some((a) => pans.has(a.fields.pan!))).toBe(false);
  });

  it('velocity_fraud_ring: the labelled cards are used at many terminals of several merchants within minutes', () => {
    const o = simulate({ kind: 'velocity_fraud_ring' });
    expectOnlyWithin(o);
    const label = o.incident.label;
    expect(label.entity_level).toBe('CARD');
    expect(label.entity_ids).toHaveLength(3);
    for (const t of label.entity_ids) {
      const uses = txs(o.events).filter((e) => e.incidents.length > 0 && token(e.fields.pan) === t);
      const first10 = uses.filter((e) => e.fields.request_time < uses[0]!.fields.request_time + 10 * 60_000);
      expect(new Set(first10.map((e) => e.fields.terminal_serial)).size).toBeGreaterThan(4);
      expect(new Set(first10.map((e) => e.fields.merchant_id)).size).toBeGreaterThan(3);
      expect((label.params['cards'] as CardLabel[]).map((c) => c.token)).toContain(t);
    }
  });

  it('refund_abuse: approved refunds to one card that never bought anything there', () => {
    const o = simulate({ kind: 'refund_abuse', params: { refunds: 5 } });
    expectOnlyWithin(o);
    const [t] = o.incident.label.entity_ids as [string];
    const ofCard = txs(o.events).filter((e) => token(e.fields.pan) === t);
    expect(ofCard).toHaveLength(5);
    for (const e of ofCard) {
      expect(e.fields).toMatchObject({
        transaction_type: 'REFUND',
        status: 'APPROVED',
        merchant_id: o.incident.label.params['merchant_id'],
      });
    }
  });

  it('duplicate_submissions: approved sales sent twice within seconds, same card, amount and terminal, new ids', () => {
    const o = simulate({ kind: 'duplicate_submissions' });
    expectOnlyWithin(o);
    const [serial] = o.incident.label.entity_ids as [string];
    const sales = txs(o.events).filter((e) => e.fields.terminal_serial === serial && e.incidents.length > 0);
    let pairs = 0;
    for (const a of sales) {
      const copy = sales.find(
        (b) =>
          b !== a &&
          b.fields.pan === a.fields.pan &&
          b.fields.amount_minor === a.fields.amount_minor &&
          b.fields.request_time > a.fields.request_time &&
          b.fields.request_time - a.fields.request_time <= 8_000,
      );
      if (copy === undefined) continue;
      pairs++;
      expect(copy.fields.event_id).not.toBe(a.fields.event_id);
      expect([a.fields.status, copy.fields.status]).toEqual(['APPROVED', 'APPROVED']);
    }
    expect(pairs).toBeGreaterThan(10);
  });

  it('impossible_travel: one card at two merchants far apart, faster than any flight', () => {
    const o = simulate({ kind: 'impossible_travel' });
    expectOnlyWithin(o);
    const [t] = o.incident.label.entity_ids as [string];
    const legs = txs(o.events).filter((e) => e.incidents.length > 0 && token(e.fields.pan) === t);
    expect(legs).toHaveLength(3);
    for (let i = 1; i < legs.length; i++) {
      const [a, b] = [legs[i - 1]!.fields, legs[i]!.fields];
      const km = distanceKm(a.latitude!, a.longitude!, b.latitude!, b.longitude!);
      const hours = (b.request_time - a.request_time) / 3_600_000;
      expect(km).toBeGreaterThan(100);
      expect(km / hours).toBeGreaterThan(900);
      expect(b.entry_mode).not.toBe('MANUAL');
    }
    // The first visit alone is normal: the incident shows from the second.
    expect(Date.parse(o.incident.label.first_evidence)).toBe(legs[1]!.fields.request_time);
    expect(o.label.first_evidence).toBe(o.incident.label.first_evidence);
  });

  it('labels the first evidence: the first event the incident added or changed, as generated', () => {
    const testing = simulate({ kind: 'card_testing' });
    const first = Math.min(...testing.incident.injected.map((e) => originTime(e)));
    expect(Date.parse(testing.incident.label.first_evidence)).toBe(first);
    expect(testing.label.first_evidence).toBe(testing.incident.label.first_evidence);
    expect(first).toBeGreaterThanOrEqual(testing.incident.start);
    // A slow host changes the fleet's own attempts: known once they are generated.
    const slow = simulate({ kind: 'acquirer_host_slowdown' });
    expect(slow.incident.label.first_evidence).toBe(slow.incident.label.start);
    const touched = slow.events.filter((e) => e.incidents.includes(slow.incident.id)).map(originTime);
    expect(touched.length).toBeGreaterThan(0);
    expect(Date.parse(slow.label.first_evidence)).toBe(Math.min(...touched));
    expect(Date.parse(slow.label.first_evidence)).toBeGreaterThan(slow.incident.start);
    // A dark terminal sends nothing: its start is the evidence.
    const outage = simulate({ kind: 'terminal_outage' });
    expect(outage.label.first_evidence).toBe(outage.label.start);
  });

  it('magstripe_fallback_spike: the terminal’s card attempts switch to fallback and swipe', () => {
    const o = simulate({ kind: 'magstripe_fallback_spike' });
    expectOnlyWithin(o);
    const [serial] = o.incident.label.entity_ids as [string];
    const weakShare = (events: SimEvent[]) => {
      const cards = txs(events).filter(
        (e) => e.fields.terminal_serial === serial && e.fields.pan !== null && inWindow(o.incident, e),
      );
      return cards.filter((e) => ['FALLBACK', 'SWIPE'].includes(e.fields.entry_mode)).length / cards.length;
    };
    expect(weakShare(o.events)).toBeGreaterThan(0.5);
    expect(weakShare(o.baseline)).toBeLessThan(0.15);
  });

  it('off_hours_activity: sales on a terminal while its merchant is closed', () => {
    // 06:00-06:30 UTC: restaurants and most shops are still closed.
    const o = simulate(
      {
        kind: 'off_hours_activity',
        start: Date.UTC(2026, 2, 3, 6),
        end: Date.UTC(2026, 2, 3, 6, 30),
        params: { attempts_per_minute: 1 },
      },
      Date.UTC(2026, 2, 3, 5, 50),
      Date.UTC(2026, 2, 3, 6, 40),
    );
    expectOnlyWithin(o);
    const [serial] = o.incident.label.entity_ids as [string];
    const terminal = o.fleet.terminalBySerial.get(serial)!;
    const sales = txs(o.events).filter((e) => e.fields.terminal_serial === serial && inWindow(o.incident, e));
    expect(sales.length).toBeGreaterThan(10);
    for (const s of sales) expect(terminalOpenAt(terminal, s.fields.request_time)).toBe(false);
    expect(txs(o.baseline).some((e) => e.fields.terminal_serial === serial && inWindow(o.incident, e))).toBe(
      false,
    );
  });

  it('refuses a named off-hours terminal that is open in the window, naming the entry', () => {
    const sim = new Simulator({
      seed: 'incidents',
      fleet: { terminals: 60, regions: 4 },
      rate: 8,
      start: RUN_START,
      end: RUN_END,
      tokenKeys: KEYS,
    });
    const open = sim.fleet.terminals.find((t) => terminalOpenAt(t, START) && terminalOpenAt(t, END - 1))!;
    expect(
      () =>
        new Simulator({
          seed: 'incidents',
          fleet: { terminals: 60, regions: 4 },
          rate: 8,
          start: RUN_START,
          end: RUN_END,
          incidents: [
            { kind: 'off_hours_activity', start: START, end: END, targets: { terminal: open.serial } },
          ],
        }),
    ).toThrow(new RegExp(`incidents\\[0\\]\\.targets: terminal ${open.serial} needs its merchant closed`));
  });

  it('names the bad target, parameter or missing key', () => {
    const make = (spec: Partial<IncidentSpec>) => () =>
      new Simulator({
        seed: 'x',
        fleet: { terminals: 20 },
        rate: 1,
        start: RUN_START,
        end: RUN_END,
        tokenKeys: KEYS,
        incidents: [{ kind: 'card_testing', start: START, end: END, ...spec } as IncidentSpec],
      });
    expect(make({ targets: { terminal: 'NOPE' } })).toThrow(
      /incidents\[0\]\.targets\.terminal: no terminal "NOPE"/,
    );
    expect(make({ params: { cards: 1 } })).toThrow(
      /incidents\[0\]\.params\.cards: expected an integer between 2 and 1000, got 1/,
    );
    expect(make({ params: { speed: 3 } })).toThrow(
      /incidents\[0\]\.params\.speed: not a parameter of card_testing/,
    );
    expect(
      () =>
        new Simulator({
          seed: 'x',
          fleet: { terminals: 20 },
          rate: 1,
          start: RUN_START,
          end: RUN_END,
          incidents: [{ kind: 'refund_abuse', start: START, end: END }],
        }),
    ).toThrow(
      /incidents\[0\]: refund_abuse names card tokens in its label, so the gateway's token key is needed/,
    );
    expect(make({ kind: 'regional_network_degradation', targets: { region: 'mars' } })).toThrow(
      /no region "mars" in the fleet/,
    );
    let error: unknown;
    try {
      new Simulator({
        seed: 'x',
        fleet: { terminals: 20, regions: 1 },
        rate: 1,
        start: RUN_START,
        end: RUN_END,
        incidents: [{ kind: 'impossible_travel', start: START, end: END }],
        tokenKeys: KEYS,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IncidentPlacementError);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/one region/);
  });
});
