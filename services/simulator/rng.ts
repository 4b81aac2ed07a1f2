/**
 * The simulator's only source of randomness: sfc32 (Chris Doty-Humphrey's Small Fast Chaotic
 * generator, 128 bits of state, passes PractRand and BigCrush), seeded from text by the cyrb128
 * hash. No `Math.random` anywhere in the simulator: the same seed gives the same fleet, traffic and
 * incidents on every machine.
 *
 * Streams are named: `Rng.from(seed, 'traffic', 'tx')` and `rng.fork('incident', 3)` derive a new
 * generator from the seed text and the labels, not from how far another stream has advanced, so
 * adding an incident never shifts the baseline traffic.
 */

/** cyrb128: four 32-bit words from a string (public domain, bryc). */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

const TWO_32 = 4294967296;

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  private constructor(private readonly key: string) {
    [this.a, this.b, this.c, this.d] = cyrb128(key);
    // sfc32's authors discard the first outputs so similar seeds diverge.
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** A stream named by the seed and any labels. */
  static from(seed: string | number, ...labels: readonly (string | number)[]): Rng {
    return new Rng([String(seed), ...labels.map(String)].join('\u0000'));
  }

  /** An independent stream derived from this one's name (not its state) and `labels`. */
  fork(...labels: readonly (string | number)[]): Rng {
    return new Rng([this.key, ...labels.map(String)].join('\u0000'));
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.uint32() / TWO_32;
  }

  /** Uniform in [min, max). */
  float(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** Standard normal (Box-Muller; one of the pair is dropped, which keeps the stream simple). */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next(); // (0, 1]: log(0) is -Infinity
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Log-normal with the given median (e^mu) and sigma of the underlying normal. */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }

  /** Exponential with the given mean: the gap of a Poisson process. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Poisson-distributed count: exact (Knuth) for small means, normal approximation above 40. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 40) return Math.max(0, Math.round(this.normal(mean, Math.sqrt(mean))));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }

  /** A random (version 4 layout) UUID, lower case. */
  uuid(): string {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const w0 = hex(this.uint32());
    const w1 = hex(this.uint32());
    const w2 = hex(((this.uint32() & 0x0fffffff) | 0x40000000) >>> 0);
    const w3 = hex(((this.uint32() & 0x3fffffff) | 0x80000000) >>> 0);
    const w4 = hex(this.uint32());
    return `${w0}-${w1.slice(0, 4)}-${w2.slice(0, 4)}-${w3.slice(0, 4)}-${w3.slice(4)}${w4}`;
  }

  /** `n` random decimal digits. */
  digits(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += String(Math.floor(this.next() * 10));
    return out;
  }

  /** Fisher-Yates, in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

/**
 * Picks items in proportion to their weights: cumulative sums and a binary search, O(log n) a pick.
 * Zero weights are never picked; a table whose weights are all zero refuses to be built.
 */
export class WeightedTable<T> {
  private readonly items: T[] = [];
  private readonly cumulative: number[] = [];
  readonly total: number;

  constructor(entries: Iterable<readonly [T, number]>) {
    let sum = 0;
    for (const [item, weight] of entries) {
      if (!(weight >= 0) || !Number.isFinite(weight)) throw new RangeError(`weight ${weight} is not >= 0`);
      if (weight === 0) continue;
      sum += weight;
      this.items.push(item);
      this.cumulative.push(sum);
    }
    if (sum === 0) throw new RangeError('a weighted table needs at least one positive weight');
    this.total = sum;
  }

  get size(): number {
    return this.items.length;
  }

  pick(rng: Rng): T {
    const x = rng.next() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cumulative[mid] as number) > x) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo] as T;
  }
}

/** A table from a `{ key: weight }` record (mix settings). */
export function tableOf<K extends string>(weights: Readonly<Record<K, number>>): WeightedTable<K> {
  return new WeightedTable(Object.entries(weights) as [K, number][]);
}
