// SPDX-License-Identifier: Apache-2.0
// A pure renderer of kube-proxy's nftables mode (IPv4, pkg/proxy/nftables/proxier.go syncProxyRules, the
// version whose TestOverallNFTablesRules has filter-*-pre-dnat chains and a three-rule masquerading chain):
// ClusterState in, the `nft -f -` transaction of a full sync out, command for command in upstream's write order.
//
// The transaction: (re)create table `ip kube-proxy`; on the first sync, add+delete the base chains so changed
// hook priorities apply; add+flush every base and fixed chain and write their rules; add sets and maps and flush
// them; then per service port add+flush its chains, write its set/map elements and its rules; finally flush the
// per-service chains and affinity sets that exist but are no longer needed, and delete them.
//
// Ordering (upstream iterates Go maps, so its order is random; ours is fixed so goldens are stable):
//   - service ports are visited sorted by servicePortName ("ns/name:port") compared as bytes, then protocol;
//   - endpoints are sorted by their "ip:port" string, as upstream's EndpointSliceCache does, which fixes the
//     numgen index of each endpoint;
//   - stale chains and sets are flushed / deleted sorted by name.
// Configured like a default kube-proxy: masqueradeAll off, detect-local by cluster CIDR, --nodeport-addresses
// "primary" (the node's IPs, nftables mode's default).
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import {
  BASE_CHAINS, CLUSTER_IPS, CLUSTER_IPS_CHECK, FIREWALL_CHECK, FIREWALL_IPS, JUMP_CHAINS, MARK_MASQ, MASQUERADING,
  NODEPORT_ENDPOINTS_CHECK, NODEPORT_IPS, NO_ENDPOINT_NODEPORTS, NO_ENDPOINT_SERVICES, REJECT_CHAIN, SERVICES,
  SERVICE_ENDPOINTS_CHECK, SERVICE_IPS, SERVICE_NODEPORTS, affinitySetName, clusterPolicyChainName, endpointChainName,
  externalChainName, firewallChainName, isAffinitySetName, isServiceChainName, localPolicyChainName, masqueradeMark,
  type PortId,
} from './chains.ts';
import { categorize, cmp, endpointsByPort, isIPv4, parseCIDR4, servicePorts, type Endpoint, type ServicePort } from '../kube/model.ts';
import { Transaction } from './transaction.ts';

export {
  affinitySetName, clusterPolicyChainName, endpointChainName, externalChainName, firewallChainName,
  localPolicyChainName, type PortId,
} from './chains.ts';

export interface NftRenderOptions {
  /** chains that exist in the table (or that the last sync defined): the per-service ones not needed are deleted */
  previousChains?: ReadonlySet<string>;
  /** affinity-* sets that exist (or the last render's affinitySets): the ones not needed are deleted */
  previousAffinitySets?: ReadonlySet<string>;
  /** upstream re-creates its base chains once per process, so a changed type or priority applies */
  firstSync?: boolean;
  /** ServiceCIDRs (--service-cluster-ip-range): unallocated IPs in them are dropped; none → no such rule */
  serviceCIDRs?: readonly string[];
  /** default 14 → mark 0x004000 */
  masqueradeBit?: number;
  /**
   * default true. Kernels before 6.2 notice only a moment later that a chain is no longer referenced by a map
   * element, so deleting it in the transaction that removed the element fails; upstream then flushes stale
   * chains and deletes them in a later sync. false = flush them only (they stay in `chains`).
   */
  deleteStaleChains?: boolean;
}

export interface NftRender {
  script: string;
  /** number of rules + set/map elements written */
  ruleCount: number;
  /** chains defined (pass as previousChains next time) */
  chains: Set<string>;
  /** map elements of service-ips */
  serviceIpElements: number;
  /** affinity-* sets defined (pass as previousAffinitySets next time) */
  affinitySets: Set<string>;
  /** per-service chains flushed because nothing needs them any more (deleted too unless deleteStaleChains is false) */
  staleChains: string[];
}

const ADDR = 'ipv4_addr';
const IP_PROTO_PORT = `${ADDR} . inet_proto . inet_service : verdict`;
const PROTO_PORT = 'inet_proto . inet_service : verdict';
const DST_TUPLE = 'ip daddr . meta l4proto . th dport';

/** "ns/name\0port\0proto" → the parts chain names are made of */
function portId(sp: ServicePort): PortId {
  const [nsName = '', port = '', protocol = ''] = sp.key.split('\0');
  const slash = nsName.indexOf('/');
  return { namespace: nsName.slice(0, slash), name: nsName.slice(slash + 1), port, protocol };
}

/** setupNFTables: the skeleton every full sync rewrites, and the flush of every set and map it then refills */
function writeSkeleton(tx: Transaction, created: Set<string>, o: { mark: string; firstSync: boolean; nodeIPs: string[]; serviceCIDRs: string[] }): void {
  const ensureChain = (name: string) => {
    if (created.has(name)) return;
    created.add(name);
    tx.addChain(name);
    tx.flushChain(name);
  };
  tx.addTable('rules for kube-proxy');
  if (o.firstSync) {
    for (const bc of BASE_CHAINS) {
      tx.addChain(bc.name);
      tx.deleteChain(bc.name);
    }
  }
  for (const bc of BASE_CHAINS) {
    created.add(bc.name);
    tx.addChain(bc.name, `type ${bc.type} hook ${bc.hook} priority ${bc.priority} ;`);
    tx.flushChain(bc.name);
  }
  for (const j of JUMP_CHAINS) {
    ensureChain(j.dst);
    tx.rule(j.src, `${j.match ? `${j.match} ` : ''}jump ${j.dst}`);
  }
  for (const chain of [SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ]) ensureChain(chain);

  tx.rule(MARK_MASQ, `mark set mark or ${o.mark}`);
  // the mark is cleared before MASQUERADE so a packet that re-traverses (e.g. tunnelled) is not masqueraded twice
  tx.rule(MASQUERADING, `mark and ${o.mark} == 0 return`);
  tx.rule(MASQUERADING, `mark set mark xor ${o.mark}`);
  tx.rule(MASQUERADING, 'masquerade fully-random');

  tx.addSet('set', CLUSTER_IPS, `type ${ADDR} ; comment "Active ClusterIPs" ;`);
  tx.rule(CLUSTER_IPS_CHECK, `ip daddr @${CLUSTER_IPS} reject`, 'Reject traffic to invalid ports of ClusterIPs');
  if (o.serviceCIDRs.length) {
    tx.rule(CLUSTER_IPS_CHECK, `ip daddr { ${o.serviceCIDRs.join(',')} } drop`, 'Drop traffic to unallocated ClusterIPs');
  }

  // --nodeport-addresses=primary: NodePorts are served on the node's own IPs only
  tx.addSet('set', NODEPORT_IPS, `type ${ADDR} ; comment "IPs that accept NodePort traffic" ;`);
  tx.flushSet('set', NODEPORT_IPS);
  for (const ip of o.nodeIPs) tx.element(NODEPORT_IPS, [ip]);

  tx.addSet('map', NO_ENDPOINT_SERVICES, `type ${IP_PROTO_PORT} ; comment "vmap to drop or reject packets to services with no endpoints" ;`);
  tx.addSet('map', NO_ENDPOINT_NODEPORTS, `type ${PROTO_PORT} ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ;`);
  created.add(REJECT_CHAIN);
  tx.addChain(REJECT_CHAIN, 'comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ;');
  tx.flushChain(REJECT_CHAIN);
  tx.rule(REJECT_CHAIN, 'reject');
  tx.rule(SERVICE_ENDPOINTS_CHECK, `${DST_TUPLE} vmap @${NO_ENDPOINT_SERVICES}`);
  tx.rule(NODEPORT_ENDPOINTS_CHECK, `ip daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`);

  tx.addSet('map', FIREWALL_IPS, `type ${IP_PROTO_PORT} ; comment "destinations that are subject to LoadBalancerSourceRanges" ;`);
  ensureChain(FIREWALL_CHECK);
  tx.rule(FIREWALL_CHECK, `${DST_TUPLE} vmap @${FIREWALL_IPS}`);

  // one lookup whatever the number of services: the point of nftables mode
  tx.addSet('map', SERVICE_IPS, `type ${IP_PROTO_PORT} ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ;`);
  tx.addSet('map', SERVICE_NODEPORTS, `type ${PROTO_PORT} ; comment "NodePort traffic" ;`);
  tx.rule(SERVICES, `${DST_TUPLE} vmap @${SERVICE_IPS}`);
  tx.rule(SERVICES, `ip daddr @${NODEPORT_IPS} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`);

  tx.flushSet('set', CLUSTER_IPS);
  for (const map of [SERVICE_IPS, FIREWALL_IPS, NO_ENDPOINT_SERVICES, NO_ENDPOINT_NODEPORTS, SERVICE_NODEPORTS]) tx.flushSet('map', map);
}

export function renderNftables(state: ClusterState, node: NodeContext, opts: NftRenderOptions = {}): NftRender {
  const mark = masqueradeMark(opts.masqueradeBit ?? 14);
  const localCIDR = node.clusterCIDR ? parseCIDR4(node.clusterCIDR)?.cidr : undefined; // detect-local
  const nodeIPs = node.nodeIPs.filter((ip) => isIPv4(ip) && !ip.startsWith('127.')); // localhost NodePorts unsupported
  const nodeIP = nodeIPs[0];
  const serviceCIDRs = (opts.serviceCIDRs ?? []).flatMap((c) => parseCIDR4(c)?.cidr ?? []);

  const tx = new Transaction();
  const created = new Set<string>();
  writeSkeleton(tx, created, { mark, firstSync: opts.firstSync ?? false, nodeIPs, serviceCIDRs });

  const active = new Set<string>();
  const activeAffinity = new Set<string>();
  const ensureChain = (name: string) => {
    if (active.has(name)) return;
    active.add(name);
    tx.addChain(name);
    tx.flushChain(name);
  };
  let serviceIpElements = 0;
  const serviceIp = (key: (string | number)[], verdict: string) => {
    serviceIpElements++;
    tx.element(SERVICE_IPS, key, verdict);
  };

  const endpoints = endpointsByPort(state.endpointSlices, node.nodeName);
  for (const sp of servicePorts(state.services)) {
    const id = portId(sp);
    const proto = sp.protocol;
    const affinity = sp.affinitySeconds !== undefined;
    const c = categorize(endpoints.get(sp.key) ?? [], sp);
    const epChain = (e: Endpoint) => endpointChainName(id, e.str);
    const affSet = (e: Endpoint) => affinitySetName(id, e.str);

    for (const e of c.reachable) {
      ensureChain(epChain(e));
      if (affinity) activeAffinity.add(affSet(e));
    }
    const clusterChain = clusterPolicyChainName(id);
    const usesClusterChain = c.cluster.length > 0 && c.usesCluster;
    if (usesClusterChain) ensureChain(clusterChain);
    const localChain = localPolicyChainName(id);
    const usesLocalChain = c.local.length > 0 && c.usesLocal;
    if (usesLocalChain) ensureChain(localChain);

    const internalChain = sp.internalPolicyLocal ? localChain : clusterChain;
    const hasInternal = c.hasAny && (!sp.internalPolicyLocal || c.local.length > 0);
    const externalPolicyChain = sp.externalPolicyLocal ? localChain : clusterChain;
    const hasExternal = c.hasAny && (!sp.externalPolicyLocal || c.local.length > 0);
    // needed even without external endpoints, for the short-circuit rules of local traffic
    const extChain = externalChainName(id);
    const usesExtChain = c.hasAny && c.externallyAccessible;
    if (usesExtChain) ensureChain(extChain);

    // no endpoints anywhere: reject; endpoints, but none local where a Local policy needs them: drop
    const noEndpoints = c.hasAny ? 'drop' : `goto ${REJECT_CHAIN}`;

    tx.element(CLUSTER_IPS, [sp.clusterIP]);
    if (hasInternal) serviceIp([sp.clusterIP, proto, sp.port], `goto ${internalChain}`);
    else tx.element(NO_ENDPOINT_SERVICES, [sp.clusterIP, proto, sp.port], noEndpoints, sp.name);

    for (const ip of sp.externalIPs) {
      if (c.hasAny) serviceIp([ip, proto, sp.port], `goto ${extChain}`);
      if (!hasExternal) tx.element(NO_ENDPOINT_SERVICES, [ip, proto, sp.port], noEndpoints, sp.name);
    }

    const usesFWChain = sp.lbVIPs.length > 0 && sp.lbSourceRanges.length > 0;
    const fwChain = firewallChainName(id);
    if (usesFWChain) ensureChain(fwChain);
    for (const ip of sp.lbVIPs) {
      if (c.hasAny) serviceIp([ip, proto, sp.port], `goto ${extChain}`);
      if (usesFWChain) tx.element(FIREWALL_IPS, [ip, proto, sp.port], `goto ${fwChain}`);
    }
    if (!hasExternal) for (const ip of sp.lbVIPs) tx.element(NO_ENDPOINT_SERVICES, [ip, proto, sp.port], noEndpoints, sp.name);

    if (sp.nodePort !== 0) {
      // NodePorts are not subject to loadBalancerSourceRanges (upstream cannot change that any more)
      if (c.hasAny) tx.element(SERVICE_NODEPORTS, [proto, sp.nodePort], `goto ${extChain}`);
      if (!hasExternal) tx.element(NO_ENDPOINT_NODEPORTS, [proto, sp.nodePort], noEndpoints, sp.name);
    }

    // off-cluster traffic to a VIP may be bridged to another node, so it is masqueraded
    if (hasInternal && localCIDR) tx.rule(internalChain, `ip daddr ${sp.clusterIP} ip saddr != ${localCIDR} jump ${MARK_MASQ}`);

    if (usesExtChain) {
      if (!sp.externalPolicyLocal) {
        tx.rule(extChain, `jump ${MARK_MASQ}`); // the endpoint may be on another node
      } else {
        // pod -> external VIP behaves as if it went out to the LB and back: subject to neither policy
        if (localCIDR) tx.rule(extChain, `ip saddr ${localCIDR} goto ${clusterChain}`, 'short-circuit pod traffic');
        // the node's own source address is the VIP's, so host traffic must be masqueraded
        tx.rule(extChain, `fib saddr type local jump ${MARK_MASQ}`, 'masquerade local traffic');
        tx.rule(extChain, `fib saddr type local goto ${clusterChain}`, 'short-circuit local traffic');
      }
      if (hasExternal) tx.rule(extChain, `goto ${externalPolicyChain}`);
    }

    if (usesFWChain) {
      const ranges = sp.lbSourceRanges.map((r) => parseCIDR4(r)!);
      const sources = ranges.map((r) => r.cidr);
      // a VIP bound locally loops node->VIP traffic back with the VIP as source: let the node through
      if (nodeIP && ranges.some((r) => r.contains(nodeIP))) sources.push(...sp.lbVIPs);
      tx.rule(fwChain, `ip saddr != { ${sources.join(' , ')} } drop`);
    }

    if (affinity) {
      for (const e of c.reachable) {
        // dynamic: the kernel adds it anyway once `update` writes to the set, and a re-add must match
        tx.addSet('set', affSet(e), `type ${ADDR} ; flags dynamic,timeout ; timeout ${sp.affinitySeconds}s ;`);
      }
    }

    const toEndpoints = (chain: string, eps: readonly Endpoint[]) => {
      if (affinity) for (const e of eps) tx.rule(chain, `ip saddr @${affSet(e)} goto ${epChain(e)}`);
      const branches = eps.map((e, i) => `${i} : goto ${epChain(e)}`).join(' , ');
      tx.rule(chain, `numgen random mod ${eps.length} vmap { ${branches} }`);
    };
    if (usesClusterChain) toEndpoints(clusterChain, c.cluster);
    if (usesLocalChain) toEndpoints(localChain, c.local);

    for (const e of c.reachable) {
      const chain = epChain(e);
      tx.rule(chain, `ip saddr ${e.ip} jump ${MARK_MASQ}`); // hairpin: a pod reaching itself via the VIP
      if (affinity) tx.rule(chain, `update @${affSet(e)} { ip saddr }`);
      tx.rule(chain, `meta l4proto ${proto} dnat to ${e.str}`);
    }
  }

  // flushed first so that no stale chain still jumps to another when the deletes run
  const stale = [...(opts.previousChains ?? [])].filter((ch) => isServiceChainName(ch) && !active.has(ch)).sort(cmp);
  for (const ch of stale) {
    tx.addChain(ch); // add is a no-op if it exists and keeps the flush from failing if it does not
    tx.flushChain(ch);
  }
  const staleSets = [...(opts.previousAffinitySets ?? [])].filter((s) => isAffinitySetName(s) && !activeAffinity.has(s)).sort(cmp);
  for (const s of staleSets) tx.deleteSet(s);
  const deleteStale = opts.deleteStaleChains ?? true;
  if (deleteStale) for (const ch of stale) tx.deleteChain(ch);

  const chains = new Set([...created, ...active, ...(deleteStale ? [] : stale)]);
  return {
    script: tx.toString(),
    ruleCount: tx.rules + tx.elements,
    chains,
    serviceIpElements,
    affinitySets: activeAffinity,
    staleChains: stale,
  };
}
