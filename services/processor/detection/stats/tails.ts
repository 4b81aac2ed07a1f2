/**
 * P(X ≥ k) for X ~ Binomial(n, p): how likely at least k of n independent attempts are of a kind
 * whose usual share is p. Summed from the k-th term upwards, each term from the previous by the
 * pmf ratio, in log space for the first so large n does not underflow. O(n − k).
 */
export function binomialTail(n: number, k: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let logTerm = logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p);
  let sum = 0;
  const ratio = p / (1 - p);
  for (let i = k; i <= n; i++) {
    const term = Math.exp(logTerm);
    sum += term;
    if (term < sum * 1e-17) break;
    logTerm += Math.log(((n - i) / (i + 1)) * ratio);
  }
  return Math.min(1, sum);
}

function logChoose(n: number, k: number): number {
  const m = Math.min(k, n - k);
  let s = 0;
  for (let i = 1; i <= m; i++) s += Math.log((n - m + i) / i);
  return s;
}

/**
 * P(X ≥ k) for X ~ Poisson(lambda): how likely at least k events are where lambda are usual.
 * 1 − the sum of the terms below k, each from the previous; O(k).
 */
export function poissonTail(lambda: number, k: number): number {
  if (k <= 0) return 1;
  if (lambda <= 0) return 0;
  let term = Math.exp(-lambda);
  let below = 0;
  for (let i = 0; i < k; i++) {
    below += term;
    term *= lambda / (i + 1);
  }
  // For large lambda the sum below k is close to 1 and the difference loses digits; the tail is
  // then large and only compared with small significance levels, so that is harmless.
  return Math.max(0, 1 - below);
}
