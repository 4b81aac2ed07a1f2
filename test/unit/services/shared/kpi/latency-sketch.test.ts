import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../../../../services/shared/errors.ts';
import {
  LatencySketch,
  SKETCH_RELATIVE_ACCURACY,
} from '../../../../../services/shared/kpi/latency-sketch.ts';

const latencies = fc.array(
  fc.oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 120_000 }), fc.constant(0)),
  { minLength: 1, maxLength: 400 },
);
const quantile = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.5, 0.95, 0.99, 1));

function sketchOf(values: readonly number[]): LatencySketch {
  const s = LatencySketch.empty();
  for (const v of values) s.add(v);
  return s;
}

/** The value of rank q: the element at floor(q·(n−1)) of the sorted values. */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function withinBound(estimate: number, exact: number): boolean {
  // The bound itself plus float noise in the logarithm.
  return Math.abs(estimate - exact) <= SKETCH_RELATIVE_ACCURACY * exact * (1 + 1e-9);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('LatencySketch', () => {
  it('returns every quantile within 1 % relative error of the value of that rank', () => {
    fc.assert(
      fc.property(latencies, quantile, (values, q) => {
        const estimate = sketchOf(values).quantile(q)!;
        expect(withinBound(estimate, exactQuantile(values, q))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the bound after merging sketches and after a round trip through bytes', () => {
    fc.assert(
      fc.property(fc.array(latencies, { minLength: 1, maxLength: 5 }), quantile, (parts, q) => {
        const merged = LatencySketch.empty();
        for (const p of parts) merged.merge(LatencySketch.fromBytes(sketchOf(p).toBytes()));
        const all = parts.flat();
        expect(merged.count).toBe(all.length);
        expect(withinBound(merged.quantile(q)!, exactQuantile(all, q))).toBe(true);
      }),
    );
  });

  it('writes the same bytes for the same values whatever the order of adds and merges', () => {
    fc.assert(
      fc.property(latencies, fc.integer({ min: 0, max: 400 }), (values, cut) => {
        const reversed = sketchOf([...values].reverse());
        const split = sketchOf(values.slice(0, cut)).merge(sketchOf(values.slice(cut)));
        const bytes = hex(sketchOf(values).toBytes());
        expect(hex(reversed.toBytes())).toBe(bytes);
        expect(hex(split.toBytes())).toBe(bytes);
        expect(hex(LatencySketch.fromBytes(sketchOf(values).toBytes()).toBytes())).toBe(bytes);
      }),
    );
  });

  it('answers null for an empty sketch and keeps zero latencies exact', () => {
    expect(LatencySketch.empty().quantile(0.5)).toBeNull();
    const zeros = sketchOf([0, 0, 0, 250]);
    expect(zeros.quantile(0.5)).toBe(0);
    expect(LatencySketch.fromBytes(zeros.toBytes()).quantile(0.5)).toBe(0);
    expect(LatencySketch.fromBytes(zeros.toBytes()).count).toBe(4);
  });

  it('refuses negative latencies, which the library would lose on merge', () => {
    expect(() => LatencySketch.empty().add(-1)).toThrow(RangeError);
    expect(() => LatencySketch.empty().add(Number.NaN)).toThrow(RangeError);
  });

  it('encodes the DDSketch protobuf message of sketches-proto', () => {
    const bytes = sketchOf([100]).toBytes();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // field 1 (mapping), 9 bytes: field 1 (gamma) as a double
    expect([...bytes.slice(0, 3)]).toEqual([0x0a, 0x09, 0x09]);
    expect(view.getFloat64(3, true)).toBeCloseTo((1 + 0.01) / (1 - 0.01), 15);
    // field 2 (positiveValues): field 2 (contiguousBinCounts, packed: one double 1.0), field 3 (offset, zigzag)
    expect([...bytes.slice(11, 14)]).toEqual([0x12, 0x0d, 0x12]);
    expect(bytes[14]).toBe(8);
    expect(view.getFloat64(15, true)).toBe(1);
    expect(bytes[23]).toBe(0x18);
    // field 3 (negativeValues), empty
    expect([...bytes.slice(-2)]).toEqual([0x1a, 0x00]);
  });

  it('reads the sparse binCounts encoding and padded contiguous bins of other writers', () => {
    const reference = sketchOf([100, 100, 250, 0]);
    const gamma = (1 + 0.01) / (1 - 0.01);
    const f64 = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];
    const zigzag = (n: number): number[] => {
      let z = (n << 1) ^ (n >> 31);
      const out: number[] = [];
      while (z > 0x7f) {
        out.push((z & 0x7f) | 0x80);
        z >>>= 7;
      }
      return [...out, z];
    };
    const key100 = Math.ceil(Math.log(100) / Math.log(gamma));
    const key250 = Math.ceil(Math.log(250) / Math.log(gamma));
    const entry = (key: number, count: number): number[] => {
      const body = [0x08, ...zigzag(key), 0x11, ...f64(count)];
      return [0x0a, body.length, ...body];
    };
    const store = [...entry(key100, 2), ...entry(key250, 1)];
    // prettier-ignore
    const sparse = Uint8Array.from([
      0x0a, 0x09, 0x09, ...f64(gamma),
      0x12, store.length, ...store,
      0x21, ...f64(1),
      0x2a, 0x01, 0x00, // an unknown field, skipped
    ]);
    expect(hex(LatencySketch.fromBytes(sparse).toBytes())).toBe(hex(reference.toBytes()));

    const bins = [0, 0, 2, ...Array<number>(key250 - key100 - 1).fill(0), 1, 0];
    const packed = bins.flatMap(f64);
    const contiguousStore = [0x12, ...varint(packed.length), ...packed, 0x18, ...zigzag(key100 - 2)];
    // prettier-ignore
    const padded = Uint8Array.from([
      0x0a, 0x09, 0x09, ...f64(gamma),
      0x12, ...varint(contiguousStore.length), ...contiguousStore,
      0x21, ...f64(1),
    ]);
    expect(hex(LatencySketch.fromBytes(padded).toBytes())).toBe(hex(reference.toBytes()));
  });

  it('refuses bytes it cannot merge with, as a DecodeError', () => {
    const good = sketchOf([5, 50]).toBytes();
    const otherGamma = Uint8Array.from(good);
    new DataView(otherGamma.buffer).setFloat64(3, 1.05, true);
    const cases: [string, Uint8Array][] = [
      ['truncated', good.slice(0, good.length - 4)],
      ['another accuracy', otherGamma],
      ['no mapping', Uint8Array.from([0x21, ...new Uint8Array(new Float64Array([1]).buffer)])],
    ];
    for (const [what, bytes] of cases) {
      expect(() => LatencySketch.fromBytes(bytes), what).toThrow(DecodeError);
    }
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  return [...out, v];
}
