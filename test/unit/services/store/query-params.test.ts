import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindValues, rawLiteral, unescapeTsv } from '../../../../services/store/query-params.ts';

/** What @clickhouse/client does to a string parameter (TSV escaping). */
function escapeLikeClient(s: string): string {
  return s.replace(
    /[\t\n\r'\\]/g,
    (c) => ({ '\t': '\\t', '\n': '\\n', '\r': '\\r', "'": "\\'", '\\': '\\\\' })[c]!,
  );
}

describe('query parameters', () => {
  it('undoes the client’s escaping of any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => unescapeTsv(escapeLikeClient(s)) === s));
  });

  it('rewrites quoted strings of a composite literal to doubled quotes, without backslashes', () => {
    expect(rawLiteral("['it\\'s', 'a\\\\b', 'tab\\there']")).toBe("['it''s', 'a\\b', 'tab\there']");
    expect(rawLiteral("(1, 'x', [2, 3])")).toBe("(1, 'x', [2, 3])");
    expect(rawLiteral("{'k\\'':'v'}")).toBe("{'k''':'v'}");
  });

  it('keeps every array element exact through client escaping and raw rewriting', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 5 }), (items) => {
        const literal = `[${items.map((i) => `'${escapeLikeClient(i)}'`).join(',')}]`;
        const raw = rawLiteral(literal);
        const back = [...raw.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!.replace(/''/g, "'"));
        expect(back).toEqual(items);
      }),
    );
  });

  it('picks the translation from the placeholder’s declared type', () => {
    const sql = 'SELECT {s:String}, {a:Array(String)}, {n: Nullable(Array(String))}, {m:Map(String, UInt8)}';
    expect(bindValues(sql, { s: "it\\'s", a: "['it\\'s']", n: "['x']", m: "{'a\\'':1}" })).toEqual({
      s: "it's",
      a: "['it''s']",
      n: "['x']",
      m: "{'a''':1}",
    });
  });
});
