// SPDX-License-Identifier: Apache-2.0
// Pure statistics for comparing a candidate run with a baseline, one metric record at a time: the ratio of
// medians with a seeded bootstrap 95% CI, and a two-sided Mann–Whitney U test (exact with ties for small
// samples, normal approximation beyond). A regression needs both: a change past the tolerance in the bad
// direction AND significance — a big change on noise, or a significant change of 1%, is not one.
import { median } from '../measure/stats.ts';
import { mulberry32 } from '../util/random.ts';

export { mulberry32 };

/** which way is bad for a metric; `neutral` metrics are reported but never judged */
export type Direction = 'higher-is-worse' | 'lower-is-worse' | 'neutral';
export type Verdict = 'regression' | 'improvement' | 'unchanged' | 'inconclusive' | 'no-data';

export interface MannWhitney {
  /** U of the first sample */
  u: number;
  /** two-sided p-value */
  p: number;
  method: 'exact' | 'normal';
}

export interface SampleComparison {
  baselineMedian: number | null;
  candidateMedian: number | null;
  /** candidate median / baseline median; null when either side has no samples or the baseline median is 0 */
  ratio: number | null;
  ci95: { low: number; high: number } | null;
  p: number | null;
  method: MannWhitney['method'] | null;
  verdict: Verdict;
  /** one line a person can act on */
  reason: string;
  /** for an inconclusive verdict, why it is not a verdict, without the change itself (tables show that already) */
  why?: string;
}

export interface CompareOptions {
  direction: Direction;
  /** relative change treated as noise, e.g. 0.10 */
  tolerance: number;
  /** significance level, e.g. 0.05 */
  alpha: number;
  /** PRNG seed: the same inputs and seed give the same CI */
  seed: number;
  resamples?: number;
}

/** FNV-1a: a per-record seed from its key, so a record's CI does not depend on which records came before it */
export function seedFrom(text: string, base = 0): number {
  let h = (0x811c9dc5 ^ base) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function resampledMedian(values: readonly number[], rand: () => number, scratch: number[]): number {
  for (let i = 0; i < values.length; i++) scratch[i] = values[Math.floor(rand() * values.length)]!;
  scratch.sort((a, b) => a - b);
  const n = values.length;
  return n % 2 ? scratch[(n - 1) / 2]! : (scratch[n / 2 - 1]! + scratch[n / 2]!) / 2;
}

/** percentile bootstrap CI of median(candidate) / median(baseline), resampling each side independently */
export function bootstrapRatioCi(
  baseline: readonly number[],
  candidate: readonly number[],
  opts: { seed: number; resamples?: number; level?: number },
): { low: number; high: number } | null {
  if (!baseline.length || !candidate.length) return null;
  const rand = mulberry32(opts.seed);
  const resamples = opts.resamples ?? 2000;
  const ratios: number[] = [];
  const sb = new Array<number>(baseline.length);
  const sc = new Array<number>(candidate.length);
  for (let i = 0; i < resamples; i++) {
    const b = resampledMedian(baseline, rand, sb);
    const c = resampledMedian(candidate, rand, sc);
    if (b !== 0) ratios.push(c / b);
  }
  if (ratios.length < resamples / 2) return null; // baseline mostly zero: a ratio means nothing
  ratios.sort((x, y) => x - y);
  const tail = (1 - (opts.level ?? 0.95)) / 2;
  const at = (q: number): number => ratios[Math.min(ratios.length - 1, Math.max(0, Math.floor(q * ratios.length)))]!;
  return { low: at(tail), high: at(1 - tail) };
}

/** midranks (ties share the mean of their ranks), 1-based, in input order */
function midranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

/** above this many values in total the exact distribution gives way to the normal approximation */
const EXACT_LIMIT = 60;

/**
 * Two-sided Mann–Whitney U. Exact: the permutation distribution of the first sample's rank sum, counted by
 * dynamic programming over doubled midranks (integers), so ties are handled exactly. Normal: tie-corrected
 * variance with continuity correction.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (!n1 || !n2) throw new RangeError('mannWhitneyU: both samples need at least one value');
  const all = [...a, ...b];
  const ranks = midranks(all);
  const n = n1 + n2;
  const rankSum = ranks.slice(0, n1).reduce((s, r) => s + r, 0);
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  if (n <= EXACT_LIMIT) {
    const doubled = ranks.map((r) => Math.round(r * 2));
    const total = doubled.reduce((s, r) => s + r, 0);
    // ways[k][s]: subsets of size k whose doubled rank sum is s
    const ways = Array.from({ length: n1 + 1 }, () => new Float64Array(total + 1));
    ways[0]![0] = 1;
    doubled.forEach((r, i) => {
      for (let k = Math.min(i + 1, n1); k >= 1; k--) {
        const from = ways[k - 1]!;
        const to = ways[k]!;
        for (let s = total - r; s >= 0; s--) if (from[s]) to[s + r]! += from[s]!;
      }
    });
    const dist = ways[n1]!;
    const mean = n1 * (n + 1); // in doubled units
    const observed = Math.abs(Math.round(rankSum * 2) - mean);
    let extreme = 0;
    let all2 = 0;
    for (let s = 0; s <= total; s++) {
      if (!dist[s]) continue;
      all2 += dist[s]!;
      if (Math.abs(s - mean) >= observed) extreme += dist[s]!;
    }
    return { u, p: Math.min(1, extreme / all2), method: 'exact' };
  }
  const tieGroups = new Map<number, number>();
  for (const r of ranks) tieGroups.set(r, (tieGroups.get(r) ?? 0) + 1);
  const tieTerm = [...tieGroups.values()].reduce((s, t) => s + (t ** 3 - t), 0);
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, p: 1, method: 'normal' };
  const z = Math.max(0, Math.abs(u - (n1 * n2) / 2) - 0.5) / Math.sqrt(variance);
  return { u, p: Math.min(1, 2 * normalUpperTail(z)), method: 'normal' };
}

/** P(Z > z) for a standard normal, via erfc (Numerical Recipes' erfcc, |error| < 1.2e-7) */
export function normalUpperTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const poly =
    -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/** the smallest two-sided p an exact test can reach with these sample sizes (no ties): 2 / C(n1+n2, n1) */
export function smallestExactP(n1: number, n2: number): number {
  let c = 1;
  for (let i = 1; i <= n1; i++) c = (c * (n2 + i)) / i;
  return Math.min(1, 2 / c);
}

const pct = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)}%`;

export function compareSamples(baseline: readonly number[], candidate: readonly number[], opts: CompareOptions): SampleComparison {
  const none: SampleComparison = {
    baselineMedian: baseline.length ? median(baseline) : null,
    candidateMedian: candidate.length ? median(candidate) : null,
    ratio: null, ci95: null, p: null, method: null, verdict: 'no-data', reason: '',
  };
  if (!baseline.length || !candidate.length) {
    return { ...none, reason: `no valid samples in the ${baseline.length ? 'candidate' : 'baseline'}` };
  }
  const b = none.baselineMedian!;
  const c = none.candidateMedian!;
  const mw = mannWhitneyU(candidate, baseline);
  const base = { ...none, p: mw.p, method: mw.method };
  if (b === 0) {
    return { ...base, verdict: c === 0 ? 'unchanged' : 'inconclusive', reason: 'baseline median is 0; no ratio' };
  }
  const ratio = c / b;
  const ci95 = bootstrapRatioCi(baseline, candidate, { seed: opts.seed, resamples: opts.resamples });
  const out = { ...base, ratio, ci95 };
  if (opts.direction === 'neutral') {
    return { ...out, verdict: ratio === 1 ? 'unchanged' : 'inconclusive', reason: `${pct(ratio)}; not judged`, ...(ratio === 1 ? {} : { why: 'a count, reported but not judged' }) };
  }
  const worse = opts.direction === 'higher-is-worse' ? ratio > 1 + opts.tolerance : ratio < 1 - opts.tolerance;
  const better = opts.direction === 'higher-is-worse' ? ratio < 1 - opts.tolerance : ratio > 1 + opts.tolerance;
  const significant = mw.p < opts.alpha;
  const pText = `p=${mw.p.toPrecision(2)}`;
  if (!worse && !better) return { ...out, verdict: 'unchanged', reason: `${pct(ratio)} is within ±${(opts.tolerance * 100).toFixed(0)}%` };
  if (significant) return { ...out, verdict: worse ? 'regression' : 'improvement', reason: `${pct(ratio)}, ${pText} < ${opts.alpha}` };
  const floor = smallestExactP(candidate.length, baseline.length);
  const why = floor >= opts.alpha
    ? `${candidate.length} vs ${baseline.length} samples cannot reach p < ${opts.alpha} (best possible ${floor.toPrecision(2)}); add samples`
    : `${pText} ≥ ${opts.alpha}; could be noise`;
  return { ...out, verdict: 'inconclusive', reason: `${pct(ratio)} ${worse ? 'worse' : 'better'}, but ${why}`, why };
}
