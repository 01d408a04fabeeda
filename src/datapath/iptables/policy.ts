// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy for the iptables datapath, as Calico's felix and kube-router program it: a pure renderer from cluster
// state to filter-table chains for the pods of one node, on top of the reference resolution (netpol/resolve.ts), so
// this datapath cannot read a policy differently from the evaluator it is judged against.
//
//   FORWARD ─(position 1)─▶ DPB-POLICY   RELATED,ESTABLISHED → ACCEPT; INVALID → DROP
//                             ├─▶ DPB-FROM-POD   -i lxcN -g DPB-FW-lxcN   egress of the sending pod, if isolated
//                             └─▶ DPB-TO-POD     -o lxcN -g DPB-TW-lxcN   ingress of the receiving pod, if isolated
//   DPB-FW-/DPB-TW-<iface>  clear the allow mark; per selecting policy: -j DPB-PO-/DPB-PI-<hash>, then RETURN if
//                           marked; finally DROP ("<pod> <direction>: isolated, no policy allows")
//   DPB-PI-/DPB-PO-<hash>   one rule per allow rule × peer set × protocol: ipset + ports → MARK allow
//
// Pod-to-pod on one node crosses FORWARD once, so DPB-POLICY checks the sender's egress, then the receiver's ingress.
// Across nodes the source node sees only its sender (egress) and the destination node only its receiver (ingress).
// Service DNAT (nat PREROUTING) has already happened: policies see the backend's address and port, as the API says.
// A new connection policy allows RETURNs to FORWARD instead of being ACCEPTed, so kube-proxy's filter rules (REJECT
// for services without endpoints, …) still see it. Only forwarded traffic is judged: traffic between a pod and its
// own node (kubelet probes) is always allowed, as the API documentation says. Known gap: a pod created after the
// last sync is unprotected until the next one (Calico drops traffic of workload interfaces it has not programmed).
import { createHash } from 'node:crypto';
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import {
  netpolNamespaceFromKube, podKey, policyKey, type Direction, type Protocol,
} from '../../netpol/evaluator.ts';
import { policyPods, resolveDirection, type PortMatch, type ResolvedRule } from '../../netpol/resolve.ts';
import { base32, type IptablesHook } from './chains.ts';
import { cidrIpset, podIpset, type Ipset } from './ipset.ts';

export const POLICY_CHAIN = 'DPB-POLICY';
export const FROM_POD_CHAIN = 'DPB-FROM-POD';
export const TO_POD_CHAIN = 'DPB-TO-POD';
const FIXED_CHAINS = [POLICY_CHAIN, FROM_POD_CHAIN, TO_POD_CHAIN];
/** every chain this renderer owns starts with it; cleanup and crash recovery go by it */
export const POLICY_CHAIN_PREFIX = 'DPB-';

/** the packet mark bit a policy chain sets to say "allowed"; clear of kube-proxy's 0x4000 and 0x8000 */
export const POLICY_ALLOW_MARK = '0x10000';
const MARK = `${POLICY_ALLOW_MARK}/${POLICY_ALLOW_MARK}`;
/** xt_multiport takes at most 15 ports, a range counting as two */
const MULTIPORT_SLOTS = 15;
const PROTOCOL_ORDER: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** FORWARD → DPB-POLICY; the agent keeps it first in FORWARD, ahead of kube-proxy's KUBE-FORWARD accept rules */
export function policyHook(): IptablesHook {
  return { table: 'filter', chain: 'FORWARD', args: ['-m', 'comment', '--comment', 'dpbench network policy', '-j', POLICY_CHAIN] };
}

export interface PolicyRenderInput {
  state: Pick<ClusterState, 'pods' | 'namespaces' | 'networkPolicies'>;
  node: Pick<NodeContext, 'nodeName'>;
  /** pod IP → host-side interface in this node's namespace (`ip -o route`: "10.244.0.10 dev lxc0 …") */
  interfaces: ReadonlyMap<string, string>;
  /** the DPB- chains the last sync defined (or found at start-up): those no longer needed are deleted */
  previousChains?: ReadonlySet<string>;
}

export interface PolicyEndpoint {
  pod: string;
  iface: string;
  ingress: boolean;
  egress: boolean;
}

export interface PolicyRender {
  /** chain declarations (":DPB-… - [0:0]") for the filter table, fixed chains first */
  declarations: string[];
  /** "-A …" rules, then "-X …" for stale chains */
  rules: string[];
  /** every DPB- chain this render defines (pass as previousChains next time) */
  chains: Set<string>;
  /** the sets the rules reference, each once */
  ipsets: Ipset[];
  ruleCount: number;
  /** local pods with an interface, and which of their directions are isolated */
  endpoints: PolicyEndpoint[];
  /** local pods without a host route yet: nothing can reach them, so nothing to program */
  unrouted: string[];
}

const hash16 = (s: string): string => base32(createHash('sha256').update(s, 'utf8').digest()).slice(0, 16);
const q = (s: string): string => `"${s}"`;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** "10.244.0.10 dev lxc0 scope link" → 10.244.0.10 → lxc0: the host routes a CNI installs for its pods */
export function parseHostRoutes(ipRouteOutput: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of ipRouteOutput.split('\n')) {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/32)?\s+dev\s+(\S+)/.exec(line.trim());
    if (m && !/\svia\s/.test(line)) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** `-p proto` plus port matches, one argv fragment per iptables rule needed */
function portMatches(ports: PortMatch[] | 'all'): string[][] {
  if (ports === 'all') return [[]];
  const out: string[][] = [];
  for (const protocol of PROTOCOL_ORDER) {
    const mine = ports.filter((p) => p.protocol === protocol);
    if (!mine.length) continue;
    const proto = protocol.toLowerCase();
    if (mine.some((p) => p.port === undefined)) {
      out.push(['-p', proto]); // a port entry without a port: the whole protocol
      continue;
    }
    const tokens = [...new Set(mine.map((p) => (p.endPort !== undefined && p.endPort !== p.port ? `${p.port}:${p.endPort}` : `${p.port}`)))];
    if (tokens.length === 1) {
      out.push(['-p', proto, '-m', proto, '--dport', tokens[0]!]);
      continue;
    }
    let chunk: string[] = [];
    let slots = 0;
    for (const t of tokens) {
      const cost = t.includes(':') ? 2 : 1;
      if (slots + cost > MULTIPORT_SLOTS) {
        out.push(['-p', proto, '-m', 'multiport', '--dports', chunk.join(',')]);
        chunk = [];
        slots = 0;
      }
      chunk.push(t);
      slots += cost;
    }
    out.push(['-p', proto, '-m', 'multiport', '--dports', chunk.join(',')]);
  }
  return out;
}

/** the peer sets of a rule: [] for "any address"; none at all when the rule's selectors picked no pod */
function peerSets(rule: ResolvedRule): Ipset[] | 'any' {
  if (rule.peers.any) return 'any';
  const sets: Ipset[] = [];
  if (rule.peers.pods.length) sets.push(podIpset(rule.peers.pods.map((p) => p.ip)));
  // blocks without excepts share a set; a block with excepts needs its own (see cidrIpset)
  const plain = rule.peers.cidrs.filter((c) => !c.except.length);
  if (plain.length) sets.push(cidrIpset(plain));
  for (const c of rule.peers.cidrs.filter((x) => x.except.length)) sets.push(cidrIpset([c]));
  return sets;
}

interface Rendered {
  /** rule bodies (after "-A CHAIN") */
  bodies: string[];
  sets: Ipset[];
}

/** one policy's resolved rules for one pod and direction, as the bodies of its policy chain */
function policyBodies(policy: string, rules: readonly ResolvedRule[], direction: Direction): Rendered {
  const setDir = direction === 'ingress' ? 'src' : 'dst';
  const bodies: string[] = [];
  const sets: Ipset[] = [];
  for (const rule of rules) {
    const peers = peerSets(rule);
    const matches = peers === 'any' ? [[]] : peers.map((s) => ['-m', 'set', '--match-set', s.name, setDir]);
    if (peers !== 'any') sets.push(...peers);
    const comment = ['-m', 'comment', '--comment', q(`${policy} ${direction} rule ${rule.rule}`)];
    for (const peer of matches) {
      for (const port of portMatches(rule.ports)) {
        // -p first, as iptables-save prints it, so saved rules read like these
        const [proto, rest] = port.length ? [port.slice(0, 2), port.slice(2)] : [[], []];
        bodies.push([...proto, ...peer, ...rest, ...comment, '-j', 'MARK', '--set-xmark', MARK].join(' '));
      }
    }
  }
  return { bodies, sets };
}

/** the filter-table chains enforcing every policy on the pods of `node` */
export function renderPolicy(input: PolicyRenderInput): PolicyRender {
  const { state, node, interfaces } = input;
  const namespaces = state.namespaces.map(netpolNamespaceFromKube);
  const all = policyPods(state.pods);
  const pods = all.map((p) => p.pod);
  // sorted so the render does not depend on informer order
  const policies = [...(state.networkPolicies ?? [])].sort((a, b) => cmp(policyKey(a), policyKey(b)));
  const local = all.filter((p) => p.nodeName === node.nodeName).map((p) => p.pod).sort((a, b) => cmp(podKey(a), podKey(b)));

  const chainRules = new Map<string, string[]>(FIXED_CHAINS.map((c) => [c, []]));
  const ipsets = new Map<string, Ipset>();
  const add = (chain: string, body: string): void => {
    if (!chainRules.has(chain)) chainRules.set(chain, []);
    chainRules.get(chain)!.push(`-A ${chain} ${body}`);
  };
  const endpoints: PolicyEndpoint[] = [];
  const unrouted: string[] = [];

  for (const pod of local) {
    const iface = interfaces.get(pod.ip);
    if (!iface) {
      unrouted.push(podKey(pod));
      continue;
    }
    const ep: PolicyEndpoint = { pod: podKey(pod), iface, ingress: false, egress: false };
    for (const direction of ['egress', 'ingress'] as const) {
      const resolved = resolveDirection(policies, namespaces, pods, pod, direction);
      if (!resolved.isolated) continue;
      ep[direction] = true;
      const ingress = direction === 'ingress';
      const epChain = `${ingress ? 'DPB-TW-' : 'DPB-FW-'}${iface}`;
      // chains are content-addressed: pods resolving a policy alike share its chain
      const jumps: { policy: string; chain: string }[] = [];
      for (const policy of resolved.policies) {
        const r = policyBodies(policy, resolved.rules.filter((x) => x.policy === policy), direction);
        if (!r.bodies.length) continue; // a policy that only isolates (e.g. `ingress: []`)
        const chain = `${ingress ? 'DPB-PI-' : 'DPB-PO-'}${hash16(`${policy}\n${r.bodies.join('\n')}`)}`;
        if (!chainRules.has(chain)) for (const b of r.bodies) add(chain, b);
        for (const s of r.sets) ipsets.set(s.name, s);
        jumps.push({ policy, chain });
      }
      chainRules.set(epChain, []);
      if (jumps.length) add(epChain, `-j MARK --set-xmark 0x0/${POLICY_ALLOW_MARK}`);
      for (const j of jumps) {
        add(epChain, `-m comment --comment ${q(`policy ${j.policy}`)} -j ${j.chain}`);
        add(epChain, `-m mark --mark ${MARK} -j RETURN`);
      }
      add(epChain, `-m comment --comment ${q(`${podKey(pod)} ${direction}: isolated, no policy allows`)} -j DROP`);
      // goto: the endpoint chain's RETURN goes straight back to DPB-POLICY
      add(ingress ? TO_POD_CHAIN : FROM_POD_CHAIN, `${ingress ? '-o' : '-i'} ${iface} -m comment --comment ${podKey(pod)} -g ${epChain}`);
    }
    endpoints.push(ep);
  }

  if (chainRules.get(FROM_POD_CHAIN)!.length || chainRules.get(TO_POD_CHAIN)!.length) {
    const root = chainRules.get(POLICY_CHAIN)!;
    // replies and later packets of an allowed connection skip policy, as in every conntrack-based enforcer
    root.push(`-A ${POLICY_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    root.push(`-A ${POLICY_CHAIN} -m conntrack --ctstate INVALID -j DROP`);
    if (chainRules.get(FROM_POD_CHAIN)!.length) root.push(`-A ${POLICY_CHAIN} -j ${FROM_POD_CHAIN}`);
    if (chainRules.get(TO_POD_CHAIN)!.length) root.push(`-A ${POLICY_CHAIN} -j ${TO_POD_CHAIN}`);
  }

  const chains = new Set(chainRules.keys());
  // gone since the last sync: declared (which flushes them) then deleted, in the same transaction
  const stale = [...(input.previousChains ?? [])].filter((c) => c.startsWith(POLICY_CHAIN_PREFIX) && !chains.has(c)).sort(cmp);
  // fixed chains, then endpoint chains, then policy chains (each in the order the pods were visited)
  const order = (c: string): number =>
    FIXED_CHAINS.includes(c) ? FIXED_CHAINS.indexOf(c) : c.startsWith('DPB-FW-') || c.startsWith('DPB-TW-') ? 3 : 4;
  const declared = [...chains].sort((a, b) => order(a) - order(b));
  const body = declared.flatMap((c) => chainRules.get(c)!);
  return {
    declarations: [...declared, ...stale].map((c) => `:${c} - [0:0]`),
    rules: [...body, ...stale.map((c) => `-X ${c}`)],
    chains,
    ipsets: [...ipsets.values()],
    ruleCount: body.length,
    endpoints,
    unrouted,
  };
}

/** the render as a standalone iptables-restore --noflush input */
export function policyFilterTable(r: PolicyRender): string {
  return ['*filter', ...r.declarations, ...r.rules, 'COMMIT', ''].join('\n');
}

/**
 * kube-proxy's filter input with the policy chains added, so services and policy change in one transaction:
 * declarations after kube-proxy's, rules before its COMMIT.
 */
export function spliceIntoFilter(filter: string, r: PolicyRender): string {
  const lines = filter.split('\n');
  const commit = lines.lastIndexOf('COMMIT');
  if (!lines[0]?.startsWith('*filter') || commit < 0) throw new Error('expected a "*filter … COMMIT" iptables-restore block to add the policy chains to');
  let lastDecl = 0;
  lines.forEach((l, i) => {
    if (i < commit && l.startsWith(':')) lastDecl = i;
  });
  return [...lines.slice(0, lastDecl + 1), ...r.declarations, ...lines.slice(lastDecl + 1, commit), ...r.rules, ...lines.slice(commit)].join('\n');
}
