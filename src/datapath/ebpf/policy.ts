// SPDX-License-Identifier: Apache-2.0
// ClusterState → the NetworkPolicy entries of the ebpf datapath for one node (bpf/policy.h explains the model):
// identities, the ipcache (prefix → identity), the local endpoints' isolated directions and their allow entries.
// Built on the reference resolution (netpol/resolve.ts), as the iptables datapath is, so the two cannot read a
// policy differently. Pure, apart from the identity allocator passed in, which keeps identities stable across syncs.
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import {
  ipBlockMatches, netpolNamespaceFromKube, policyKey, type Protocol,
} from '../../netpol/evaluator.ts';
import { policyPods, resolveDirection, type CidrPeer, type PortMatch } from '../../netpol/resolve.ts';
import {
  IDENTITY_ANY, IDENTITY_FIRST_ALLOCATED, IDENTITY_HOST, IDENTITY_WORLD, IPPROTO_TCP, IPPROTO_UDP, POLICY_DIR_EGRESS,
  POLICY_DIR_INGRESS, POLICY_F_EGRESS, POLICY_F_INGRESS, ipv4ToU32,
} from '../bpf/codec.ts';

export const IPPROTO_SCTP = 132;
const PROTO_NUMBERS: Record<Protocol, number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };

/** an IPv4 prefix, normalised: host bits cleared */
export interface Prefix {
  base: number;
  len: number;
}

/** one allow entry of dp_policy, without its generation */
export interface PolicyEntry {
  endpoint: string;
  identity: number;
  dir: number;
  proto: number;
  port: number;
  portPrefix: number;
}

export interface PolicyEntries {
  /** "a.b.c.d/len" → identity; always holds 0.0.0.0/0 → IDENTITY_WORLD and the node's addresses → IDENTITY_HOST */
  ipcache: Map<string, number>;
  /** local pod IP → POLICY_F_* (only pods with at least one isolated direction) */
  endpoints: Map<string, number>;
  /** policyEntryKey() → entry */
  policy: Map<string, PolicyEntry>;
}

/** identities by what they stand for; never reused while in use, so a stale identity never names something new */
export class IdentityAllocator {
  private readonly ids = new Map<string, number>();
  private next = IDENTITY_FIRST_ALLOCATED;

  idFor(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.next++;
      if (id > 0xffffffff) throw new RangeError('identity space (u32) exhausted; restart the agent');
      this.ids.set(key, id);
    }
    return id;
  }

  /** forget every identity not in `used` (after its entries left the maps) */
  retain(used: ReadonlySet<number>): void {
    for (const [k, id] of this.ids) if (!used.has(id)) this.ids.delete(k);
  }

  get size(): number {
    return this.ids.size;
  }
}

export function parsePrefix(cidr: string): Prefix | undefined {
  const [ip, bitsText] = cidr.split('/');
  if (!ip || ip.includes(':')) return undefined; // IPv6: this datapath is IPv4 only
  const len = bitsText === undefined ? 32 : Number(bitsText);
  if (!Number.isInteger(len) || len < 0 || len > 32) return undefined;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { base: (ipv4ToU32(ip) & mask) >>> 0, len };
}

export const prefixText = (p: Prefix): string =>
  `${[24, 16, 8, 0].map((s) => (p.base >>> s) & 0xff).join('.')}/${p.len}`;

/** `inner` lies inside `outer` (or is it) */
export function prefixWithin(inner: Prefix, outer: Prefix): boolean {
  if (inner.len < outer.len) return false;
  const mask = outer.len === 0 ? 0 : (0xffffffff << (32 - outer.len)) >>> 0;
  return ((inner.base & mask) >>> 0) === outer.base;
}

export const policyEntryKey = (e: PolicyEntry): string => `${e.endpoint}|${e.identity}|${e.dir}|${e.proto}|${e.port}/${e.portPrefix}`;

/** [lo, hi] as aligned power-of-two blocks: {port, prefix bits}; at most 30 of them */
export function portBlocks(lo: number, hi: number): { port: number; prefix: number }[] {
  const out: { port: number; prefix: number }[] = [];
  let p = lo;
  while (p <= hi) {
    let size = p === 0 ? 65536 : p & -p;
    while (p + size - 1 > hi) size /= 2;
    out.push({ port: p, prefix: 16 - Math.log2(size) });
    p += size;
  }
  return out;
}

const sortedLabels = (l: Record<string, string>): string[] => Object.entries(l).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
const cidrPeerKey = (c: CidrPeer): string => `${c.cidr}!${[...c.except].sort().join(',')}`;

export function computePolicyEntries(
  state: Pick<ClusterState, 'pods' | 'namespaces' | 'networkPolicies'>,
  node: Pick<NodeContext, 'nodeName' | 'nodeIPs'>,
  ids: IdentityAllocator,
): PolicyEntries {
  // no policy at all (service benchmarks): nothing to resolve, not even the pods
  if (!state.networkPolicies?.length) return { ipcache: new Map(), endpoints: new Map(), policy: new Map() };
  const namespaces = state.namespaces.map(netpolNamespaceFromKube);
  const all = policyPods(state.pods);
  const pods = all.map((p) => p.pod);
  const policies = [...(state.networkPolicies ?? [])].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));
  const local = all.filter((p) => p.nodeName === node.nodeName).map((p) => p.pod);

  // resolve first: the ipBlocks in use decide which prefixes (and which pod identities) must be told apart
  const resolved = policies.length
    ? local.flatMap((pod) => (['ingress', 'egress'] as const).map((d) => resolveDirection(policies, namespaces, pods, pod, d))).filter((r) => r.isolated)
    : [];
  // nothing local is isolated: no packet of this node consults the ipcache, so it stays empty (no cost without policies)
  if (!resolved.length) return { ipcache: new Map(), endpoints: new Map(), policy: new Map() };
  const blocks = new Map<string, CidrPeer>();
  for (const r of resolved) for (const rule of r.rules) for (const c of rule.peers.cidrs) if (parsePrefix(c.cidr)) blocks.set(cidrPeerKey(c), c);
  const blockList = [...blocks.values()];

  // a pod's identity: everything a verdict about it can depend on (labels, namespace, named ports, ipBlock membership)
  const nsLabels = new Map(namespaces.map((n) => [n.name, n.labels]));
  const ipcache = new Map<string, number>([['0.0.0.0/0', IDENTITY_WORLD]]);
  const podIdentity = new Map<string, number>();
  for (const pod of pods) {
    const key = JSON.stringify([
      pod.namespace,
      sortedLabels(nsLabels.get(pod.namespace) ?? {}),
      sortedLabels(pod.labels),
      pod.ports.map((p) => `${p.name ?? ''}:${p.port}/${p.protocol}`).sort(),
      blockList.filter((b) => ipBlockMatches(b, pod.ip)).map(cidrPeerKey).sort(),
    ]);
    const id = ids.idFor(`pod:${key}`);
    podIdentity.set(pod.ip, id);
    ipcache.set(`${pod.ip}/32`, id);
  }
  for (const b of blockList) {
    for (const c of [b.cidr, ...b.except]) {
      const p = parsePrefix(c);
      if (!p) continue;
      const text = prefixText(p);
      if (!ipcache.has(text)) ipcache.set(text, p.len === 0 ? IDENTITY_WORLD : ids.idFor(`cidr:${text}`));
    }
  }
  for (const ip of node.nodeIPs) if (parsePrefix(ip)) ipcache.set(`${ip}/32`, IDENTITY_HOST);
  const prefixes = [...ipcache].map(([text, id]) => ({ prefix: parsePrefix(text)!, id }));

  /** identities whose addresses all lie in the block: a prefix inside the cidr and inside no except */
  const blockIdentities = (c: CidrPeer): number[] => {
    const cidr = parsePrefix(c.cidr);
    if (!cidr) return [];
    const excepts = c.except.flatMap((e) => parsePrefix(e) ?? []);
    return prefixes.filter(({ prefix }) => prefixWithin(prefix, cidr) && !excepts.some((e) => prefixWithin(prefix, e))).map((x) => x.id);
  };

  const endpoints = new Map<string, number>();
  const policy = new Map<string, PolicyEntry>();
  for (const r of resolved) {
    const ingress = r.direction === 'ingress';
    const dir = ingress ? POLICY_DIR_INGRESS : POLICY_DIR_EGRESS;
    endpoints.set(r.pod.ip, (endpoints.get(r.pod.ip) ?? 0) | (ingress ? POLICY_F_INGRESS : POLICY_F_EGRESS));
    for (const rule of r.rules) {
      const identities = rule.peers.any
        ? [IDENTITY_ANY]
        : [...new Set([...rule.peers.pods.flatMap((p) => podIdentity.get(p.ip) ?? []), ...rule.peers.cidrs.flatMap(blockIdentities)])];
      const ports = portEntries(rule.ports);
      for (const identity of identities) {
        for (const p of ports) {
          const e: PolicyEntry = { endpoint: r.pod.ip, identity, dir, ...p };
          policy.set(policyEntryKey(e), e);
        }
      }
    }
  }
  return { ipcache, endpoints, policy };
}

/** a rule's ports as {proto, port prefix} entries: no ports = protocol 0 (everything), no port = the whole protocol */
function portEntries(ports: PortMatch[] | 'all'): { proto: number; port: number; portPrefix: number }[] {
  if (ports === 'all') return [{ proto: 0, port: 0, portPrefix: 0 }];
  return ports.flatMap((m) => {
    const proto = PROTO_NUMBERS[m.protocol];
    if (m.port === undefined) return [{ proto, port: 0, portPrefix: 0 }];
    const hi = m.endPort !== undefined && m.endPort >= m.port ? m.endPort : m.port;
    return portBlocks(m.port, hi).map((b) => ({ proto, port: b.port, portPrefix: b.prefix }));
  });
}

/**
 * What the datapath finds for an address or prefix ("a.b.c.d" or "a.b.c.d/len"): the identity of the longest prefix
 * holding it, IDENTITY_WORLD when none does. /32s by hash, the (few) shorter prefixes by scan.
 */
export function identityResolver(ipcache: ReadonlyMap<string, number>): (addrOrPrefix: string) => number {
  const hosts = new Map<number, number>();
  const nets: { prefix: Prefix; id: number }[] = [];
  for (const [text, id] of ipcache) {
    const prefix = parsePrefix(text)!;
    if (prefix.len === 32) hosts.set(prefix.base, id);
    else nets.push({ prefix, id });
  }
  nets.sort((a, b) => b.prefix.len - a.prefix.len);
  return (addrOrPrefix) => {
    const p = parsePrefix(addrOrPrefix)!;
    if (p.len === 32) {
      const id = hosts.get(p.base);
      if (id !== undefined) return id;
    }
    return nets.find((n) => prefixWithin(p, n.prefix))?.id ?? IDENTITY_WORLD;
  };
}

export function lookupIdentity(ipcache: ReadonlyMap<string, number>, ip: string): number {
  return identityResolver(ipcache)(ip);
}

/** the datapath's verdict on one side of a flow, as bpf/policy.h computes it, over entries instead of maps */
export function entriesAllow(
  entries: PolicyEntries, endpoint: string, peer: string, direction: 'ingress' | 'egress', proto: number, port: number,
): boolean {
  const flags = entries.endpoints.get(endpoint) ?? 0;
  if (!(flags & (direction === 'ingress' ? POLICY_F_INGRESS : POLICY_F_EGRESS))) return true;
  const identity = lookupIdentity(entries.ipcache, peer);
  if (identity === IDENTITY_HOST) return true;
  const dir = direction === 'ingress' ? POLICY_DIR_INGRESS : POLICY_DIR_EGRESS;
  for (const e of entries.policy.values()) {
    if (e.endpoint !== endpoint || e.dir !== dir) continue;
    if (e.identity !== IDENTITY_ANY && e.identity !== identity) continue;
    if (e.proto === 0) return true;
    if (e.proto !== proto) continue;
    const shift = 16 - e.portPrefix;
    if (e.portPrefix === 0 || port >>> shift === e.port >>> shift) return true;
  }
  return false;
}

/** every identity the entries use, for IdentityAllocator.retain() */
export function identitiesOf(...sets: (PolicyEntries | undefined)[]): Set<number> {
  const out = new Set<number>();
  for (const s of sets) {
    if (!s) continue;
    for (const id of s.ipcache.values()) out.add(id);
    for (const e of s.policy.values()) out.add(e.identity);
  }
  return out;
}
