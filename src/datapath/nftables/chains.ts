// SPDX-License-Identifier: Apache-2.0
// Names and fixed skeleton of kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go): the table, its base
// chains with upstream's hook priorities, the jumps out of them, and the per-service chain/set names, which are
// "<prefix><HASH>-<ns>/<name>/<proto>/<port>[__<ip>/<port>]" with HASH = base32(sha256(rest))[:8].
import { createHash } from 'node:crypto';
import { base32 } from '../iptables/chains.ts';

export const TABLE = 'kube-proxy';
/** what every nft command names: family and table */
export const FAMILY_TABLE = `ip ${TABLE}`;

export const SERVICES = 'services';
export const SERVICE_IPS = 'service-ips';
export const SERVICE_NODEPORTS = 'service-nodeports';
export const NODEPORT_IPS = 'nodeport-ips';
export const CLUSTER_IPS = 'cluster-ips';
export const SERVICE_ENDPOINTS_CHECK = 'service-endpoints-check';
export const NODEPORT_ENDPOINTS_CHECK = 'nodeport-endpoints-check';
export const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
export const REJECT_CHAIN = 'reject-chain';
export const CLUSTER_IPS_CHECK = 'cluster-ips-check';
export const FIREWALL_IPS = 'firewall-ips';
export const FIREWALL_CHECK = 'firewall-check';
export const MARK_MASQ = 'mark-for-masquerade';
export const MASQUERADING = 'masquerading';

export interface BaseChain {
  name: string;
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** numeric, as `nft list` prints upstream's symbolic ones: dstnat = -100, filter = 0, srcnat = 100 */
  priority: number;
}

/**
 * Upstream's nftablesBaseChains. Firewall checks run before DNAT (-110) so they still see the LB VIP; the
 * no-endpoint and cluster-IP checks run at filter priority, after DNAT, where REJECT is allowed.
 */
export const BASE_CHAINS: readonly BaseChain[] = [
  { name: 'filter-prerouting-pre-dnat', type: 'filter', hook: 'prerouting', priority: -110 },
  { name: 'filter-output-pre-dnat', type: 'filter', hook: 'output', priority: -110 },
  { name: 'filter-input', type: 'filter', hook: 'input', priority: 0 },
  { name: 'filter-forward', type: 'filter', hook: 'forward', priority: 0 },
  { name: 'filter-output', type: 'filter', hook: 'output', priority: 0 },
  { name: 'nat-prerouting', type: 'nat', hook: 'prerouting', priority: -100 },
  { name: 'nat-output', type: 'nat', hook: 'output', priority: -100 },
  { name: 'nat-postrouting', type: 'nat', hook: 'postrouting', priority: 100 },
];

/** Upstream's nftablesJumpChains, in its order (the order of rules within each base chain follows from it). */
export const JUMP_CHAINS: readonly { dst: string; src: string; match: string }[] = [
  { dst: NODEPORT_ENDPOINTS_CHECK, src: 'filter-input', match: 'ct state new' },
  { dst: SERVICE_ENDPOINTS_CHECK, src: 'filter-input', match: 'ct state new' },
  { dst: SERVICE_ENDPOINTS_CHECK, src: 'filter-forward', match: 'ct state new' },
  { dst: SERVICE_ENDPOINTS_CHECK, src: 'filter-output', match: 'ct state new' },
  { dst: FIREWALL_CHECK, src: 'filter-prerouting-pre-dnat', match: 'ct state new' },
  { dst: FIREWALL_CHECK, src: 'filter-output-pre-dnat', match: 'ct state new' },
  { dst: SERVICES, src: 'nat-output', match: '' },
  { dst: SERVICES, src: 'nat-prerouting', match: '' },
  { dst: MASQUERADING, src: 'nat-postrouting', match: '' },
  { dst: CLUSTER_IPS_CHECK, src: 'filter-forward', match: 'ct state new' },
  { dst: CLUSTER_IPS_CHECK, src: 'filter-output', match: 'ct state new' },
];

/** knftables.NameLengthMax (256) minus the longest prefix (16) */
const NAME_BASE_MAX = 240;

/** upstream's hashAndTruncate: the hash keeps names unique and tells near-identical ones apart at a glance */
function hashAndTruncate(name: string): string {
  const hashed = `${base32(createHash('sha256').update(name, 'utf8').digest()).slice(0, 8)}-${name}`;
  return hashed.length > NAME_BASE_MAX ? `${hashed.slice(0, NAME_BASE_MAX - 3)}...` : hashed;
}

export interface PortId {
  namespace: string;
  name: string;
  /** the Service port's name, '' when unnamed */
  port: string;
  /** lower-case */
  protocol: string;
}

/** "HASH-ns/name/proto/port": "/" is legal in nft names but not in Kubernetes names, so parts cannot collide */
export function servicePortChainBase(p: PortId): string {
  return hashAndTruncate(`${p.namespace}/${p.name}/${p.protocol}/${p.port}`);
}

/** endpoint is "ip:port"; "__" separates the service part from the endpoint part */
export function endpointChainBase(p: PortId, endpoint: string): string {
  const colon = endpoint.lastIndexOf(':');
  const ip = endpoint.slice(0, colon).replace(/^\[|\]$/g, '').replaceAll(':', '.');
  return hashAndTruncate(`${p.namespace}/${p.name}/${p.protocol}/${p.port}__${ip}/${endpoint.slice(colon + 1)}`);
}

export const clusterPolicyChainName = (p: PortId): string => `service-${servicePortChainBase(p)}`;
export const localPolicyChainName = (p: PortId): string => `local-${servicePortChainBase(p)}`;
export const externalChainName = (p: PortId): string => `external-${servicePortChainBase(p)}`;
export const firewallChainName = (p: PortId): string => `firewall-${servicePortChainBase(p)}`;
export const endpointChainName = (p: PortId, endpoint: string): string => `endpoint-${endpointChainBase(p, endpoint)}`;
export const affinitySetName = (p: PortId, endpoint: string): string => `affinity-${endpointChainBase(p, endpoint)}`;

/** per-service and per-endpoint chains all contain a "/", none of the fixed ones do (upstream's isServiceChainName) */
export const isServiceChainName = (chain: string): boolean => chain.includes('/');
export const isAffinitySetName = (set: string): boolean => set.startsWith('affinity-');

/** upstream formats the mark with Go's "%#08x": 1<<14 is 0x004000 */
export function masqueradeMark(bit: number): string {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) {
    throw new RangeError(`masqueradeBit must be an integer in 0..31 (kube-proxy --iptables-masquerade-bit), got ${bit}`);
  }
  return `0x${(2 ** bit).toString(16).padStart(6, '0')}`;
}
