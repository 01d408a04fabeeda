// SPDX-License-Identifier: Apache-2.0
// Comparison statistics on known data: Mann–Whitney p-values checked against scipy and brute-force
// enumeration, a deterministic bootstrap, and the regression rule (beyond tolerance AND significant).
import { describe, expect, it } from 'vitest';
import {
  bootstrapRatioCi, compareSamples, mannWhitneyU, mulberry32, normalUpperTail, seedFrom, smallestExactP, type CompareOptions,
} from '../../../src/report/compare-stats.ts';

const latency: CompareOptions = { direction: 'higher-is-worse', tolerance: 0.1, alpha: 0.05, seed: 7 };
const rate: CompareOptions = { ...latency, direction: 'lower-is-worse' };

/** n samples around `centre` with ±spread relative noise from a seeded PRNG */
function noisy(n: number, centre: number, spread: number, seed: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => centre * (1 + spread * (2 * rand() - 1)));
}

describe('mulberry32 and seedFrom', () => {
  it('the same seed gives the same sequence, in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('seedFrom is stable and differs between keys', () => {
    expect(seedFrom('iptables|1000|TCP_CRR')).toBe(seedFrom('iptables|1000|TCP_CRR'));
    expect(seedFrom('iptables|1000|TCP_CRR')).not.toBe(seedFrom('iptables|1000|TCP_RR'));
  });
});

describe('mannWhitneyU', () => {
  it('exact p for fully separated samples (scipy: 0.1 for 3 vs 3, 2/252 for 5 vs 5)', () => {
    expect(mannWhitneyU([1, 2, 3], [4, 5, 6])).toEqual({ u: 0, p: 0.1, method: 'exact' });
    expect(mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p).toBeCloseTo(2 / 252, 12);
    expect(mannWhitneyU([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]).u).toBe(25);
  });

  it('exact with ties: matches enumeration of every split of the midranks', () => {
    // brute force over all C(15,7) splits: 0.14188034188034188
    const r = mannWhitneyU([10, 12, 12, 14, 15, 15, 15], [11, 12, 13, 16, 17, 18, 18, 20]);
    expect(r.method).toBe('exact');
    expect(r.u).toBe(15);
    expect(r.p).toBeCloseTo(0.14188034188034188, 12);
  });

  it('identical samples: p = 1', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5, 5]).p).toBe(1);
    expect(mannWhitneyU([1, 2, 3, 4], [1, 2, 3, 4]).p).toBe(1);
  });

  it('normal approximation for large samples (scipy asymptotic, continuity-corrected: 0.06856)', () => {
    const x = Array.from({ length: 40 }, (_, i) => i);
    const y = Array.from({ length: 35 }, (_, i) => i + 7.5);
    const r = mannWhitneyU(x, y);
    expect(r).toMatchObject({ u: 528, method: 'normal' });
    expect(r.p).toBeCloseTo(0.06855970814103057, 6);
  });

  it('normalUpperTail matches known quantiles', () => {
    expect(normalUpperTail(0)).toBeCloseTo(0.5, 7);
    expect(normalUpperTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalUpperTail(-1.644854)).toBeCloseTo(0.95, 6);
  });

  it('smallestExactP: 3 vs 3 samples can never reach 0.05', () => {
    expect(smallestExactP(3, 3)).toBeCloseTo(0.1, 12);
    expect(smallestExactP(5, 5)).toBeCloseTo(2 / 252, 12);
  });
});

describe('bootstrapRatioCi', () => {
  it('is deterministic for a seed and brackets the observed ratio', () => {
    const b = [100, 101, 99, 102, 98];
    const c = [130, 131, 129, 133, 128];
    const ci = bootstrapRatioCi(b, c, { seed: 1 });
    expect(ci).toEqual(bootstrapRatioCi(b, c, { seed: 1 }));
    expect(ci!.low).toBeLessThanOrEqual(1.3);
    expect(ci!.high).toBeGreaterThanOrEqual(1.3);
    expect(ci!.low).toBeGreaterThan(1.2);
  });

  it('is a point when both sides are constant, and null when the baseline is all zero', () => {
    expect(bootstrapRatioCi([10, 10, 10], [12, 12, 12], { seed: 3 })).toEqual({ low: 1.2, high: 1.2 });
    expect(bootstrapRatioCi([0, 0, 0], [1, 2, 3], { seed: 3 })).toBeNull();
  });
});

describe('compareSamples: the regression rule', () => {
  it('identical samples: unchanged, ratio 1', () => {
    const s = noisy(8, 150, 0.05, 1);
    const r = compareSamples(s, s, latency);
    expect(r.verdict).toBe('unchanged');
    expect(r.ratio).toBe(1);
    expect(r.p).toBe(1);
  });

  it('clearly shifted latency (+30%, 8 samples each): regression', () => {
    const r = compareSamples(noisy(8, 150, 0.05, 1), noisy(8, 195, 0.05, 2), latency);
    expect(r.verdict).toBe('regression');
    expect(r.ratio!).toBeGreaterThan(1.2);
    expect(r.p!).toBeLessThan(0.001);
    expect(r.ci95!.low).toBeGreaterThan(1.1);
  });

  it('small noisy shift within tolerance (+4%): not a regression, even if significant', () => {
    const r = compareSamples(noisy(20, 150, 0.02, 3), noisy(20, 156, 0.02, 4), latency);
    expect(r.p!).toBeLessThan(0.05);
    expect(r.verdict).toBe('unchanged');
  });

  it('big shift on noise (not significant): inconclusive, not a regression', () => {
    const r = compareSamples([100, 300, 120, 280, 110], [150, 320, 130, 290, 200], latency);
    expect(r.ratio!).toBeGreaterThan(1.1);
    expect(r.p!).toBeGreaterThanOrEqual(0.05);
    expect(r.verdict).toBe('inconclusive');
  });

  it('3 vs 3 samples: inconclusive, and the reason says to add samples', () => {
    const r = compareSamples([100, 101, 99], [130, 131, 129], latency);
    expect(r.verdict).toBe('inconclusive');
    expect(r.reason).toMatch(/cannot reach p < 0.05.*add samples/);
  });

  it('direction: falling throughput regresses, rising throughput improves, rising latency is not an improvement', () => {
    const base = noisy(8, 6000, 0.03, 5);
    const lower = noisy(8, 4800, 0.03, 6);
    expect(compareSamples(base, lower, rate).verdict).toBe('regression');
    expect(compareSamples(lower, base, rate).verdict).toBe('improvement');
    expect(compareSamples(lower, base, latency).verdict).toBe('regression');
    expect(compareSamples(base, lower, latency).verdict).toBe('improvement');
  });

  it('neutral metrics are never judged', () => {
    expect(compareSamples([10, 10], [20, 20], { ...latency, direction: 'neutral' }).verdict).toBe('inconclusive');
    expect(compareSamples([10, 10], [10, 10], { ...latency, direction: 'neutral' }).verdict).toBe('unchanged');
  });

  it('a missing side is no-data', () => {
    expect(compareSamples([], [1, 2], latency)).toMatchObject({ verdict: 'no-data', ratio: null, reason: 'no valid samples in the baseline' });
    expect(compareSamples([1, 2], [], latency).verdict).toBe('no-data');
  });

  it('tolerance and alpha are honoured', () => {
    const b = noisy(8, 150, 0.02, 1);
    const c = noisy(8, 170, 0.02, 2); // ~+13%
    expect(compareSamples(b, c, latency).verdict).toBe('regression');
    expect(compareSamples(b, c, { ...latency, tolerance: 0.2 }).verdict).toBe('unchanged');
    expect(compareSamples(b, c, { ...latency, alpha: 0.0001 }).verdict).toBe('inconclusive');
  });
});
