// SPDX-License-Identifier: Apache-2.0
// One netperf sample on one lab cluster: resolve the path to a target, reset conntrack, snapshot the kernel
// counters that betray a bad sample, run netperf pinned to CPUs, parse, and flag what must not be averaged.
import { cpus } from 'node:os';
import { run } from '../util/exec.ts';
import type { LabPlan, PodPlan } from '../cluster/lab/plan.ts';
import {
  clientPod, crossNodeServer, ECHO_PORT, NETPERF_CONTROL_PORT, NODEPORT_CONTROL, NODEPORT_DATA, NETPERF_DATA_PORT, sameNodeServer, serviceVIP, TARGET_VIP_INDEX, targetServer,
} from '../cluster/objects.ts';
import { cpuCost, cpuSnapshot } from '../measure/cpu.ts';
import { runNetperf, type NetperfRequest } from '../workload/netperf/driver.ts';
import { parseNetperf } from '../workload/netperf/parse.ts';
import { parseConntrackStats, parseNetstat, validityReasons, type CounterSnapshot } from '../measure/validity.ts';
import type { Datapath, Workload } from './scenario/schema.ts';
import type { SyncReport } from '../datapath/types.ts';
import { Watcher } from '../workload/probe/index.ts';
import { nowMs } from '../workload/probe/watch.ts';
import type { SampleRecord } from './results.ts';

export interface Target {
  host: string;
  kind: SampleRecord['target']['kind'];
  server: PodPlan;
  /** where netperf runs: the client pod, or the external namespace for NodePort paths */
  client: PodPlan;
  controlPort: number;
  dataPort: number;
}

/** the external namespace, seen as a client (no node: it is outside the cluster) */
export function externalClient(plan: LabPlan): PodPlan {
  return { name: 'external', namespace: '', netns: plan.externalNetns, ip: plan.externalIP, node: '', hostVeth: '' };
}

/** where a workload's traffic goes on a given cluster; the `none` datapath reaches the service's pod directly */
export function resolveTarget(plan: LabPlan, datapath: Datapath, w: Pick<Workload, 'path'>): Target {
  const inCluster = { client: clientPod(plan), controlPort: NETPERF_CONTROL_PORT, dataPort: NETPERF_DATA_PORT };
  switch (w.path) {
    case 'pod-to-pod-same-node':
      return { ...inCluster, host: sameNodeServer(plan)!.ip, kind: 'pod', server: sameNodeServer(plan)! };
    case 'pod-to-pod-cross-node':
      return { ...inCluster, host: crossNodeServer(plan)!.ip, kind: 'pod', server: crossNodeServer(plan)! };
    case 'pod-to-service': {
      const server = targetServer(plan);
      return datapath === 'none'
        ? { ...inCluster, host: server.ip, kind: 'direct', server }
        : { ...inCluster, host: serviceVIP(plan, TARGET_VIP_INDEX), kind: 'service', server };
    }
    case 'external-to-nodeport-local':
    case 'external-to-nodeport-remote': {
      const server = targetServer(plan);
      const local = w.path === 'external-to-nodeport-local';
      const node = plan.nodes.find((n) => (local ? n.name === server.node : n.name !== server.node))!;
      return { client: externalClient(plan), controlPort: NODEPORT_CONTROL, dataPort: NODEPORT_DATA, host: node.ip, kind: 'nodeport', server };
    }
  }
}

/** client on CPU 0, server on CPU 1 when there are two (notes/measuring.md: sharing a CPU moves RR ~3x) */
export function cpuPlacement(): { local: number; remote: number } {
  return cpus().length > 1 ? { local: 0, remote: 1 } : { local: 0, remote: 0 };
}

/** /proc/net/netstat and /proc/net/snmp of one namespace in one read, as `TcpExt.X` / `Tcp.X` counters */
async function tcpCounters(netns: string): Promise<Record<string, number>> {
  return parseNetstat((await run(['cat', '/proc/net/netstat', '/proc/net/snmp'], { netns })).stdout);
}

async function snapshot(plan: LabPlan, client: PodPlan, server: PodPlan): Promise<CounterSnapshot> {
  const [netstat, serverNetstat] = await Promise.all([tcpCounters(client.netns), tcpCounters(server.netns)]);
  const nodes = new Set([client.node, server.node]);
  let ct = { drop: 0, insertFailed: 0, earlyDrop: 0 };
  for (const n of plan.nodes.filter((x) => nodes.has(x.name))) {
    const res = await run(['conntrack', '-S'], { netns: n.netns, allowFail: true });
    if (res.code !== 0) continue; // no conntrack in this namespace (e.g. the `none` datapath): nothing to drop
    const s = parseConntrackStats(res.stdout);
    ct = { drop: ct.drop + s.drop, insertFailed: ct.insertFailed + s.insertFailed, earlyDrop: ct.earlyDrop + s.earlyDrop };
  }
  return {
    synRetrans: netstat['TcpExt.TCPSynRetrans'] ?? 0,
    listenDrops: serverNetstat['TcpExt.ListenDrops'] ?? 0,
    csumErrors: (netstat['Tcp.InCsumErrors'] ?? 0) + (serverNetstat['Tcp.InCsumErrors'] ?? 0),
    ctDrop: ct.drop,
    ctInsertFailed: ct.insertFailed,
    ctEarlyDrop: ct.earlyDrop,
  };
}

/** forget the previous sample's flows so each sample starts from the same conntrack state */
export async function flushConntrack(plan: LabPlan): Promise<void> {
  await Promise.all(plan.nodes.map((n) => run(['conntrack', '-F'], { netns: n.netns, allowFail: true })));
}

export interface SampleContext {
  datapath: Datapath;
  plan: LabPlan;
  services: number;
  workload: Workload;
  sample: number;
  order: number;
  lookupPosition?: number;
  policies?: number;
  phase?: 'churn';
  /** run but unrecorded: a warm-up */
  durationS?: number;
}

/** what every sample record starts with: where it ran, which sample, and whether it counts */
function recordHead(ctx: Omit<SampleContext, 'durationS' | 'lookupPosition'>, startedAt: string, reasons: string[]) {
  return {
    datapath: ctx.datapath,
    services: ctx.services,
    ...(ctx.policies !== undefined ? { policies: ctx.policies } : {}),
    ...(ctx.phase ? { phase: ctx.phase } : {}),
    test: ctx.workload.test,
    path: ctx.workload.path,
    sample: ctx.sample,
    order: ctx.order,
    startedAt,
    valid: reasons.length === 0,
    reasons,
  };
}

export async function runSample(ctx: SampleContext): Promise<SampleRecord> {
  const { plan, workload: w } = ctx;
  if (w.test === 'NETPOL_PROPAGATION') throw new Error('runSample measures netperf tests; propagation has runPropagationSample');
  const test = w.test;
  const target = resolveTarget(plan, ctx.datapath, w);
  const client = target.client;
  const placement = cpuPlacement();
  const req: NetperfRequest = {
    test,
    host: target.host,
    controlPort: target.controlPort,
    dataPort: target.dataPort,
    durationS: ctx.durationS ?? w.duration,
    cpus: placement,
    ...(w.requestSize ? { requestSize: w.requestSize } : {}),
    ...(w.responseSize ? { responseSize: w.responseSize } : {}),
  };
  await flushConntrack(plan);
  const before = await snapshot(plan, client, target.server);
  const startedAt = new Date().toISOString();
  const cpuBefore = cpuSnapshot();
  const raw = await runNetperf(req, { netns: client.netns });
  const cpuAfter = cpuSnapshot();
  const after = await snapshot(plan, client, target.server);
  const parsed = parseNetperf(test, raw);
  const elapsedS = parsed.elapsedS ?? req.durationS;
  const cpu = cpuCost(cpuBefore, cpuAfter, {
    transactions: parsed.transactionsPerSec !== undefined ? parsed.transactionsPerSec * elapsedS : undefined,
    bytes: parsed.throughputMbps !== undefined ? (parsed.throughputMbps * 1e6 * elapsedS) / 8 : undefined,
  });
  const reasons = [...parsed.errors, ...validityReasons(before, after)];
  return {
    ...recordHead(ctx, startedAt, reasons),
    ...(parsed.latencyUs ? { latencyUs: parsed.latencyUs } : {}),
    ...(parsed.transactionsPerSec !== undefined ? { transactionsPerSec: parsed.transactionsPerSec } : {}),
    ...(parsed.throughputMbps !== undefined ? { throughputMbps: parsed.throughputMbps } : {}),
    cpu,
    target: {
      host: target.host,
      port: target.dataPort,
      kind: target.kind,
      serverPod: target.server.name,
      ...(target.kind === 'service' && ctx.lookupPosition !== undefined ? { lookupPosition: ctx.lookupPosition } : {}),
    },
    placement: {
      clientPod: client.name,
      serverPod: target.server.name,
      sameNode: client.node === target.server.node,
      clientCpu: placement.local,
      serverCpu: placement.remote,
    },
    netperf: { argv: raw.argv, code: raw.code, durationMs: raw.durationMs },
  };
}

export interface PropagationContext extends Omit<SampleContext, 'durationS' | 'lookupPosition'> {
  direction: 'allow-to-deny' | 'deny-to-allow';
  /** programs the datapath with the policy change; resolves when every agent has synced */
  submit: () => Promise<SyncReport[]>;
}

/** how long to keep watching after the agents report the change programmed */
const SETTLE_MS = 500;

/**
 * One propagation sample (kube-burner's netpolLatency at sub-ms resolution): a watcher in the client pod opens a
 * connection to the target pod every 250 µs; the change is submitted to the agents; latency = send time of the
 * first attempt with the new verdict − submission time.
 */
export async function runPropagationSample(ctx: PropagationContext): Promise<SampleRecord> {
  const { plan, workload: w } = ctx;
  const client = clientPod(plan);
  const target = resolveTarget(plan, ctx.datapath, w);
  const want = ctx.direction === 'allow-to-deny' ? 'blocked' : 'allowed';
  const startedAt = new Date().toISOString();
  await using watcher = new Watcher(client.netns, target.host, ECHO_PORT, { intervalUs: 250, timeoutMs: 100, maxMs: 120_000 });
  await watcher.ready;
  await new Promise((r) => setTimeout(r, 200)); // a baseline of the old verdict
  const submittedAt = nowMs();
  const reports = await ctx.submit();
  const syncMs = nowMs() - submittedAt;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const report = await watcher.stop();
  const reasons: string[] = [];
  const before = report.transitions.filter((t) => t.at < submittedAt);
  if (report.initial !== (want === 'blocked' ? 'allowed' : 'blocked')) reasons.push(`the target was already ${report.initial} before the change`);
  if (before.length) reasons.push(`the verdict changed ${before.length} time(s) before the change was submitted`);
  const first = report.transitions.find((t) => t.at >= submittedAt && t.to === want);
  if (!first) reasons.push(`no ${want} verdict within ${(syncMs + SETTLE_MS).toFixed(0)} ms of submitting the change`);
  const flaps = report.transitions.filter((t) => first && t.at > first.at);
  if (flaps.length) reasons.push(`the verdict flapped ${flaps.length} time(s) after changing (a window of wrong verdicts)`);
  return {
    ...recordHead(ctx, startedAt, reasons),
    propagation: {
      direction: ctx.direction,
      ...(first ? { latencyMs: first.at - submittedAt } : {}),
      syncMs: Math.max(0, ...reports.map((r) => r.durationMs)),
      attempts: report.attempts,
    },
    target: { host: target.host, port: ECHO_PORT, kind: target.kind, serverPod: target.server.name },
    placement: { clientPod: client.name, serverPod: target.server.name, sameNode: client.node === target.server.node, clientCpu: -1, serverCpu: -1 },
  };
}
