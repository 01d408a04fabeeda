// SPDX-License-Identifier: Apache-2.0
// The lab cluster's topology as data: deterministic namespace names and addresses from the run prefix and shape.
// Pure, so the same plan drives creation, teardown, `dpbench lab status` and tests.
import type { ClusterShape } from '../../runner/scenario/schema.ts';
import { cidrHost, parseCidr, subnetOf } from '../../util/ip.ts';

export interface PodPlan {
  /** pod name, e.g. node1-pod0 */
  name: string;
  /** Kubernetes namespace of the pod object */
  namespace: string;
  netns: string;
  ip: string;
  node: string;
  /** host-side veth in the node's namespace (kind/Calico/Cilium name theirs lxc…/veth…/cali…) */
  hostVeth: string;
}

export interface NodePlan {
  index: number;
  name: string;
  netns: string;
  /** eth0 address on the fabric */
  ip: string;
  /** fabric-side veth name (in the fabric namespace) */
  fabricPort: string;
  podCIDR: string;
  /** the gateway address pods route through; lives on every host-side veth (CNI ptp style) */
  gateway: string;
  pods: PodPlan[];
}

export interface LabPlan {
  /** the run's prefix; every namespace name starts with it */
  prefix: string;
  /** this cluster's name within the run, e.g. dpb-3fa9c1-iptables */
  cluster: string;
  fabricNetns: string;
  /** the underlay's gateway address on the fabric bridge (docker's bridge address for kind) */
  fabricGateway: string;
  externalNetns: string;
  externalIP: string;
  nodeSubnetBits: number;
  clusterCIDR: string;
  serviceCIDR: string;
  nodes: NodePlan[];
}

export const LAB_POD_NAMESPACE = 'dpbench';

export function planLab(prefix: string, label: string, shape: Pick<ClusterShape, 'nodes' | 'podsPerNode' | 'network'>): LabPlan {
  const cluster = `${prefix}-${label}`;
  const nodeNet = parseCidr(shape.network.nodeSubnet);
  const nodes: NodePlan[] = [];
  for (let i = 0; i < shape.nodes; i++) {
    const name = `node${i}`;
    const podCIDR = subnetOf(shape.network.podCIDR, 24, i);
    const pods: PodPlan[] = [];
    for (let j = 0; j < shape.podsPerNode; j++) {
      pods.push({
        name: `${name}-pod${j}`,
        namespace: LAB_POD_NAMESPACE,
        netns: `${cluster}-${name}-pod${j}`,
        ip: cidrHost(podCIDR, 10 + j),
        node: name,
        hostVeth: `lxc${j}`,
      });
    }
    nodes.push({
      index: i,
      name,
      netns: `${cluster}-${name}`,
      ip: cidrHost(shape.network.nodeSubnet, 2 + i),
      fabricPort: `p-${name}`,
      podCIDR,
      gateway: cidrHost(podCIDR, 1),
      pods,
    });
  }
  return {
    prefix,
    cluster,
    fabricNetns: `${cluster}-fabric`,
    fabricGateway: cidrHost(shape.network.nodeSubnet, 1),
    externalNetns: `${cluster}-external`,
    externalIP: cidrHost(shape.network.nodeSubnet, 250),
    nodeSubnetBits: nodeNet.bits,
    clusterCIDR: shape.network.podCIDR,
    serviceCIDR: shape.network.serviceCIDR,
    nodes,
  };
}

/** every network namespace of the plan, pods first (teardown order does not matter, creation order does) */
export function planNetns(plan: LabPlan): string[] {
  return [plan.fabricNetns, plan.externalNetns, ...plan.nodes.flatMap((n) => [n.netns, ...n.pods.map((p) => p.netns)])];
}

export function allPods(plan: LabPlan): PodPlan[] {
  return plan.nodes.flatMap((n) => n.pods);
}
