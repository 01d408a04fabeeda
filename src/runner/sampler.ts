// SPDX-License-Identifier: Apache-2.0
// One netperf sample on one lab cluster: resolve the path to a target, reset conntrack, snapshot the kernel
// counters that betray a bad sample, run netperf pinned to CPUs, parse, and flag what must not be averaged.
import { cpus } from 'node:os';
import { run } from '../util/exec.ts';
import type { LabPlan, PodPlan } from '../cluster/lab/plan.ts';
import {
  clientPod, crossNodeServer, NETPERF_CONTROL_PORT, NETPERF_DATA_PORT, sameNodeServer, serviceVIP, TARGET_VIP_INDEX, targetServer,
} from '../cluster/objects.ts';
import { cpuCost, cpuSnapshot } from '../measure/cpu.ts';
import { runNetperf, type NetperfRequest } from '../workload/netperf/driver.ts';
import { parseNetperf } from '../workload/netperf/parse.ts';
import { parseConntrackStats, parseNetstat, validityReasons, type CounterSnapshot } from '../measure/validity.ts';
import type { Datapath, Workload } from './scenario/schema.ts';
import type { SampleRecord } from './results.ts';

export interface Target {
  host: string;
  kind: SampleRecord['target']['kind'];
  server: PodPlan;
}

/** where a workload's traffic goes on a given cluster; the `none` datapath reaches the service's pod directly */
export function resolveTarget(plan: LabPlan, datapath: Datapath, w: Pick<Workload, 'path'>): Target {
  switch (w.path) {
    case 'pod-to-pod-same-node':
      return { host: sameNodeServer(plan)!.ip, kind: 'pod', server: sameNodeServer(plan)! };
    case 'pod-to-pod-cross-node':
      return { host: crossNodeServer(plan)!.ip, kind: 'pod', server: crossNodeServer(plan)! };
    case 'pod-to-service': {
      const server = targetServer(plan);
      return datapath === 'none' ? { host: server.ip, kind: 'direct', server } : { host: serviceVIP(plan, TARGET_VIP_INDEX), kind: 'service', server };
    }
  }
}

/** client on CPU 0, server on CPU 1 when there are two (notes/measuring.md: sharing a CPU moves RR ~3x) */
export function cpuPlacement(): { local: number; remote: number } {
  return cpus().length > 1 ? { local: 0, remote: 1 } : { local: 0, remote: 0 };
}

async function snapshot(plan: LabPlan, client: PodPlan, server: PodPlan): Promise<CounterSnapshot> {
  const netstat = parseNetstat((await run(['cat', '/proc/net/netstat'], { netns: client.netns })).stdout);
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
    listenDrops: netstat['TcpExt.ListenDrops'] ?? 0,
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
  /** run but unrecorded: a warm-up */
  durationS?: number;
}

export async function runSample(ctx: SampleContext): Promise<SampleRecord> {
  const { plan, workload: w } = ctx;
  const client = clientPod(plan);
  const target = resolveTarget(plan, ctx.datapath, w);
  const placement = cpuPlacement();
  const req: NetperfRequest = {
    test: w.test,
    host: target.host,
    controlPort: NETPERF_CONTROL_PORT,
    dataPort: NETPERF_DATA_PORT,
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
  const parsed = parseNetperf(w.test, raw);
  const elapsedS = parsed.elapsedS ?? req.durationS;
  const cpu = cpuCost(cpuBefore, cpuAfter, {
    transactions: parsed.transactionsPerSec !== undefined ? parsed.transactionsPerSec * elapsedS : undefined,
    bytes: parsed.throughputMbps !== undefined ? (parsed.throughputMbps * 1e6 * elapsedS) / 8 : undefined,
  });
  const reasons = [...parsed.errors, ...validityReasons(before, after)];
  return {
    datapath: ctx.datapath,
    services: ctx.services,
    test: w.test,
    path: w.path,
    sample: ctx.sample,
    order: ctx.order,
    startedAt,
    valid: reasons.length === 0,
    reasons,
    ...(parsed.latencyUs ? { latencyUs: parsed.latencyUs } : {}),
    ...(parsed.transactionsPerSec !== undefined ? { transactionsPerSec: parsed.transactionsPerSec } : {}),
    ...(parsed.throughputMbps !== undefined ? { throughputMbps: parsed.throughputMbps } : {}),
    cpu,
    target: {
      host: target.host,
      port: NETPERF_DATA_PORT,
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
