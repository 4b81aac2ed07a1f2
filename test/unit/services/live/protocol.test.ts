import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseClientMessage } from '../../../../services/live/protocol.ts';

const parse = (v: unknown) => parseClientMessage(JSON.stringify(v));

describe('parseClientMessage', () => {
  it('reads hello, subscribe (with filters and resume) and unsubscribe', () => {
    expect(parse({ type: 'hello', v: 1, token: 'abc' })).toEqual({
      ok: true,
      message: { type: 'hello', v: 1, token: 'abc' },
    });
    expect(
      parse({
        type: 'subscribe',
        id: 'wall-1',
        filter: { regions: ['fr-paris'], statuses: ['OFFLINE', 'DEGRADED'], terminals: ['T1'] },
        resume: { epoch: 'e1', seq: 42 },
      }),
    ).toEqual({
      ok: true,
      message: {
        type: 'subscribe',
        id: 'wall-1',
        filter: { regions: ['fr-paris'], statuses: ['OFFLINE', 'DEGRADED'], terminals: ['T1'] },
        resume: { epoch: 'e1', seq: 42 },
      },
    });
    expect(parse({ type: 'subscribe', id: 's' })).toEqual({
      ok: true,
      message: { type: 'subscribe', id: 's', filter: {} },
    });
    expect(parse({ type: 'unsubscribe', id: 's' })).toEqual({
      ok: true,
      message: { type: 'unsubscribe', id: 's' },
    });
  });

  it('names what is wrong with a bad message', () => {
    const cases: [unknown, string, RegExp][] = [
      [[1, 2], 'bad_message', /JSON object/],
      [{ type: 3 }, 'bad_message', /`type`/],
      [{ type: 'dance' }, 'unknown_type', /unknown type "dance"/],
      [{ type: 'hello', v: '1', token: 'x' }, 'bad_message', /`v`/],
      [{ type: 'hello', v: 1 }, 'bad_message', /`token`/],
      [{ type: 'subscribe', id: 'has space' }, 'bad_message', /`id`/],
      [
        { type: 'subscribe', id: 's', filter: { colour: ['red'] } },
        'bad_message',
        /`filter.colour` is not a filter/,
      ],
      [
        { type: 'subscribe', id: 's', filter: { regions: 'fr-paris' } },
        'bad_message',
        /`filter.regions` must be an array/,
      ],
      [
        { type: 'subscribe', id: 's', filter: { statuses: ['DOWN'] } },
        'bad_message',
        /`filter.statuses\[0\]` must be one of/,
      ],
      [
        { type: 'subscribe', id: 's', filter: { merchants: ['M1', 7] } },
        'bad_message',
        /`filter.merchants\[1\]`/,
      ],
      [{ type: 'subscribe', id: 's', resume: { epoch: 'e', seq: -1 } }, 'bad_message', /`resume.seq`/],
      [{ type: 'subscribe', id: 's', resume: { seq: 3 } }, 'bad_message', /`resume.epoch`/],
      [{ type: 'unsubscribe' }, 'bad_message', /`id`/],
    ];
    for (const [msg, code, error] of cases) {
      const r = parse(msg);
      expect(r.ok, JSON.stringify(msg)).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe(code);
        expect(r.error).toMatch(error);
      }
    }
    expect(parseClientMessage('{not json')).toMatchObject({ ok: false, code: 'bad_json' });
  });

  it('never throws, whatever the frame', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const r = parseClientMessage(text);
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('parseClientMessage: alert and KPI subscriptions', () => {
  it('reads a subscription to alerts or KPI updates with the shared filter model', () => {
    expect(
      parse({ type: 'subscribe', id: 'a', topic: 'alerts', filter: { rules: ['card_testing'] } }),
    ).toEqual({
      ok: true,
      message: {
        type: 'subscribe',
        id: 'a',
        topic: 'alerts',
        subscription: { topic: 'alerts', filter: { rules: ['card_testing'] } },
      },
    });
    expect(parse({ type: 'subscribe', id: 'k', topic: 'kpis', filter: { level: 'FLEET' } })).toEqual({
      ok: true,
      message: {
        type: 'subscribe',
        id: 'k',
        topic: 'kpis',
        subscription: { topic: 'kpis', filter: { level: 'FLEET', final_only: true } },
      },
    });
    // `terminals` is the default topic: the message is the terminal subscription it always was.
    expect(parse({ type: 'subscribe', id: 't', topic: 'terminals' })).toEqual({
      ok: true,
      message: { type: 'subscribe', id: 't', filter: {} },
    });
  });

  it('names what is wrong with one', () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'subscribe', id: 'x', topic: 'trades' }, /`topic` must be terminals/],
      [{ type: 'subscribe', id: 'x', topic: 'kpis' }, /`filter`/],
      [
        { type: 'subscribe', id: 'x', topic: 'kpis', filter: { level: 'FLEET', metrics: ['x'] } },
        /filter\.metrics\[0\]/,
      ],
      [
        { type: 'subscribe', id: 'x', topic: 'alerts', filter: { statuses: ['OFFLINE'] } },
        /filter\.statuses/,
      ],
      [{ type: 'subscribe', id: 'x', topic: 'alerts', resume: { epoch: 'e', seq: 1 } }, /`resume`/],
    ];
    for (const [message, error] of cases) {
      const r = parse(message);
      expect(r.ok, JSON.stringify(message)).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe('bad_message');
        expect(r.error).toMatch(error);
      }
    }
  });
});
