// SPDX-License-Identifier: Apache-2.0
// Map keys and values of bpf/structs.h as Buffers, byte for byte: addresses and ports in network order (as the
// packet carries them), every other integer in host order (little-endian on x86-64 and arm64).
import { intToIp, ipToInt } from '../../util/ip.ts';

/** ipToInt without split() and its arrays: it runs for every key of a sync. Anything unusual goes to ipToInt, which says what is wrong */
export function ipv4ToU32(ip: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46 /* . */ && digits && octet <= 255) {
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else {
      return ipToInt(ip);
    }
  }
  return dots === 3 && digits && octet <= 255 ? n * 256 + octet : ipToInt(ip);
}

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** bpf/consts.h */
export const LB_SCOPE_EXT = 0;
export const LB_SCOPE_INT = 1;
export const SVC_F_EXTERNAL = 1 << 0;
export const SVC_F_TWO_SCOPES = 1 << 1;
export const SVC_F_NO_LOCAL = 1 << 2;
export const BE_F_LOCAL = 1 << 0;
export const CT_FORWARD = 0;
export const CT_REPLY = 1;
export const CT_F_HAIRPIN = 1 << 0;
export const CT_F_EXTERNAL = 1 << 1;
export const CT_F_SNAT = 1 << 2;
export const CT_F_CLOSING = 1 << 3;
/** hairpin flows are SNATed to this address (cilium's IPV4_LOOPBACK) */
export const LB4_LOOPBACK = '169.254.42.1';

export const MAP_NAMES = {
  services: 'dp_lb4_services',
  backends: 'dp_lb4_backends',
  conntrack: 'dp_ct4',
  affinity: 'dp_lb4_affinity',
  metrics: 'dp_metrics',
  ipcache: 'dp_ipcache',
  policy: 'dp_policy',
  endpoints: 'dp_endpoints',
  policyGeneration: 'dp_policy_gen',
  policyConntrack: 'dp_policy_ct4',
} as const;

/** struct lb4_key: a frontend (slot 0) or one of its backend slots */
export interface Lb4Key {
  address: string;
  port: number;
  proto: number;
  scope: number;
  slot: number;
}
export const LB4_KEY_SIZE = 12;

export function encodeLb4Key(k: Lb4Key, buf: Buffer = Buffer.alloc(LB4_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt32BE(ipv4ToU32(k.address), off);
  buf.writeUInt16BE(k.port, off + 4);
  buf.writeUInt16LE(k.slot, off + 6);
  buf.writeUInt8(k.proto, off + 8);
  buf.writeUInt8(k.scope, off + 9);
  buf.writeUInt16LE(0, off + 10);
  return buf;
}

export function decodeLb4Key(buf: Buffer, off = 0): Lb4Key {
  return {
    address: intToIp(buf.readUInt32BE(off)),
    port: buf.readUInt16BE(off + 4),
    slot: buf.readUInt16LE(off + 6),
    proto: buf.readUInt8(off + 8),
    scope: buf.readUInt8(off + 9),
  };
}

/** struct lb4_service: slot 0 describes the frontend, slots 1..count name a backend */
export interface Lb4Service {
  backendId: number;
  svcId: number;
  affinityTimeout: number;
  count: number;
  flags: number;
}
export const LB4_SERVICE_SIZE = 16;

export function encodeLb4Service(v: Lb4Service, buf: Buffer = Buffer.alloc(LB4_SERVICE_SIZE), off = 0): Buffer {
  buf.writeUInt32LE(v.backendId, off);
  buf.writeUInt32LE(v.svcId, off + 4);
  buf.writeUInt32LE(v.affinityTimeout, off + 8);
  buf.writeUInt16LE(v.count, off + 12);
  buf.writeUInt16LE(v.flags, off + 14);
  return buf;
}

export function decodeLb4Service(buf: Buffer, off = 0): Lb4Service {
  return {
    backendId: buf.readUInt32LE(off),
    svcId: buf.readUInt32LE(off + 4),
    affinityTimeout: buf.readUInt32LE(off + 8),
    count: buf.readUInt16LE(off + 12),
    flags: buf.readUInt16LE(off + 14),
  };
}

/** struct lb4_backend, keyed by a __u32 id */
export interface Lb4Backend {
  address: string;
  port: number;
  proto: number;
  flags: number;
}
export const BACKEND_ID_SIZE = 4;
export const LB4_BACKEND_SIZE = 8;

export function encodeBackendId(id: number, buf: Buffer = Buffer.alloc(BACKEND_ID_SIZE), off = 0): Buffer {
  buf.writeUInt32LE(id, off);
  return buf;
}

export function encodeLb4Backend(v: Lb4Backend, buf: Buffer = Buffer.alloc(LB4_BACKEND_SIZE), off = 0): Buffer {
  buf.writeUInt32BE(ipv4ToU32(v.address), off);
  buf.writeUInt16BE(v.port, off + 4);
  buf.writeUInt8(v.proto, off + 6);
  buf.writeUInt8(v.flags, off + 7);
  return buf;
}

export function decodeLb4Backend(buf: Buffer, off = 0): Lb4Backend {
  return { address: intToIp(buf.readUInt32BE(off)), port: buf.readUInt16BE(off + 4), proto: buf.readUInt8(off + 6), flags: buf.readUInt8(off + 7) };
}

/** struct ct4_key */
export interface Ct4Key {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: number;
  dir: number;
}
export const CT4_KEY_SIZE = 16;

export function encodeCt4Key(k: Ct4Key, buf: Buffer = Buffer.alloc(CT4_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt32BE(ipToInt(k.saddr), off);
  buf.writeUInt32BE(ipToInt(k.daddr), off + 4);
  buf.writeUInt16BE(k.sport, off + 8);
  buf.writeUInt16BE(k.dport, off + 10);
  buf.writeUInt8(k.proto, off + 12);
  buf.writeUInt8(k.dir, off + 13);
  buf.writeUInt16LE(0, off + 14);
  return buf;
}

export function decodeCt4Key(buf: Buffer, off = 0): Ct4Key {
  return {
    saddr: intToIp(buf.readUInt32BE(off)),
    daddr: intToIp(buf.readUInt32BE(off + 4)),
    sport: buf.readUInt16BE(off + 8),
    dport: buf.readUInt16BE(off + 10),
    proto: buf.readUInt8(off + 12),
    dir: buf.readUInt8(off + 13),
  };
}

/** struct ct4_entry: the rewrite for packets matching its key; 0 / '0.0.0.0' = field left alone */
export interface Ct4Entry {
  newSaddr: string;
  newDaddr: string;
  newSport: number;
  newDport: number;
  backendId: number;
  svcId: number;
  /** seconds of CLOCK_MONOTONIC (bpf_ktime_get_ns) */
  expires: number;
  flags: number;
}
export const CT4_ENTRY_SIZE = 28;

export function decodeCt4Entry(buf: Buffer, off = 0): Ct4Entry {
  return {
    newSaddr: intToIp(buf.readUInt32BE(off)),
    newDaddr: intToIp(buf.readUInt32BE(off + 4)),
    newSport: buf.readUInt16BE(off + 8),
    newDport: buf.readUInt16BE(off + 10),
    backendId: buf.readUInt32LE(off + 12),
    svcId: buf.readUInt32LE(off + 16),
    expires: buf.readUInt32LE(off + 20),
    flags: buf.readUInt16LE(off + 24),
  };
}

/** struct lb4_affinity_key / struct lb4_affinity */
export interface AffinityKey {
  client: string;
  svcId: number;
}
export interface Affinity {
  backendId: number;
  lastUsed: number;
  slot: number;
}
export const AFFINITY_KEY_SIZE = 8;
export const AFFINITY_SIZE = 12;

export function encodeAffinityKey(k: AffinityKey, buf: Buffer = Buffer.alloc(AFFINITY_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt32BE(ipToInt(k.client), off);
  buf.writeUInt32LE(k.svcId, off + 4);
  return buf;
}

export function decodeAffinity(buf: Buffer, off = 0): Affinity {
  return { backendId: buf.readUInt32LE(off), lastUsed: buf.readUInt32LE(off + 4), slot: buf.readUInt16LE(off + 8) };
}

/** struct metrics_key; the per-CPU values of one key summed */
export interface MetricsKey {
  reason: number;
  dir: number;
}
export interface MetricsValue {
  packets: number;
  bytes: number;
}
export const METRICS_KEY_SIZE = 4;
export const METRICS_VALUE_SIZE = 16;

export function encodeMetricsKey(k: MetricsKey, buf: Buffer = Buffer.alloc(METRICS_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt8(k.reason, off);
  buf.writeUInt8(k.dir, off + 1);
  buf.writeUInt16LE(0, off + 2);
  return buf;
}

export function decodeMetricsKey(buf: Buffer, off = 0): MetricsKey {
  return { reason: buf.readUInt8(off), dir: buf.readUInt8(off + 1) };
}

/** a per-CPU lookup result: one 16-byte value per possible CPU, summed */
export function sumPerCpuMetrics(buf: Buffer): MetricsValue {
  let packets = 0n;
  let bytes = 0n;
  for (let off = 0; off + METRICS_VALUE_SIZE <= buf.length; off += METRICS_VALUE_SIZE) {
    packets += buf.readBigUInt64LE(off);
    bytes += buf.readBigUInt64LE(off + 8);
  }
  return { packets: Number(packets), bytes: Number(bytes) };
}

/** bpf/consts.h: identities and policy directions */
export const IDENTITY_ANY = 0;
export const IDENTITY_HOST = 1;
export const IDENTITY_WORLD = 2;
export const IDENTITY_FIRST_ALLOCATED = 256;
export const POLICY_DIR_INGRESS = 0;
export const POLICY_DIR_EGRESS = 1;
export const POLICY_F_INGRESS = 1 << 0;
export const POLICY_F_EGRESS = 1 << 1;
export const POLICY_PREFIX_FIXED = 96;

/** struct ipcache_key (LPM trie): a prefix of the address space */
export interface IpcacheKey {
  addr: string;
  prefixlen: number;
}
export const IPCACHE_KEY_SIZE = 8;
/** struct ipcache_value: the identity in generation 0 and in generation 1 */
export const IPCACHE_VALUE_SIZE = 8;

export function encodeIpcacheKey(k: IpcacheKey, buf: Buffer = Buffer.alloc(IPCACHE_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt32LE(k.prefixlen, off);
  buf.writeUInt32BE(ipv4ToU32(k.addr), off + 4);
  return buf;
}

export function decodeIpcacheKey(buf: Buffer, off = 0): IpcacheKey {
  return { prefixlen: buf.readUInt32LE(off), addr: intToIp(buf.readUInt32BE(off + 4)) };
}

export function encodeIpcacheValue(identities: readonly [number, number], buf: Buffer = Buffer.alloc(IPCACHE_VALUE_SIZE), off = 0): Buffer {
  buf.writeUInt32LE(identities[0], off);
  buf.writeUInt32LE(identities[1], off + 4);
  return buf;
}

export function decodeIpcacheValue(buf: Buffer, off = 0): [number, number] {
  return [buf.readUInt32LE(off), buf.readUInt32LE(off + 4)];
}

/** struct policy_key (LPM trie): `portPrefix` bits of `port` matched; proto 0 = every protocol (portPrefix 0) */
export interface PolicyKey {
  endpoint: string;
  identity: number;
  gen: number;
  dir: number;
  proto: number;
  port: number;
  portPrefix: number;
}
export const POLICY_KEY_SIZE = 20;
export const POLICY_VALUE_SIZE = 4;

export function encodePolicyKey(k: PolicyKey, buf: Buffer = Buffer.alloc(POLICY_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt32LE(POLICY_PREFIX_FIXED + k.portPrefix, off);
  buf.writeUInt32BE(ipv4ToU32(k.endpoint), off + 4);
  buf.writeUInt32LE(k.identity, off + 8);
  buf.writeUInt8(k.gen, off + 12);
  buf.writeUInt8(k.dir, off + 13);
  buf.writeUInt8(k.proto, off + 14);
  buf.writeUInt8(0, off + 15);
  buf.writeUInt16BE(k.port, off + 16);
  buf.writeUInt16LE(0, off + 18);
  return buf;
}

export function decodePolicyKey(buf: Buffer, off = 0): PolicyKey {
  return {
    portPrefix: buf.readUInt32LE(off) - POLICY_PREFIX_FIXED,
    endpoint: intToIp(buf.readUInt32BE(off + 4)),
    identity: buf.readUInt32LE(off + 8),
    gen: buf.readUInt8(off + 12),
    dir: buf.readUInt8(off + 13),
    proto: buf.readUInt8(off + 14),
    port: buf.readUInt16BE(off + 16),
  };
}

/** struct policy_endpoint value (key: the pod address, 4 bytes in network order) */
export const ENDPOINT_KEY_SIZE = 4;
export const ENDPOINT_VALUE_SIZE = 4;

export function encodeEndpointKey(ip: string, buf: Buffer = Buffer.alloc(ENDPOINT_KEY_SIZE), off = 0): Buffer {
  buf.writeUInt32BE(ipv4ToU32(ip), off);
  return buf;
}

/** struct policy_endpoint: the POLICY_F_* flags in generation 0 and in generation 1 */
export function encodeEndpointFlags(flags: readonly [number, number], buf: Buffer = Buffer.alloc(ENDPOINT_VALUE_SIZE), off = 0): Buffer {
  buf.writeUInt8(flags[0], off);
  buf.writeUInt8(flags[1], off + 1);
  buf.writeUInt16LE(0, off + 2);
  return buf;
}

export function decodeEndpointFlags(buf: Buffer, off = 0): [number, number] {
  return [buf.readUInt8(off), buf.readUInt8(off + 1)];
}
