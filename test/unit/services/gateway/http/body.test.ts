import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BodyError,
  bodyFormatOf,
  parseBody,
  type ParsedItem,
  syntaxErrorAt,
  tooDeepAt,
} from '../../../../../services/gateway/http/body.ts';
import { BODY_ERRORS, type BodyErrorCode } from '../../../../../services/gateway/http/reasons.ts';
import { validateHeartbeat, validateTransaction } from '../../../../../services/gateway/http/validate.ts';
import {
  heartbeatInput,
  ingestContext,
  testPan,
  transactionInput,
  validHeartbeatInput,
} from '../../../../support/gateway-input.ts';

const LIMITS = { maxEvents: 100, maxDepth: 5 };
const JSON_TYPE = 'application/json';
const NDJSON = 'application/x-ndjson';
const NOW = Date.UTC(2026, 10, 1, 9, 5, 0);
const ctx = ingestContext(NOW);

const parse = (text: string | Buffer, type: string | undefined = JSON_TYPE, limits = LIMITS) =>
  parseBody(typeof text === 'string' ? Buffer.from(text) : text, type, limits);

function bodyError(fn: () => unknown): BodyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BodyError) return err;
    throw err;
  }
  throw new Error('expected a BodyError');
}

function expectBodyError(fn: () => unknown, code: BodyErrorCode, message?: RegExp): BodyError {
  const err = bodyError(fn);
  expect(err.code).toBe(code);
  expect(err.status).toBe(BODY_ERRORS[code].status);
  if (message) expect(err.message).toMatch(message);
  return err;
}

const values = (items: ParsedItem[]) => items.map((i) => (i.ok ? i.value : i.rejection.code));

describe('media types', () => {
  it('accepts JSON and both NDJSON names, with or without charset=utf-8, in any case', () => {
    expect(bodyFormatOf('application/json')).toBe('json');
    expect(bodyFormatOf('Application/JSON; Charset="UTF-8"')).toBe('json');
    expect(bodyFormatOf('application/json;charset=utf-8')).toBe('json');
    expect(bodyFormatOf('application/x-ndjson')).toBe('ndjson');
    expect(bodyFormatOf('application/ndjson; charset=utf-8; foo=bar')).toBe('ndjson');
  });

  it('refuses other media types, a missing header and other charsets with 415', () => {
    for (const type of [
      undefined,
      '',
      'text/plain',
      'application/xml',
      'application/json-seq',
      'multipart/form-data',
    ]) {
      // parseBody directly: the helper's default would replace `undefined`.
      expectBodyError(() => parseBody(Buffer.from('{}'), type, LIMITS), 'unsupported_media_type');
    }
    for (const type of [
      'application/json; charset=latin1',
      'application/x-ndjson; charset=utf-16',
      'application/json; charset=',
    ]) {
      expectBodyError(() => parse('{}', type), 'unsupported_media_type', /utf-8/);
    }
  });
});

describe('JSON bodies', () => {
  it('reads one object as one item and an array as one item per element', () => {
    expect(values(parse('{"a":1}').items)).toEqual([{ a: 1 }]);
    expect(values(parse(' [{"a":1}, {"b":2}] ').items)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(parse('{}').format).toBe('json');
  });

  it('refuses array elements that are not objects one by one', () => {
    const { items } = parse('[{"a":1}, 2, "x", null, [], {"b":2}]');
    expect(values(items)).toEqual([
      { a: 1 },
      'not_an_object',
      'not_an_object',
      'not_an_object',
      'not_an_object',
      { b: 2 },
    ]);
    expect(items[1]).toEqual({
      ok: false,
      rejection: { code: 'not_an_object', path: '', message: 'the event must be a JSON object' },
    });
  });

  it('refuses a body that is neither an object nor an array', () => {
    for (const body of ['1', '"event"', 'null', 'true']) expectBodyError(() => parse(body), 'not_an_object');
  });

  it('refuses an empty body, whitespace and an empty array', () => {
    for (const body of ['', '  \r\n\t', '[]', ' [ ] ']) expectBodyError(() => parse(body), 'empty_body');
    expectBodyError(() => parse(Buffer.alloc(0), NDJSON), 'empty_body');
  });

  it('gives the line and column of a syntax error, never the text around it', () => {
    const pan = testPan(1);
    const err = expectBodyError(
      () => parse(`{\n  "pan": "${pan}",\n  "x": ${pan}x\n}`),
      'invalid_json',
      /line 3, column 24\)$/,
    );
    expect(err.message).not.toContain(pan);
    expect(err.message).not.toContain(pan.slice(-4));
    expectBodyError(() => parse('[{"a":1},]'), 'invalid_json', /line 1, column 10/);
    expectBodyError(() => parse('{"a":'), 'invalid_json', /line 1, column 6/);
  });

  it('refuses more events than the limit with 413', () => {
    const body = JSON.stringify(Array.from({ length: 101 }, () => ({})));
    expectBodyError(() => parse(body), 'too_many_events', /101 events, at most 100/);
    expect(parse(JSON.stringify(Array.from({ length: 100 }, () => ({})))).items).toHaveLength(100);
  });

  it('limits the depth of each event, not counting the batch array', () => {
    const deep = (n: number) => '{"a":'.repeat(n - 1) + '{}' + '}'.repeat(n - 1);
    expect(parse(deep(5)).items).toHaveLength(1);
    expect(parse(`[${deep(5)}]`).items).toHaveLength(1);
    expectBodyError(() => parse(deep(6)), 'too_deep', /deeper than 5 levels/);
    expectBodyError(() => parse(`[${deep(6)}]`), 'too_deep');
    expectBodyError(() => parse('[[[[[[[1]]]]]]]'), 'too_deep');
    // Brackets inside strings, escaped quotes included, do not count.
    expect(parse(`{"a": "[[[[[[[[{{{{{{\\"[[[[[["}`).items).toHaveLength(1);
  });

  it('refuses a huge nesting in one linear pass, without recursion', () => {
    const body = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    const started = performance.now();
    expectBodyError(() => parse(body), 'too_deep', /line 1, column 7\)/);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(tooDeepAt('{'.repeat(1_000_000), 999_999)).toBe(999_999);
  });

  it('refuses invalid UTF-8, and drops a leading byte order mark', () => {
    for (const bytes of [[0xff], [0x7b, 0xc3, 0x28, 0x7d], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      expectBodyError(() => parse(Buffer.from(bytes)), 'invalid_utf8');
    }
    expect(values(parse(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"a":"é"}')])).items)).toEqual([
      { a: 'é' },
    ]);
  });

  it('keeps __proto__ and constructor keys as own data, leaving prototypes alone', () => {
    const { items } = parse(
      '[{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}]',
    );
    const value = (items[0] as { value: Record<string, unknown> }).value;
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('NDJSON bodies', () => {
  it('reads one event per line, skipping blank lines, with LF or CRLF', () => {
    const { items, format } = parse('{"a":1}\r\n\n   \n{"b":2}\r\n\t\r\n{"c":3}', NDJSON);
    expect(format).toBe('ndjson');
    expect(items).toEqual([
      { ok: true, value: { a: 1 }, line: 1 },
      { ok: true, value: { b: 2 }, line: 4 },
      { ok: true, value: { c: 3 }, line: 6 },
    ]);
  });

  it('refuses a bad line on its own and keeps the others in order', () => {
    const { items } = parse(
      '{"a":1}\n{"event_id": oops\n[1]\n\n{"b":2}\n' + '[['.repeat(4) + '{}' + ']]'.repeat(4),
      NDJSON,
    );
    expect(values(items)).toEqual([{ a: 1 }, 'invalid_json', 'not_an_object', { b: 2 }, 'too_deep']);
    expect(items[1]).toEqual({
      ok: false,
      line: 2,
      rejection: { code: 'invalid_json', path: '', message: 'line 2 is not valid JSON (column 14)' },
    });
    expect(items[4]).toMatchObject({
      line: 6,
      rejection: { path: '', message: expect.stringMatching(/line 6 .* 5 levels/) },
    });
  });

  it('counts only non-blank lines against the limit, and refuses only blank lines as empty', () => {
    const lines = (n: number) => Array.from({ length: n }, () => '{}').join('\n\n');
    expect(parse(lines(100), NDJSON).items).toHaveLength(100);
    expectBodyError(() => parse(lines(101), NDJSON), 'too_many_events');
    expectBodyError(() => parse('\n \r\n\n', 'application/ndjson'), 'empty_body');
  });

  it('never quotes a bad line in its rejection', () => {
    const pan = testPan(7);
    const { items } = parse(`{"pan": ${pan}x}\n`, NDJSON);
    expect(JSON.stringify(items)).not.toContain(pan);
  });
});

describe('JSON syntax locator', () => {
  it('finds no error exactly when JSON.parse succeeds', () => {
    const nearJson = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.string({ unit: fc.constantFrom(...'{}[]",:0123456789-+.eEtruefalsn \\/u\n') }),
      fc
        .tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.string({ maxLength: 2 }))
        .map(([s, at, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice(at % (s.length + 1))),
    );
    fc.assert(
      fc.property(nearJson, (s) => {
        let valid = true;
        try {
          JSON.parse(s);
        } catch {
          valid = false;
        }
        const at = syntaxErrorAt(s);
        expect(at === -1).toBe(valid);
        expect(at).toBeLessThanOrEqual(s.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fuzzing', () => {
  const anyType = fc.oneof(
    fc.constantFrom(JSON_TYPE, NDJSON, 'application/ndjson; charset=utf-8', 'text/plain', undefined),
    fc.string(),
  );
  const validate = (item: ParsedItem) => {
    if (!item.ok) return;
    validateTransaction(item.value, ctx);
    validateHeartbeat(item.value, ctx);
  };

  it('throws nothing but BodyError for any bytes, and validation never throws', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.json({ maxDepth: 8 }).map((s) => Buffer.from(s)),
      fc.array(fc.json({ maxDepth: 3 }), { maxLength: 5 }).map((ls) => Buffer.from(ls.join('\n'))),
      fc.string({ unit: fc.constantFrom(...'{}[]",:01-.e \n\r\\') }).map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(
        bytes,
        anyType,
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 10 }),
        (body, type, maxEvents, maxDepth) => {
          try {
            const { items } = parseBody(body, type, { maxEvents, maxDepth });
            expect(items.length).toBeLessThanOrEqual(maxEvents);
            items.forEach(validate);
          } catch (err) {
            if (!(err instanceof BodyError)) throw err;
            expect(err.status).toBe(BODY_ERRORS[err.code].status);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('throws nothing but BodyError for arbitrary JSON values, including hostile keys', () => {
    const hostile = fc.dictionary(
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'event_id', 'basket', 'pan', 'toString'),
      fc.jsonValue({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), hostile, fc.array(hostile)),
        fc.constantFrom(JSON_TYPE, NDJSON),
        (value, type) => {
          const text =
            type === NDJSON && Array.isArray(value)
              ? value.map((v) => JSON.stringify(v)).join('\n')
              : JSON.stringify(value);
          try {
            parse(Buffer.from(text ?? ''), type, { maxEvents: 1000, maxDepth: 100 }).items.forEach(validate);
          } catch (err) {
            if (!(err instanceof BodyError)) throw err;
          }
          expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
        },
      ),
    );
  });

  it('keeps the good NDJSON lines, in order, whatever bad or blank lines are mixed in', () => {
    const bad = fc
      .string({ minLength: 1, maxLength: 20 })
      .filter((s) => !s.includes('\n') && s.trim() !== '')
      .filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      });
    type Line =
      | { kind: 'good'; value: Record<string, unknown> }
      | { kind: 'bad'; text: string }
      | { kind: 'blank'; text: string };
    const line: fc.Arbitrary<Line> = fc.oneof(
      validHeartbeatInput(NOW).map((value) => ({ kind: 'good' as const, value })),
      bad.map((text) => ({ kind: 'bad' as const, text })),
      fc.constantFrom('', ' ', '\t', '\r').map((text) => ({ kind: 'blank' as const, text })),
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), fc.boolean(), (lines, crlf) => {
        fc.pre(lines.some((l) => l.kind !== 'blank'));
        const body = lines
          .map((l) => (l.kind === 'good' ? JSON.stringify(l.value) : l.text))
          .join(crlf ? '\r\n' : '\n');
        const { items } = parse(body, NDJSON, { maxEvents: 100, maxDepth: 5 });
        const expected = lines.flatMap((l, i) => (l.kind === 'blank' ? [] : [{ ...l, line: i + 1 }]));
        expect(items).toHaveLength(expected.length);
        items.forEach((item, i) => {
          const want = expected[i]!;
          expect(item.line).toBe(want.line);
          if (want.kind === 'good') {
            expect(item).toEqual({ ok: true, value: want.value, line: want.line });
            expect(validateHeartbeat(item.ok ? item.value : null, ctx).ok).toBe(true);
          } else {
            expect(item.ok).toBe(false);
            if (!item.ok) expect(item.rejection.code).toBe('invalid_json');
          }
        });
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips the fixtures through a JSON array and NDJSON body', () => {
    const events = Array.from({ length: 10 }, (_, i) => transactionInput(i, {}, NOW));
    expect(values(parse(JSON.stringify(events)).items)).toEqual(events);
    const beats = Array.from({ length: 10 }, (_, i) => heartbeatInput(i, {}, NOW));
    expect(values(parse(beats.map((b) => JSON.stringify(b)).join('\n') + '\n', NDJSON).items)).toEqual(beats);
  });
});
