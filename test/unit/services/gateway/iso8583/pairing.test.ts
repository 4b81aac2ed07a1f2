import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Iso8583Message } from '../../../../../services/gateway/iso8583/codec.ts';
import {
  PairingTable,
  type ExpiryCause,
  type PendingRequest,
} from '../../../../../services/gateway/iso8583/pairing.ts';
import { ValidationError } from '../../../../../services/shared/errors.ts';

function message(mti: string, fields: Record<number, string>): Iso8583Message {
  return { mti, fields: new Map(Object.entries(fields).map(([k, v]) => [Number(k), v])) };
}

const request = (stan: string, extra: Record<number, string> = {}, mti = '0200') =>
  message(mti, { 11: stan, 41: 'TERM0001', ...extra });
const response = (stan: string, extra: Record<number, string> = {}, mti = '0210') =>
  message(mti, { 11: stan, 41: 'TERM0001', 39: '00', ...extra });

function table(opts: { timeoutMs?: number; maxPending?: number } = {}) {
  let now = 1_000_000;
  const expired: { data: string; cause: ExpiryCause; entry: PendingRequest<string> }[] = [];
  const t = new PairingTable<string>({
    timeoutMs: opts.timeoutMs ?? 1000,
    maxPending: opts.maxPending ?? 100,
    clock: () => now,
    onExpire: (entry, cause) => expired.push({ data: entry.data, cause, entry }),
  });
  return {
    t,
    expired,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('PairingTable', () => {
  it('pairs a response with its request by terminal and STAN, and removes it', () => {
    const { t, now } = table();
    expect(t.add(request('000001'), 'a')).toBe('pending');
    const match = t.match(response('000001'));
    expect(match?.data).toBe('a');
    expect(match?.receivedAt).toBe(now());
    expect(t.size).toBe(0);
    expect(t.match(response('000001'))).toBeUndefined();
  });

  it('pairs by RRN when the response has no STAN key', () => {
    const { t } = table();
    t.add(request('000001', { 37: '123456789012' }), 'a');
    expect(t.match(message('0210', { 37: '123456789012', 39: '00' }))?.data).toBe('a');
    // Removed from the STAN map as well.
    expect(t.match(response('000001'))).toBeUndefined();
  });

  it('prefers the STAN key over the RRN key', () => {
    const { t } = table();
    t.add(request('000001', { 37: 'RRN000000001' }), 'by-stan');
    t.add(request('000002', { 37: 'RRN000000002' }), 'by-rrn');
    expect(t.match(response('000001', { 37: 'RRN000000002' }))?.data).toBe('by-stan');
    expect(t.size).toBe(1);
  });

  it('does not let a response of another message class answer a request that reused the STAN', () => {
    const { t } = table();
    t.add(request('000001'), 'sale');
    expect(t.match(response('000001', {}, '0410'))).toBeUndefined();
    expect(t.match(response('000001', {}, '0110'))).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it('keeps the first of two requests with the same key and reports the second as a duplicate', () => {
    const { t } = table();
    expect(t.add(request('000001'), 'first')).toBe('pending');
    expect(t.add(request('000001', {}, '0201'), 'repeat')).toBe('duplicate');
    expect(t.add(request('000009', { 37: 'R1' }), 'other')).toBe('pending');
    expect(t.add(request('000010', { 37: 'R1' }), 'same rrn')).toBe('duplicate');
    expect(t.size).toBe(2);
    expect(t.match(response('000001'))?.data).toBe('first');
  });

  it('refuses a request with neither a STAN key nor an RRN', () => {
    const { t } = table();
    expect(t.add(message('0200', { 41: 'TERM0001' }), 'x')).toBe('unkeyed');
    expect(t.size).toBe(0);
  });

  it('expires requests older than the timeout on a sweep, oldest first, and only those', () => {
    const { t, expired, advance } = table({ timeoutMs: 1000 });
    t.add(request('000001'), 'a');
    advance(400);
    t.add(request('000002'), 'b');
    advance(599);
    expect(t.sweep()).toBe(0);
    advance(1);
    expect(t.sweep()).toBe(1);
    advance(400);
    expect(t.sweep()).toBe(1);
    expect(expired.map((e) => [e.data, e.cause])).toEqual([
      ['a', 'timeout'],
      ['b', 'timeout'],
    ]);
    expect(t.size).toBe(0);
  });

  it('lets a response after the timeout match nothing', () => {
    const { t, advance } = table({ timeoutMs: 1000 });
    t.add(request('000001'), 'a');
    advance(1000);
    t.sweep();
    expect(t.match(response('000001'))).toBeUndefined();
  });

  it('expires the oldest request early when full', () => {
    const { t, expired } = table({ maxPending: 2 });
    t.add(request('000001'), 'a');
    t.add(request('000002'), 'b');
    expect(t.add(request('000003'), 'c')).toBe('pending');
    expect(expired.map((e) => [e.data, e.cause])).toEqual([['a', 'overflow']]);
    expect(t.size).toBe(2);
    expect(t.match(response('000001'))).toBeUndefined();
  });

  it('does not evict anything for a duplicate when full', () => {
    const { t, expired } = table({ maxPending: 1 });
    t.add(request('000001'), 'a');
    expect(t.add(request('000001'), 'again')).toBe('duplicate');
    expect(expired).toEqual([]);
  });

  it('drains every pending request oldest first', () => {
    const { t, expired } = table();
    t.add(request('000001'), 'a');
    t.add(request('000002', { 37: 'R2' }), 'b');
    expect(t.drain().map((e) => e.data)).toEqual(['a', 'b']);
    expect(t.size).toBe(0);
    expect(expired).toEqual([]);
    expect(t.match(message('0210', { 37: 'R2' }))).toBeUndefined();
  });

  it('sweeps on its own timer once started, and stops', () => {
    vi.useFakeTimers({ now: 0 });
    const expired: string[] = [];
    const t = new PairingTable<string>({
      timeoutMs: 1000,
      maxPending: 10,
      sweepIntervalMs: 100,
      onExpire: (entry) => expired.push(entry.data),
    });
    t.start();
    t.add(request('000001'), 'a');
    vi.advanceTimersByTime(900);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual(['a']);
    t.stop();
    t.add(request('000002'), 'b');
    vi.advanceTimersByTime(5000);
    expect(expired).toEqual(['a']);
  });

  it('refuses a non-positive timeout or size', () => {
    const onExpire = () => undefined;
    expect(() => new PairingTable({ timeoutMs: 0, maxPending: 1, onExpire })).toThrow(ValidationError);
    expect(() => new PairingTable({ timeoutMs: 10, maxPending: 0, onExpire })).toThrow(ValidationError);
  });

  it('accounts for every request exactly once: matched, expired or drained (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('req' as const), stan: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('res' as const), stan: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 600 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (ops, maxPending) => {
        const { t, expired, advance } = table({ timeoutMs: 1000, maxPending });
        const stored: number[] = [];
        const matched: number[] = [];
        let id = 0;
        for (const o of ops) {
          const stan = String(o.kind === 'tick' ? 0 : o.stan).padStart(6, '0');
          if (o.kind === 'req') {
            const n = id++;
            if (t.add(request(stan), String(n)) === 'pending') stored.push(n);
          } else if (o.kind === 'res') {
            const m = t.match(response(stan));
            if (m) matched.push(Number(m.data));
          } else {
            advance(o.ms);
            t.sweep();
          }
          expect(t.size).toBeLessThanOrEqual(maxPending);
        }
        const drained = t.drain().map((e) => Number(e.data));
        const all = [...matched, ...expired.map((e) => Number(e.data)), ...drained].sort((a, b) => a - b);
        expect(all).toEqual(stored);
      }),
    );
  });
});
