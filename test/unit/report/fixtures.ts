// SPDX-License-Identifier: Apache-2.0
// Report test fixtures: the results.json files under test/fixtures/results/, copies in temp dirs, and
// candidates made by shifting a fixture's samples (then re-aggregating, as the runner would).
import { cpSync, mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { aggregate, type Results, type SampleRecord } from '../../../src/runner/results.ts';
import { loadResults } from '../../../src/report/load.ts';

export const FIXTURES = resolve(import.meta.dirname, '../../fixtures/results');
export type FixtureName = 'synthetic-4x5' | 'single-step';

export function fixture(name: FixtureName): Results {
  return loadResults(join(FIXTURES, name)).results;
}

/** a fresh copy of a fixture run folder (results.json and, if any, scenario.yaml) in a temp dir */
export function copyFixture(name: FixtureName, into = mkdtempSync(join(tmpdir(), 'dpbench-report-'))): string {
  const dir = join(into, name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

export function writeRun(root: string, name: string, results: Results): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results));
  return dir;
}

/** scales the latency of matching samples by `factor` (and their transaction rate by 1/factor) */
export function shiftLatency(res: Results, match: (s: SampleRecord) => boolean, factor: number, id = `${res.run.id}-shifted`): Results {
  const samples = res.samples.map((s) => {
    if (!match(s) || !s.latencyUs) return s;
    const latencyUs = Object.fromEntries(Object.entries(s.latencyUs).map(([k, v]) => [k, v * factor])) as SampleRecord['latencyUs'];
    return { ...s, latencyUs, transactionsPerSec: s.transactionsPerSec && s.transactionsPerSec / factor };
  });
  return { ...res, run: { ...res.run, id }, samples, results: aggregate(samples, res.syncs) };
}

/**
 * SYNTHETIC, in the shape of scenarios/policy-scale.yaml: iptables and nftables at 1 service × 0 / 100 / 1,000 /
 * 5,000 NetworkPolicies; the single-step fixture's pod → pod TCP_RR samples with latency growing per policy
 * (iptables linearly, nftables barely), 10 propagation samples per step alternating direction, one sync per node.
 */
export function policyFixture(): Results {
  const base = fixture('single-step');
  const steps = [0, 100, 1000, 5000];
  const datapaths = ['iptables', 'nftables'] as const;
  const slope = { iptables: 0.6, nftables: 0.08 } as const;
  const rr = base.samples.filter((s) => s.test === 'TCP_RR' && s.path === 'pod-to-pod-cross-node');
  const samples: SampleRecord[] = [];
  const syncs: Results['syncs'] = [];
  for (const datapath of datapaths) {
    for (const policies of steps) {
      const factor = 1 + (policies / 5000) * slope[datapath];
      for (const s of rr) {
        const latencyUs = Object.fromEntries(Object.entries(s.latencyUs!).map(([k, v]) => [k, v * factor])) as SampleRecord['latencyUs'];
        samples.push({ ...s, datapath, services: 1, policies, latencyUs, transactionsPerSec: s.transactionsPerSec! / factor });
      }
      for (let i = 0; i < 10; i++) {
        const jitter = 1 + (((i * 7919 + policies) % 13) - 6) / 40;
        const ms = (datapath === 'iptables' ? 40 + policies * 0.05 : 30 + policies * 0.004) * jitter;
        samples.push({
          ...rr[0]!, datapath, services: 1, policies, test: 'NETPOL_PROPAGATION', sample: i + 1, valid: true, reasons: [],
          latencyUs: undefined, transactionsPerSec: undefined, cpu: undefined, netperf: undefined,
          propagation: { direction: i % 2 ? 'deny-to-allow' : 'allow-to-deny', latencyMs: ms, syncMs: ms * 0.6, attempts: Math.ceil(ms / 2) },
        });
      }
      for (const y of base.syncs) {
        syncs.push({ ...y, datapath, services: 1, policies, durationMs: 5 + policies * (datapath === 'iptables' ? 0.4 : 0.05), rules: 20 + policies * 3 });
      }
    }
  }
  return {
    ...base,
    run: {
      ...base.run, id: '20261201-030000-policy-scale', scenario: 'policy-scale', description: 'SYNTHETIC fixture in the shape of policy-scale',
      datapaths: [...datapaths], serviceSteps: [1], policySteps: steps,
      workloads: [{ test: 'NETPOL_PROPAGATION', path: 'pod-to-pod-cross-node', duration: 3, samples: 10 }, { test: 'TCP_RR', path: 'pod-to-pod-cross-node', duration: 2, samples: 3 }],
    },
    samples,
    syncs,
    results: aggregate(samples, syncs),
  };
}

/**
 * SYNTHETIC, in the shape of scenarios/churn.yaml: iptables and nftables at 1,000 and 10,000 services; the 4 × 5
 * fixture's TCP_CRR pod → service samples, again during churn (slower, iptables more so), and one kube-burner churn
 * record per datapath and step (programming latencies per service, every sync's duration, the agent's CPU).
 */
export function churnFixture(): Results {
  const base = fixture('synthetic-4x5');
  const datapaths = ['iptables', 'nftables'] as const;
  const steps = [1000, 10000];
  const keep = (s: { datapath: string; services: number }): boolean => (datapaths as readonly string[]).includes(s.datapath) && steps.includes(s.services);
  const crr = base.samples.filter((s) => keep(s) && s.test === 'TCP_CRR' && s.path === 'pod-to-service');
  const slower = { iptables: 1.5, nftables: 1.15 } as const;
  const during = crr.map((s): SampleRecord => {
    const f = slower[s.datapath as keyof typeof slower];
    const latencyUs = Object.fromEntries(Object.entries(s.latencyUs!).map(([k, v]) => [k, v * f])) as SampleRecord['latencyUs'];
    return { ...s, phase: 'churn', latencyUs, transactionsPerSec: s.transactionsPerSec! / f };
  });
  const churn = datapaths.flatMap((datapath) => steps.map((services) => {
    const perSync = datapath === 'iptables' ? services / 20 : services / 150;
    return {
      datapath, services, jobs: 'churn-jobs/jobs.yaml', minSyncPeriodMs: 1000,
      programmingLatencyMs: Array.from({ length: 40 }, (_, i) => 1000 + perSync * 0.5 + ((i * 37) % 23) * 12),
      syncDurationsMs: Array.from({ length: 30 }, (_, i) => perSync * (1 + ((i * 13) % 7) / 20)),
      agentCpuMs: perSync * 30, podsCreated: 60, podsDeleted: 20, servicesCreated: 28, unreached: [], abandoned: 0, durationS: 95,
    };
  }));
  const samples = [...crr, ...during];
  const syncs = base.syncs.filter(keep);
  return {
    ...base,
    run: {
      ...base.run, id: '20261201-040000-churn', scenario: 'churn', description: 'SYNTHETIC fixture in the shape of churn',
      datapaths: [...datapaths], serviceSteps: steps, workloads: [{ test: 'TCP_CRR', path: 'pod-to-service', duration: 2, samples: 6 }],
    },
    samples,
    syncs,
    churn,
    results: aggregate(samples, syncs, churn),
  };
}
