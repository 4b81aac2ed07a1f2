/**
 * ISO 8583:1987 data elements the gateway reads, in the ASCII encoding terminals and switches use
 * on TCP: numeric and character fields as ASCII bytes, LL/LLL length prefixes as ASCII digits,
 * `b` fields as raw bytes. A field that is not in the table cannot be skipped (its length is
 * unknown), so the table also holds fields we only parse to drop (track data, PIN block, EMV) and
 * the ones terminals commonly add (NII, private fields, MAC). See docs/ISO8583.md.
 */

/**
 * Character set of a field's content:
 * - `n`   digits 0-9;
 * - `an`  letters and digits, plus the space ISO 8583 pads fixed `an` fields with;
 * - `ans` printable ASCII (0x20-0x7E);
 * - `z`   track 2 code set: digits, `=` and `D` as the field separator;
 * - `b`   raw bytes (lengths count bytes).
 */
export type FieldType = 'n' | 'an' | 'ans' | 'z' | 'b';

/** `fixed`: always `length` bytes; `LLVAR`/`LLLVAR`: a 2/3-digit ASCII length, then up to `length` bytes. */
export type LengthKind = 'fixed' | 'LLVAR' | 'LLLVAR';

export interface FieldSpec {
  readonly number: number;
  readonly name: string;
  readonly type: FieldType;
  readonly lengthKind: LengthKind;
  /** Exact length for `fixed`, maximum for variable fields; characters, or bytes for `b`. */
  readonly length: number;
  /** Card data or secrets: parsed so the message can be read past them, never put in any output. */
  readonly sensitive: boolean;
}

export type FieldSpecTable = ReadonlyMap<number, FieldSpec>;

function spec(
  number: number,
  name: string,
  type: FieldType,
  lengthKind: LengthKind,
  length: number,
  sensitive = false,
): FieldSpec {
  return Object.freeze({ number, name, type, lengthKind, length, sensitive });
}

/** The fields pospulse understands, by number. Field 1 (secondary bitmap) is handled by the codec. */
export const ISO8583_FIELDS: FieldSpecTable = new Map(
  [
    spec(2, 'Primary account number', 'n', 'LLVAR', 19, true),
    spec(3, 'Processing code', 'n', 'fixed', 6),
    spec(4, 'Amount, transaction', 'n', 'fixed', 12),
    spec(7, 'Transmission date and time (MMDDhhmmss)', 'n', 'fixed', 10),
    spec(11, 'System trace audit number', 'n', 'fixed', 6),
    spec(12, 'Time, local transaction (hhmmss)', 'n', 'fixed', 6),
    spec(13, 'Date, local transaction (MMDD)', 'n', 'fixed', 4),
    spec(14, 'Date, expiration (YYMM)', 'n', 'fixed', 4, true),
    spec(15, 'Date, settlement (MMDD)', 'n', 'fixed', 4),
    spec(18, 'Merchant type (MCC)', 'n', 'fixed', 4),
    spec(22, 'Point of service entry mode', 'n', 'fixed', 3),
    spec(23, 'Card sequence number', 'n', 'fixed', 3),
    spec(24, 'Network international identifier', 'n', 'fixed', 3),
    spec(25, 'Point of service condition code', 'n', 'fixed', 2),
    spec(32, 'Acquiring institution identification code', 'n', 'LLVAR', 11),
    spec(35, 'Track 2 data', 'z', 'LLVAR', 37, true),
    spec(37, 'Retrieval reference number', 'an', 'fixed', 12),
    spec(38, 'Authorization identification response', 'an', 'fixed', 6),
    spec(39, 'Response code', 'an', 'fixed', 2),
    spec(41, 'Card acceptor terminal identification', 'ans', 'fixed', 8),
    spec(42, 'Card acceptor identification code', 'ans', 'fixed', 15),
    spec(43, 'Card acceptor name/location', 'ans', 'fixed', 40),
    spec(44, 'Additional response data', 'ans', 'LLVAR', 25),
    spec(45, 'Track 1 data', 'ans', 'LLVAR', 76, true),
    spec(48, 'Additional data, private', 'ans', 'LLLVAR', 999),
    spec(49, 'Currency code, transaction', 'n', 'fixed', 3),
    spec(52, 'Personal identification number data', 'b', 'fixed', 8, true),
    spec(53, 'Security related control information', 'n', 'fixed', 16),
    spec(54, 'Additional amounts', 'an', 'LLLVAR', 120),
    spec(55, 'ICC (EMV) data', 'b', 'LLLVAR', 255, true),
    spec(60, 'Reserved private 60', 'ans', 'LLLVAR', 999),
    spec(61, 'Reserved private 61', 'ans', 'LLLVAR', 999),
    spec(62, 'Reserved private 62', 'ans', 'LLLVAR', 999),
    spec(63, 'Reserved private 63', 'ans', 'LLLVAR', 999),
    spec(64, 'Message authentication code (primary)', 'b', 'fixed', 8),
    spec(70, 'Network management information code', 'n', 'fixed', 3),
    spec(90, 'Original data elements', 'n', 'fixed', 42),
    spec(95, 'Replacement amounts', 'an', 'fixed', 42),
    spec(128, 'Message authentication code (secondary)', 'b', 'fixed', 8),
  ].map((s) => [s.number, s]),
);

/** Numbers of the fields that must never leave the codec: PAN, expiry, track 1/2, PIN block, EMV. */
export const SENSITIVE_FIELDS: readonly number[] = [...ISO8583_FIELDS.values()]
  .filter((s) => s.sensitive)
  .map((s) => s.number);
