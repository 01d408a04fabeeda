// SPDX-License-Identifier: Apache-2.0
// The Service behaviours each datapath claims. Conformance runs a check only where it is claimed and reports
// "unsupported" elsewhere, never "pass".
import type { Datapath } from '../runner/scenario/schema.ts';

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
  ebpf: [],
  xdp: [],
};
