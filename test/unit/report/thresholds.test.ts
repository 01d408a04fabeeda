// SPDX-License-Identifier: Apache-2.0
// Thresholds: the schema (unknown keys and half-specified bounds rejected with file:path) and the pure checker
// against the synthetic 4 × 5 fixture.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../../src/errors.ts';
import { scenarioSchema, thresholdsSchema, type ThresholdSpec } from '../../../src/runner/scenario/schema.ts';
import { loadYamlConfig, parseYamlConfig } from '../../../src/runner/scenario/yaml-config.ts';
import { breachedLines, checkThresholds, describeThreshold } from '../../../src/report/thresholds.ts';
import { churnFixture, FIXTURES, fixture, policyFixture } from './fixtures.ts';

const res = fixture('synthetic-4x5');
const t = (spec: Partial<ThresholdSpec> & Pick<ThresholdSpec, 'metric'>): ThresholdSpec => thresholdsSchema.parse([spec])[0]!;

function configIssues(yaml: string): string[] {
  try {
    parseYamlConfig(yaml, 'x.yaml', z.strictObject({ thresholds: thresholdsSchema }), 'scenario');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('threshold schema', () => {
  it('accepts both documented forms and defaults stat to median', () => {
    const parsed = thresholdsSchema.parse([
      { metric: 'latency_p99', test: 'TCP_CRR', path: 'pod-to-service', datapath: 'iptables', services: 1000, max: 500 },
      { metric: 'latency_p50', test: 'TCP_CRR', datapath: 'ebpf', relativeTo: { datapath: 'none' }, maxRatio: 1.15 },
    ]);
    expect(parsed.map((p) => p.stat)).toEqual(['median', 'median']);
  });

  it('the fixture scenario with thresholds validates against the full scenario schema', () => {
    const s = loadYamlConfig(`${FIXTURES}/synthetic-4x5/scenario.yaml`, scenarioSchema, 'scenario');
    expect(s.thresholds).toHaveLength(5);
  });

  it('rejects unknown keys, missing or mixed bounds, and self-references, naming file:path', () => {
    const issues = configIssues(`thresholds:
  - { metric: latency_p99, maximum: 500 }
  - { metric: latency_p50, maxRatio: 2 }
  - { metric: latency_p50, max: 3, relativeTo: { datapath: none }, maxRatio: 2 }
  - { metric: latency_p50, datapath: none, relativeTo: { datapath: none }, maxRatio: 2 }
  - { metric: p50, max: 1 }
  - { metric: latency_p50, min: 5, max: 1 }
`);
    expect(issues.join('\n')).toContain('x.yaml:thresholds.0.maximum (line 2): unknown key "maximum"');
    expect(issues).toContain('x.yaml:thresholds.0 (line 2): expected a bound: min and/or max, or relativeTo with minRatio and/or maxRatio');
    expect(issues).toContain('x.yaml:thresholds.1.relativeTo (line 3): missing; minRatio/maxRatio need relativeTo: { datapath }, { services } and/or { policies }');
    expect(issues).toContain('x.yaml:thresholds.2.relativeTo (line 4): expected either min/max or relativeTo with minRatio/maxRatio, not both');
    expect(issues).toContain('x.yaml:thresholds.3.relativeTo.datapath (line 5): the reference is the record itself; expected another datapath, services or policies');
    expect(issues.some((i) => i.startsWith('x.yaml:thresholds.4.metric (line 6): expected one of'))).toBe(true);
    expect(issues).toContain('x.yaml:thresholds.5.min (line 7): min is above max');
  });
});

describe('checkThresholds', () => {
  it('absolute max: breached at the steps where iptables TCP_CRR p99 exceeds it, naming record and values', () => {
    const [o] = checkThresholds(res, [t({ metric: 'latency_p99', test: 'TCP_CRR', path: 'pod-to-service', datapath: 'iptables', max: 600 })]);
    expect(o!.status).toBe('breached');
    expect(o!.checks).toHaveLength(5);
    expect(o!.checks.filter((c) => !c.ok).map((c) => c.record.services)).toEqual([20000]);
    expect(breachedLines([o!])[0]).toMatch(/^threshold #1 \(latency_p99 TCP_CRR pod-to-service iptables ≤ 600\): iptables TCP_CRR pod-to-service @20000 services: latency_p99 \d+ us > max 600 us$/);
  });

  it('omitted selector keys match every value; min bound', () => {
    const [o] = checkThresholds(res, [t({ metric: 'throughput', min: 3000 })]);
    expect(o!.status).toBe('pass');
    expect(o!.checks).toHaveLength(4 * 5);
    const [high] = checkThresholds(res, [t({ metric: 'throughput', min: 6000 })]);
    expect(high!.status).toBe('breached');
  });

  it('ratio: ebpf vs none passes; iptables vs none breaches at scale; reference records are not checked against themselves', () => {
    const [ebpf, ipt] = checkThresholds(res, [
      t({ metric: 'latency_p50', test: 'TCP_CRR', path: 'pod-to-service', datapath: 'ebpf', relativeTo: { datapath: 'none' }, maxRatio: 1.15 }),
      t({ metric: 'latency_p50', test: 'TCP_CRR', path: 'pod-to-service', relativeTo: { datapath: 'none' }, maxRatio: 2 }),
    ]);
    expect(ebpf!.status).toBe('pass');
    expect(ebpf!.checks.every((c) => c.observed! > 0.8 && c.observed! < 1.15)).toBe(true);
    expect(ipt!.checks.some((c) => c.record.datapath === 'none')).toBe(false);
    expect(ipt!.checks.filter((c) => !c.ok).map((c) => `${c.record.datapath}@${c.record.services}`)).toEqual(['iptables@10000', 'iptables@20000']);
    expect(ipt!.checks.find((c) => !c.ok)!.message).toMatch(/= \d\.\d\d× none TCP_CRR pod-to-service @10000 services \(\d+ us\) > maxRatio 2/);
  });

  it('ratio against another step of the same datapath', () => {
    const [o] = checkThresholds(res, [t({ metric: 'latency_p50', test: 'TCP_CRR', path: 'pod-to-service', datapath: 'nftables', relativeTo: { services: 1 }, maxRatio: 1.3 })]);
    expect(o!.status).toBe('pass');
    expect(o!.checks.map((c) => c.record.services)).toEqual([1000, 5000, 10000, 20000]);
  });

  it('a threshold matching nothing is not evaluated (not a pass, not a breach)', () => {
    const [o] = checkThresholds(res, [t({ metric: 'latency_p50', datapath: 'xdp', max: 100 })]);
    expect(o).toMatchObject({ status: 'not-evaluated', checks: [] });
    expect(breachedLines([o!])).toEqual([]);
  });

  it('a record without one valid sample breaches: nothing shows it passed', () => {
    const broken = { results: res.results.map((r) => (r.datapath === 'ebpf' && r.metric === 'throughput' ? { ...r, samples: [], summary: null, invalid: [{ sample: 1, reasons: ['x'] }] } : r)) };
    const [o] = checkThresholds(broken, [t({ metric: 'throughput', datapath: 'ebpf', min: 1 })]);
    expect(o!.status).toBe('breached');
    expect(o!.checks[0]!.message).toMatch(/no valid sample to check \(1 invalid\)/);
  });

  it('stat picks the statistic compared: the CI high end is stricter than the median', () => {
    const base = { metric: 'latency_p50', test: 'TCP_CRR', path: 'pod-to-service', datapath: 'none', services: 1 } as const;
    const median = checkThresholds(res, [t({ ...base, max: 150 })])[0]!;
    const high = checkThresholds(res, [t({ ...base, stat: 'ci95High', max: 150 })])[0]!;
    expect(median.status).toBe('pass');
    expect(high.status).toBe('breached');
  });

  it('policy runs: select by policies, compare with another policy step, propagation metrics', () => {
    const policy = policyFixture();
    const [abs, ratio, prop] = checkThresholds(policy, [
      t({ metric: 'latency_p50', test: 'TCP_RR', policies: 5000, max: 1 }),
      t({ metric: 'latency_p50', test: 'TCP_RR', relativeTo: { policies: 0 }, maxRatio: 1.3 }),
      t({ metric: 'propagation_allow_to_deny', test: 'NETPOL_PROPAGATION', datapath: 'nftables', max: 100 }),
    ]);
    expect(abs!.checks).toHaveLength(2);
    expect(breachedLines([abs!])[0]).toMatch(/^threshold #1 \(latency_p50 TCP_RR every datapath @5000 policies ≤ 1\): iptables TCP_RR pod-to-pod-cross-node @1 services, 5000 policies: latency_p50/);
    // iptables grows 60% from 0 to 5,000 policies, nftables 8%; the 0-policy records are the references
    expect(ratio!.checks).toHaveLength(2 * 3);
    expect(ratio!.checks.filter((c) => !c.ok).map((c) => `${c.record.datapath}@${c.record.policies}`)).toEqual(['iptables@5000']);
    expect(prop).toMatchObject({ status: 'pass' });
    expect(prop!.checks).toHaveLength(4);
  });

  it('churn runs: phase picks the records measured during churn (or steady ones); churn metrics', () => {
    const churn = churnFixture();
    const [during, steady, all, programming] = checkThresholds(churn, [
      t({ metric: 'latency_p50', test: 'TCP_CRR', phase: 'churn', max: 1e6 }),
      t({ metric: 'latency_p50', test: 'TCP_CRR', phase: 'steady', max: 1e6 }),
      t({ metric: 'latency_p50', test: 'TCP_CRR', max: 1e6 }),
      t({ metric: 'endpoint_programming_latency', datapath: 'iptables', max: 1200 }),
    ]);
    expect(during!.checks).toHaveLength(4);
    expect(during!.checks.every((c) => c.record.phase === 'churn')).toBe(true);
    expect(steady!.checks).toHaveLength(4);
    expect(all!.checks).toHaveLength(8);
    expect(programming!.status).toBe('breached');
    expect(breachedLines([programming!])[0]).toMatch(/iptables churn @10000 services: endpoint_programming_latency \d+ ms > max 1200 ms$/);
  });

  it('describes thresholds readably, or by name', () => {
    expect(describeThreshold(t({ metric: 'latency_p50', test: 'TCP_CRR', datapath: 'ebpf', relativeTo: { datapath: 'none' }, maxRatio: 1.15 })))
      .toBe('latency_p50 TCP_CRR ebpf ≤ 1.15× none');
    expect(describeThreshold(t({ metric: 'sync_duration', services: 1000, max: 2000, name: 'sync under 2 s' }))).toBe('sync under 2 s');
  });
});
