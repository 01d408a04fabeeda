// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { median, quantile, summarize } from '../../../src/measure/stats.ts';

describe('median and quantile', () => {
  it('median of an odd count is the middle value, whatever the input order', () => {
    expect(median([9, 1, 5, 3, 7])).toBe(5);
  });

  it('median of an even count is the mean of the two middle values', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('does not reorder its input', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });

  it('quantile interpolates linearly (type 7, as R and numpy)', () => {
    const values = [10, 20, 30, 40, 50];
    expect(quantile(values, 0)).toBe(10);
    expect(quantile(values, 1)).toBe(50);
    expect(quantile(values, 0.9)).toBe(46); // h = 3.6 → 40 + 0.6·10
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75); // R: quantile(1:4, 0.25)
  });

  it('rejects empty input, non-finite values and q outside [0, 1]', () => {
    expect(() => median([])).toThrow(RangeError);
    expect(() => median([1, Number.NaN])).toThrow(RangeError);
    expect(() => quantile([1, 2], 1.5)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('n = 5 cannot reach 95%: [min, max] at 1 - 2/2^5 = 0.9375', () => {
    expect(summarize([56, 73, 61, 58, 90])).toEqual({
      n: 5,
      median: 61,
      min: 56,
      max: 90,
      mean: 67.6,
      // type 7: h = 0.99 × 4 = 3.96 → 73 + 0.96 × (90 − 73)
      p99: 89.32,
      ci95: { low: 56, high: 90, level: 0.9375 },
    });
  });

  it('n = 10: 2nd and 9th order statistics, level 1 - 2·11/1024', () => {
    const s = summarize([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]);
    expect(s.median).toBe(5.5);
    expect(s.ci95).toEqual({ low: 2, high: 9, level: 0.978515625 });
  });

  it('n = 6 is the first count that reaches 95% with [min, max]', () => {
    expect(summarize([1, 2, 3, 4, 5, 6]).ci95).toEqual({ low: 1, high: 6, level: 0.96875 });
  });

  it('n = 20: 6th and 15th order statistics (textbook table)', () => {
    const values = Array.from({ length: 20 }, (_, i) => 100 + i);
    const { ci95 } = summarize(values);
    expect(ci95.low).toBe(105);
    expect(ci95.high).toBe(114);
    expect(ci95.level).toBeCloseTo(1 - (2 * 21700) / 2 ** 20, 12);
  });

  it('n = 1: a point, with no coverage to claim', () => {
    expect(summarize([42])).toEqual({ n: 1, median: 42, min: 42, max: 42, mean: 42, p99: 42, ci95: { low: 42, high: 42, level: 0 } });
  });

  it('large n (log-space binomial) agrees with exact rational arithmetic', () => {
    const n = 2001;
    const { ci95 } = summarize(Array.from({ length: n }, (_, i) => i + 1));
    // exact: python fractions + math.comb give ranks 957 and 1045, level 0.9508724843431974
    expect(ci95.low).toBe(957);
    expect(ci95.high).toBe(1045);
    expect(ci95.level).toBeCloseTo(0.9508724843431974, 9);
  });
});
