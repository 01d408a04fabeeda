// SPDX-License-Identifier: Apache-2.0
// One lab cluster per datapath, side by side (Fidelity in ARCHITECTURE.md): each with its agents and servers.
// AsyncDisposable: whatever happens, disposal stops every process by pid and deletes every namespace.
import type { XdpModeRequest } from '../datapath/bpf/attach.ts';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LabCluster } from '../cluster/lab/lab.ts';
import { BPFFS } from '../cluster/lab/clean.ts';
import { allPods, planLab, planNetns, type LabPlan } from '../cluster/lab/plan.ts';
import { processStartTime, removeRecord, writeRecord, type RunRecord } from '../cluster/lab/registry.ts';
import { AgentClient } from '../datapath/agent/client.ts';
import type { SyncReport } from '../datapath/types.ts';
import type { ClusterState } from '../cluster/state.ts';
import { clientPod, ECHO_PORT, ECHO_PORT_2, NETPERF_CONTROL_PORT } from '../cluster/objects.ts';
import { netserverArgv } from '../workload/netperf/driver.ts';
import { probeServerArgv } from '../workload/probe/index.ts';
import type { ClusterShape, Datapath } from './scenario/schema.ts';

export interface LabMember {
  datapath: Datapath;
  plan: LabPlan;
  lab: LabCluster;
  agents: AgentClient[];
}

export interface LabSetOptions {
  prefix: string;
  datapaths: Datapath[];
  shape: ClusterShape;
  iptablesBackend: 'nft' | 'legacy';
  /** the xdp datapath's XDP mode (default auto: native, else generic) */
  xdpMode?: XdpModeRequest;
  /** start a prober server in every pod, the client too (lab up, tests, conformance) */
  echoServers?: boolean;
  /** keep namespaces and servers after this process exits (`dpbench lab up`) */
  persistent?: boolean;
  log?: (line: string) => void;
}

export class LabSet implements AsyncDisposable {
  readonly members: LabMember[] = [];
  private disposed = false;

  private constructor(readonly opts: LabSetOptions) {}

  static async create(opts: LabSetOptions): Promise<LabSet> {
    const set = new LabSet(opts);
    try {
      for (const datapath of opts.datapaths) await set.addMember(datapath);
      set.record();
    } catch (e) {
      await set[Symbol.asyncDispose]();
      throw e;
    }
    return set;
  }

  private async addMember(datapath: Datapath): Promise<void> {
    const { opts } = this;
    const plan = planLab(opts.prefix, datapath, opts.shape);
    const lab = new LabCluster(plan);
    const member: LabMember = { datapath, plan, lab, agents: [] };
    this.members.push(member);
    this.record(); // before creating anything: a crash mid-way is still cleanable
    const t0 = performance.now();
    await lab.up();
    const client = clientPod(plan);
    for (const pod of allPods(plan)) {
      if (pod !== client) lab.spawn(pod.netns, netserverArgv({ port: NETPERF_CONTROL_PORT }), { detached: opts.persistent });
      if (opts.echoServers) {
        lab.spawn(pod.netns, probeServerArgv(pod.name, { tcp: [ECHO_PORT, ECHO_PORT_2], udp: [ECHO_PORT] }), { detached: opts.persistent });
      }
    }
    member.agents = await Promise.all(plan.nodes.map((n) => AgentClient.start(lab, n.netns, n.name)));
    await Promise.all(
      member.agents.map((a, i) =>
        a.call('init', {
          datapath,
          node: {
            nodeName: plan.nodes[i]!.name,
            nodeIPs: [plan.nodes[i]!.ip],
            clusterCIDR: plan.clusterCIDR,
            podCIDR: plan.nodes[i]!.podCIDR,
            serviceCIDR: plan.serviceCIDR,
          },
          options: { iptablesBackend: opts.iptablesBackend, xdpMode: opts.xdpMode ?? 'auto' },
        }),
      ),
    );
    opts.log?.(`lab ${plan.cluster}: ${planNetns(plan).length} namespaces, ${plan.nodes.length} agents up in ${(performance.now() - t0).toFixed(0)} ms`);
  }

  /** the run record for `dpbench clean` / `lab status` */
  record(): void {
    const rec: RunRecord = {
      prefix: this.opts.prefix,
      ownerPid: process.pid,
      createdAt: new Date().toISOString(),
      persistent: this.opts.persistent ?? false,
      clusters: this.members.map((m) => ({ cluster: m.plan.cluster, datapath: m.datapath, netns: planNetns(m.plan), summary: m.plan })),
      processes: this.members.flatMap((m) =>
        m.lab.processList.map((p) => ({ pid: p.pid!, startTime: processStartTime(p.pid!) ?? '', what: p.child.spawnargs.slice(3).join(' ').slice(0, 160) })),
      ),
    };
    writeRecord(rec);
  }

  /** programs every node of every cluster with the state its plan gives; one node at a time, so syncs don't compete */
  async syncAll(stateFor: (plan: LabPlan) => ClusterState): Promise<SyncReport[]> {
    const reports: SyncReport[] = [];
    for (const m of this.members) {
      const state = stateFor(m.plan);
      for (const agent of m.agents) reports.push(await agent.call('sync', state));
    }
    return reports;
  }

  /** programs one cluster's nodes with a state, all nodes at once (a change reaches every node, as in a cluster) */
  async syncMember(datapath: Datapath, state: ClusterState): Promise<SyncReport[]> {
    return await Promise.all(this.member(datapath).agents.map((a) => a.call('sync', state)));
  }

  member(datapath: Datapath): LabMember {
    const m = this.members.find((x) => x.datapath === datapath);
    if (!m) throw new Error(`no lab cluster for datapath ${datapath}`);
    return m;
  }

  /** `lab up`: stop the agents (their rules stay, as when kube-proxy stops) and leave the rest running */
  async detach(): Promise<void> {
    for (const m of this.members) await Promise.all(m.agents.map((a) => a.stop()));
    this.record();
    for (const m of this.members) m.lab.release();
    this.disposed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const m of this.members) await m.lab.down();
    // pins of agents that died before they could remove them (an agent killed mid-run)
    rmSync(join(BPFFS, this.opts.prefix), { recursive: true, force: true });
    removeRecord(this.opts.prefix);
  }
}
