// SPDX-License-Identifier: Apache-2.0
// The services conformance checks: each one names a Service behaviour, the feature a datapath must claim for it
// to run, and what it sends; its verdict carries the evidence (what was sent, what came back).
//
//   [external] ──▶ node0:30080 / node1:30080 (nodeport → node0-pod1) · node1:30081 (local, ETP Local)
//   node0-pod0 (client) ──▶ ClusterIPs 10.96.0.101.. ──▶ node0-pod1 | node1-pod0 | node1-pod1 (prober servers)
import { clientPod, ECHO_VIP_INDEX, EMPTY_VIP_INDEX, serviceVIP } from '../../cluster/objects.ts';
import type { LabPlan } from '../../cluster/lab/plan.ts';
import type { ServiceFeature } from '../../datapath/features.ts';
import { probeConnect, type ProbeReport } from '../../workload/probe/index.ts';
import { CONFORM_VIP, NODEPORT, NODEPORT_LOCAL, servers } from './fixtures.ts';

export type Status = 'pass' | 'fail' | 'unsupported';

export interface Evidence {
  sent: string;
  received: string;
}

export interface Verdict {
  status: Status;
  /** why it failed or is unsupported, in one line */
  reason?: string;
  evidence: Evidence[];
}

export interface ServiceCheck {
  id: string;
  title: string;
  feature: ServiceFeature;
  run(plan: LabPlan): Promise<Verdict>;
}

/** chi-square critical values at p = 0.001 by degrees of freedom (1..5) */
const CHI2_CRIT_001 = [10.83, 13.82, 16.27, 18.47, 20.52];

export function chiSquareUniform(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

function describe(r: ProbeReport): string {
  const parts = [`answered by ${JSON.stringify(r.replies)}`];
  if (Object.keys(r.ports).length) parts.push(`on ports ${JSON.stringify(r.ports)}`);
  if (Object.keys(r.sources).length) parts.push(`seeing sources ${JSON.stringify(r.sources)}`);
  if (r.refused) parts.push(`${r.refused} refused`);
  if (r.timeouts) parts.push(`${r.timeouts} timed out`);
  if (Object.keys(r.errors).length) parts.push(`errors ${JSON.stringify(r.errors)}`);
  return parts.join(', ');
}

interface Probe {
  from: 'client' | 'external';
  host: string;
  port: number;
  count: number;
  udp?: boolean;
  timeoutMs?: number;
}

async function send(plan: LabPlan, p: Probe): Promise<{ report: ProbeReport; evidence: Evidence }> {
  const netns = p.from === 'client' ? clientPod(plan).netns : plan.externalNetns;
  const report = await probeConnect(netns, p.host, p.port, p.count, { udp: p.udp, timeoutMs: p.timeoutMs ?? 2000 });
  const who = p.from === 'client' ? clientPod(plan).name : `external (${plan.externalIP})`;
  return {
    report,
    evidence: { sent: `${p.count} new ${p.udp ? 'UDP' : 'TCP'} flows from ${who} to ${p.host}:${p.port}`, received: describe(report) },
  };
}

const answered = (r: ProbeReport): number => Object.values(r.replies).reduce((a, b) => a + b, 0);
const onlyFrom = (r: ProbeReport, allowed: string[]): boolean => Object.keys(r.replies).every((n) => allowed.includes(n));

function verdict(ok: boolean, reason: string, evidence: Evidence[]): Verdict {
  return ok ? { status: 'pass', evidence } : { status: 'fail', reason, evidence };
}

const vip = (plan: LabPlan, name: keyof typeof CONFORM_VIP): string => serviceVIP(plan, CONFORM_VIP[name]);
const serverNames = (plan: LabPlan): string[] => servers(plan).map((p) => p.name);

export const SERVICE_CHECKS: ServiceCheck[] = [
  {
    id: 'clusterip',
    title: 'ClusterIP reaches a ready backend',
    feature: 'clusterip',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'client', host: serviceVIP(plan, ECHO_VIP_INDEX), port: 80, count: 10 });
      return verdict(answered(report) === 10 && onlyFrom(report, serverNames(plan)), 'not every connection was answered by a backend', [evidence]);
    },
  },
  {
    id: 'spread',
    title: 'new connections spread over all backends (chi-square, p = 0.001)',
    feature: 'clusterip',
    async run(plan) {
      const names = serverNames(plan);
      const n = 50 * names.length;
      const { report, evidence } = await send(plan, { from: 'client', host: serviceVIP(plan, ECHO_VIP_INDEX), port: 80, count: n });
      const counts = names.map((b) => report.replies[b] ?? 0);
      const chi2 = chiSquareUniform(counts);
      const crit = CHI2_CRIT_001[names.length - 2] ?? Infinity;
      evidence.received += `; chi-square ${chi2.toFixed(2)} (critical ${crit} for ${names.length - 1} degrees of freedom)`;
      return verdict(answered(report) === n && chi2 < crit, `spread is not uniform or connections failed (chi-square ${chi2.toFixed(2)})`, [evidence]);
    },
  },
  {
    id: 'target-port',
    title: 'the service port is remapped to targetPort (80 → 8080)',
    feature: 'clusterip',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'client', host: serviceVIP(plan, ECHO_VIP_INDEX), port: 80, count: 5 });
      return verdict(report.ports['8080'] === 5, 'backends were not reached on the targetPort', [evidence]);
    },
  },
  {
    id: 'multi-port',
    title: 'a multi-port service keeps its ports apart (80 → 8080, 90 → 9090)',
    feature: 'clusterip',
    async run(plan) {
      const a = await send(plan, { from: 'client', host: vip(plan, 'multi'), port: 80, count: 5 });
      const b = await send(plan, { from: 'client', host: vip(plan, 'multi'), port: 90, count: 5 });
      return verdict(a.report.ports['8080'] === 5 && b.report.ports['9090'] === 5, 'a port reached the other port\'s target', [a.evidence, b.evidence]);
    },
  },
  {
    id: 'udp',
    title: 'a UDP service reaches its backends (53/udp → 8080/udp)',
    feature: 'udp',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'client', host: vip(plan, 'udp'), port: 53, count: 10, udp: true });
      return verdict(answered(report) === 10 && onlyFrom(report, serverNames(plan)), 'not every datagram was answered by a backend', [evidence]);
    },
  },
  {
    id: 'no-endpoints',
    title: 'a service without endpoints refuses at once (no hanging connect)',
    feature: 'no-endpoints-reject',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'client', host: serviceVIP(plan, EMPTY_VIP_INDEX), port: 80, count: 3, timeoutMs: 5000 });
      const slowest = Math.max(...report.latenciesMs);
      evidence.received += `; slowest refusal ${slowest.toFixed(1)} ms`;
      return verdict(report.refused === 3 && report.timeouts === 0, 'connections were not refused', [evidence]);
    },
  },
  {
    id: 'hairpin',
    title: 'hairpin: a pod reaches itself through its own service',
    feature: 'hairpin',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'client', host: vip(plan, 'hairpin'), port: 80, count: 5 });
      return verdict(report.replies[clientPod(plan).name] === 5, 'the pod did not reach itself through the service', [evidence]);
    },
  },
  {
    id: 'nodeport-local',
    title: 'NodePort from outside, backend on the receiving node',
    feature: 'nodeport',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'external', host: plan.nodes[0]!.ip, port: NODEPORT, count: 5 });
      return verdict(report.replies[plan.nodes[0]!.pods[1]!.name] === 5, 'the NodePort did not reach its local backend', [evidence]);
    },
  },
  {
    id: 'nodeport-remote',
    title: 'NodePort from outside, backend on another node',
    feature: 'nodeport',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'external', host: plan.nodes[1]!.ip, port: NODEPORT, count: 5 });
      return verdict(report.replies[plan.nodes[0]!.pods[1]!.name] === 5, 'the NodePort did not reach its remote backend', [evidence]);
    },
  },
  {
    id: 'session-affinity',
    title: 'sessionAffinity ClientIP sticks to one backend',
    feature: 'session-affinity',
    async run(plan) {
      const { report, evidence } = await send(plan, { from: 'client', host: vip(plan, 'affinity'), port: 80, count: 30 });
      return verdict(answered(report) === 30 && Object.keys(report.replies).length === 1, 'connections from one client went to several backends', [evidence]);
    },
  },
  {
    id: 'external-traffic-policy-local',
    title: 'externalTrafficPolicy Local keeps the client source IP and uses only local endpoints',
    feature: 'external-traffic-policy-local',
    async run(plan) {
      const node1Pods = plan.nodes[1]!.pods.map((p) => p.name);
      const { report, evidence } = await send(plan, { from: 'external', host: plan.nodes[1]!.ip, port: NODEPORT_LOCAL, count: 20 });
      const ok = answered(report) === 20 && onlyFrom(report, node1Pods) && report.sources[plan.externalIP] === 20;
      return verdict(ok, 'a remote endpoint answered or the source address was rewritten', [evidence]);
    },
  },
  {
    id: 'terminating-endpoints',
    title: 'terminating endpoints get no new connections',
    feature: 'terminating-endpoints',
    async run(plan) {
      const ready = plan.nodes[1]!.pods[0]!.name;
      const { report, evidence } = await send(plan, { from: 'client', host: vip(plan, 'terminating'), port: 80, count: 20 });
      return verdict(report.replies[ready] === 20, 'a terminating endpoint got new connections', [evidence]);
    },
  },
];
