// SPDX-License-Identifier: Apache-2.0
// The lab cluster provider: builds the topology of plan.ts out of bare network namespaces and tears it down.
//
//   [external] eth0 ──┐                       fabric netns: bridge br0 172.18.0.1 (kind's docker network)
//   [node0]    eth0 ──┼── br0 ──┬── eth0 [node1]
//     lxc0 ─ eth0 [node0-pod0]  │     lxc0 ─ eth0 [node1-pod0]
//     lxc1 ─ eth0 [node0-pod1]  │     lxc1 ─ eth0 [node1-pod1]
//
// Pods have a /32 and a default route via the node's gateway address (CNI ptp style); nodes route the other
// nodes' pod CIDRs via their eth0 addresses (kindnet style). Nothing touches the machine's own namespace.
import { addNetns, addVethPair, deleteNetns, ip, netnsPids, setFeatures, sysctl } from './netns.ts';
import { planNetns, type LabPlan, type NodePlan, type PodPlan } from './plan.ts';
import { ManagedProcess, run, type RunOptions, type RunResult } from '../../util/exec.ts';
import { PrereqError } from '../../errors.ts';
import { existsSync } from 'node:fs';
import { NETNS_DIR } from '../../util/exec.ts';

/** per-namespace sysctls of a node: forward, no rp_filter surprises */
const NODE_SYSCTLS = {
  'net.ipv4.ip_forward': 1,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
  'net.ipv4.conf.all.accept_local': 1,
};

/** per-namespace sysctls of a pod: room for TCP_CRR's connection churn (see notes/measuring.md) */
export const POD_SYSCTLS = {
  'net.ipv4.ip_local_port_range': '1024 65535',
  'net.ipv4.tcp_tw_reuse': 1,
  'net.ipv4.tcp_max_tw_buckets': 8192,
};

/**
 * Link features that make the veths behave like NICs on a wire, the same for every datapath:
 *  - every device that sends onto the fabric (node and external eth0, the bridge's ports) emits complete checksums,
 *    computed in software (no TX checksum offload, so no TSO either; GSO segments get theirs too): packets entering a
 *    node come off a wire. A CHECKSUM_PARTIAL packet would reach XDP with only its pseudo-header sum, and lose its
 *    offload state when XDP forwards it as a raw frame;
 *  - devices that XDP sends frames into run NAPI, as a NIC's receive path does: the bridge's ports (a node's XDP
 *    sending back out of eth0 arrives there) and pods' eth0 (XDP_REDIRECT into an lxc arrives there). A veth
 *    without NAPI drops XDP frames.
 */
export const WIRE_SENDER_FEATURES = { tx: 'off' } as const;
export const NAPI_RECEIVER_FEATURES = { gro: 'on' } as const;

export class LabCluster implements AsyncDisposable {
  private created: string[] = [];
  private processes: ManagedProcess[] = [];

  constructor(readonly plan: LabPlan) {}

  get createdNetns(): readonly string[] {
    return this.created;
  }

  async up(): Promise<void> {
    const { plan } = this;
    for (const ns of planNetns(plan)) {
      if (existsSync(`${NETNS_DIR}/${ns}`)) {
        throw new PrereqError(`network namespace ${ns} already exists (a crashed run?); run \`dpbench clean\` first`);
      }
    }
    try {
      await this.addNetns(plan.fabricNetns);
      await ip(plan.fabricNetns, 'link', 'add', 'br0', 'type', 'bridge');
      await ip(plan.fabricNetns, 'link', 'set', 'br0', 'up');
      // the bridge holds the underlay's gateway address, as docker's bridge does for kind nodes; it forwards nothing
      await ip(plan.fabricNetns, 'addr', 'add', `${plan.fabricGateway}/${plan.nodeSubnetBits}`, 'dev', 'br0');
      await Promise.all(plan.nodes.map((n) => this.upNode(n)));
      await this.upExternal();
    } catch (e) {
      await this.down();
      throw e;
    }
  }

  private async addNetns(ns: string): Promise<void> {
    await addNetns(ns);
    this.created.push(ns);
  }

  private async attachToFabric(netns: string, port: string, address: string): Promise<void> {
    const { plan } = this;
    await addVethPair(netns, 'eth0', plan.fabricNetns, port);
    await setFeatures(netns, 'eth0', WIRE_SENDER_FEATURES);
    await setFeatures(plan.fabricNetns, port, { ...NAPI_RECEIVER_FEATURES, ...WIRE_SENDER_FEATURES });
    await ip(plan.fabricNetns, 'link', 'set', port, 'master', 'br0', 'up');
    await ip(netns, 'addr', 'add', `${address}/${plan.nodeSubnetBits}`, 'dev', 'eth0');
    await ip(netns, 'link', 'set', 'eth0', 'up');
  }

  private async upNode(node: NodePlan): Promise<void> {
    const { plan } = this;
    await this.addNetns(node.netns);
    await sysctl(node.netns, NODE_SYSCTLS);
    await this.attachToFabric(node.netns, node.fabricPort, node.ip);
    // a default route like a kind node's: traffic to a VIP without endpoints is routed, then REJECTed
    await ip(node.netns, 'route', 'add', 'default', 'via', plan.fabricGateway, 'dev', 'eth0');
    for (const other of plan.nodes) {
      if (other !== node) await ip(node.netns, 'route', 'add', other.podCIDR, 'via', other.ip, 'dev', 'eth0');
    }
    await Promise.all(node.pods.map((p) => this.upPod(node, p)));
  }

  private async upPod(node: NodePlan, pod: PodPlan): Promise<void> {
    await this.addNetns(pod.netns);
    await sysctl(pod.netns, POD_SYSCTLS);
    await addVethPair(pod.netns, 'eth0', node.netns, pod.hostVeth);
    await setFeatures(pod.netns, 'eth0', NAPI_RECEIVER_FEATURES);
    // host side: the gateway address (shared by every lxc, as CNI ptp does) and a /32 route to the pod
    await ip(node.netns, 'addr', 'add', `${node.gateway}/32`, 'dev', pod.hostVeth);
    await ip(node.netns, 'link', 'set', pod.hostVeth, 'up');
    await ip(node.netns, 'route', 'add', `${pod.ip}/32`, 'dev', pod.hostVeth);
    // pod side: a /32, the gateway on-link, default route through it
    await ip(pod.netns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
    await ip(pod.netns, 'link', 'set', 'eth0', 'up');
    await ip(pod.netns, 'route', 'add', node.gateway, 'dev', 'eth0', 'scope', 'link');
    await ip(pod.netns, 'route', 'add', 'default', 'via', node.gateway, 'dev', 'eth0', 'src', pod.ip);
  }

  private async upExternal(): Promise<void> {
    await this.addNetns(this.plan.externalNetns);
    await sysctl(this.plan.externalNetns, POD_SYSCTLS);
    await this.attachToFabric(this.plan.externalNetns, 'p-external', this.plan.externalIP);
  }

  /**
   * a pod created after the cluster is up (churn): its namespace, veth and routes, as at creation time. The
   * pod's namespace carries the cluster prefix like every other, so teardown and `dpbench clean` find it.
   */
  async addPod(nodeName: string, pod: PodPlan): Promise<void> {
    const node = this.plan.nodes.find((n) => n.name === nodeName);
    if (!node) throw new Error(`no node ${nodeName} in ${this.plan.cluster}`);
    if (!pod.netns.startsWith(`${this.plan.cluster}-`)) throw new Error(`pod namespace ${pod.netns} must start with ${this.plan.cluster}-`);
    await this.upPod(node, pod);
  }

  /** deletes a pod made by addPod: stops what runs in it, then its namespace (its veth and routes go too) */
  async removePod(pod: PodPlan): Promise<void> {
    const inside = this.processes.filter((p) => p.child.spawnargs.includes(`--net=/run/netns/${pod.netns}`));
    await Promise.all(inside.map((p) => p.stop(500)));
    this.processes = this.processes.filter((p) => !inside.includes(p));
    for (const pid of await netnsPids(pod.netns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await deleteNetns(pod.netns);
    this.created = this.created.filter((n) => n !== pod.netns);
  }

  /** run a command inside a pod (or node) namespace */
  async exec(netns: string, argv: string[], opts: Omit<RunOptions, 'netns'> = {}): Promise<RunResult> {
    return await run(argv, { ...opts, netns });
  }

  /** start a long-running process inside a namespace; stopped by pid at teardown */
  spawn(netns: string, argv: string[], opts: { ipc?: boolean; detached?: boolean } = {}): ManagedProcess {
    const proc = new ManagedProcess(argv, { netns, ...opts });
    this.processes.push(proc);
    return proc;
  }

  /** our running processes, for the run record (`dpbench clean` after a crash) */
  get processList(): ManagedProcess[] {
    return this.processes.filter((p) => p.pid && p.running);
  }

  /** forget processes without stopping them (`lab up` leaves them to `lab down`) */
  release(): void {
    this.processes = [];
    this.created = [];
  }

  /** stops our processes by pid, then deletes every namespace we created (their links go with them) */
  async down(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
    this.processes = [];
    for (const ns of [...this.created].reverse()) {
      // anything still inside one of our namespaces was started by this run (e.g. a forked helper)
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await deleteNetns(ns);
    }
    this.created = [];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}
