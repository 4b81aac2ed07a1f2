import { type Type } from 'avsc';
import { DecodeError, EncodeError, type RecordLocation, UnknownSchemaError } from '../errors.ts';
import { parsingCanonicalForm } from './canonical-form.ts';
import { type AvroCodecConfig } from './config.ts';
import { fingerprintOfCanonical } from './fingerprint.ts';
import { UnsafeLongError } from './long-type.ts';
import { parseSchema } from './parse-schema.ts';
import { SchemaRegistryClient } from './schema-registry.ts';
import {
  type SchemaCatalog,
  type SchemaEntry,
  type SchemaName,
  SCHEMA_NAMES,
  loadSchemaCatalog,
} from './schemas.ts';
import { type RecordOf } from './types.generated.ts';

/**
 * Avro encoding and decoding of pospulse records, with two framings:
 *
 * - Avro single-object encoding (default): `C3 01`, the 8-byte little-endian CRC-64-AVRO
 *   fingerprint of the writer schema, the binary body. Writer schemas are found in the catalog
 *   (schemas/ and schemas/history/), so no service is needed.
 * - Confluent wire format (when a schema registry is configured): `00`, the 4-byte big-endian
 *   registry id of the writer schema, the body. Encode registers the current schema under subject
 *   `<topic>-value` (TopicNameStrategy); decode fetches unknown ids once. Single-object bytes are
 *   still read in this mode, so a topic can migrate from one framing to the other.
 *
 * Whatever the framing, the body is resolved from the writer schema to the current (reader)
 * schema. Decode either returns a record that is valid for the current schema or throws a
 * {@link DecodeError} (bad bytes: retrying cannot help) — or, in Confluent mode, a
 * `SchemaRegistryError` when the registry cannot be asked (retryable per its flag).
 */

export type WireFormat = 'single-object' | 'confluent';

export interface AvroCodecOptions {
  readonly catalog: SchemaCatalog;
  /** Switches encode to the Confluent wire format and lets decode read it. */
  readonly registry?: SchemaRegistryClient | undefined;
}

/** How to read bytes written with one writer schema. */
interface Reading {
  readonly ok: true;
  readonly name: SchemaName;
  readonly reader: Type;
  /** Absent when writer and reader have the same canonical form: the bytes read alike. */
  readonly resolver: ReturnType<Type['createResolver']> | undefined;
  /** Names the writer schema in error messages. */
  readonly writer: string;
}

/** A writer schema from the registry that cannot be read as any pospulse record. */
interface Unreadable {
  readonly ok: false;
  readonly reason: string;
  readonly cause: unknown;
}

const SINGLE_OBJECT_MAGIC = 0xc3;
const SINGLE_OBJECT_VERSION = 0x01;
const SINGLE_OBJECT_HEADER = 10;
const CONFLUENT_MAGIC = 0x00;
const CONFLUENT_HEADER = 5;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function recordFullName(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const { type, name, namespace } = json as Record<string, unknown>;
  if (type !== 'record' || typeof name !== 'string') return undefined;
  return name.includes('.') || typeof namespace !== 'string' || namespace === ''
    ? name
    : `${namespace}.${name}`;
}

export class AvroCodec {
  readonly wireFormat: WireFormat;
  private readonly catalog: SchemaCatalog;
  private readonly registry: SchemaRegistryClient | undefined;
  /** Single-object: every known writer fingerprint, resolved once at construction. */
  private readonly byFingerprint = new Map<bigint, Reading>();
  /** Confluent: writer schemas by registry id, fetched on first sight. */
  private readonly byId = new Map<number, Promise<Reading | Unreadable>>();
  private readonly headers = new Map<SchemaName, Buffer>();
  private readonly schemaTexts = new Map<SchemaName, string>();
  /** Records are encoded here, then copied out at their exact size. */
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(options: AvroCodecOptions) {
    this.catalog = options.catalog;
    this.registry = options.registry;
    this.wireFormat = options.registry ? 'confluent' : 'single-object';
    for (const entry of this.catalog.entries()) {
      // Throws at start-up if a published version cannot be read by the current schema: a broken
      // history must not surface later as undecodable records.
      this.byFingerprint.set(entry.fingerprint.value, this.readingFor(entry));
    }
    for (const name of SCHEMA_NAMES) {
      const current = this.catalog.getSchema(name);
      const header = Buffer.alloc(SINGLE_OBJECT_HEADER);
      header[0] = SINGLE_OBJECT_MAGIC;
      header[1] = SINGLE_OBJECT_VERSION;
      current.fingerprint.bytes.copy(header, 2);
      this.headers.set(name, header);
      this.schemaTexts.set(name, JSON.stringify(current.json));
    }
  }

  /**
   * Validates `value` against the current schema of `name` and encodes it. `topic` is required in
   * Confluent mode (the subject is `<topic>-value`) and ignored otherwise.
   *
   * @throws EncodeError naming every invalid field path (values are never echoed: they may hold card data)
   * @throws SchemaRegistryError when the schema cannot be registered (Confluent mode)
   */
  async encode<N extends SchemaName>(name: N, value: RecordOf<N>, topic?: string): Promise<Buffer> {
    const entry = this.catalog.getSchema(name);
    this.validate(entry, value);
    let header: Buffer;
    if (this.registry) {
      if (topic === undefined || topic === '') {
        throw new TypeError(
          `encoding ${name} in the Confluent wire format needs the topic (subject <topic>-value)`,
        );
      }
      const id = await this.registry.register(`${topic}-value`, this.schemaTexts.get(name)!);
      header = Buffer.allocUnsafe(CONFLUENT_HEADER);
      header[0] = CONFLUENT_MAGIC;
      header.writeUInt32BE(id, 1);
    } else {
      header = this.headers.get(name)!;
    }
    return this.frame(header, entry.type, value);
  }

  /**
   * Decodes one record whose current schema must be `expected`. `location` only feeds error
   * messages, so a bad record can be found again.
   *
   * @throws DecodeError for anything wrong with the bytes (cause: the underlying error)
   * @throws SchemaRegistryError when a registry id cannot be fetched right now (Confluent mode)
   */
  async decode<N extends SchemaName>(
    bytes: Buffer,
    expected: N,
    location: RecordLocation = {},
  ): Promise<RecordOf<N>> {
    // `null` is what a Kafka tombstone carries; typed callers cannot pass it, JS callers can.
    if ((bytes as Buffer | null) === null || bytes.length === 0) {
      throw new DecodeError(
        `expected ${expected}, got ${bytes === null ? 'no value (null)' : '0 bytes'}`,
        location,
      );
    }
    const magic = bytes[0];
    let reading: Reading | Unreadable | undefined;
    let offset: number;
    if (magic === SINGLE_OBJECT_MAGIC) {
      if (bytes.length < SINGLE_OBJECT_HEADER) {
        throw new DecodeError(
          `expected ${expected}: ${bytes.length} bytes is too short for a single-object header`,
          location,
        );
      }
      if (bytes[1] !== SINGLE_OBJECT_VERSION) {
        throw new DecodeError(
          `expected ${expected}: bad single-object marker C3 ${bytes[1]!.toString(16).padStart(2, '0').toUpperCase()} (expected C3 01)`,
          location,
        );
      }
      const fp = bytes.readBigUInt64LE(2);
      reading = this.byFingerprint.get(fp);
      if (reading === undefined) {
        const ref = `fingerprint ${fp.toString(16).padStart(16, '0')}`;
        throw new DecodeError(`expected ${expected}: unknown writer schema ${ref}`, location, {
          cause: new UnknownSchemaError(ref),
        });
      }
      offset = SINGLE_OBJECT_HEADER;
    } else if (magic === CONFLUENT_MAGIC) {
      if (!this.registry) {
        throw new DecodeError(
          `expected ${expected}: Confluent framing (magic byte 0) but no schema registry is configured`,
          location,
        );
      }
      if (bytes.length < CONFLUENT_HEADER) {
        throw new DecodeError(
          `expected ${expected}: ${bytes.length} bytes is too short for a Confluent header`,
          location,
        );
      }
      reading = await this.readingForId(bytes.readUInt32BE(1));
      offset = CONFLUENT_HEADER;
    } else {
      throw new DecodeError(
        `expected ${expected}: unknown framing, first byte 0x${magic!.toString(16).padStart(2, '0')} (expected 0xc3${
          this.registry ? ' or 0x00' : ''
        })`,
        location,
      );
    }
    if (!reading.ok)
      throw new DecodeError(`expected ${expected}: ${reading.reason}`, location, { cause: reading.cause });
    if (reading.name !== expected) {
      throw new DecodeError(`expected ${expected}, but the writer schema is ${reading.writer}`, location);
    }
    return this.body(bytes, offset, reading, location) as RecordOf<N>;
  }

  private validate(entry: SchemaEntry, value: unknown): void {
    if (entry.type.isValid(value, { noUndeclaredFields: true })) return;
    const paths: string[] = [];
    const join = (path: readonly string[]) => (path.length === 0 ? '(root)' : path.join('.'));
    // Without the flag, every invalid field is reported; with it, avsc stops at a record that has
    // undeclared fields, so that pass only contributes those.
    entry.type.isValid(value, { errorHook: (path) => paths.push(join(path)) });
    entry.type.isValid(value, {
      noUndeclaredFields: true,
      errorHook: (path, any: unknown, type) => {
        if (type.typeName !== 'record' || typeof any !== 'object' || any === null) return;
        const declared = new Set(
          (type as unknown as { fields: { name: string }[] }).fields.map((f) => f.name),
        );
        for (const key of Object.keys(any)) {
          if (!declared.has(key)) paths.push(`${join([...path, key])} (undeclared)`);
        }
      },
    });
    throw new EncodeError(entry.name, [...new Set(paths)]);
  }

  private frame(header: Buffer, type: Type, value: unknown): Buffer {
    for (;;) {
      header.copy(this.scratch, 0);
      const end = type.encode(value, this.scratch, header.length);
      if (end >= 0) {
        const out = Buffer.allocUnsafe(end);
        this.scratch.copy(out, 0, 0, end);
        return out;
      }
      // avsc returns minus the number of missing bytes.
      this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end));
    }
  }

  private body(bytes: Buffer, offset: number, reading: Reading, location: RecordLocation): unknown {
    let result: { value: unknown; offset: number };
    try {
      result = reading.reader.decode(bytes, offset, reading.resolver);
    } catch (err) {
      const what = err instanceof UnsafeLongError ? 'unrepresentable long' : 'garbled body';
      throw new DecodeError(
        `${reading.name} written as ${reading.writer}: ${what}: ${message(err)}`,
        location,
        {
          cause: err,
        },
      );
    }
    if (result.offset < 0) {
      throw new DecodeError(`${reading.name} written as ${reading.writer}: truncated body`, location);
    }
    if (result.offset !== bytes.length) {
      throw new DecodeError(
        `${reading.name} written as ${reading.writer}: ${bytes.length - result.offset} trailing bytes after the record`,
        location,
      );
    }
    return result.value;
  }

  private readingFor(writer: SchemaEntry): Reading {
    const current = this.catalog.getSchema(writer.name);
    const label = `${writer.fullName} ${writer.version === null ? '(current, unpublished)' : `v${writer.version}`} (fingerprint ${writer.fingerprint.hex})`;
    return {
      ok: true,
      name: writer.name,
      reader: current.type,
      resolver:
        writer.canonicalForm === current.canonicalForm ? undefined : current.type.createResolver(writer.type),
      writer: label,
    };
  }

  private readingForId(id: number): Promise<Reading | Unreadable> {
    let pending = this.byId.get(id);
    if (!pending) {
      pending = this.fetchReading(id);
      this.byId.set(id, pending);
      // A registry that could not be asked is asked again next time; answers are kept.
      pending.catch(() => this.byId.delete(id));
    }
    return pending;
  }

  private async fetchReading(id: number): Promise<Reading | Unreadable> {
    let text: string;
    try {
      const fetched = await this.registry!.getSchemaById(id);
      if (fetched.schemaType !== 'AVRO') {
        return {
          ok: false,
          reason: `registry id ${id} is a ${fetched.schemaType} schema, not Avro`,
          cause: undefined,
        };
      }
      text = fetched.schema;
    } catch (err) {
      if (err instanceof UnknownSchemaError) {
        return { ok: false, reason: `unknown writer schema: registry id ${id}`, cause: err };
      }
      throw err;
    }
    try {
      const json: unknown = JSON.parse(text);
      const canonical = parsingCanonicalForm(json);
      const known = this.byFingerprint.get(fingerprintOfCanonical(canonical).value);
      if (known) return { ...known, writer: `registry id ${id} = ${known.writer}` };
      const fullName = recordFullName(json);
      const name = SCHEMA_NAMES.find((n) => {
        const current = this.catalog.getSchema(n);
        return (
          current.fullName === fullName ||
          (fullName !== undefined && (current.type.aliases ?? []).includes(fullName))
        );
      });
      const writer = `registry id ${id} (${fullName ?? 'not a record'})`;
      if (name === undefined) {
        return { ok: false, reason: `writer schema ${writer} is not a pospulse record`, cause: undefined };
      }
      const reader = this.catalog.getSchema(name).type;
      return { ok: true, name, reader, resolver: reader.createResolver(parseSchema(json)), writer };
    } catch (err) {
      return {
        ok: false,
        reason: `writer schema registry id ${id} cannot be read: ${message(err)}`,
        cause: err,
      };
    }
  }
}

/** The codec for a service's parsed config: Confluent framing when a registry URL is set. */
export function createAvroCodec(
  config: AvroCodecConfig,
  deps: { catalog?: SchemaCatalog; fetch?: typeof globalThis.fetch } = {},
): AvroCodec {
  const catalog = deps.catalog ?? loadSchemaCatalog();
  const registry =
    config.schemaRegistryUrl === undefined
      ? undefined
      : new SchemaRegistryClient({
          url: config.schemaRegistryUrl,
          auth: config.schemaRegistryAuth,
          timeoutMs: config.schemaRegistryTimeoutMs,
          fetch: deps.fetch,
        });
  return new AvroCodec({ catalog, registry });
}
