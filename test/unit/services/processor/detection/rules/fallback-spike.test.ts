import { describe, expect, it } from 'vitest';
import type { Hit } from '../../../../../../services/processor/detection/hit.ts';
import {
  FallbackSpikeRule,
  fallbackSpikeRule,
} from '../../../../../../services/processor/detection/rules/fallback-spike.ts';
import type { SettingsOf } from '../../../../../../services/processor/detection/rules-file.ts';
import type { EntryMode, TransactionEvent } from '../../../../../../services/shared/avro/types.generated.ts';
import { transactionAt } from '../../../../../support/fixtures.ts';
import { DAY, HOUR, MONDAY, fleet, replay, traffic } from './fleet-traffic.ts';

type Settings = SettingsOf<typeof fallbackSpikeRule>;

function setup(overrides: Partial<Settings> = {}): {
  rule: FallbackSpikeRule;
  set: (s: Partial<Settings>) => void;
} {
  let settings: Settings = { ...fallbackSpikeRule.defaults, ...overrides };
  const rule = new FallbackSpikeRule(() => settings);
  return { rule, set: (s) => (settings = { ...settings, ...s }) };
}

let seq = 0;
/** A card attempt at `serial` requested at `t` (received 500 ms later unless `skew` says). */
function attempt(serial: string, t: number, mode: EntryMode, skew = 500): TransactionEvent {
  seq += 1;
  return transactionAt(seq, t, t + skew, {
    event_id: `fb000000-0000-4000-8000-${seq.toString(16).padStart(12, '0')}`,
    terminal_serial: serial,
    entry_mode: mode,
    transaction_type: 'SALE',
  });
}

/** One attempt a minute for `minutes`, every 20th swiped, the rest chip or contactless. */
function history(serial: string, from: number, minutes: number, swipeEvery = 20): TransactionEvent[] {
  return Array.from({ length: minutes }, (_, i) =>
    attempt(serial, from + i * 60_000, i % swipeEvery === 0 ? 'SWIPE' : i % 2 === 0 ? 'CHIP' : 'CONTACTLESS'),
  );
}

function feed(rule: FallbackSpikeRule, events: readonly TransactionEvent[]): Hit[] {
  return events.flatMap((ev) => rule.onTransaction(ev));
}

const T0 = MONDAY + 10 * HOUR;

describe('FallbackSpikeRule', () => {
  it('fires when a terminal that mostly reads chips turns to magstripe fallback', () => {
    const { rule } = setup();
    expect(feed(rule, history('TRM-A', T0, 120))).toEqual([]);
    const spikeStart = T0 + 120 * 60_000;
    const spike = Array.from({ length: 16 }, (_, i) =>
      attempt('TRM-A', spikeStart + i * 30_000, i % 4 === 3 ? 'CHIP' : 'FALLBACK'),
    );
    const hits = feed(rule, spike);
    expect(hits.length).toBeGreaterThan(0);
    const hit = hits[0]!;
    expect(hit).toMatchObject({
      rule: 'fallback_spike',
      severity: 'WARNING',
      level: 'TERMINAL',
      entityId: 'TRM-A',
      labels: { terminal_serial: 'TRM-A' },
    });
    expect(hit.value!).toBeGreaterThanOrEqual(hit.threshold!);
    expect(hit.threshold).toBe(0.4);
    expect(Number(hit.evidence['usual_share'])).toBeCloseTo(0.05, 2);
    expect(hit.evidence['by_mode']).toMatch(/FALLBACK=\d+/);
    const fallbackIds = new Set(spike.filter((e) => e.entry_mode === 'FALLBACK').map((e) => e.event_id));
    expect(hit.eventIds.every((id) => fallbackIds.has(id))).toBe(true);
    expect(hit.windowStart).toBeGreaterThan(spikeStart - 15 * 60_000);
    expect(hit.windowEnd).toBeLessThanOrEqual(spike.at(-1)!.request_time + 1);
  });

  it('does not fire on a terminal that usually swipes a third of its cards when half are swiped', () => {
    const { rule } = setup();
    expect(feed(rule, history('TRM-B', T0, 180, 3))).toEqual([]);
    const from = T0 + 180 * 60_000;
    const half = Array.from({ length: 30 }, (_, i) =>
      attempt('TRM-B', from + i * 30_000, i % 2 ? 'SWIPE' : 'CHIP'),
    );
    expect(feed(rule, half)).toEqual([]);
  });

  it('judges nobody during the warm-up: a terminal first seen mid-incident stays quiet until min_history attempts are learnt', () => {
    const { rule } = setup();
    const burst = Array.from({ length: 30 }, (_, i) => attempt('TRM-C', T0 + i * 20_000, 'FALLBACK'));
    expect(feed(rule, burst)).toEqual([]);
  });

  it('stays quiet on three days of a realistic fleet, then catches a skimmed-card run at one of its terminals', () => {
    const terminals = fleet(24);
    const events = traffic(terminals, MONDAY, 72);
    expect(events.length).toBeGreaterThan(8_000);
    const { rule } = setup();
    const hits: Hit[] = [];
    replay(
      events,
      (ev) => hits.push(...rule.onTransaction(ev)),
      (now) => rule.expire(now),
    );
    expect(hits).toEqual([]);

    // Thursday 12:00, the fleet's busiest shop: its usual traffic, with a run of fallbacks mixed in.
    const busiest = [...terminals]
      .filter((t) => t.kind === 'shop')
      .sort((a, b) => b.peakPerHour - a.peakPerHour)[0]!;
    const noon = MONDAY + 3 * DAY + 12 * HOUR;
    const usual = traffic([busiest], noon, 1, 99).filter((e) => e.request_time < noon + 10 * 60_000);
    const run = Array.from({ length: 12 }, (_, i) => attempt(busiest.serial, noon + i * 50_000, 'FALLBACK'));
    const incident = [...usual, ...run].sort((a, b) => a.gateway_received_time - b.gateway_received_time);
    const caught = feed(rule, incident);
    expect(caught.length).toBeGreaterThan(0);
    expect(new Set(caught.map((h) => h.entityId))).toEqual(new Set([busiest.serial]));
  });

  it('applies reloaded settings to the window and the learned baseline at once', () => {
    const { rule, set } = setup({ entry_modes: ['FALLBACK'] });
    feed(rule, history('TRM-D', T0, 120));
    const from = T0 + 120 * 60_000;
    const swipes = Array.from({ length: 12 }, (_, i) => attempt('TRM-D', from + i * 30_000, 'SWIPE'));
    expect(feed(rule, swipes)).toEqual([]);

    set({ entry_modes: ['SWIPE', 'FALLBACK'] });
    const more = attempt('TRM-D', from + 12 * 30_000, 'SWIPE');
    const [hit] = rule.onTransaction(more);
    expect(hit?.evidence['by_mode']).toBe('SWIPE=13,FALLBACK=0');
    // The usual share of the new set is the SWIPE share learnt all along (every 20th attempt).
    expect(Number(hit?.evidence['usual_share'])).toBeCloseTo(0.05, 2);

    set({ min_share: 1 });
    expect(rule.onTransaction(attempt('TRM-D', from + 13 * 30_000, 'SWIPE'))).toEqual([]);
  });

  it('keeps its state bounded: the window empties on expire, idle terminals are forgotten, bursts are capped', () => {
    const { rule } = setup({ max_attempts_kept: 50 });
    feed(rule, history('TRM-E', T0, 30));
    feed(rule, history('TRM-F', T0, 30));
    const last = T0 + 29 * 60_000 + 500;
    const before = rule.size;
    expect(before).toBe(2 + 2 * 15);
    rule.expire(last + 16 * 60_000);
    expect(rule.size).toBe(2);
    rule.expire(last + fallbackSpikeRule.defaults.forget_after);
    expect(rule.size).toBe(0);

    feed(
      rule,
      Array.from({ length: 400 }, (_, i) => attempt('TRM-G', T0 + i * 100, 'CHIP')),
    );
    expect(rule.size).toBe(1 + 50);
  });

  it('keeps the window of a terminal whose clock is hours behind when the tick expires state', () => {
    const { rule } = setup();
    const lag = 3 * HOUR;
    const events = history('TRM-H', T0 - lag, 120).map((e) => ({
      ...e,
      gateway_received_time: e.request_time + lag,
    }));
    feed(rule, events);
    const size = rule.size;
    rule.expire(events.at(-1)!.gateway_received_time + 5_000);
    expect(rule.size).toBe(size);
  });

  it('counts a redelivered fallback attempt once', () => {
    const { rule } = setup();
    feed(rule, history('TRM-I', T0, 5));
    const ev = attempt('TRM-I', T0 + 5 * 60_000, 'FALLBACK');
    rule.onTransaction(ev);
    const size = rule.size;
    rule.onTransaction(ev);
    expect(rule.size).toBe(size);
  });

  it('ignores attempts without a card and voids or reversals', () => {
    const { rule } = setup();
    rule.onTransaction({ ...attempt('TRM-J', T0, 'MANUAL'), card_token: null });
    rule.onTransaction({ ...attempt('TRM-J', T0, 'SWIPE'), transaction_type: 'REVERSAL' });
    rule.onTransaction({ ...attempt('TRM-J', T0, 'SWIPE'), transaction_type: 'VOID' });
    expect(rule.size).toBe(0);
  });
});
