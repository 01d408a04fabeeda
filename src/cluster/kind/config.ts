// SPDX-License-Identifier: Apache-2.0
// Pure: a cluster shape + a datapath → a kind Cluster config (kind.x-k8s.io/v1alpha4), or the reasons kind
// cannot build that shape. kube-proxy's own modes are the reference for iptables/nftables; for dpbench's eBPF
// datapaths kube-proxy is left out and dpbench's agent DaemonSet takes its place.
import { stringify } from 'yaml';
import { ConfigError } from '../../errors.ts';
import { parseCidr } from '../../util/ip.ts';
import { UNSAFE_POD_SYSCTLS } from '../kube/manifests.ts';
import type { ClusterShape, Datapath } from '../../runner/scenario/schema.ts';

export type KubeProxyMode = 'iptables' | 'nftables' | 'none';

export interface KindNode {
  role: 'control-plane' | 'worker';
}

export interface KindConfig {
  kind: 'Cluster';
  apiVersion: 'kind.x-k8s.io/v1alpha4';
  name: string;
  networking: { ipFamily: 'ipv4'; podSubnet: string; serviceSubnet: string; kubeProxyMode: KubeProxyMode };
  kubeadmConfigPatches: string[];
  nodes: KindNode[];
}

/** kind puts nodes on the container engine's `kind` network; its subnet is the engine's choice, usually this */
export const KIND_NODE_SUBNET = '172.18.0.0/16';
/** kube-controller-manager's default --node-cidr-mask-size for IPv4: every node gets a /24 of the pod subnet */
const NODE_CIDR_BITS = 24;
/** kube-apiserver refuses an IPv4 service range with more than 20 host bits */
const MIN_SERVICE_PREFIX = 12;
/** kind's cluster-name pattern (pkg/internal/apis/config/validate.go) */
const KIND_NAME = /^[a-z0-9.-]+$/;
/** node containers are named <cluster>-control-plane, <cluster>-worker2, … and double as hostnames */
const MAX_HOSTNAME = 63;

export function kubeProxyModeFor(datapath: Datapath): KubeProxyMode {
  switch (datapath) {
    case 'iptables':
    case 'nftables':
      return datapath;
    case 'none': // the pod→pod floor: nothing programs services
    case 'ebpf':
    case 'xdp':
      return 'none';
  }
}

/** the datapaths dpbench programs itself on a real cluster (the others are kube-proxy's or nothing) */
export function runsAgentDaemonSet(datapath: Datapath): boolean {
  return datapath === 'ebpf' || datapath === 'xdp';
}

export function kindClusterName(prefix: string, datapath: Datapath): string {
  return `${prefix}-${datapath}`;
}

function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.base < y.base + y.size && y.base < x.base + x.size;
}

/** what kind (or the cluster it builds) cannot express in a shape; each entry names the shape key */
export function kindShapeIssues(shape: Pick<ClusterShape, 'nodes' | 'network'>, name: string): string[] {
  const issues: string[] = [];
  const { podCIDR, serviceCIDR, nodeSubnet } = shape.network;
  if (!KIND_NAME.test(name)) issues.push(`name: "${name}" is not a valid kind cluster name; expected ${KIND_NAME.source}`);
  // <name>-control-plane is longer than any <name>-workerN
  if (`${name}-control-plane`.length > MAX_HOSTNAME) {
    issues.push(`name: "${name}" is too long; node hostnames such as ${name}-control-plane must fit in ${MAX_HOSTNAME} characters`);
  }
  if (nodeSubnet !== KIND_NODE_SUBNET) {
    issues.push(
      `network.nodeSubnet: kind places nodes on the container engine's "kind" network and cannot choose its subnet; ` +
        `expected ${KIND_NODE_SUBNET} (the engine's usual pick) or remove the key`,
    );
  }
  const pod = parseCidr(podCIDR);
  const perNodeBits = Math.ceil(Math.log2(shape.nodes));
  if (pod.bits > NODE_CIDR_BITS - perNodeBits) {
    const needed = NODE_CIDR_BITS - perNodeBits;
    issues.push(`network.podCIDR: ${podCIDR} cannot give each of ${shape.nodes} nodes a /${NODE_CIDR_BITS} (kube-controller-manager's default); expected a /${needed} or larger`);
  }
  if (parseCidr(serviceCIDR).bits < MIN_SERVICE_PREFIX) {
    issues.push(`network.serviceCIDR: ${serviceCIDR} is larger than kube-apiserver accepts; expected a /${MIN_SERVICE_PREFIX} or smaller`);
  }
  if (overlaps(podCIDR, serviceCIDR)) issues.push(`network.serviceCIDR: ${serviceCIDR} overlaps network.podCIDR ${podCIDR}`);
  for (const [key, cidr] of [['podCIDR', podCIDR], ['serviceCIDR', serviceCIDR]] as const) {
    if (overlaps(cidr, nodeSubnet)) issues.push(`network.${key}: ${cidr} overlaps the node network ${nodeSubnet}`);
  }
  return issues;
}

/**
 * The kubelet must allow the lab's unsafe pod sysctls (tcp_tw_reuse, tcp_max_tw_buckets) or it refuses the
 * netperf pods; kind applies this patch to every node's KubeletConfiguration.
 */
export function kubeletSysctlPatch(): string {
  return stringify({ kind: 'KubeletConfiguration', allowedUnsafeSysctls: UNSAFE_POD_SYSCTLS });
}

export function kindConfig(shape: Pick<ClusterShape, 'name' | 'nodes' | 'network'>, datapath: Datapath, name: string): KindConfig {
  const issues = kindShapeIssues(shape, name);
  if (issues.length) throw new ConfigError(`cluster shape "${shape.name}" cannot be built by kind`, issues);
  return {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name,
    networking: {
      ipFamily: 'ipv4',
      podSubnet: shape.network.podCIDR,
      serviceSubnet: shape.network.serviceCIDR,
      kubeProxyMode: kubeProxyModeFor(datapath),
    },
    kubeadmConfigPatches: [kubeletSysctlPatch()],
    nodes: [{ role: 'control-plane' }, ...Array.from({ length: shape.nodes - 1 }, (): KindNode => ({ role: 'worker' }))],
  };
}

/** the YAML handed to `kind create cluster --config -` */
export function renderKindConfig(config: KindConfig): string {
  return stringify(config, { lineWidth: 0 });
}
