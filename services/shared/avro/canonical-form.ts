/**
 * Parsing Canonical Form (Avro spec, "Parsing Canonical Form for Schemas"): the schema stripped
 * of everything that does not affect how bytes are read (doc, aliases, defaults, order, logical
 * types, custom attributes), names fully qualified, attributes in a fixed order, no whitespace.
 * Two schemas with the same canonical form read the same bytes the same way, which is why the
 * wire fingerprint is computed over it.
 *
 * Computed from the schema JSON rather than from avsc's `Type#schema()`: avsc's export happens to
 * be close, but is not specified to be canonical, and a fingerprint must match other Avro
 * implementations byte for byte.
 */

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAMED = new Set(['record', 'error', 'enum', 'fixed']);

export class CanonicalFormError extends Error {
  override readonly name = 'CanonicalFormError';
}

interface Scope {
  /** Enclosing namespace ('' for the null namespace). */
  readonly namespace: string;
  /** Full names defined so far, in document order; a second occurrence is written as its name. */
  readonly defined: Set<string>;
}

function fullName(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

function namespaceOf(full: string): string {
  const dot = full.lastIndexOf('.');
  return dot < 0 ? '' : full.slice(0, dot);
}

function resolveReference(name: string, scope: Scope): string {
  if (name.includes('.')) return name;
  const qualified = fullName(name, scope.namespace);
  // A short name refers to the enclosing namespace first, then to the null namespace.
  if (scope.defined.has(qualified) || !scope.defined.has(name)) return qualified;
  return name;
}

function str(s: string): string {
  // JSON.stringify leaves non-ASCII characters as they are and escapes only what JSON requires,
  // which is the spec's [STRINGS] rule.
  return JSON.stringify(s);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function canon(schema: unknown, scope: Scope): string {
  if (typeof schema === 'string') {
    return PRIMITIVES.has(schema) ? str(schema) : str(resolveReference(schema, scope));
  }
  if (Array.isArray(schema)) {
    return `[${schema.map((branch) => canon(branch, scope)).join(',')}]`;
  }
  if (!isObject(schema)) {
    throw new CanonicalFormError(`not an Avro schema: ${JSON.stringify(schema)}`);
  }
  const type = schema['type'];
  if (typeof type !== 'string') {
    // `{"type": {...}}` or `{"type": [...]}`: the attribute wraps a schema.
    return canon(type, scope);
  }
  if (PRIMITIVES.has(type)) return str(type); // drops logicalType and any other attribute
  if (type === 'array') return `{"type":"array","items":${canon(schema['items'], scope)}}`;
  if (type === 'map') return `{"type":"map","values":${canon(schema['values'], scope)}}`;
  if (!NAMED.has(type)) return str(resolveReference(type, scope)); // `{"type": "SomeNamedType"}`

  const name = schema['name'];
  if (typeof name !== 'string' || name === '') {
    throw new CanonicalFormError(`${type} without a name`);
  }
  const ownNamespace = schema['namespace'];
  const full = fullName(name, typeof ownNamespace === 'string' ? ownNamespace : scope.namespace);
  if (scope.defined.has(full)) return str(full);
  scope.defined.add(full);
  const head = `{"name":${str(full)},"type":${str(type === 'error' ? 'record' : type)}`;

  if (type === 'enum') {
    const symbols = schema['symbols'];
    if (!Array.isArray(symbols)) throw new CanonicalFormError(`enum ${full} without symbols`);
    return `${head},"symbols":[${symbols.map((s) => str(String(s))).join(',')}]}`;
  }
  if (type === 'fixed') {
    const size = schema['size'];
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
      throw new CanonicalFormError(`fixed ${full} without a valid size`);
    }
    return `${head},"size":${size}}`;
  }
  const fields = schema['fields'];
  if (!Array.isArray(fields)) throw new CanonicalFormError(`record ${full} without fields`);
  // Nested named types default to the namespace of the record that encloses them.
  const inner: Scope = { namespace: namespaceOf(full), defined: scope.defined };
  const parts = fields.map((field: unknown) => {
    if (!isObject(field) || typeof field['name'] !== 'string') {
      throw new CanonicalFormError(`record ${full} has a field without a name`);
    }
    return `{"name":${str(field['name'])},"type":${canon(field['type'], inner)}}`;
  });
  return `${head},"fields":[${parts.join(',')}]}`;
}

/** The Parsing Canonical Form of a schema given as parsed JSON (string, array or object). */
export function parsingCanonicalForm(schema: unknown): string {
  return canon(schema, { namespace: '', defined: new Set() });
}
