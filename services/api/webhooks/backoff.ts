/**
 * Delay before the next attempt after `failures` failed ones (≥ 1): "full jitter", uniformly drawn
 * from [0, min(max, base·2^(failures−1))). Spreading retries over the whole interval keeps
 * receivers that failed together from being hit together again.
 */
export function backoffDelay(
  failures: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(random() * ceiling);
}
