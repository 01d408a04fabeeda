// SPDX-License-Identifier: Apache-2.0
// networking.k8s.io/v1 NetworkPolicy semantics in plain TypeScript: the reference every datapath's truth table is
// checked against. Pure. Follows the API documentation as upstream's e2e suite and Cyclonus read it: policies only
// isolate pods, isolation is per direction, allows are additive, a connection needs egress AND ingress allowed.
import type {
  V1LabelSelector,
  V1LabelSelectorRequirement,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1Pod,
} from '@kubernetes/client-node';
import { cidrContains } from '../util/ip.ts';

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export type Direction = 'ingress' | 'egress';

/** the label the API server puts on every namespace (immutable, equal to the name) */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface NetpolPort {
  name?: string;
  port: number;
  protocol: Protocol;
}

export interface NetpolPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
  /** container ports: named ports are resolved against these */
  ports: NetpolPort[];
}

export interface NetpolNamespace {
  name: string;
  labels: Record<string, string>;
}

/** an address outside the cluster's pods: only ipBlock peers can match it, and no policy isolates it */
export interface ExternalPeer {
  ip: string;
}

export type Peer = NetpolPod | ExternalPeer;

export interface Decision {
  /** some policy selects the pod for this direction */
  isolated: boolean;
  /** `namespace/name` of every policy with a rule allowing the connection */
  allowedBy: string[];
}

export interface Verdict {
  allowed: boolean;
  egress: Decision;
  ingress: Decision;
}

/** one rule of one direction, with the peers (`from` or `to`) and ports as written */
export interface PolicyRule {
  peers: V1NetworkPolicyPeer[] | undefined;
  ports: V1NetworkPolicyPort[] | undefined;
}

export function isPod(peer: Peer): peer is NetpolPod {
  return 'namespace' in peer;
}

export function podKey(pod: Pick<NetpolPod, 'namespace' | 'name'>): string {
  return `${pod.namespace}/${pod.name}`;
}

export function policyNamespace(policy: V1NetworkPolicy): string {
  return policy.metadata?.namespace ?? 'default';
}

export function policyKey(policy: V1NetworkPolicy): string {
  return `${policyNamespace(policy)}/${policy.metadata?.name ?? ''}`;
}

/**
 * Label selector semantics of metav1: an absent selector selects nothing, an empty one everything; matchLabels and
 * matchExpressions are ANDed. NotIn and DoesNotExist match pods that lack the key.
 */
export function selectorMatches(sel: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return false;
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  return (sel.matchExpressions ?? []).every((req) => requirementMatches(req, labels));
}

function requirementMatches(req: V1LabelSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && values.includes(labels[req.key]!);
    case 'NotIn':
      return !has || !values.includes(labels[req.key]!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    default:
      // the API rejects other operators; an unknown one must never widen what a policy matches
      return false;
  }
}

/**
 * The directions a policy isolates. When policyTypes is omitted (or empty) the API server defaults it: Ingress
 * always, Egress only when the policy has at least one egress rule (`egress: []` does not count).
 */
export function policyDirections(policy: V1NetworkPolicy): Direction[] {
  const spec = policy.spec ?? {};
  if (spec.policyTypes?.length) {
    return (['ingress', 'egress'] as const).filter((d) => spec.policyTypes!.some((t) => t.toLowerCase() === d));
  }
  return (spec.egress?.length ?? 0) > 0 ? ['ingress', 'egress'] : ['ingress'];
}

/** whether the policy selects the pod for the direction: same namespace, podSelector matches, type applies */
export function policySelects(policy: V1NetworkPolicy, pod: NetpolPod, direction: Direction): boolean {
  return (
    policyNamespace(policy) === pod.namespace &&
    policyDirections(policy).includes(direction) &&
    // podSelector is required by the API; an omitted one decodes to the empty selector (all pods)
    selectorMatches(policy.spec?.podSelector ?? {}, pod.labels)
  );
}

/** the policies that select the pod for the direction; the pod is isolated in that direction iff there is one */
export function policiesFor(policies: readonly V1NetworkPolicy[], pod: NetpolPod, direction: Direction): V1NetworkPolicy[] {
  return policies.filter((p) => policySelects(p, pod, direction));
}

/** the rules of a direction; `ingress: []` (or a missing list) yields none, so a selected pod is denied everything */
export function policyRules(policy: V1NetworkPolicy, direction: Direction): PolicyRule[] {
  if (direction === 'ingress') return (policy.spec?.ingress ?? []).map((r) => ({ peers: ingressPeers(r), ports: r.ports }));
  return (policy.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
}

/**
 * An ingress rule's `from`. client-node's model calls it `_from` (a reserved word in its generator); objects read
 * from YAML or JSON on the wire call it `from`. Both are accepted so either kind of object can be evaluated.
 */
export function ingressPeers(rule: V1NetworkPolicyIngressRule): V1NetworkPolicyPeer[] | undefined {
  return rule._from ?? (rule as { from?: V1NetworkPolicyPeer[] }).from;
}

/** a namespace's labels; the API server always sets kubernetes.io/metadata.name, so it is present here too */
export function namespaceLabels(namespaces: readonly NetpolNamespace[], name: string): Record<string, string> {
  const ns = namespaces.find((n) => n.name === name);
  return { ...ns?.labels, [NAMESPACE_NAME_LABEL]: name };
}

export function ipBlockMatches(block: { cidr: string; except?: string[] }, ip: string): boolean {
  return cidrContains(block.cidr, ip) && !(block.except ?? []).some((e) => cidrContains(e, ip));
}

/**
 * One peer of a rule. ipBlock matches by address, pod IPs included (upstream's reading). Selectors only match pods:
 * podSelector alone = pods of the policy's namespace; namespaceSelector alone = every pod of matching namespaces;
 * both in one peer = pods matching both (AND). Separate peers are ORed by the caller.
 */
export function peerMatches(
  peerSpec: V1NetworkPolicyPeer,
  policyNs: string,
  peer: Peer,
  namespaces: readonly NetpolNamespace[],
): boolean {
  if (peerSpec.ipBlock) return ipBlockMatches(peerSpec.ipBlock, peer.ip);
  if (!isPod(peer)) return false;
  const { podSelector, namespaceSelector } = peerSpec;
  if (!podSelector && !namespaceSelector) return false; // the API rejects an empty peer; never read it as "all"
  const inNamespace = namespaceSelector
    ? selectorMatches(namespaceSelector, namespaceLabels(namespaces, peer.namespace))
    : peer.namespace === policyNs;
  return inNamespace && (!podSelector || selectorMatches(podSelector, peer.labels));
}

/** a rule's peer list: missing or empty matches every source/destination, otherwise any peer may match */
export function peersMatch(
  peers: readonly V1NetworkPolicyPeer[] | undefined,
  policyNs: string,
  peer: Peer,
  namespaces: readonly NetpolNamespace[],
): boolean {
  return !peers?.length || peers.some((p) => peerMatches(p, policyNs, peer, namespaces));
}

/** the protocol of a port entry; the API defaults it to TCP */
export function portProtocol(spec: V1NetworkPolicyPort): Protocol {
  return (spec.protocol ?? 'TCP') as Protocol;
}

/**
 * Resolves a named port against a pod's container ports: the number of the port with that name and protocol.
 * Named ports always resolve against the destination pod, for ingress and egress alike.
 */
export function resolveNamedPort(pod: NetpolPod, name: string, protocol: Protocol): number | undefined {
  return pod.ports.find((p) => p.name === name && p.protocol === protocol)?.port;
}

/** one port entry against a destination port and protocol; `port` absent = every port of the protocol */
export function portMatches(spec: V1NetworkPolicyPort, port: number, protocol: Protocol, destination: Peer): boolean {
  if (portProtocol(spec) !== protocol) return false;
  const want = spec.port;
  if (want === undefined) return true;
  if (typeof want === 'number') return spec.endPort !== undefined ? port >= want && port <= spec.endPort : port === want;
  // an external destination has no container ports, so a named port never matches it
  return isPod(destination) && resolveNamedPort(destination, want, protocol) === port;
}

/** a rule's port list: missing or empty = all ports and protocols */
export function portsMatch(
  ports: readonly V1NetworkPolicyPort[] | undefined,
  port: number,
  protocol: Protocol,
  destination: Peer,
): boolean {
  return !ports?.length || ports.some((p) => portMatches(p, port, protocol, destination));
}

function decide(
  policies: readonly V1NetworkPolicy[],
  namespaces: readonly NetpolNamespace[],
  direction: Direction,
  subject: Peer,
  other: Peer,
  destination: Peer,
  port: number,
  protocol: Protocol,
): Decision {
  if (!isPod(subject)) return { isolated: false, allowedBy: [] }; // policies never isolate external addresses
  const selecting = policiesFor(policies, subject, direction);
  const allowedBy = selecting
    .filter((policy) =>
      policyRules(policy, direction).some(
        (rule) =>
          peersMatch(rule.peers, policyNamespace(policy), other, namespaces) &&
          portsMatch(rule.ports, port, protocol, destination),
      ),
    )
    .map(policyKey);
  return { isolated: selecting.length > 0, allowedBy };
}

export function directionAllows(d: Decision): boolean {
  return !d.isolated || d.allowedBy.length > 0;
}

/** whether a connection from → to on port/protocol is allowed: the source's egress AND the destination's ingress */
export function allowed(
  policies: readonly V1NetworkPolicy[],
  namespaces: readonly NetpolNamespace[],
  from: Peer,
  to: Peer,
  port: number,
  protocol: Protocol,
): Verdict {
  const egress = decide(policies, namespaces, 'egress', from, to, to, port, protocol);
  const ingress = decide(policies, namespaces, 'ingress', to, from, to, port, protocol);
  return { allowed: directionAllows(egress) && directionAllows(ingress), egress, ingress };
}

/** a V1Pod as the evaluator sees it; undefined while it has no IP (it cannot be a peer yet) */
export function netpolPodFromKube(pod: V1Pod): NetpolPod | undefined {
  const ip = pod.status?.podIP;
  if (!ip || !pod.metadata?.name) return undefined;
  const ports = (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.containerPort,
      protocol: (p.protocol ?? 'TCP') as Protocol,
    })),
  );
  return { namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name, labels: pod.metadata.labels ?? {}, ip, ports };
}

export function netpolNamespaceFromKube(ns: V1Namespace): NetpolNamespace {
  const name = ns.metadata?.name ?? '';
  return { name, labels: { ...ns.metadata?.labels, [NAMESPACE_NAME_LABEL]: name } };
}
