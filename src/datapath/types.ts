// SPDX-License-Identifier: Apache-2.0
// What every datapath agent implements and reports, whatever it programs (iptables, nftables, BPF maps).
import type { ClusterState, NodeContext } from '../cluster/state.ts';
import type { Datapath } from '../runner/scenario/schema.ts';
import type { XdpModeRequest } from './bpf/attach.ts';

/**
 * The longest one sync may take before it counts as hung. Generous on purpose: Debian's iptables-nft 1.8.9
 * needs minutes for kube-proxy's rules at 20,000 services (a finding, not a reason to give up on it).
 */
export const SYNC_TIMEOUT_MS = 20 * 60_000;

export interface AgentInit {
  datapath: Datapath;
  node: NodeContext;
  options: {
    iptablesBackend: 'nft' | 'legacy';
    /** xdp datapath: the XDP mode to attach in (`auto`: native, generic where the driver refuses) */
    xdpMode?: XdpModeRequest;
  };
}

/** one sync of the node to a cluster state: kube-proxy's sync_proxy_rules_duration_seconds and friends */
export interface SyncReport {
  datapath: Datapath;
  node: string;
  /** whole sync: compute + program (what kube-proxy's sync_proxy_rules_duration_seconds measures) */
  durationMs: number;
  /** turning objects into rules / entries */
  renderMs: number;
  /** handing them to the kernel (iptables-restore, nft -f, map updates) */
  applyMs: number;
  /** rules or map entries programmed by this sync */
  rules: number;
  /** service ports and ready endpoints the datapath saw */
  servicePorts: number;
  endpoints: number;
  /** datapath-specific facts, e.g. the target service's position in the lookup order */
  detail: Record<string, number | string>;
}

export interface DatapathAgent {
  init(init: AgentInit): Promise<void>;
  sync(state: ClusterState): Promise<SyncReport>;
  /** removes what this agent programmed (namespace deletion would, too; this makes `lab` reuse clean) */
  cleanup(): Promise<void>;
}

/** datapath name → lazy constructor; the one place new datapaths are registered */
export const DATAPATH_AGENTS: Record<string, () => Promise<DatapathAgent>> = {
  none: async () => new (await import('./none.ts')).NoneAgent(),
  iptables: async () => new (await import('./iptables/agent.ts')).IptablesAgent(),
  nftables: async () => new (await import('./nftables/agent.ts')).NftablesAgent(),
  ebpf: async () => new (await import('./ebpf/agent.ts')).EbpfAgent(),
  xdp: async () => new (await import('./ebpf/agent.ts')).EbpfAgent({ xdp: true }),
};
