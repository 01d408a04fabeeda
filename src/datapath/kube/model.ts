// SPDX-License-Identifier: Apache-2.0
// kube-proxy's service and endpoint model (pkg/proxy: ServiceChangeTracker, EndpointSliceCache,
// CategorizeEndpoints), IPv4 only: the one source both kube-proxy renderers (iptables, nftables) build on.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { ClusterState } from '../../cluster/state.ts';

const DEFAULT_AFFINITY_TIMEOUT = 10800; // the API server's default for sessionAffinityConfig.clientIP
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';

export interface Endpoint {
  ip: string;
  /** "ip:port", the key upstream sorts, dedups and hashes by */
  str: string;
  local: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface ServicePort {
  /** "ns/name:port" ("ns/name" for an unnamed port), upstream's ServicePortName.String() */
  name: string;
  /** "ns/name\0port\0protocol" */
  key: string;
  protocol: string; // lower-case
  clusterIP: string;
  port: number;
  nodePort: number;
  externalIPs: string[];
  lbVIPs: string[];
  lbSourceRanges: string[];
  healthCheckNodePort: number;
  affinitySeconds: number | undefined;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
}

export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export const isIPv4 = (s: string | undefined): s is string =>
  !!s && /^\d{1,3}(\.\d{1,3}){3}$/.test(s) && s.split('.').every((o) => Number(o) <= 255);

const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);

/** a.b.c.d/len masked to its network, as Go's ParseCIDR returns it; undefined unless valid IPv4 */
export function parseCIDR4(raw: string): { cidr: string; contains: (ip: string) => boolean } | undefined {
  const [addr, lenStr, extra] = raw.trim().split('/');
  const len = Number(lenStr);
  if (extra !== undefined || !isIPv4(addr) || !/^\d+$/.test(lenStr ?? '') || len > 32) return undefined;
  const size = 2 ** (32 - len);
  const net = Math.floor(ipToInt(addr) / size) * size;
  const dotted = [24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.');
  return { cidr: `${dotted}/${len}`, contains: (ip) => isIPv4(ip) && Math.floor(ipToInt(ip) / size) * size === net };
}

const portKey = (ns: string, svc: string, port: string, proto: string) => `${ns}/${svc}\0${port}\0${proto}`;

/** upstream's serviceChangeTracker + newBaseServiceInfo, IPv4 only, sorted by name then protocol */
export function servicePorts(services: readonly V1Service[]): ServicePort[] {
  const out: ServicePort[] = [];
  for (const svc of services) {
    const spec = svc.spec;
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    if (!spec || spec.type === 'ExternalName') continue;
    if (svc.metadata?.labels?.[SERVICE_PROXY_NAME_LABEL] !== undefined) continue; // another proxy owns it
    const clusterIP = (spec.clusterIPs ?? [spec.clusterIP]).find(isIPv4); // "None" and IPv6 fall out here
    if (!clusterIP) continue;
    const externallyReachable = spec.type === 'NodePort' || spec.type === 'LoadBalancer' || !!spec.externalIPs?.length;
    const externalPolicyLocal = externallyReachable && spec.externalTrafficPolicy === 'Local';
    const lbVIPs = (svc.status?.loadBalancer?.ingress ?? [])
      .filter((ing) => ing.ipMode !== 'Proxy') // proxy-mode LBs are not captured by kube-proxy
      .map((ing) => ing.ip)
      .filter(isIPv4);
    const lbSourceRanges = (spec.loadBalancerSourceRanges ?? []).flatMap((r) => parseCIDR4(r)?.cidr ?? []);
    for (const p of spec.ports ?? []) {
      const portName = p.name ?? '';
      const protocol = (p.protocol ?? 'TCP').toLowerCase();
      out.push({
        name: portName ? `${ns}/${name}:${portName}` : `${ns}/${name}`,
        key: portKey(ns, name, portName, protocol),
        protocol,
        clusterIP,
        port: p.port,
        nodePort: p.nodePort ?? 0,
        externalIPs: (spec.externalIPs ?? []).filter(isIPv4),
        lbVIPs,
        lbSourceRanges,
        healthCheckNodePort: spec.type === 'LoadBalancer' && externalPolicyLocal ? (spec.healthCheckNodePort ?? 0) : 0,
        affinitySeconds:
          spec.sessionAffinity === 'ClientIP'
            ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT)
            : undefined,
        externalPolicyLocal,
        internalPolicyLocal: spec.internalTrafficPolicy === 'Local',
      });
    }
  }
  return out.sort((a, b) => cmp(a.name, b.name) || cmp(a.protocol, b.protocol));
}

/** upstream's EndpointSliceCache: IPv4 slices, grouped by service port (name + protocol), deduped, sorted */
export function endpointsByPort(slices: readonly V1EndpointSlice[], nodeName: string): Map<string, Endpoint[]> {
  const sets = new Map<string, Map<string, Endpoint>>();
  const ordered = [...slices].sort((a, b) => cmp(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  for (const slice of ordered) {
    const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (slice.addressType !== 'IPv4' || !svcName) continue;
    for (const port of slice.ports ?? []) {
      if (port.name === undefined || port.name === null || !port.port) continue; // upstream ignores these too
      const key = portKey(slice.metadata?.namespace ?? 'default', svcName, port.name, (port.protocol ?? 'TCP').toLowerCase());
      const set = sets.get(key) ?? new Map<string, Endpoint>();
      sets.set(key, set);
      for (const ep of slice.endpoints ?? []) {
        const ip = ep.addresses?.[0];
        if (!ip) continue;
        const c = ep.conditions ?? {};
        const e: Endpoint = {
          ip,
          str: `${ip}:${port.port}`,
          local: !!nodeName && ep.nodeName === nodeName,
          ready: c.ready ?? true,
          serving: c.serving ?? true,
          terminating: c.terminating ?? false,
        };
        // the same IP twice (a reused pod IP): prefer the endpoint that is not terminating
        if (!set.has(e.str) || !e.terminating) set.set(e.str, e);
      }
    }
  }
  const out = new Map<string, Endpoint[]>();
  for (const [key, set] of sets) out.set(key, [...set.values()].sort((a, b) => cmp(a.str, b.str)));
  return out;
}

/** upstream's CategorizeEndpoints without topology hints (NodeContext carries no zone) */
export function categorize(eps: readonly Endpoint[], sp: ServicePort) {
  const externallyAccessible = sp.nodePort !== 0 || sp.lbVIPs.length > 0 || sp.externalIPs.length > 0;
  const usesCluster = !sp.internalPolicyLocal || externallyAccessible;
  const usesLocal = sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible);
  const servingTerminating = (e: Endpoint) => e.serving && e.terminating;
  let cluster: Endpoint[] = [];
  let local: Endpoint[] = [];
  let hasAny = false;
  if (usesCluster) {
    cluster = eps.filter((e) => e.ready);
    if (cluster.length === 0) cluster = eps.filter(servingTerminating); // nothing ready anywhere
    hasAny = cluster.length > 0;
  }
  if (!usesLocal) return { cluster, local, reachable: cluster, hasAny, usesCluster, usesLocal, externallyAccessible };
  if (eps.some((e) => e.ready || servingTerminating(e))) hasAny = true;
  local = eps.filter((e) => e.local && e.ready);
  const fallback = local.length === 0;
  if (fallback) local = eps.filter((e) => e.local && servingTerminating(e));
  let reachable = usesCluster ? cluster : local;
  if (usesCluster && fallback && local.length > 0) {
    const merged = new Map([...cluster, ...local].map((e) => [e.str, e]));
    reachable = [...merged.values()].sort((a, b) => cmp(a.str, b.str));
  }
  return { cluster, local, reachable, hasAny, usesCluster, usesLocal, externallyAccessible };
}

/** ready endpoint addresses in a state, as the agents report them */
export function countReadyEndpoints(state: ClusterState): number {
  let n = 0;
  for (const slice of state.endpointSlices) {
    for (const ep of slice.endpoints ?? []) if (ep.conditions?.ready !== false) n += ep.addresses.length;
  }
  return n;
}
