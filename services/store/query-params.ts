/**
 * `param_<name>` values arrive the way a ClickHouse server expects them, in the *escaped* text form
 * of the placeholder's type: a scalar is TSV-escaped (`it\'s`, `a\tb`); a composite (Array, Tuple,
 * Map) is a literal whose quoted strings use backslash escapes (`['it\'s']`). The embedded engine's
 * binder reads values raw — no backslash escapes anywhere, `''` for a quote inside a quoted string —
 * so the store translates one form into the other rather than let backslashes reach the data.
 */

const PLACEHOLDER = /\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}/g;
const COMPOSITE = /^(?:(?:Nullable|LowCardinality)\s*\(\s*)*(?:Array|Tuple|Map|Nested)\s*\(/i;

const ESCAPES: Record<string, string> = {
  b: '\b',
  f: '\f',
  r: '\r',
  n: '\n',
  t: '\t',
  '0': '\0',
  a: '\x07',
  v: '\v',
  e: '\x1b',
};

/** Decodes one backslash escape at `value[i]` (the character after the backslash). */
function escapeAt(value: string, i: number): [string, number] {
  const next = value[i]!;
  if (next === 'x' && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3)))
    return [String.fromCharCode(parseInt(value.slice(i + 1, i + 3), 16)), i + 3];
  return [ESCAPES[next] ?? next, i + 1];
}

/** Undoes ClickHouse's escaped text format (`\t`, `\n`, `\'`, `\\`, `\xHH`, …). */
export function unescapeTsv(value: string): string {
  if (!value.includes('\\')) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      const [decoded, j] = escapeAt(value, i + 1);
      out += decoded;
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Rewrites every quoted string of a composite literal from backslash escapes to `''` quoting. */
export function rawLiteral(literal: string): string {
  let out = '';
  let i = 0;
  while (i < literal.length) {
    const c = literal[i]!;
    if (c !== "'") {
      out += c;
      i++;
      continue;
    }
    let content = '';
    i++;
    while (i < literal.length) {
      const d = literal[i]!;
      if (d === '\\' && i + 1 < literal.length) {
        const [decoded, j] = escapeAt(literal, i + 1);
        content += decoded;
        i = j;
      } else if (d === "'" && literal[i + 1] === "'") {
        content += "'";
        i += 2;
      } else if (d === "'") {
        i++;
        break;
      } else {
        content += d;
        i++;
      }
    }
    out += `'${content.replace(/'/g, "''")}'`;
  }
  return out;
}

/** The declared type of every `{name:Type}` placeholder in `sql`. */
export function placeholderTypes(sql: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of sql.matchAll(PLACEHOLDER)) types.set(m[1]!, m[2]!);
  return types;
}

/** The values to bind, each in the raw form the embedded engine's binder reads. */
export function bindValues(sql: string, params: Record<string, string>): Record<string, string> {
  const types = placeholderTypes(sql);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    const type = types.get(name);
    out[name] = type !== undefined && COMPOSITE.test(type) ? rawLiteral(value) : unescapeTsv(value);
  }
  return out;
}
