import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AlertBook,
  alertRecord,
  FLAG_INTERVAL_MS,
  uuidFrom,
  type OpenAlert,
} from '../../../../../services/processor/detection/alert-book.ts';
import type { Hit } from '../../../../../services/processor/detection/hit.ts';
import { createAvroCodec } from '../../../../../services/shared/avro/codec.ts';
import { parseAvroCodecConfig } from '../../../../../services/shared/avro/config.ts';
import type { Alert } from '../../../../../services/shared/avro/types.generated.ts';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const SEC = 1000;
const MIN = 60 * SEC;
const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const codec = createAvroCodec(parseAvroCodecConfig({}));

function hit(overrides: Partial<Hit> = {}): Hit {
  return {
    rule: 'card_testing',
    severity: 'CRITICAL',
    level: 'TERMINAL',
    entityId: 'TRM-00001',
    windowStart: T0,
    windowEnd: T0 + 30 * SEC,
    value: 6,
    threshold: 6,
    summary: 'card testing at terminal TRM-00001',
    evidence: { pattern: 'small_declines', declines: '6' },
    eventIds: ['e1', 'e2'],
    labels: { merchant_id: 'M1', region: 'north' },
    ...overrides,
  };
}

/** A book where every rule resolves after `resolveAfter` (or the per-rule map). */
function book(resolveAfter: number | Record<string, number> = 5 * MIN): AlertBook {
  return new AlertBook((rule) =>
    typeof resolveAfter === 'number' ? resolveAfter : (resolveAfter[rule] ?? Number.POSITIVE_INFINITY),
  );
}

async function expectEncodable(alerts: readonly Alert[]): Promise<void> {
  for (const a of alerts) {
    const bytes = await codec.encode('Alert', a);
    expect(await codec.decode(bytes, 'Alert')).toEqual(a);
  }
}

describe('uuidFrom', () => {
  it('gives the same id for the same parts and another for other parts', () => {
    expect(uuidFrom('alert', 'r', 'TERMINAL', 'T1', T0)).toBe(uuidFrom('alert', 'r', 'TERMINAL', 'T1', T0));
    expect(uuidFrom('alert', 'r', 'TERMINAL', 'T1', T0)).not.toBe(
      uuidFrom('alert', 'r', 'TERMINAL', 'T1', T0 + 1),
    );
    expect(uuidFrom('alert', 'r', 'TERMINAL', 'T1', T0)).not.toBe(
      uuidFrom('flag', 'r', 'TERMINAL', 'T1', T0),
    );
  });

  it('separates the parts, so moving a boundary changes the id', () => {
    expect(uuidFrom('ab', 'c')).not.toBe(uuidFrom('a', 'bc'));
  });

  it('has the layout of a version 5, RFC 4122 variant UUID for any parts', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 6 }), (parts) => {
        const id = uuidFrom(...parts);
        expect(id).toMatch(UUID_V5);
        expect(uuidFrom(...parts)).toBe(id);
      }),
    );
  });
});

describe('AlertBook', () => {
  it('opens a FIRING alert and writes a flag on the first hit of a rule for an entity', async () => {
    const b = book();
    const h = hit();
    const out = b.record([h]);

    expect(out.alerts).toHaveLength(1);
    const [fired] = out.alerts;
    expect(fired).toEqual({
      alert_id: expect.stringMatching(UUID_V5),
      rule: 'card_testing',
      severity: 'CRITICAL',
      state: 'FIRING',
      entity_level: 'TERMINAL',
      entity_id: 'TRM-00001',
      window_start: T0,
      window_end: T0 + 30 * SEC,
      fired_time: T0 + 30 * SEC,
      resolved_time: null,
      summary: 'card testing at terminal TRM-00001',
      value: 6,
      threshold: 6,
      evidence: { pattern: 'small_declines', declines: '6' },
      labels: { merchant_id: 'M1', region: 'north' },
    });
    expect(out.flags).toEqual([{ flagId: expect.stringMatching(UUID_V5), alertId: fired!.alert_id, hit: h }]);
    expect(out.flags[0]!.flagId).not.toBe(fired!.alert_id);
    expect(out.updated).toEqual([]);
    expect(b.isOpen('card_testing', 'TERMINAL', 'TRM-00001')).toBe(true);
    expect(b.isOpen('card_testing', 'MERCHANT', 'TRM-00001')).toBe(false);
    expect(b.size).toBe(1);
    await expectEncodable(out.alerts);
  });

  it('keeps one alert per rule, level and entity: hits on another of them open their own', () => {
    const b = book();
    const out = b.record([
      hit(),
      hit({ entityId: 'TRM-00002' }),
      hit({ level: 'MERCHANT', entityId: 'TRM-00001' }),
      hit({ rule: 'duplicate_transaction', severity: 'WARNING' }),
    ]);
    expect(out.alerts).toHaveLength(4);
    expect(new Set(out.alerts.map((a) => a.alert_id)).size).toBe(4);
    expect(out.flags).toHaveLength(4);
    expect(b.size).toBe(4);
  });

  it('keeps an alert open without new records while hits come closer together than the flag interval', () => {
    const b = book();
    b.record([hit()]);
    const later = hit({
      windowEnd: T0 + 30 * SEC + FLAG_INTERVAL_MS - 1,
      value: 9,
      summary: 'nine',
      evidence: { declines: '9' },
    });
    const out = b.record([later]);
    expect(out).toEqual({ flags: [], alerts: [], updated: [] });
    // The open alert still follows the evidence, for the next flag or the resolution.
    const [open] = b.openAlerts;
    expect(open).toMatchObject({
      windowEnd: later.windowEnd,
      lastHitTime: later.windowEnd,
      lastFlagTime: T0 + 30 * SEC,
      value: 9,
      summary: 'nine',
      evidence: { declines: '9' },
    });
  });

  it('flags a still-open alert again once a flag interval of event time has passed, moving its stored state on', async () => {
    const b = book();
    const first = b.record([hit()]);
    const alertId = first.alerts[0]!.alert_id;
    const again = hit({ windowEnd: T0 + 30 * SEC + FLAG_INTERVAL_MS, value: 12, eventIds: ['e9'] });
    const out = b.record([again]);

    expect(out.alerts).toEqual([]);
    expect(out.flags).toEqual([{ flagId: expect.stringMatching(UUID_V5), alertId, hit: again }]);
    expect(out.flags[0]!.flagId).not.toBe(first.flags[0]!.flagId);
    expect(out.updated).toEqual([
      {
        ...first.alerts[0],
        window_end: again.windowEnd,
        value: 12,
      },
    ]);
    await expectEncodable(out.updated!);

    // The interval counts from the latest flag, not from the first.
    expect(b.record([hit({ windowEnd: again.windowEnd + FLAG_INTERVAL_MS - 1 })]).flags).toEqual([]);
    expect(b.record([hit({ windowEnd: again.windowEnd + FLAG_INTERVAL_MS })]).flags).toHaveLength(1);
  });

  it('handles several hits of one alert in a single batch in order', () => {
    const b = book();
    const out = b.record([
      hit(),
      hit({ windowEnd: T0 + 40 * SEC }),
      hit({ windowEnd: T0 + 30 * SEC + FLAG_INTERVAL_MS }),
    ]);
    expect(out.alerts.map((a) => a.state)).toEqual(['FIRING']);
    expect(out.flags).toHaveLength(2);
    expect(out.updated).toHaveLength(1);
    expect(new Set(out.flags.map((f) => f.alertId)).size).toBe(1);
  });

  it('does not move an alert back in time for a late hit', () => {
    const b = book();
    b.record([hit({ windowEnd: T0 + 5 * MIN })]);
    b.record([hit({ windowEnd: T0 + 2 * MIN })]);
    expect(b.openAlerts[0]).toMatchObject({ windowEnd: T0 + 5 * MIN, lastHitTime: T0 + 5 * MIN });
  });

  it('gives the same ids to the same hits, so a replay writes the same rows', () => {
    const hits = [hit(), hit({ windowEnd: T0 + 3 * MIN }), hit({ entityId: 'TRM-00009' })];
    const a = book().record(hits);
    const b = book().record(hits);
    expect(b).toEqual(a);
    expect(a.flags.map((f) => f.flagId)).toEqual(b.flags.map((f) => f.flagId));
  });

  it('resolves an alert once its rule has been quiet for resolve_after of event time', async () => {
    const b = book(5 * MIN);
    const [fired] = b.record([hit()]).alerts;
    const lastHit = T0 + 30 * SEC;

    expect(b.tick(lastHit + 5 * MIN - 1)).toEqual([]);
    expect(b.isOpen('card_testing', 'TERMINAL', 'TRM-00001')).toBe(true);

    const resolved = b.tick(lastHit + 5 * MIN);
    expect(resolved).toEqual([{ ...fired, state: 'RESOLVED', resolved_time: lastHit + 5 * MIN }]);
    expect(b.isOpen('card_testing', 'TERMINAL', 'TRM-00001')).toBe(false);
    expect(b.size).toBe(0);
    expect(b.tick(lastHit + 10 * MIN)).toEqual([]);
    await expectEncodable(resolved);
  });

  it('counts the quiet period from the latest hit, flagged or not', () => {
    const b = book(5 * MIN);
    b.record([hit()]);
    b.record([hit({ windowEnd: T0 + 50 * SEC })]); // within the flag interval: no flag
    expect(b.tick(T0 + 30 * SEC + 5 * MIN)).toEqual([]);
    expect(b.tick(T0 + 50 * SEC + 5 * MIN)).toHaveLength(1);
  });

  it('resolves each rule after its own quiet period, as configured at the time of the tick', () => {
    const settings: Record<string, number> = { card_testing: 10 * MIN, duplicate_transaction: 1 * MIN };
    const b = book(settings);
    b.record([hit({ windowEnd: T0 }), hit({ rule: 'duplicate_transaction', windowEnd: T0 })]);
    expect(b.tick(T0 + 2 * MIN).map((a) => a.rule)).toEqual(['duplicate_transaction']);
    settings['card_testing'] = 2 * MIN;
    expect(b.tick(T0 + 2 * MIN).map((a) => a.rule)).toEqual(['card_testing']);
  });

  it('opens a new alert when a rule hits an entity again after its alert resolved', () => {
    const b = book(5 * MIN);
    const [first] = b.record([hit()]).alerts;
    b.tick(T0 + 20 * MIN);
    const out = b.record([hit({ windowStart: T0 + 30 * MIN, windowEnd: T0 + 31 * MIN })]);
    expect(out.alerts).toHaveLength(1);
    expect(out.alerts[0]!.state).toBe('FIRING');
    expect(out.alerts[0]!.alert_id).not.toBe(first!.alert_id);
  });

  it('resolves every open alert of a disabled rule, and only those', () => {
    const b = book();
    b.record([
      hit({ entityId: 'A', windowEnd: T0 + 2 * MIN }),
      hit({ entityId: 'B', windowEnd: T0 + 9 * MIN }),
      hit({ rule: 'duplicate_transaction', entityId: 'A' }),
    ]);
    const resolved = b.resolveRule('card_testing', T0 + 5 * MIN);
    expect(resolved.map((a) => [a.entity_id, a.state, a.resolved_time])).toEqual([
      ['A', 'RESOLVED', T0 + 5 * MIN],
      // Never resolved before its own latest evidence.
      ['B', 'RESOLVED', T0 + 9 * MIN],
    ]);
    expect(b.openAlerts.map((a) => a.rule)).toEqual(['duplicate_transaction']);
    expect(b.resolveRule('card_testing', T0 + 6 * MIN)).toEqual([]);
  });

  it('carries on with a restored alert: no second FIRING record, flags under the restored id', () => {
    const restored: OpenAlert = {
      alertId: uuidFrom('alert', 'card_testing', 'TERMINAL', 'TRM-00001', T0 - 10 * MIN),
      rule: 'card_testing',
      severity: 'CRITICAL',
      level: 'TERMINAL',
      entityId: 'TRM-00001',
      windowStart: T0 - 10 * MIN,
      windowEnd: T0,
      firedTime: T0 - 9 * MIN,
      lastHitTime: T0,
      lastFlagTime: T0,
      summary: 'stored',
      value: 7,
      threshold: 6,
      evidence: { declines: '7' },
      labels: { region: 'north' },
    };
    const b = book();
    b.restore([restored]);
    expect(b.isOpen('card_testing', 'TERMINAL', 'TRM-00001')).toBe(true);

    expect(b.record([hit({ windowEnd: T0 + 30 * SEC })])).toEqual({ flags: [], alerts: [], updated: [] });
    const out = b.record([hit({ windowEnd: T0 + FLAG_INTERVAL_MS })]);
    expect(out.alerts).toEqual([]);
    expect(out.flags.map((f) => f.alertId)).toEqual([restored.alertId]);
    expect(out.updated?.[0]).toMatchObject({
      alert_id: restored.alertId,
      fired_time: T0 - 9 * MIN,
      window_start: T0 - 10 * MIN,
    });

    // The book keeps its own copy of what it was given.
    restored.lastHitTime = T0 + 60 * MIN;
    expect(b.tick(T0 + FLAG_INTERVAL_MS + 5 * MIN)).toHaveLength(1);
  });

  it('forgets the open alerts of entities it no longer holds', () => {
    const b = book();
    b.record([hit({ entityId: 'A' }), hit({ entityId: 'B' }), hit({ entityId: 'C' })]);
    b.retain((a) => a.entityId !== 'B');
    expect(b.openAlerts.map((a) => a.entityId)).toEqual(['A', 'C']);
    expect(b.tick(T0 + 60 * MIN).map((a) => a.entity_id)).toEqual(['A', 'C']);
  });
});

describe('alertRecord', () => {
  it('copies evidence and labels, so a published record cannot change the open alert', () => {
    const b = book();
    const [fired] = b.record([hit()]).alerts;
    fired!.evidence['declines'] = 'tampered';
    fired!.labels['region'] = 'tampered';
    const [open] = b.openAlerts;
    expect(open!.evidence['declines']).toBe('6');
    expect(alertRecord(open!, 'FIRING', null).labels['region']).toBe('north');
  });
});
