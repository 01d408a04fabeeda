// SPDX-License-Identifier: Apache-2.0
// A pure renderer of kube-proxy's iptables mode (IPv4, pkg/proxy/iptables/proxier.go syncProxyRules, 1.28+):
// ClusterState in, the iptables-restore input of a full sync out, rule for rule and in upstream's write order.
//
// Ordering (upstream iterates Go maps, so its order is random; ours is fixed so goldens are stable):
//   - service ports are visited sorted by servicePortName ("ns/name:port", or "ns/name" for an unnamed port)
//     compared as bytes, then by protocol; `serviceOrder` reports the resulting KUBE-SERVICES positions;
//   - endpoints are sorted by their "ip:port" string, as upstream's EndpointSliceCache does (byEndpoint);
//   - stale chains to delete are sorted by name.
// Chosen like a kube-proxy with nfacct unavailable (no `-m nfacct` rules), masqueradeAll off,
// --random-fully supported, localhost NodePorts on, nodePortAddresses unset, detect-local by cluster CIDR.
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import { categorize, cmp, endpointsByPort, isIPv4, parseCIDR4, servicePorts, type Endpoint, type ServicePort } from '../kube/model.ts';
import {
  KUBE_EXTERNAL_SERVICES, KUBE_FIREWALL, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL, KUBE_SERVICES, endpointChainName, isServiceChainName, probability,
  serviceExternalChainName, serviceFirewallChainName, serviceLocalChainName, servicePortChainName,
} from './chains.ts';

export {
  endpointChainName, iptablesHooks, serviceExternalChainName, serviceFirewallChainName, serviceLocalChainName,
  servicePortChainName, type IptablesHook,
} from './chains.ts';

export interface IptablesRenderOptions {
  /** default 14 -> mark 0x4000/0x4000 */
  masqueradeBit?: number;
  /** KUBE-SVC-/KUBE-SEP-/KUBE-EXT-/KUBE-SVL-/KUBE-FW- chains programmed by the last sync: emit `-X` for those no longer needed */
  previousChains?: ReadonlySet<string>;
}

export interface IptablesRender {
  /** full iptables-restore input for the filter table: "*filter" ... "COMMIT\n" */
  filter: string;
  /** full iptables-restore input for the nat table: "*nat" ... "COMMIT\n" */
  nat: string;
  /** every kube-proxy-owned chain this render defines in either table, by bare name (pass as previousChains next time) */
  chains: Set<string>;
  /** number of `-A` rules in filter and nat together */
  ruleCount: number;
  /** "ns/name:port@N": each service port with a nat KUBE-SERVICES rule, and the 1-based position of its first one */
  serviceOrder: string[];
}

/** upstream's largeClusterEndpointsThreshold: past it, per-endpoint rules lose their comments */
const LARGE_CLUSTER_ENDPOINTS = 1000;
/** kube-proxy quotes the comments that contain spaces itself; iptables-restore strips the quotes */
const q = (s: string) => `"${s}"`;

export function renderIptables(state: ClusterState, node: NodeContext, opts: IptablesRenderOptions = {}): IptablesRender {
  const bit = opts.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new RangeError(`masqueradeBit must be an integer in 0..31 (kube-proxy --iptables-masquerade-bit), got ${bit}`);
  }
  const mark = `0x${(2 ** bit).toString(16)}`;
  const localCIDR = node.clusterCIDR ? parseCIDR4(node.clusterCIDR)?.cidr : undefined; // detect-local
  const nodeIP = node.nodeIPs.find(isIPv4);

  const filterChains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL];
  const natChains = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];
  const filterRules: string[] = [];
  const natRules: string[] = [];
  const w = (buf: string[], ...args: string[]) => buf.push(args.join(' '));

  w(natRules, '-A', KUBE_POSTROUTING, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN');
  w(natRules, '-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', mark); // re-traversals must not be masqueraded twice
  w(natRules, '-A', KUBE_POSTROUTING, '-m', 'comment', '--comment', q('kubernetes service traffic requiring SNAT'),
    '-j', 'MASQUERADE', '--random-fully');
  w(natRules, '-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', mark);

  // route_localnet (for localhost NodePorts) opens a hole (issue 90259) that this rule closes
  filterChains.push(KUBE_FIREWALL);
  w(filterRules, '-A', KUBE_FIREWALL, '-m', 'comment', '--comment', q('block incoming localnet connections'),
    '-d', '127.0.0.0/8', '!', '-s', '127.0.0.0/8', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP');

  const ports = servicePorts(state.services);
  const endpoints = endpointsByPort(state.endpointSlices, node.nodeName);
  const totalEndpoints = ports.reduce((n, sp) => n + (endpoints.get(sp.key)?.length ?? 0), 0);
  const largeCluster = totalEndpoints > LARGE_CLUSTER_ENDPOINTS;
  const comment = (c: string) => (largeCluster ? [] : ['-m', 'comment', '--comment', c]);

  const active = new Set<string>();
  const serviceOrder: string[] = [];
  const ordered = new Set<string>();
  let servicesRules = 0;
  const natService = (sp: ServicePort, ...args: string[]) => {
    servicesRules++;
    if (!ordered.has(sp.key)) serviceOrder.push(`${sp.name}@${servicesRules}`);
    ordered.add(sp.key);
    w(natRules, '-A', KUBE_SERVICES, ...args);
  };

  for (const sp of ports) {
    const proto = sp.protocol;
    const svcChain = servicePortChainName(sp.name, proto);
    const svlChain = serviceLocalChainName(sp.name, proto);
    const extChain = serviceExternalChainName(sp.name, proto);
    const fwChain = serviceFirewallChainName(sp.name, proto);
    const sepChain = (e: Endpoint) => endpointChainName(sp.name, proto, e.str);
    const c = categorize(endpoints.get(sp.key) ?? [], sp);

    const usesClusterChain = c.cluster.length > 0 && c.usesCluster;
    const usesLocalChain = c.local.length > 0 && c.usesLocal;
    const internalChain = sp.internalPolicyLocal ? svlChain : svcChain;
    const hasInternal = c.hasAny && (!sp.internalPolicyLocal || c.local.length > 0);
    const externalPolicyChain = sp.externalPolicyLocal ? svlChain : svcChain;
    const hasExternal = c.hasAny && (!sp.externalPolicyLocal || c.local.length > 0);
    // the EXT chain is needed even without external endpoints, for the local short-circuit rules
    const usesExtChain = c.hasAny && c.externallyAccessible;
    const usesFWChain = c.hasAny && sp.lbVIPs.length > 0 && sp.lbSourceRanges.length > 0;
    const lbChain = usesFWChain ? fwChain : extChain;

    // no endpoints at all: REJECT; endpoints, but none local where a Local policy needs them: DROP
    const [verdict, why]: [string, string] = c.hasAny
      ? ['DROP', q(`${sp.name} has no local endpoints`)]
      : ['REJECT', q(`${sp.name} has no endpoints`)];
    const match = (dst: string, port: number) => ['-m', proto, '-p', proto, '-d', dst, '--dport', String(port)];
    const clusterIPMatch = ['-m', 'comment', '--comment', q(`${sp.name} cluster IP`), ...match(sp.clusterIP, sp.port)];

    if (hasInternal) natService(sp, ...clusterIPMatch, '-j', internalChain);
    else w(filterRules, '-A', KUBE_SERVICES, '-m', 'comment', '--comment', why, ...match(sp.clusterIP, sp.port), '-j', verdict);

    for (const ip of sp.externalIPs) {
      if (c.hasAny) natService(sp, '-m', 'comment', '--comment', q(`${sp.name} external IP`), ...match(ip, sp.port), '-j', extChain);
      if (!hasExternal) w(filterRules, '-A', KUBE_EXTERNAL_SERVICES, '-m', 'comment', '--comment', why, ...match(ip, sp.port), '-j', verdict);
    }
    for (const ip of sp.lbVIPs) {
      if (c.hasAny) natService(sp, '-m', 'comment', '--comment', q(`${sp.name} loadbalancer IP`), ...match(ip, sp.port), '-j', lbChain);
      if (usesFWChain) {
        w(filterRules, '-A', KUBE_PROXY_FIREWALL, '-m', 'comment', '--comment', q(`${sp.name} traffic not accepted by ${fwChain}`),
          ...match(ip, sp.port), '-j', 'DROP');
      }
    }
    if (!hasExternal) {
      for (const ip of sp.lbVIPs) {
        w(filterRules, '-A', KUBE_EXTERNAL_SERVICES, '-m', 'comment', '--comment', why, ...match(ip, sp.port), '-j', verdict);
      }
    }
    if (sp.nodePort !== 0) {
      const npMatch = ['-m', proto, '-p', proto, '--dport', String(sp.nodePort)];
      if (c.hasAny) w(natRules, '-A', KUBE_NODEPORTS, '-m', 'comment', '--comment', sp.name, ...npMatch, '-j', extChain);
      if (!hasExternal) {
        w(filterRules, '-A', KUBE_EXTERNAL_SERVICES, '-m', 'comment', '--comment', why,
          '-m', 'addrtype', '--dst-type', 'LOCAL', ...npMatch, '-j', verdict);
      }
    }
    if (sp.healthCheckNodePort !== 0) {
      // accepted whether or not this node has local endpoints: the LB's health checker must get an answer
      w(filterRules, '-A', KUBE_NODEPORTS, '-m', 'comment', '--comment', q(`${sp.name} health check node port`),
        '-m', 'tcp', '-p', 'tcp', '--dport', String(sp.healthCheckNodePort), '-j', 'ACCEPT');
    }

    // off-cluster traffic to a VIP may be bridged to another node, so it is masqueraded
    if (hasInternal && localCIDR) w(natRules, '-A', internalChain, ...clusterIPMatch, '!', '-s', localCIDR, '-j', KUBE_MARK_MASQ);

    if (usesExtChain) {
      natChains.push(extChain);
      active.add(extChain);
      if (!sp.externalPolicyLocal) {
        w(natRules, '-A', extChain, '-m', 'comment', '--comment', q(`masquerade traffic for ${sp.name} external destinations`), '-j', KUBE_MARK_MASQ);
      } else {
        // pod -> external VIP behaves as if it went out to the LB and back: subject to neither policy
        if (localCIDR) {
          w(natRules, '-A', extChain, '-m', 'comment', '--comment', q(`pod traffic for ${sp.name} external destinations`),
            '-s', localCIDR, '-j', svcChain);
        }
        // the host's own source IP is local to it too, so host traffic must be masqueraded
        w(natRules, '-A', extChain, '-m', 'comment', '--comment', q(`masquerade LOCAL traffic for ${sp.name} external destinations`),
          '-m', 'addrtype', '--src-type', 'LOCAL', '-j', KUBE_MARK_MASQ);
        w(natRules, '-A', extChain, '-m', 'comment', '--comment', q(`route LOCAL traffic for ${sp.name} external destinations`),
          '-m', 'addrtype', '--src-type', 'LOCAL', '-j', svcChain);
      }
      if (hasExternal) w(natRules, '-A', extChain, '-j', externalPolicyChain);
    }

    if (usesFWChain) {
      natChains.push(fwChain);
      active.add(fwChain);
      const fwHead = ['-A', fwChain, '-m', 'comment', '--comment', q(`${sp.name} loadbalancer IP`)];
      const ranges = sp.lbSourceRanges.map((r) => parseCIDR4(r)!);
      for (const r of ranges) w(natRules, ...fwHead, '-s', r.cidr, '-j', extChain);
      // a VIP bound locally loops node->VIP traffic back with the VIP as source: let the node through
      if (nodeIP && ranges.some((r) => r.contains(nodeIP))) {
        for (const ip of sp.lbVIPs) w(natRules, ...fwHead, '-s', ip, '-j', extChain);
      }
      w(natRules, '-A', fwChain, '-m', 'comment', '--comment', q(`other traffic to ${sp.name} will be dropped by KUBE-PROXY-FIREWALL`));
    }

    const toEndpoints = (chain: string, eps: readonly Endpoint[]) => {
      natChains.push(chain);
      active.add(chain);
      if (sp.affinitySeconds !== undefined) {
        for (const e of eps) {
          w(natRules, '-A', chain, ...comment(q(`${sp.name} -> ${e.str}`)), '-m', 'recent', '--name', sepChain(e),
            '--rcheck', '--seconds', String(sp.affinitySeconds), '--reap', '-j', sepChain(e));
        }
      }
      eps.forEach((e, i) => {
        const stat = i < eps.length - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(eps.length - i)] : [];
        w(natRules, '-A', chain, ...comment(q(`${sp.name} -> ${e.str}`)), ...stat, '-j', sepChain(e));
      });
    };
    if (usesClusterChain) toEndpoints(svcChain, c.cluster);
    if (usesLocalChain) toEndpoints(svlChain, c.local);

    for (const e of c.reachable) {
      const chain = sepChain(e);
      natChains.push(chain);
      active.add(chain);
      const head = ['-A', chain, ...comment(sp.name)];
      w(natRules, ...head, '-s', e.ip, '-j', KUBE_MARK_MASQ); // hairpin: a pod reaching itself via the VIP
      const affinity = sp.affinitySeconds !== undefined ? ['-m', 'recent', '--name', chain, '--set'] : [];
      w(natRules, ...head, ...affinity, '-m', proto, '-p', proto, '-j', 'DNAT', '--to-destination', e.str);
    }
  }

  const chains = new Set([...filterChains, ...natChains]);
  // chains the last sync programmed and this one does not: declare (which flushes) then delete
  const stale = [...(opts.previousChains ?? [])].filter((ch) => isServiceChainName(ch) && !active.has(ch)).sort(cmp);
  for (const ch of stale) {
    natChains.push(ch);
    w(natRules, '-X', ch);
  }

  // must stay the last KUBE-SERVICES rule: NodePorts match on any local destination address
  w(natRules, '-A', KUBE_SERVICES, '-m', 'comment', '--comment', q('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', KUBE_NODEPORTS);

  // INVALID packets would otherwise be reset (issue 74839); nf_conntrack_tcp_be_liberal=0 assumed
  w(filterRules, '-A', KUBE_FORWARD, '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP');
  w(filterRules, '-A', KUBE_FORWARD, '-m', 'comment', '--comment', q('kubernetes forwarding rules'),
    '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT');
  w(filterRules, '-A', KUBE_FORWARD, '-m', 'comment', '--comment', q('kubernetes forwarding conntrack rule'),
    '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');

  const table = (name: string, chains: string[], rules: string[]) =>
    [`*${name}`, ...chains.map((ch) => `:${ch} - [0:0]`), ...rules, 'COMMIT', ''].join('\n');
  const ruleCount = [...filterRules, ...natRules].filter((r) => r.startsWith('-A ')).length;
  return { filter: table('filter', filterChains, filterRules), nat: table('nat', natChains, natRules), chains, ruleCount, serviceOrder };
}
