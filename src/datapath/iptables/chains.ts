// SPDX-License-Identifier: Apache-2.0
// Chain names and fixed hooks of kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go), byte-identical
// to upstream: per-service chains are a prefix plus the first 16 chars of base32(sha256(name + protocol)).
import { createHash } from 'node:crypto';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/** kubelet's anti-martian chain, which kube-proxy also writes (when localhost NodePorts are on, the default) */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

const SVC = 'KUBE-SVC-';
const SVL = 'KUBE-SVL-';
const EXT = 'KUBE-EXT-';
const FW = 'KUBE-FW-';
const SEP = 'KUBE-SEP-';
const SERVICE_CHAIN_PREFIXES = [SVC, SVL, SEP, FW, EXT] as const;

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 standard base32 with padding, as Go's base32.StdEncoding (Node has no built-in). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff; // only the low bits still to be emitted matter
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(acc << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

function hash16(input: string): string {
  return base32(createHash('sha256').update(input, 'utf8').digest()).slice(0, 16);
}

/** servicePortName is "ns/name:portname" (or "ns/name" for an unnamed port); protocol is lower-case. */
export function servicePortChainName(servicePortName: string, protocol: string): string {
  return SVC + hash16(servicePortName + protocol);
}
export function serviceLocalChainName(servicePortName: string, protocol: string): string {
  return SVL + hash16(servicePortName + protocol);
}
export function serviceExternalChainName(servicePortName: string, protocol: string): string {
  return EXT + hash16(servicePortName + protocol);
}
export function serviceFirewallChainName(servicePortName: string, protocol: string): string {
  return FW + hash16(servicePortName + protocol);
}
/** endpoint is "ip:port" (net.JoinHostPort form). */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return SEP + hash16(servicePortName + protocol + endpoint);
}

/** The per-service chains kube-proxy garbage-collects with -X (it never deletes its fixed chains that way). */
export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

/** The jump rules kube-proxy ensures in the built-in chains (iptables -C / -I), as argv after `iptables`. */
export interface IptablesHook {
  table: 'filter' | 'nat';
  chain: string;
  args: string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];

/**
 * Upstream's iptablesJumpChains followed by iptablesKubeletJumpChains, in that order. kube-proxy
 * inserts each with `-I <chain>` (position 1), so in the kernel the later hooks of a chain come first.
 */
export function iptablesHooks(): IptablesHook[] {
  const hook = (table: 'filter' | 'nat', chain: string, target: string, comment: string, extra: string[] = []) => ({
    table,
    chain,
    args: [...extra, ...(comment ? ['-m', 'comment', '--comment', comment] : []), '-j', target],
  });
  const ext = 'kubernetes externally-visible service portals';
  const portals = 'kubernetes service portals';
  const lbfw = 'kubernetes load balancer firewall';
  return [
    hook('filter', 'INPUT', KUBE_EXTERNAL_SERVICES, ext, NEW),
    hook('filter', 'FORWARD', KUBE_EXTERNAL_SERVICES, ext, NEW),
    hook('filter', 'INPUT', KUBE_NODEPORTS, 'kubernetes health check service ports'),
    hook('filter', 'FORWARD', KUBE_SERVICES, portals, NEW),
    hook('filter', 'OUTPUT', KUBE_SERVICES, portals, NEW),
    hook('filter', 'FORWARD', KUBE_FORWARD, 'kubernetes forwarding rules'),
    hook('filter', 'INPUT', KUBE_PROXY_FIREWALL, lbfw, NEW),
    hook('filter', 'OUTPUT', KUBE_PROXY_FIREWALL, lbfw, NEW),
    hook('filter', 'FORWARD', KUBE_PROXY_FIREWALL, lbfw, NEW),
    hook('nat', 'OUTPUT', KUBE_SERVICES, portals),
    hook('nat', 'PREROUTING', KUBE_SERVICES, portals),
    hook('nat', 'POSTROUTING', KUBE_POSTROUTING, 'kubernetes postrouting rules'),
    hook('filter', 'INPUT', KUBE_FIREWALL, ''),
    hook('filter', 'OUTPUT', KUBE_FIREWALL, ''),
  ];
}

/**
 * 1/n formatted like Go's fmt "%0.10f": the exact binary value rounded half-to-even. JS toFixed rounds
 * exact ties up instead, which differs for n = 2048 (0.00048828125).
 */
export function probability(n: number): string {
  const x = 1 / n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  if (biased === 0 || biased === 0x7ff || x >= 1) return x.toFixed(10); // 1/1, and values we never produce
  // x = mantissa / 2^shift exactly; scale by 10^10 and round the quotient half-to-even.
  const mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4)) | (1n << 52n);
  const shift = BigInt(1075 - biased);
  const scaled = mantissa * 10n ** 10n;
  let q = scaled >> shift;
  const twiceRem = (scaled - (q << shift)) * 2n;
  const whole = 1n << shift;
  if (twiceRem > whole || (twiceRem === whole && q % 2n === 1n)) q += 1n;
  const digits = q.toString().padStart(11, '0');
  return `${digits.slice(0, -10)}.${digits.slice(-10)}`;
}
