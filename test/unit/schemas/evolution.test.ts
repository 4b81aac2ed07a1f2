import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Type } from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsingCanonicalForm } from '../../../services/shared/avro/canonical-form.ts';
import { parseSchema } from '../../../services/shared/avro/parse-schema.ts';
import { SCHEMA_NAMES } from '../../../services/shared/avro/schemas.ts';
import { arbitraryFor } from '../../support/avro-arbitrary.ts';
import { REAL_SCHEMAS_DIR, readSchemaJson } from '../../support/schemas-fixture.ts';

/**
 * The evolution rules of schemas/README.md, enforced: every published version of a record and the
 * current file must be mutually readable (full transitive compatibility), the current file must be
 * published, and every schema must follow the house rules (docs, enum defaults, null defaults).
 */

type JsonObject = Record<string, unknown>;
interface Version {
  readonly label: string;
  readonly json: JsonObject;
}

const REPO_ROOT = dirname(REAL_SCHEMAS_DIR);

function historyOf(name: string): Version[] {
  const dir = join(REAL_SCHEMAS_DIR, 'history', name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^v(\d+)\.avsc$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b)
    .map((n) => ({
      label: `history/${name}/v${n}`,
      json: readSchemaJson(REAL_SCHEMAS_DIR, `history/${name}/v${n}.avsc`),
    }));
}

function fieldsOf(type: Type): { name: string; type: Type }[] {
  return (type as unknown as { fields: { name: string; type: Type }[] }).fields;
}

/**
 * Asserts that bytes written with `writer` can be read with `reader`: the resolver can be built,
 * and sample values come out valid for the reader, with fields of unchanged type unchanged.
 */
function assertReadable(writer: Version, reader: Version): void {
  const w = parseSchema(writer.json);
  const r = parseSchema(reader.json);
  let resolver: ReturnType<Type['createResolver']>;
  try {
    resolver = r.createResolver(w);
  } catch (err) {
    throw new Error(
      `${reader.label} cannot read bytes written with ${writer.label}: ${(err as Error).message}`,
    );
  }
  const writerFields = new Map(fieldsOf(w).map((f) => [f.name, f.type]));
  const samples = fc.sample(arbitraryFor(w), { numRuns: 30, seed: 20240601 });
  for (const value of samples as Record<string, unknown>[]) {
    const decoded = r.fromBuffer(w.toBuffer(value), resolver) as Record<string, unknown>;
    expect(r.isValid(decoded), `${writer.label} -> ${reader.label} gives an invalid value`).toBe(true);
    for (const field of fieldsOf(r)) {
      const written = writerFields.get(field.name);
      if (written && parsingCanonicalForm(written.schema()) === parsingCanonicalForm(field.type.schema())) {
        expect(decoded[field.name], `${writer.label} -> ${reader.label}: ${field.name}`).toEqual(
          value[field.name],
        );
      }
    }
  }
}

function assertMutuallyReadable(a: Version, b: Version): void {
  assertReadable(a, b);
  assertReadable(b, a);
}

/** The house rules: returns every violation as "path: problem". */
function lint(schema: unknown, path: string, problems: string[]): void {
  if (Array.isArray(schema)) {
    schema.forEach((branch, i) => lint(branch, `${path}[${i}]`, problems));
    return;
  }
  if (typeof schema !== 'object' || schema === null) return;
  const s = schema as JsonObject;
  switch (s['type']) {
    case 'record': {
      if (typeof s['doc'] !== 'string' || s['doc'] === '') problems.push(`${path}: record without a doc`);
      for (const field of s['fields'] as JsonObject[]) {
        const at = `${path}.${String(field['name'])}`;
        if (typeof field['doc'] !== 'string' || field['doc'] === '')
          problems.push(`${at}: field without a doc`);
        const type = field['type'];
        if (Array.isArray(type) && type.includes('null')) {
          if (type[0] !== 'null')
            problems.push(`${at}: "null" must be the first branch of an optional field`);
          if (!('default' in field) || field['default'] !== null)
            problems.push(`${at}: optional field without "default": null`);
        }
        lint(type, at, problems);
      }
      break;
    }
    case 'enum': {
      const symbols = s['symbols'] as string[];
      if (typeof s['doc'] !== 'string' || s['doc'] === '') problems.push(`${path}: enum without a doc`);
      if (s['default'] !== 'UNKNOWN' || !symbols.includes('UNKNOWN')) {
        problems.push(`${path}: enum ${String(s['name'])} needs the symbol UNKNOWN as its default`);
      }
      break;
    }
    case 'array':
      lint(s['items'], `${path}[]`, problems);
      break;
    case 'map':
      lint(s['values'], `${path}{}`, problems);
      break;
    default:
      if (typeof s['type'] === 'object') lint(s['type'], path, problems);
  }
}

function committedAtHead(name: string): JsonObject | undefined {
  try {
    const text = execFileSync('git', ['show', `HEAD:schemas/${name}.avsc`], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return JSON.parse(text) as JsonObject;
  } catch {
    return undefined; // no git, no commit yet, or the schema is new
  }
}

describe.each(SCHEMA_NAMES)('evolution of %s', (name) => {
  const history = historyOf(name);
  const current: Version = {
    label: `${name}.avsc (current)`,
    json: readSchemaJson(REAL_SCHEMAS_DIR, `${name}.avsc`),
  };

  it('has a published history numbered v1, v2, … without gaps', () => {
    expect(history.length).toBeGreaterThan(0);
    expect(history.map((v) => v.label)).toEqual(history.map((_, i) => `history/${name}/v${i + 1}`));
  });

  it('keeps every pair of published versions mutually readable (full transitive compatibility)', () => {
    for (let i = 0; i < history.length; i++) {
      for (let j = i + 1; j < history.length; j++) assertMutuallyReadable(history[i]!, history[j]!);
    }
  });

  it('keeps the current schema mutually readable with every published version', () => {
    for (const version of history) assertMutuallyReadable(version, current);
  });

  it('has its current schema published as the latest history version', () => {
    const latest = history.at(-1)!;
    expect(
      current.json,
      `schemas/${name}.avsc differs from ${latest.label}.avsc: once it is compatible, publish it as ` +
        `schemas/history/${name}/v${history.length + 1}.avsc (a copy of the file) so bytes written with it stay decodable`,
    ).toEqual(latest.json);
  });

  it('stays compatible with the version committed at git HEAD', ({ skip }) => {
    const committed = committedAtHead(name);
    if (committed === undefined) {
      skip('no committed version of this schema (no git, no commits yet, or a new schema)');
      return;
    }
    assertMutuallyReadable({ label: `HEAD:schemas/${name}.avsc`, json: committed }, current);
    const published = history.some((v) => parsingCanonicalForm(v.json) === parsingCanonicalForm(committed));
    expect(published, `HEAD:schemas/${name}.avsc is not in schemas/history/${name}/`).toBe(true);
  });

  it('follows the house rules: docs everywhere, UNKNOWN enum defaults, null defaults on optional fields', () => {
    const problems: string[] = [];
    lint(current.json, name, problems);
    expect(problems).toEqual([]);
    expect(current.json['namespace']).toBe('pospulse.events');
    expect(current.json['name']).toBe(name);
  });
});

describe('evolution checks', () => {
  const base: Version = {
    label: 'base',
    json: {
      type: 'record',
      name: 'R',
      namespace: 't',
      doc: 'r',
      fields: [
        { name: 'a', type: 'long', doc: 'a' },
        {
          name: 'e',
          type: { type: 'enum', name: 'E', doc: 'e', symbols: ['X', 'UNKNOWN'], default: 'UNKNOWN' },
          doc: 'e',
        },
      ],
    },
  };
  const withField = (field: JsonObject): Version => ({
    label: 'next',
    json: { ...base.json, fields: [...(base.json['fields'] as JsonObject[]), field] },
  });

  it('accept an added optional field and an appended enum symbol', () => {
    const next = structuredClone(
      withField({ name: 'b', type: ['null', 'string'], default: null, doc: 'b' }).json,
    );
    const e = (next['fields'] as JsonObject[])[1]!['type'] as JsonObject;
    e['symbols'] = ['X', 'UNKNOWN', 'Y'];
    expect(() => assertMutuallyReadable(base, { label: 'next', json: next })).not.toThrow();
  });

  it('reject a field added without a default', () => {
    expect(() => assertMutuallyReadable(base, withField({ name: 'b', type: 'string', doc: 'b' }))).toThrow(
      /cannot read/,
    );
  });

  it('reject a changed field type', () => {
    const changed = structuredClone(base.json);
    (changed['fields'] as JsonObject[])[0]!['type'] = 'string';
    expect(() => assertMutuallyReadable(base, { label: 'changed', json: changed })).toThrow(/cannot read/);
  });

  it('flag missing docs, enum defaults and null defaults', () => {
    const problems: string[] = [];
    lint(
      {
        type: 'record',
        name: 'R',
        fields: [
          { name: 'a', type: ['string', 'null'] },
          { name: 'e', type: { type: 'enum', name: 'E', symbols: ['X'] }, doc: 'e' },
        ],
      },
      'R',
      problems,
    );
    expect(problems).toEqual([
      'R: record without a doc',
      'R.a: field without a doc',
      'R.a: "null" must be the first branch of an optional field',
      'R.a: optional field without "default": null',
      'R.e: enum without a doc',
      'R.e: enum E needs the symbol UNKNOWN as its default',
    ]);
  });
});
