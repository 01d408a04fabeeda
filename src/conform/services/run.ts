// SPDX-License-Identifier: Apache-2.0
// Runs the services conformance suite: one lab cluster per datapath, the same Services programmed into each,
// every check on every datapath that claims its feature; the rest are "unsupported", never "pass".
import { allPods, type LabPlan } from '../../cluster/lab/plan.ts';
import type { ClusterState } from '../../cluster/state.ts';
import { clientPod, ECHO_PORT } from '../../cluster/objects.ts';
import { DATAPATH_SERVICE_FEATURES } from '../../datapath/features.ts';
import { LabSet } from '../../runner/lab-set.ts';
import { newPrefix } from '../../runner/run.ts';
import type { ClusterShape, Datapath } from '../../runner/scenario/schema.ts';
import { waitForServer } from '../../workload/probe/index.ts';
import { SERVICE_CHECKS, type ServiceCheck, type Verdict } from './checks.ts';
import { conformanceState } from './fixtures.ts';

export interface ConformReport {
  suite: 'services';
  startedAt: string;
  durationS: number;
  cluster: string;
  datapaths: Datapath[];
  checks: { id: string; title: string; feature: string; results: Partial<Record<Datapath, Verdict>> }[];
  /** true when no check failed on any datapath */
  passed: boolean;
}

export interface ConformOptions {
  datapaths: Datapath[];
  shape: ClusterShape;
  iptablesBackend?: 'nft' | 'legacy';
  checks?: ServiceCheck[];
  /** the cluster state to program; default conformanceState (tests break it on purpose to see checks fail) */
  stateFor?: (plan: LabPlan) => ClusterState;
  log?: (line: string) => void;
}

export async function runServiceConformance(opts: ConformOptions): Promise<ConformReport> {
  const started = new Date();
  const checks = opts.checks ?? SERVICE_CHECKS;
  await using labs = await LabSet.create({
    prefix: newPrefix(),
    datapaths: opts.datapaths,
    shape: opts.shape,
    iptablesBackend: opts.iptablesBackend ?? 'nft',
    echoServers: true,
    log: opts.log,
  });
  await labs.syncAll(opts.stateFor ?? conformanceState);
  // every prober server answers pod-to-pod before any check runs, so a slow start is not a datapath failure
  for (const m of labs.members) {
    const client = clientPod(m.plan);
    for (const pod of allPods(m.plan)) await waitForServer(pod === client ? m.plan.nodes[0]!.pods[1]!.netns : client.netns, pod.ip, ECHO_PORT);
  }
  const report: ConformReport = {
    suite: 'services',
    startedAt: started.toISOString(),
    durationS: 0,
    cluster: opts.shape.name,
    datapaths: opts.datapaths,
    checks: [],
    passed: true,
  };
  for (const check of checks) {
    const results: Partial<Record<Datapath, Verdict>> = {};
    for (const m of labs.members) {
      if (!DATAPATH_SERVICE_FEATURES[m.datapath].includes(check.feature)) {
        results[m.datapath] = { status: 'unsupported', reason: `${m.datapath} does not implement ${check.feature}`, evidence: [] };
        continue;
      }
      opts.log?.(`  ${m.datapath}: ${check.id}`);
      try {
        results[m.datapath] = await check.run(m.plan);
      } catch (e) {
        results[m.datapath] = { status: 'fail', reason: `the check could not run: ${(e as Error).message.split('\n')[0]}`, evidence: [] };
      }
      if (results[m.datapath]!.status === 'fail') report.passed = false;
    }
    report.checks.push({ id: check.id, title: check.title, feature: check.feature, results });
  }
  report.durationS = (Date.now() - started.getTime()) / 1000;
  return report;
}

export function renderConformance(r: ConformReport): string {
  const header = ['check', ...r.datapaths];
  const rows = r.checks.map((c) => [c.id, ...r.datapaths.map((d) => c.results[d]?.status ?? '-')]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [`services conformance on ${r.cluster}: ${r.checks.length} checks × ${r.datapaths.length} datapaths`, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const failures = r.checks.flatMap((c) => r.datapaths.filter((d) => c.results[d]?.status === 'fail').map((d) => ({ c, d, v: c.results[d]! })));
  if (failures.length) {
    out.push('', 'failures:');
    for (const { c, d, v } of failures) {
      out.push(`  ${d} / ${c.id}: ${v.reason}`);
      for (const e of v.evidence) out.push(`    sent: ${e.sent}`, `    got:  ${e.received}`);
    }
  }
  out.push('', r.passed ? 'every datapath passed every check it claims.' : `${failures.length} failure(s).`);
  return out.join('\n');
}
