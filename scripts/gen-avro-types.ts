/**
 * Generates services/shared/avro/types.generated.ts from the current schemas in schemas/*.avsc:
 * one interface per record, one string-literal union per enum, the field docs as JSDoc.
 *
 *   npm run schemas:types
 *
 * A unit test renders the file again in memory and compares, so schemas and types cannot drift.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_SCHEMAS_DIR = join(REPO_ROOT, 'schemas');
export const GENERATED_FILE = join(REPO_ROOT, 'services', 'shared', 'avro', 'types.generated.ts');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const NUMBER_TYPES = new Set(['int', 'long', 'float', 'double']);
const LOGICAL_DOCS: Record<string, string> = {
  'timestamp-millis': 'Logical type timestamp-millis: milliseconds since the Unix epoch (UTC).',
  uuid: 'Logical type uuid: a UUID in its canonical string form.',
};

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsDoc(lines: readonly string[], indent: string): string {
  const words = lines.map((l) => l.replaceAll('*/', '*\\/').split(/\s+/).filter(Boolean));
  const wrapped: string[] = [];
  for (const line of words) {
    let current = '';
    for (const word of line) {
      if (current !== '' && current.length + word.length + 1 > 96) {
        wrapped.push(current);
        current = word;
      } else {
        current = current === '' ? word : `${current} ${word}`;
      }
    }
    if (current !== '') wrapped.push(current);
  }
  if (wrapped.length === 0) return '';
  if (wrapped.length === 1 && wrapped[0]!.length < 90) return `${indent}/** ${wrapped[0]} */\n`;
  return `${indent}/**\n${wrapped.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

class Generator {
  private readonly declarations: string[] = [];
  /** Full name -> canonical JSON of its definition, to accept identical re-definitions across files. */
  private readonly defined = new Map<string, string>();
  /** Short (TypeScript) name -> full name, to refuse two different types with one TS name. */
  private readonly shortNames = new Map<string, string>();

  output(): string {
    return this.declarations.join('\n');
  }

  /** The TypeScript type of a schema; named types are declared on first sight. */
  typeOf(schema: Json | undefined, namespace: string, where: string): string {
    if (typeof schema === 'string') {
      switch (schema) {
        case 'null':
          return 'null';
        case 'boolean':
          return 'boolean';
        case 'bytes':
          return 'Buffer';
        case 'string':
          return 'string';
        default:
          if (NUMBER_TYPES.has(schema)) return 'number';
          return this.reference(schema, namespace, where);
      }
    }
    if (Array.isArray(schema)) return this.union(schema, namespace, where);
    if (!isObject(schema)) throw new Error(`${where}: not an Avro schema`);
    const type = schema['type'];
    if (typeof type !== 'string') return this.typeOf(type, namespace, where);
    switch (type) {
      case 'array': {
        const items = this.typeOf(schema['items'], namespace, `${where}[]`);
        return items.includes(' ') ? `(${items})[]` : `${items}[]`;
      }
      case 'map':
        return `Record<string, ${this.typeOf(schema['values'], namespace, `${where}{}`)}>`;
      case 'record':
      case 'enum':
      case 'fixed':
        return this.declare(schema, namespace, where);
      default:
        return this.typeOf(type, namespace, where);
    }
  }

  private reference(name: string, namespace: string, where: string): string {
    const full = name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
    const candidates = [full, name];
    for (const candidate of candidates) {
      if (this.defined.has(candidate)) return candidate.slice(candidate.lastIndexOf('.') + 1);
    }
    throw new Error(`${where}: reference to undefined type ${name}`);
  }

  private union(branches: Json[], namespace: string, where: string): string {
    const nonNull = branches.filter((b) => b !== 'null');
    if (nonNull.length !== 1 || branches.length > 2) {
      // avsc represents other unions as wrapped objects or ambiguous numbers; no schema needs them yet.
      throw new Error(`${where}: only ["null", T] unions are supported by the generator`);
    }
    const inner = this.typeOf(nonNull[0], namespace, where);
    return branches.length === 2 ? `${inner} | null` : inner;
  }

  private declare(schema: JsonObject, namespace: string, where: string): string {
    const name = schema['name'];
    if (typeof name !== 'string') throw new Error(`${where}: named type without a name`);
    const ownNamespace = typeof schema['namespace'] === 'string' ? schema['namespace'] : namespace;
    const full = name.includes('.') || ownNamespace === '' ? name : `${ownNamespace}.${name}`;
    const short = full.slice(full.lastIndexOf('.') + 1);
    const signature = JSON.stringify(schema);
    const previous = this.defined.get(full);
    if (previous !== undefined) {
      if (previous !== signature) {
        throw new Error(`${where}: ${full} is defined differently in two places; keep them identical`);
      }
      return short;
    }
    const clash = this.shortNames.get(short);
    if (clash !== undefined && clash !== full) {
      throw new Error(`${where}: ${full} and ${clash} would both be the TypeScript type ${short}`);
    }
    this.defined.set(full, signature);
    this.shortNames.set(short, full);
    const doc = typeof schema['doc'] === 'string' ? [schema['doc']] : [];
    const innerNamespace = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : '';

    switch (schema['type']) {
      case 'enum': {
        const symbols = schema['symbols'];
        if (!Array.isArray(symbols)) throw new Error(`${where}: enum ${full} without symbols`);
        const def =
          typeof schema['default'] === 'string'
            ? [`Readers map unknown symbols to ${schema['default']}.`]
            : [];
        this.declarations.push(
          `${jsDoc([...doc, ...def], '')}export type ${short} = ${symbols.map((s) => `'${String(s)}'`).join(' | ')};\n`,
        );
        break;
      }
      case 'fixed':
        this.declarations.push(`${jsDoc(doc, '')}export type ${short} = Buffer;\n`);
        break;
      default: {
        const fields = schema['fields'];
        if (!Array.isArray(fields)) throw new Error(`${where}: record ${full} without fields`);
        const members = fields.map((field) => {
          if (!isObject(field) || typeof field['name'] !== 'string') {
            throw new Error(`${where}: record ${full} has a field without a name`);
          }
          const fieldName = field['name'];
          const tsType = this.typeOf(field['type'], innerNamespace, `${short}.${fieldName}`);
          const lines = typeof field['doc'] === 'string' ? [field['doc']] : [];
          const logical = logicalTypeOf(field['type']);
          if (logical !== undefined && LOGICAL_DOCS[logical] !== undefined) lines.push(LOGICAL_DOCS[logical]);
          return `${jsDoc(lines, '  ')}  ${fieldName}: ${tsType};\n`;
        });
        this.declarations.push(`${jsDoc(doc, '')}export interface ${short} {\n${members.join('')}}\n`);
      }
    }
    return short;
  }
}

function logicalTypeOf(schema: Json | undefined): string | undefined {
  if (Array.isArray(schema)) {
    const nonNull = schema.filter((b) => b !== 'null');
    return nonNull.length === 1 ? logicalTypeOf(nonNull[0]) : undefined;
  }
  return isObject(schema) && typeof schema['logicalType'] === 'string' ? schema['logicalType'] : undefined;
}

/** Renders the generated module for the current schemas in `schemasDir` (formatted with Prettier). */
export async function renderAvroTypes(schemasDir: string = DEFAULT_SCHEMAS_DIR): Promise<string> {
  const files = readdirSync(schemasDir)
    .filter((f) => f.endsWith('.avsc'))
    .sort();
  const generator = new Generator();
  const names: string[] = [];
  for (const file of files) {
    const schema = JSON.parse(readFileSync(join(schemasDir, file), 'utf8')) as Json;
    const base = file.slice(0, -'.avsc'.length);
    if (!isObject(schema) || schema['type'] !== 'record' || schema['name'] !== base) {
      throw new Error(`${file}: must hold one record named ${base}`);
    }
    generator.typeOf(schema, '', file);
    names.push(base);
  }
  const source = [
    '// Generated by scripts/gen-avro-types.ts from schemas/*.avsc. Do not edit by hand:',
    '// change the schema and run `npm run schemas:types`.',
    '',
    '/** Every record schema in schemas/, by record name (= file name). */',
    `export const SCHEMA_NAMES = [${names.map((n) => `'${n}'`).join(', ')}] as const;`,
    '',
    'export type SchemaName = (typeof SCHEMA_NAMES)[number];',
    '',
    generator.output(),
    '/** The value type of each record schema. */',
    `export interface RecordTypes {\n${names.map((n) => `  ${n}: ${n};`).join('\n')}\n}`,
    '',
    'export type RecordOf<N extends SchemaName> = RecordTypes[N];',
    '',
  ].join('\n');
  const options = await resolveConfig(GENERATED_FILE);
  return format(source, { ...options, filepath: GENERATED_FILE });
}

async function main(): Promise<void> {
  writeFileSync(GENERATED_FILE, await renderAvroTypes());
  process.stdout.write(`wrote ${GENERATED_FILE}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
