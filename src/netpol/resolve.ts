// SPDX-License-Identifier: Apache-2.0
// Policies resolved for one pod and one direction into what a datapath programs: allow rules, each a set of peer
// addresses (pod IPs, CIDRs with excepts, or "any") and a set of ports with named ports already turned into numbers.
// iptables ipsets and eBPF identities are built from this, on the evaluator's own matching functions, so a datapath
// and the reference cannot read a policy differently. Pure.
import type { V1NetworkPolicy, V1NetworkPolicyPort, V1Pod } from '@kubernetes/client-node';
import {
  directionAllows,
  ipBlockMatches,
  isPod,
  netpolPodFromKube,
  peerMatches,
  policiesFor,
  policyKey,
  policyNamespace,
  policyRules,
  portProtocol,
  resolveNamedPort,
  type Direction,
  type NetpolNamespace,
  type NetpolPod,
  type Peer,
  type PolicyRule,
  type Protocol,
} from './evaluator.ts';

export interface CidrPeer {
  cidr: string;
  except: string[];
}

/** the peers of one rule: addresses a datapath can match on */
export interface PeerSet {
  /** the rule had no peers: every address, in the cluster or not */
  any: boolean;
  /** pods chosen by podSelector / namespaceSelector peers (by IP, in the order of the pod list given) */
  pods: NetpolPod[];
  /** ipBlock peers; they match pod IPs too */
  cidrs: CidrPeer[];
}

/** one allowed protocol and port: `port` absent = every port of the protocol, `endPort` = an inclusive range */
export interface PortMatch {
  protocol: Protocol;
  port?: number;
  endPort?: number;
}

export interface ResolvedRule {
  /** `namespace/name` of the policy */
  policy: string;
  /** index of the rule in the policy's ingress or egress list */
  rule: number;
  peers: PeerSet;
  /** 'all' when the rule lists no ports */
  ports: PortMatch[] | 'all';
}

export interface ResolvedDirection {
  pod: NetpolPod;
  direction: Direction;
  /** some policy selects the pod for this direction: whatever no rule allows is dropped */
  isolated: boolean;
  /** `namespace/name` of the selecting policies */
  policies: string[];
  rules: ResolvedRule[];
}

/**
 * Resolves every policy selecting `pod` for `direction` against the cluster's pods. For ingress, named ports are
 * resolved on `pod` itself. For egress they resolve on each destination pod, so a rule with named ports is split
 * into one rule per group of destination pods that resolve them alike (external addresses never match a name).
 */
export function resolveDirection(
  policies: readonly V1NetworkPolicy[],
  namespaces: readonly NetpolNamespace[],
  pods: readonly NetpolPod[],
  pod: NetpolPod,
  direction: Direction,
): ResolvedDirection {
  const selecting = policiesFor(policies, pod, direction);
  const rules = selecting.flatMap((policy) =>
    policyRules(policy, direction).flatMap((rule, index) => resolveRule(policy, index, rule, namespaces, pods, pod, direction)),
  );
  return { pod, direction, isolated: selecting.length > 0, policies: selecting.map(policyKey), rules };
}

function resolveRule(
  policy: V1NetworkPolicy,
  index: number,
  rule: PolicyRule,
  namespaces: readonly NetpolNamespace[],
  pods: readonly NetpolPod[],
  pod: NetpolPod,
  direction: Direction,
): ResolvedRule[] {
  const key = policyKey(policy);
  const peers = resolvePeers(policy, rule, namespaces, pods);
  if (!rule.ports?.length) return [{ policy: key, rule: index, peers, ports: 'all' }];
  const numeric = rule.ports.filter((p) => typeof p.port !== 'string').map(numericMatch);
  const named = rule.ports.filter((p): p is V1NetworkPolicyPort & { port: string } => typeof p.port === 'string');
  if (direction === 'ingress') {
    const ports = [...numeric, ...resolveNamed(named, pod)];
    // a rule whose every named port is missing on the pod allows nothing; isolation stays
    return ports.length ? [{ policy: key, rule: index, peers, ports }] : [];
  }
  const out: ResolvedRule[] = numeric.length ? [{ policy: key, rule: index, peers, ports: numeric }] : [];
  if (named.length) {
    const groups = new Map<string, { ports: PortMatch[]; pods: NetpolPod[] }>();
    for (const dest of pods.filter((p) => peerSetContains(peers, p))) {
      const ports = resolveNamed(named, dest);
      if (!ports.length) continue;
      const k = JSON.stringify(ports);
      const group = groups.get(k) ?? { ports, pods: [] };
      group.pods.push(dest);
      groups.set(k, group);
    }
    for (const g of groups.values()) {
      out.push({ policy: key, rule: index, peers: { any: false, pods: g.pods, cidrs: [] }, ports: g.ports });
    }
  }
  return out;
}

function numericMatch(spec: V1NetworkPolicyPort): PortMatch {
  const protocol = portProtocol(spec);
  if (spec.port === undefined) return { protocol };
  const port = spec.port as number;
  return spec.endPort !== undefined ? { protocol, port, endPort: spec.endPort } : { protocol, port };
}

function resolveNamed(named: readonly (V1NetworkPolicyPort & { port: string })[], pod: NetpolPod): PortMatch[] {
  return named.flatMap((spec) => {
    const protocol = portProtocol(spec);
    const port = resolveNamedPort(pod, spec.port, protocol);
    return port === undefined ? [] : [{ protocol, port }];
  });
}

/** the peer list of a rule as addresses: selector peers become the pods they select, ipBlocks stay CIDRs */
export function resolvePeers(
  policy: V1NetworkPolicy,
  rule: PolicyRule,
  namespaces: readonly NetpolNamespace[],
  pods: readonly NetpolPod[],
): PeerSet {
  if (!rule.peers?.length) return { any: true, pods: [], cidrs: [] };
  const ns = policyNamespace(policy);
  const selectorPeers = rule.peers.filter((p) => !p.ipBlock);
  return {
    any: false,
    pods: pods.filter((pod) => selectorPeers.some((p) => peerMatches(p, ns, pod, namespaces))),
    cidrs: rule.peers.flatMap((p) => (p.ipBlock ? [{ cidr: p.ipBlock.cidr, except: [...(p.ipBlock.except ?? [])] }] : [])),
  };
}

/** whether an address is in a peer set; datapaths see addresses only, so pods are matched by IP */
export function peerSetContains(set: PeerSet, peer: Peer): boolean {
  return set.any || set.pods.some((p) => p.ip === peer.ip) || set.cidrs.some((c) => ipBlockMatches(c, peer.ip));
}

export function portSetContains(ports: PortMatch[] | 'all', port: number, protocol: Protocol): boolean {
  if (ports === 'all') return true;
  return ports.some(
    (m) =>
      m.protocol === protocol &&
      (m.port === undefined || (m.endPort !== undefined ? port >= m.port && port <= m.endPort : port === m.port)),
  );
}

/** the policies whose resolved rules allow `peer` on port/protocol (empty also when the pod is not isolated) */
export function resolvedAllowedBy(resolved: ResolvedDirection, peer: Peer, port: number, protocol: Protocol): string[] {
  const by = resolved.rules.filter((r) => peerSetContains(r.peers, peer) && portSetContains(r.ports, port, protocol));
  return [...new Set(by.map((r) => r.policy))];
}

/**
 * The verdict computed from resolutions instead of from the policies: what a datapath built on resolveDirection
 * enforces. Tests hold it equal to evaluator.allowed() for every case, pair and probe.
 */
export function resolvedAllowed(
  policies: readonly V1NetworkPolicy[],
  namespaces: readonly NetpolNamespace[],
  pods: readonly NetpolPod[],
  from: Peer,
  to: Peer,
  port: number,
  protocol: Protocol,
): boolean {
  const side = (subject: Peer, other: Peer, direction: Direction): boolean => {
    if (!isPod(subject)) return true;
    const r = resolveDirection(policies, namespaces, pods, subject, direction);
    return directionAllows({ isolated: r.isolated, allowedBy: resolvedAllowedBy(r, other, port, protocol) });
  };
  return side(from, to, 'egress') && side(to, from, 'ingress');
}

/**
 * The pods that take part in policy, as datapaths see them: an IPv4 address, not on the host network, not
 * finished. Shared so the iptables and ebpf datapaths select the same pods.
 */
export function policyPods(pods: readonly V1Pod[]): { pod: NetpolPod; nodeName: string | undefined }[] {
  return pods
    .filter((p) => !p.spec?.hostNetwork && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .flatMap((p) => {
      const pod = netpolPodFromKube(p);
      return pod && /^\d{1,3}(\.\d{1,3}){3}$/.test(pod.ip) ? [{ pod, nodeName: p.spec?.nodeName }] : [];
    });
}
