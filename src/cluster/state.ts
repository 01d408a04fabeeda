// SPDX-License-Identifier: Apache-2.0
// The cluster state every datapath agent is fed: plain Kubernetes objects, as an informer would deliver them.
import type { V1EndpointSlice, V1Namespace, V1NetworkPolicy, V1Pod, V1Service } from '@kubernetes/client-node';

export interface ClusterState {
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  pods: V1Pod[];
  namespaces: V1Namespace[];
  /** networking.k8s.io/v1 policies; datapaths that enforce none ignore them */
  networkPolicies?: V1NetworkPolicy[];
}

/** What an agent knows about the node it programs (kube-proxy's flags and node object). */
export interface NodeContext {
  nodeName: string;
  /** the node's own addresses (NodePorts are served on these) */
  nodeIPs: string[];
  /** the whole cluster's pod CIDR (kube-proxy --cluster-cidr): traffic from outside it is masqueraded */
  clusterCIDR: string;
  /** this node's pod CIDR */
  podCIDR: string;
  /** the cluster's service CIDR (kube-proxy nftables drops traffic to unallocated ClusterIPs in it) */
  serviceCIDR?: string;
}

export function emptyState(): ClusterState {
  return { services: [], endpointSlices: [], pods: [], namespaces: [] };
}
