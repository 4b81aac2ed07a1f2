/**
 * The last `capacity` values, held twice in two Float64Arrays: in arrival order (a ring, to know
 * which value leaves) and sorted (for order statistics). Adding costs two binary searches and two
 * `copyWithin`s (O(capacity) memory moves, no allocation); the median is O(1) and the MAD
 * O(capacity / 2). 16 bytes per slot plus about 250 bytes of object and buffer headers.
 *
 * Sorting a copy on every query would be O(capacity · log capacity) plus an allocation per event;
 * keeping the sorted copy up to date is cheaper for the sizes detection uses (tens to thousands).
 */
export class RobustWindow {
  private readonly ring: Float64Array;
  private readonly sorted: Float64Array;
  /** Ring slot of the next write (and, when full, of the oldest value). */
  private next = 0;
  private n = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be ≥ 1, got ${capacity}`);
    this.ring = new Float64Array(capacity);
    this.sorted = new Float64Array(capacity);
  }

  get count(): number {
    return this.n;
  }

  /** Appends `x`, pushing out the oldest value when full. NaN is refused (it has no order). */
  add(x: number): void {
    if (Number.isNaN(x)) throw new RangeError('RobustWindow cannot hold NaN');
    if (this.n === this.capacity) {
      const old = this.ring[this.next]!;
      const i = lowerBound(this.sorted, this.n, old);
      this.sorted.copyWithin(i, i + 1, this.n);
      this.n -= 1;
    }
    this.ring[this.next] = x;
    this.next = (this.next + 1) % this.capacity;
    const j = upperBound(this.sorted, this.n, x);
    this.sorted.copyWithin(j + 1, j, this.n);
    this.sorted[j] = x;
    this.n += 1;
  }

  /** The values, oldest first. */
  values(): number[] {
    const out: number[] = [];
    const start = this.n === this.capacity ? this.next : 0;
    for (let k = 0; k < this.n; k++) out.push(this.ring[(start + k) % this.capacity]!);
    return out;
  }

  /** A window of another capacity holding the newest values of this one. */
  resized(capacity: number): RobustWindow {
    const w = new RobustWindow(capacity);
    for (const v of this.values().slice(-capacity)) w.add(v);
    return w;
  }

  /**
   * The median of `f` over the values (`f` monotone non-decreasing, e.g. `Math.log`): the middle
   * value, or the mean of the two middle ones. NaN when empty.
   */
  median(f: (x: number) => number = identity): number {
    if (this.n === 0) return Number.NaN;
    const lo = (this.n - 1) >> 1;
    const hi = this.n >> 1;
    return lo === hi ? f(this.sorted[lo]!) : (f(this.sorted[lo]!) + f(this.sorted[hi]!)) / 2;
  }

  /**
   * The median absolute deviation of `f` over the values from their median (same `f`). The
   * deviations left of the middle grow leftwards and those right of it rightwards, so merging the
   * two runs from the middle outwards reaches the middle deviation after n/2 steps. NaN when empty.
   */
  mad(f: (x: number) => number = identity): number {
    const n = this.n;
    if (n === 0) return Number.NaN;
    const c = this.median(f);
    const s = this.sorted;
    let left = (n - 1) >> 1;
    let right = left + 1;
    // Ranks (0-based) of the deviations whose mean is the median deviation.
    const kLo = (n - 1) >> 1;
    const kHi = n >> 1;
    let atLo = 0;
    for (let k = 0; k <= kHi; k++) {
      const dl = left >= 0 ? c - f(s[left]!) : Infinity;
      const dr = right < n ? f(s[right]!) - c : Infinity;
      let d: number;
      if (dl <= dr) {
        d = dl;
        left -= 1;
      } else {
        d = dr;
        right += 1;
      }
      if (k === kLo) atLo = d;
      if (k === kHi) return kLo === kHi ? d : (atLo + d) / 2;
    }
    return Number.NaN; // unreachable: the loop returns at k = kHi
  }
}

const identity = (x: number): number => x;

/** First index in sorted[0, n) whose value is ≥ x. */
function lowerBound(sorted: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in sorted[0, n) whose value is > x. */
function upperBound(sorted: Float64Array, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
