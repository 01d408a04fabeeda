// SPDX-License-Identifier: Apache-2.0
// Summary statistics for repeated samples. Datapath latencies are skewed and noisy, so the centre is the
// median and its confidence interval is distribution-free (binomial order statistics), not mean ± t·s.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  /** 99th percentile (linear interpolation): meaningful for distributions such as per-sync or per-endpoint latency */
  p99: number;
  /** interval of the median; level is the coverage actually achieved (>= 0.95 unless n is too small) */
  ci95: { low: number; high: number; level: number };
}

const TARGET_LEVEL = 0.95;

function sortedFinite(values: readonly number[], what: string): number[] {
  if (values.length === 0) throw new RangeError(`${what} of no values`);
  if (values.some((v) => !Number.isFinite(v))) throw new RangeError(`${what}: values must be finite numbers`);
  return [...values].sort((a, b) => a - b);
}

/** Type 7 quantile (R's default, numpy's linear) of already sorted values. */
function quantileSorted(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const low = sorted[lo]!;
  const high = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return low + (h - lo) * (high - low);
}

export function quantile(values: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  return quantileSorted(sortedFinite(values, 'quantile'), q);
}

export function median(values: readonly number[]): number {
  return quantileSorted(sortedFinite(values, 'median'), 0.5);
}

/**
 * P(B <= m) for B ~ Binomial(n, 1/2), for m = 0 .. upTo. Small n in plain floating point so the
 * dyadic results (e.g. 11/1024) are exact; large n in log space, where 2^-n would underflow.
 */
function binomialHalfCdf(n: number, upTo: number): number[] {
  const cdf: number[] = [];
  let total = 0;
  if (n <= 1000) {
    let pmf = 2 ** -n;
    for (let i = 0; i <= upTo; i++) {
      total += pmf;
      cdf.push(total);
      pmf = (pmf * (n - i)) / (i + 1);
    }
  } else {
    let logPmf = -n * Math.LN2;
    for (let i = 0; i <= upTo; i++) {
      total += Math.exp(logPmf);
      cdf.push(total);
      logPmf += Math.log(n - i) - Math.log(i + 1);
    }
  }
  return cdf;
}

/**
 * The interval [x(j), x(n+1-j)] (1-based order statistics) covers the median with probability
 * 1 - 2·P(B <= j-1). Take the narrowest with coverage >= 95%; with n <= 5 none exists, so report
 * [min, max] and the lower level it really has.
 */
function medianInterval(sorted: readonly number[]): Summary['ci95'] {
  const n = sorted.length;
  const cdf = binomialHalfCdf(n, Math.floor((n - 1) / 2));
  let j = 1;
  while (j < cdf.length && 1 - 2 * cdf[j]! >= TARGET_LEVEL) j++;
  const level = Math.max(0, 1 - 2 * cdf[j - 1]!);
  return { low: sorted[j - 1]!, high: sorted[n - j]!, level };
}

export function summarize(values: readonly number[]): Summary {
  const sorted = sortedFinite(values, 'summarize');
  const sum = sorted.reduce((acc, v) => acc + v, 0);
  return {
    n: sorted.length,
    median: quantileSorted(sorted, 0.5),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
    p99: quantileSorted(sorted, 0.99),
    ci95: medianInterval(sorted),
  };
}
