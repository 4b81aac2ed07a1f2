import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTokenKeys } from '../../../../services/gateway/card-data.ts';
import {
  formatLabels,
  labelsUntil,
  parseLabels,
  writeLabelFile,
} from '../../../../services/simulator/labels.ts';
import { operationKey, type SimTransaction } from '../../../../services/simulator/events.ts';
import { Simulator, isTransaction } from '../../../../services/simulator/simulator.ts';

const KEYS = parseTokenKeys(`k1:${Buffer.alloc(32, 5).toString('base64')}`);
const START = Date.UTC(2026, 2, 3, 8);

describe('Simulator', { timeout: 30_000 }, () => {
  it('schedules automatic incidents over a bounded run up front, one after another, with labels', () => {
    const sim = new Simulator({
      seed: 'auto',
      fleet: { terminals: 120, regions: 4 },
      rate: 5,
      start: START,
      end: START + 4 * 3_600_000,
      incidents: 'auto',
      tokenKeys: KEYS,
    });
    const labels = sim.labels;
    expect(labels.length).toBeGreaterThan(5);
    expect(new Set(labels.map((l) => l.kind)).size).toBe(labels.length > 10 ? 10 : labels.length);
    for (let i = 1; i < sim.incidents.length; i++)
      expect(sim.incidents[i]!.start).toBeGreaterThan(sim.incidents[i - 1]!.end);
    const again = new Simulator({
      seed: 'auto',
      fleet: { terminals: 120, regions: 4 },
      rate: 5,
      start: START,
      end: START + 4 * 3_600_000,
      incidents: 'auto',
      tokenKeys: KEYS,
    });
    expect(again.labels).toEqual(labels);
  });

  it('adds incidents on demand from the current position, and reports them', () => {
    const sim = new Simulator({
      seed: 'inject',
      fleet: { terminals: 40 },
      rate: 5,
      start: START,
      end: START + 3_600_000,
      tokenKeys: KEYS,
    });
    const seen: string[] = [];
    sim.onIncident = (i) => seen.push(i.id);
    sim.advanceTo(START + 600_000);
    const incident = sim.inject({ kind: 'card_testing', durationMs: 300_000 });
    expect(incident.start).toBe(START + 600_000);
    expect(incident.end).toBe(START + 900_000);
    expect(seen).toEqual([incident.id]);
    const events = sim.advanceTo(START + 900_000);
    expect(events.filter((e) => e.incidents.includes(incident.id)).length).toBeGreaterThan(10);
    expect(() => sim.inject({ kind: 'terminal_outage', start: START })).toThrow(/cannot start before/);
  });

  it('keeps getting automatic incidents in a run without end', () => {
    const sim = new Simulator({
      seed: 'open',
      fleet: { terminals: 40 },
      rate: 2,
      start: START,
      end: Infinity,
      incidents: 'auto',
      tokenKeys: KEYS,
      autoSchedule: { meanGapMs: 60_000, minDurationMs: 60_000, maxDurationMs: 120_000, warmupMs: 30_000 },
    });
    const added: string[] = [];
    sim.onIncident = (i) => added.push(i.kind);
    expect(sim.incidents).toHaveLength(0);
    sim.advanceTo(START + 15 * 60_000);
    expect(added.length).toBeGreaterThan(3);
    expect(sim.labels).toHaveLength(added.length);
  });

  it('labels a stop: incidents not begun left out, the running one ending at the stop', () => {
    const sim = new Simulator({
      seed: 'stop',
      fleet: { terminals: 40 },
      rate: 2,
      start: START,
      end: START + 3_600_000,
      tokenKeys: KEYS,
      incidents: [
        { kind: 'terminal_outage', start: START + 60_000, end: START + 600_000 },
        { kind: 'acquirer_host_slowdown', start: START + 1_800_000, end: START + 2_400_000 },
      ],
    });
    const stop = START + 300_000;
    const labels = labelsUntil(sim.incidents, stop);
    expect(labels).toHaveLength(1);
    expect(labels[0]).toMatchObject({ kind: 'terminal_outage', end: new Date(stop).toISOString() });
    expect(sim.labelsUntil(START + 3_600_000)).toEqual(sim.labels);
  });

  it('refuses bad options, naming them', () => {
    const base = { seed: 's', fleet: { terminals: 10 }, rate: 1, start: START, end: START + 60_000 };
    expect(() => new Simulator({ ...base, rate: 0 })).toThrow(/^rate must be a number above 0/);
    expect(() => new Simulator({ ...base, end: START })).toThrow(/^end must come after start/);
    expect(() => new Simulator({ ...base, heartbeatIntervalMs: 100 })).toThrow(
      /^heartbeatIntervalMs must be at least 5000/,
    );
    expect(() => new Simulator({ ...base, fleet: { terminals: 0 } })).toThrow(
      /^terminals must be an integer/,
    );
  });
});

describe('label file', { timeout: 30_000 }, () => {
  it('writes one JSON line per incident that reads back', () => {
    const sim = new Simulator({
      seed: 'labels',
      fleet: { terminals: 60, regions: 3 },
      rate: 5,
      start: START,
      end: START + 3 * 3_600_000,
      incidents: 'auto',
      tokenKeys: KEYS,
    });
    const dir = mkdtempSync(join(tmpdir(), 'sim-labels-'));
    const path = join(dir, 'sub', 'labels.jsonl');
    writeLabelFile(path, sim.labels);
    const text = readFileSync(path, 'utf8');
    expect(text).toBe(formatLabels(sim.labels));
    expect(text.trim().split('\n')).toHaveLength(sim.labels.length);
    expect(parseLabels(text)).toEqual(sim.labels);
    for (const l of parseLabels(text)) {
      expect(Object.keys(l).sort()).toEqual([
        'end',
        'entity_ids',
        'entity_level',
        'first_evidence',
        'incident_id',
        'kind',
        'params',
        'start',
      ]);
      expect(Date.parse(l.start)).toBeLessThan(Date.parse(l.end));
    }
    for (const pan of sim.fleet.cards.map((c) => c.pan)) expect(text.includes(pan)).toBe(false);
    expect(() => parseLabels('{"incident_id":1}\n')).toThrow(/^line 1: not a label record/);
    expect(() => parseLabels('\n{')).toThrow(/^line 2: not JSON/);
  });

  it('never follows up an operation an incident turned down, and keeps every card in one region', () => {
    const sim = new Simulator({
      seed: 'follow-ups',
      fleet: { terminals: 60, regions: 3, acquirers: 1, cards: 2_000 },
      rate: 4,
      start: START,
      end: START + 6 * 3_600_000,
      // Every answer of the one acquirer times out for an hour: refunds of those sales would be
      // refunds of money never taken.
      incidents: [
        {
          kind: 'acquirer_host_slowdown',
          start: START + 3_600_000,
          end: START + 2 * 3_600_000,
          params: { timeout_share: 1 },
        },
      ],
      tokenKeys: KEYS,
    });
    const txs = [...sim.events()].filter(isTransaction);
    const approved = new Set(
      txs.filter((t) => t.fields.status === 'APPROVED').map((t) => operationKey(t.fields)),
    );
    const followUps = txs.filter(
      (t): t is SimTransaction & { followsUp: string } => t.followsUp !== undefined,
    );
    expect(followUps.length).toBeGreaterThan(20);
    for (const f of followUps) expect(approved.has(f.followsUp)).toBe(true);
    // Travellers are visitors who stay in the region they visit: no card is seen in two regions.
    const regionsOf = new Map<string, Set<string>>();
    for (const t of txs) {
      if (t.fields.pan === null || t.incidents.length > 0) continue;
      let set = regionsOf.get(t.fields.pan);
      if (set === undefined) regionsOf.set(t.fields.pan, (set = new Set()));
      set.add(t.fields.region);
    }
    expect([...regionsOf.values()].filter((r) => r.size > 1)).toEqual([]);
  });
});
