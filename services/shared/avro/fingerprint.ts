import { parsingCanonicalForm } from './canonical-form.ts';

/**
 * CRC-64-AVRO (the Rabin fingerprint of the Avro spec, "Schema Fingerprints") of a schema's
 * Parsing Canonical Form. This is the 8-byte id that Avro single-object encoding puts on the wire;
 * avsc's `Type#fingerprint()` is an MD5/SHA hash of its own export, not this.
 */
export interface Fingerprint {
  /** The 64-bit value, unsigned. Java's `SchemaNormalization.parsingFingerprint64` is its signed twin. */
  readonly value: bigint;
  /** 8 bytes, little-endian: exactly as they follow `C3 01` in single-object encoding. */
  readonly bytes: Buffer;
  /** The value as 16 lowercase hex digits, most significant first (for logs and docs). */
  readonly hex: string;
}

const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;

const TABLE: readonly bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
    table.push(fp);
  }
  return table;
})();

/** CRC-64-AVRO of raw bytes. Only run at start-up and once per new registry schema, so BigInt is fine. */
export function crc64Avro(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!;
  return fp;
}

export function fingerprintOfValue(value: bigint): Fingerprint {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return Object.freeze({ value, bytes, hex: value.toString(16).padStart(16, '0') });
}

/** Fingerprint of a canonical form string (UTF-8 encoded, as the spec says). */
export function fingerprintOfCanonical(canonical: string): Fingerprint {
  return fingerprintOfValue(crc64Avro(Buffer.from(canonical, 'utf8')));
}

/** Fingerprint of a schema given as parsed JSON. */
export function fingerprintOf(schema: unknown): Fingerprint {
  return fingerprintOfCanonical(parsingCanonicalForm(schema));
}
