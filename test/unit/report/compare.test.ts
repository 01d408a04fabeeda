// SPDX-License-Identifier: Apache-2.0
// compareResults on the synthetic fixture: a run against itself regresses nowhere; a candidate with one
// workload's latency shifted regresses exactly there; setup differences are named.
import { describe, expect, it } from 'vitest';
import { compareResults, compareTable, metricDirection, regressionLines } from '../../../src/report/compare.ts';
import { renderCompareHtml } from '../../../src/report/compare-html.ts';
import { unmeasured } from '../../../src/report/load.ts';
import { churnFixture, fixture, policyFixture, shiftLatency } from './fixtures.ts';

const base = fixture('synthetic-4x5');
const opts = { tolerance: 0.1, alpha: 0.05 };
const iptablesCrr = (s: { datapath: string; test: string; services: number }): boolean => s.datapath === 'iptables' && s.test === 'TCP_CRR' && s.services >= 5000;

describe('metricDirection', () => {
  it('latency and sync time up is bad, throughput and transaction rate down is bad, rules are not judged', () => {
    expect(['latency_p50', 'latency_p99', 'sync_duration'].map(metricDirection)).toEqual(['higher-is-worse', 'higher-is-worse', 'higher-is-worse']);
    expect(['throughput', 'transaction_rate'].map(metricDirection)).toEqual(['lower-is-worse', 'lower-is-worse']);
    expect(metricDirection('rules')).toBe('neutral');
  });
});

describe('compareResults', () => {
  it('a run against itself: every record unchanged, no regression', () => {
    const r = compareResults(base, base, opts);
    expect(r.rows).toHaveLength(base.results.length);
    expect(r.rows.every((x) => x.verdict === 'unchanged')).toBe(true);
    expect(regressionLines(r)).toEqual([]);
    expect(r.setupDifferences).toEqual([]);
  });

  it('is deterministic: the same inputs give the same CIs', () => {
    expect(compareResults(base, base, opts)).toEqual(compareResults(base, base, opts));
  });

  it('iptables TCP_CRR +35% at 5k–20k services: regressions on exactly those latency and rate records', () => {
    const cand = shiftLatency(base, iptablesCrr, 1.35);
    const r = compareResults(base, cand, opts);
    const regressed = r.rows.filter((x) => x.verdict === 'regression');
    expect(regressed.length).toBeGreaterThan(0);
    for (const x of regressed) {
      expect(x).toMatchObject({ datapath: 'iptables', test: 'TCP_CRR' });
      expect(x.services).toBeGreaterThanOrEqual(5000);
    }
    // with 5–6 samples a side every shifted record is significant
    expect(regressed.map((x) => x.metric)).toEqual(expect.arrayContaining(['latency_p50', 'latency_p99', 'transaction_rate']));
    expect(regressionLines(r)[0]).toMatch(/^iptables TCP_CRR pod-to-service @\d+ services \S+: \d+ → \d+ \S+ \(\+35\.0%, p=\S+ < 0\.05\)$/);
  });

  it('a shift within the tolerance is not a regression', () => {
    const r = compareResults(base, shiftLatency(base, iptablesCrr, 1.05), opts);
    expect(regressionLines(r)).toEqual([]);
  });

  it('records in one run only are listed, not compared; setup differences are named', () => {
    const cand = { ...base, environment: { ...base.environment, kernel: '6.19.0' }, results: base.results.filter((x) => x.datapath !== 'ebpf') };
    const r = compareResults(base, cand, opts);
    expect(r.onlyInBaseline.every((k) => k.datapath === 'ebpf')).toBe(true);
    expect(r.onlyInBaseline).toHaveLength(base.results.filter((x) => x.datapath === 'ebpf').length);
    expect(r.setupDifferences).toContain('kernel: 6.18.44-fc-v669 → 6.19.0');
  });
});

describe('a policy run', () => {
  it('records differing only in their policy step are compared separately; propagation slower is a regression', () => {
    const policy = policyFixture();
    const same = compareResults(policy, policy, opts);
    // every measured record (the fixture's CPU was never measured)
    expect(same.rows).toHaveLength(policy.results.filter((r) => !unmeasured(r)).length);
    const slower = {
      ...policy,
      results: policy.results.map((r) => (r.metric === 'propagation_allow_to_deny' && r.datapath === 'iptables' && r.policies === 5000 ? { ...r, samples: r.samples.map((v) => v * 2) } : r)),
    };
    const r = compareResults(policy, slower, opts);
    expect(regressionLines(r)).toEqual([expect.stringMatching(/^iptables NETPOL_PROPAGATION pod-to-pod-cross-node @1 services, 5000 policies propagation_allow_to_deny: \d+ → \d+ ms \(\+100\.0%, p=\S+ < 0\.05\)$/)]);
    expect(compareTable(r).split('\n')[0]).toMatch(/^datapath\s+services\s+policies\s+test/);
    expect(renderCompareHtml(r).includes('id="chart-ratio-netpol-propagation-pod-to-pod-cross-node-propagation-allow-to-deny"')).toBe(true);
  });
});

describe('a churn run', () => {
  it('a workload during churn is compared with itself during churn, not with its steady twin', () => {
    const churn = churnFixture();
    expect(compareResults(churn, churn, opts).rows).toHaveLength(churn.results.length);
    const worse = { ...churn, results: churn.results.map((r) => (r.phase === 'churn' && r.test === 'TCP_CRR' && r.metric === 'latency_p50' ? { ...r, samples: r.samples.map((v) => v * 1.5) } : r)) };
    const r = compareResults(churn, worse, opts);
    const lines = regressionLines(r);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => / TCP_CRR pod-to-service @\d+ services during churn latency_p50: /.test(l))).toBe(true);
    expect(compareTable(r).split('\n')[0]).toMatch(/\spath\s+phase\s+metric\s/);
    expect(renderCompareHtml(r).includes('id="chart-ratio-tcp-crr-pod-to-service-churn-latency-p50"')).toBe(true);
  });
});

describe('output', () => {
  const r = compareResults(base, shiftLatency(base, iptablesCrr, 1.35), opts);

  it('console table: only what moved, regressions first in capitals; --all lists every record', () => {
    const text = compareTable(r);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^datapath\s+services\s+test\s+path\s+metric\s+baseline\s+candidate\s+ratio\s+95% CI\s+p\s+verdict$/);
    const regressed = r.rows.filter((x) => x.verdict === 'regression').length;
    expect(lines.slice(2, 2 + regressed).every((l) => l.endsWith('REGRESSION'))).toBe(true);
    expect(lines.length).toBeLessThan(r.rows.length / 4);
    expect(lines.slice(2).every((l) => !/\bunchanged$/.test(l))).toBe(true);
    const same = compareResults(base, base, opts);
    expect(compareTable(same)).toBe(`no record moved beyond ±10% of the baseline (${same.rows.length} compared; --all lists them)`);
    expect(compareTable(same, true).split('\n')).toHaveLength(2 + same.rows.length);
  });

  it('compare.html: verdict first, each regression listed, charts embedded', () => {
    const html = renderCompareHtml(r);
    expect(html.includes('<section id="verdict">')).toBe(true);
    expect(html.indexOf('id="verdict"')).toBeLessThan(html.indexOf('id="ratios"'));
    expect(/\d+ regressions<\/b>/.test(html)).toBe(true);
    expect(html.includes('id="chart-ratio-tcp-crr-pod-to-service-latency-p50"')).toBe(true);
  });
});
