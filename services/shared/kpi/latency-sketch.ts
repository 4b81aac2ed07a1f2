import { DDSketch } from '@datadog/sketches-js';
import { DecodeError } from '../errors.ts';

/**
 * Host latency quantiles per window: a DDSketch (@datadog/sketches-js, logarithmic mapping) with
 * relative accuracy 1 %, and its serialization for `KpiUpdate.latency_sketch`.
 *
 * Error bound: for n values x(0) <= … <= x(n-1) and any q in [0, 1], `quantile(q)` returns a value
 * within ±1 % relative error of x(floor(q·(n-1))), the value whose rank is q (0 stays exactly 0).
 * Merging sketches keeps the bound: the merged sketch is the sketch of the union of the values.
 *
 * Serialization: the library's `toProto()` needs protobufjs, which it lists only as a
 * devDependency (DataDog/sketches-js#26), so it throws "Cannot find module 'protobufjs/minimal'".
 * This module writes and reads the same message itself: `DDSketch` of DataDog's sketches-proto
 * (ddsketch.proto: mapping = IndexMapping{gamma, indexOffset, interpolation NONE},
 * positiveValues = Store{contiguousBinCounts, contiguousBinIndexOffset}, negativeValues, zeroCount),
 * so the bytes are readable by the Go, Java and Python DDSketch libraries. The encoding is
 * canonical — only the bins from the first to the last non-empty one, no default-valued scalars —
 * so equal multisets of latencies give equal bytes whatever the order they were added or merged
 * in. The library's own encoding writes its growth padding and depends on that history.
 */

export const SKETCH_RELATIVE_ACCURACY = 0.01;

// DDSketch.proto field tags: (field number << 3) | wire type.
const TAG = {
  sketchMapping: (1 << 3) | 2,
  sketchPositive: (2 << 3) | 2,
  sketchNegative: (3 << 3) | 2,
  sketchZeroCount: (4 << 3) | 1,
  mappingGamma: (1 << 3) | 1,
  mappingIndexOffset: (2 << 3) | 1,
  mappingInterpolation: (3 << 3) | 0,
  storeBinCounts: (1 << 3) | 2,
  storeContiguous: (2 << 3) | 2,
  storeContiguousOffset: (3 << 3) | 0,
  entryKey: (1 << 3) | 0,
  entryValue: (2 << 3) | 1,
} as const;

/** A mergeable sketch of non-negative latencies in milliseconds. */
export class LatencySketch {
  private readonly sketch: DDSketch;

  private constructor(sketch: DDSketch) {
    this.sketch = sketch;
  }

  static empty(): LatencySketch {
    return new LatencySketch(new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY }));
  }

  /** Number of values added (merged sketches included). */
  get count(): number {
    return this.sketch.count;
  }

  /**
   * Adds one latency. Negative values are refused: the library does not merge its negative store
   * (BaseDDSketch.merge only merges the positive one), so they would be lost on the first merge.
   */
  add(latencyMs: number): this {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new RangeError(`latency must be a finite number >= 0, got ${latencyMs}`);
    }
    this.sketch.accept(latencyMs);
    return this;
  }

  merge(other: LatencySketch): this {
    this.sketch.merge(other.sketch);
    return this;
  }

  clone(): LatencySketch {
    return LatencySketch.empty().merge(this);
  }

  /** The q-quantile (see the bound above); null for an empty sketch. */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile must be in [0, 1], got ${q}`);
    if (this.sketch.count === 0) return null;
    return this.sketch.getValueAtQuantile(q);
  }

  /** Canonical DDSketch protobuf bytes (see above). */
  toBytes(): Uint8Array {
    const w = new ProtoWriter();
    const mapping = new ProtoWriter();
    mapping.tag(TAG.mappingGamma).double(this.sketch.mapping.gamma);
    // indexOffset 0 and interpolation NONE (0) are proto3 defaults: not written.
    w.tag(TAG.sketchMapping).bytes(mapping.finish());
    w.tag(TAG.sketchPositive).bytes(encodeStore(this.sketch.store));
    // Always present (empty) so readers that insist on both stores accept the message.
    w.tag(TAG.sketchNegative).bytes(new Uint8Array(0));
    if (this.sketch.zeroCount !== 0) w.tag(TAG.sketchZeroCount).double(this.sketch.zeroCount);
    return w.finish();
  }

  /**
   * Reads DDSketch protobuf bytes: the canonical form above, or any writer's (contiguous or sparse
   * bins, padding). Refuses, with a DecodeError, a sketch this one cannot merge with: another gamma,
   * a non-zero index offset, an interpolated mapping, negative values or invalid counts.
   */
  static fromBytes(bytes: Uint8Array): LatencySketch {
    const out = LatencySketch.empty();
    const ddsketch = out.sketch;
    const fail: (reason: string) => never = (reason) => {
      throw new DecodeError(`latency sketch: ${reason}`);
    };
    let gamma: number | undefined;
    let zeroCount = 0;
    const bins = new Map<number, number>();
    try {
      const r = new ProtoReader(bytes);
      while (!r.done()) {
        const tag = r.varint();
        if (tag === TAG.sketchMapping) {
          const m = new ProtoReader(r.lengthDelimited());
          let indexOffset = 0;
          let interpolation = 0;
          while (!m.done()) {
            const t = m.varint();
            if (t === TAG.mappingGamma) gamma = m.double();
            else if (t === TAG.mappingIndexOffset) indexOffset = m.double();
            else if (t === TAG.mappingInterpolation) interpolation = m.varint();
            else m.skip(t);
          }
          if (indexOffset !== 0) fail(`index offset ${indexOffset} is not 0`);
          if (interpolation !== 0) fail(`interpolation ${interpolation} is not NONE (logarithmic mapping)`);
        } else if (tag === TAG.sketchPositive) {
          readStore(r.lengthDelimited(), bins);
        } else if (tag === TAG.sketchNegative) {
          const negative = new Map<number, number>();
          readStore(r.lengthDelimited(), negative);
          if ([...negative.values()].some((c) => c !== 0)) fail('negative latencies are not supported');
        } else if (tag === TAG.sketchZeroCount) {
          zeroCount = r.double();
        } else {
          r.skip(tag);
        }
      }
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      fail((err as Error).message);
    }
    if (gamma === undefined) fail('no index mapping');
    // Writers compute gamma as (1 + α) / (1 − α) or 1 + 2α / (1 − α): allow the last bits to differ.
    if (Math.abs(gamma - ddsketch.mapping.gamma) > 1e-12 * ddsketch.mapping.gamma) {
      fail(
        `gamma ${gamma} differs from ${ddsketch.mapping.gamma} (relative accuracy ${SKETCH_RELATIVE_ACCURACY})`,
      );
    }
    const validCount = (c: number): boolean => Number.isFinite(c) && c >= 0;
    if (!validCount(zeroCount)) fail(`invalid zero count ${zeroCount}`);
    for (const [key, c] of [...bins].sort((a, b) => a[0] - b[0])) {
      if (!validCount(c)) fail(`invalid count ${c} for bin ${key}`);
      if (c === 0) continue;
      ddsketch.store.add(key, c);
      ddsketch.count += c;
    }
    ddsketch.zeroCount = zeroCount;
    ddsketch.count += zeroCount;
    return out;
  }
}

function encodeStore(store: DDSketch['store']): Uint8Array {
  const w = new ProtoWriter();
  if (store.count === 0) return w.finish();
  let first = store.minKey - store.offset;
  let last = store.maxKey - store.offset;
  while (first <= last && (store.bins[first] ?? 0) === 0) first++;
  while (last >= first && (store.bins[last] ?? 0) === 0) last--;
  if (first > last) return w.finish();
  const packed = new ProtoWriter();
  for (let i = first; i <= last; i++) packed.double(store.bins[i] ?? 0);
  w.tag(TAG.storeContiguous).bytes(packed.finish());
  const offset = first + store.offset;
  if (offset !== 0) w.tag(TAG.storeContiguousOffset).sint32(offset);
  return w.finish();
}

/** Adds the bins of a Store message to `into` (key → count), both encodings. */
function readStore(bytes: Uint8Array, into: Map<number, number>): void {
  const r = new ProtoReader(bytes);
  const contiguous: number[] = [];
  let contiguousOffset = 0;
  const addBin = (key: number, count: number): void => {
    into.set(key, (into.get(key) ?? 0) + count);
  };
  while (!r.done()) {
    const tag = r.varint();
    if (tag === TAG.storeBinCounts) {
      const e = new ProtoReader(r.lengthDelimited());
      let key = 0;
      let count = 0;
      while (!e.done()) {
        const t = e.varint();
        if (t === TAG.entryKey) key = e.sint32();
        else if (t === TAG.entryValue) count = e.double();
        else e.skip(t);
      }
      addBin(key, count);
    } else if (tag === TAG.storeContiguous) {
      const p = new ProtoReader(r.lengthDelimited());
      while (!p.done()) contiguous.push(p.double());
    } else if (tag === ((2 << 3) | 1)) {
      contiguous.push(r.double()); // an unpacked repeated double
    } else if (tag === TAG.storeContiguousOffset) {
      contiguousOffset = r.sint32();
    } else {
      r.skip(tag);
    }
  }
  contiguous.forEach((count, i) => addBin(contiguousOffset + i, count));
}

/** The few protobuf wire-format writes DDSketch.proto needs. */
class ProtoWriter {
  private readonly chunks: number[] = [];
  private readonly f64 = new DataView(new ArrayBuffer(8));

  tag(tag: number): this {
    return this.varint(tag);
  }

  varint(n: number): this {
    let v = n;
    while (v > 0x7f) {
      this.chunks.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.chunks.push(v);
    return this;
  }

  sint32(n: number): this {
    return this.varint(((n << 1) ^ (n >> 31)) >>> 0);
  }

  double(x: number): this {
    this.f64.setFloat64(0, x, true);
    for (let i = 0; i < 8; i++) this.chunks.push(this.f64.getUint8(i));
    return this;
  }

  bytes(b: Uint8Array): this {
    this.varint(b.length);
    for (const byte of b) this.chunks.push(byte);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

class ProtoReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** An unsigned varint; values beyond 2^53 are refused (none of DDSketch's fields need them). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (result > Number.MAX_SAFE_INTEGER) throw new Error('varint out of range');
        return result;
      }
      scale *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  sint32(): number {
    const z = this.varint();
    if (z > 0xffffffff) throw new Error('sint32 out of range');
    return (z >>> 1) ^ -(z & 1);
  }

  double(): number {
    if (this.pos + 8 > this.buf.length) throw new Error('truncated double');
    const x = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }

  lengthDelimited(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** Skips the value of an unknown field. */
  skip(tag: number): void {
    const wireType = tag & 7;
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.advance(8);
    else if (wireType === 2) this.lengthDelimited();
    else if (wireType === 5) this.advance(4);
    else throw new Error(`unsupported wire type ${wireType}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('truncated field');
    this.pos += n;
  }
}
