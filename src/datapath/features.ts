// SPDX-License-Identifier: Apache-2.0
// The Service behaviours each datapath claims. Conformance runs a check only where it is claimed and reports
// "unsupported" elsewhere, never "pass".
import type { Datapath } from '../runner/scenario/schema.ts';
import type { NetpolFeature } from '../netpol/cases.ts';

export const SERVICE_FEATURES = [
  'clusterip',
  'udp',
  'no-endpoints-reject',
  'hairpin',
  'nodeport',
  'session-affinity',
  'external-traffic-policy-local',
  'terminating-endpoints',
] as const;
export type ServiceFeature = (typeof SERVICE_FEATURES)[number];

export const DATAPATH_SERVICE_FEATURES: Record<Datapath, readonly ServiceFeature[]> = {
  // no service machinery at all: the floor of the benchmarks
  none: [],
  iptables: SERVICE_FEATURES,
  nftables: SERVICE_FEATURES,
  // bpf/lb_tc.bpf.c: every behaviour, checked by test/lab/ebpf-service.test.ts
  ebpf: SERVICE_FEATURES,
  // the ebpf datapath plus XDP in front of tc_from_netdev (bpf/xdp.h): the same maps and flows, checked the same way
  xdp: SERVICE_FEATURES,
};

/**
 * NetworkPolicy: null where a datapath does not enforce it at all (kube-proxy modes never do: a CNI does);
 * otherwise the optional features it implements beyond plain pod/namespace selectors and ports.
 */
export const DATAPATH_NETPOL_FEATURES: Record<Datapath, readonly NetpolFeature[] | null> = {
  none: null,
  // Calico-style chains and ipsets (src/datapath/iptables/policy.ts); SCTP rules load, the prober cannot send SCTP
  iptables: ['egress', 'ipblock', 'named-ports', 'end-port', 'sctp'],
  nftables: null,
  // bpf/policy.h: identities, ipcache and per-endpoint allow entries (src/datapath/ebpf/policy.ts); SCTP is not parsed
  ebpf: ['egress', 'ipblock', 'named-ports', 'end-port'],
  // the ebpf policy; XDP judges a local backend's ingress itself, as it skips tc_to_pod
  xdp: ['egress', 'ipblock', 'named-ports', 'end-port'],
};
