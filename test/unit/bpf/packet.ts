// SPDX-License-Identifier: Apache-2.0
// Ethernet/IPv4/TCP|UDP packets built and parsed in TypeScript for BPF_PROG_TEST_RUN suites, with checksums
// computed and verified here, independently of the kernel's helpers.
import { expect } from 'vitest';
import { intToIp, ipToInt } from '../../../src/util/ip.ts';

/** program verdicts as BPF_PROG_TEST_RUN returns them (linux/pkt_cls.h, linux/bpf.h) */
export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_REDIRECT = 4;

export const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
export type L4 = keyof typeof PROTO;

export interface TcpFlags {
  fin?: boolean;
  syn?: boolean;
  rst?: boolean;
  psh?: boolean;
  ack?: boolean;
}

export interface PacketSpec {
  srcMac?: string;
  dstMac?: string;
  saddr: string;
  daddr: string;
  proto: 'tcp' | 'udp';
  sport: number;
  dport: number;
  flags?: TcpFlags;
  seq?: number;
  ackSeq?: number;
  /** TCP options bytes (a multiple of 4), like the MSS/SACK/timestamps a Linux SYN carries */
  tcpOptions?: Buffer;
  payload?: Buffer;
  ttl?: number;
  /** a UDP datagram sent without checksum (0) */
  udpNoChecksum?: boolean;
}

export const POD_MAC = '02:00:00:00:00:0a';
export const HOST_MAC = '02:00:00:00:00:01';

const mac = (s: string) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
const macText = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

/** RFC 1071 sum of 16-bit words, folded, not inverted */
function sum16(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(buf: Buffer, initial = 0): number {
  return ~sum16(buf, initial) & 0xffff;
}

function pseudoSum(saddr: number, daddr: number, proto: number, len: number): number {
  const ph = Buffer.alloc(12);
  ph.writeUInt32BE(saddr, 0);
  ph.writeUInt32BE(daddr, 4);
  ph.writeUInt8(proto, 9);
  ph.writeUInt16BE(len, 10);
  return sum16(ph);
}

export function buildPacket(spec: PacketSpec): Buffer {
  const opts = spec.tcpOptions ?? Buffer.alloc(0);
  const payload = spec.payload ?? Buffer.alloc(0);
  const l4Len = spec.proto === 'tcp' ? 20 + opts.length + payload.length : 8 + payload.length;
  const pkt = Buffer.alloc(ETH_HLEN + 20 + l4Len);
  mac(spec.dstMac ?? HOST_MAC).copy(pkt, 0);
  mac(spec.srcMac ?? POD_MAC).copy(pkt, 6);
  pkt.writeUInt16BE(ETH_P_IP, 12);

  const ip = pkt.subarray(ETH_HLEN, ETH_HLEN + 20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + l4Len, 2);
  ip.writeUInt16BE(0x1234, 4);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip.writeUInt8(spec.ttl ?? 64, 8);
  ip.writeUInt8(PROTO[spec.proto], 9);
  ip.writeUInt32BE(ipToInt(spec.saddr), 12);
  ip.writeUInt32BE(ipToInt(spec.daddr), 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);

  const l4 = pkt.subarray(ETH_HLEN + 20);
  l4.writeUInt16BE(spec.sport, 0);
  l4.writeUInt16BE(spec.dport, 2);
  if (spec.proto === 'tcp') {
    const f = spec.flags ?? { ack: true };
    l4.writeUInt32BE(spec.seq ?? 1000, 4);
    l4.writeUInt32BE(spec.ackSeq ?? (f.ack ? 2000 : 0), 8);
    l4.writeUInt8(((20 + opts.length) / 4) << 4, 12);
    l4.writeUInt8((f.fin ? 1 : 0) | (f.syn ? 2 : 0) | (f.rst ? 4 : 0) | (f.psh ? 8 : 0) | (f.ack ? 16 : 0), 13);
    l4.writeUInt16BE(64240, 14);
    opts.copy(l4, 20);
    payload.copy(l4, 20 + opts.length);
    l4.writeUInt16BE(internetChecksum(l4, pseudoSum(ipToInt(spec.saddr), ipToInt(spec.daddr), PROTO.tcp, l4Len)), 16);
  } else {
    l4.writeUInt16BE(l4Len, 4);
    payload.copy(l4, 8);
    if (!spec.udpNoChecksum) {
      const c = internetChecksum(l4, pseudoSum(ipToInt(spec.saddr), ipToInt(spec.daddr), PROTO.udp, l4Len));
      l4.writeUInt16BE(c === 0 ? 0xffff : c, 6);
    }
  }
  return pkt;
}

/** a Linux-like SYN's options: MSS 1460, SACK permitted, timestamps, NOP, window scale 7 */
export const SYN_OPTIONS = Buffer.from([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);

export interface Parsed {
  srcMac: string;
  dstMac: string;
  saddr: string;
  daddr: string;
  proto: number;
  ttl: number;
  totLen: number;
  ipChecksumOk: boolean;
  /** TCP/UDP/ICMP checksum over the whole L4 part (UDP: true when absent) */
  l4ChecksumOk: boolean;
  sport?: number;
  dport?: number;
  flags?: Required<TcpFlags>;
  seq?: number;
  ackSeq?: number;
  udpChecksum?: number;
  icmp?: { type: number; code: number; quoted: Parsed };
}

export function parsePacket(pkt: Buffer): Parsed {
  const ip = pkt.subarray(ETH_HLEN);
  const ihl = (ip[0]! & 0xf) * 4;
  const totLen = ip.readUInt16BE(2);
  const saddr = ip.readUInt32BE(12);
  const daddr = ip.readUInt32BE(16);
  const proto = ip[9]!;
  const l4 = ip.subarray(ihl, totLen);
  const out: Parsed = {
    srcMac: macText(pkt.subarray(6, 12)),
    dstMac: macText(pkt.subarray(0, 6)),
    saddr: intToIp(saddr),
    daddr: intToIp(daddr),
    proto,
    ttl: ip[8]!,
    totLen,
    ipChecksumOk: sum16(ip.subarray(0, ihl)) === 0xffff,
    l4ChecksumOk: false,
  };
  if (proto === PROTO.tcp) {
    const f = l4[13]!;
    Object.assign(out, {
      sport: l4.readUInt16BE(0),
      dport: l4.readUInt16BE(2),
      seq: l4.readUInt32BE(4),
      ackSeq: l4.readUInt32BE(8),
      flags: { fin: !!(f & 1), syn: !!(f & 2), rst: !!(f & 4), psh: !!(f & 8), ack: !!(f & 16) },
      l4ChecksumOk: sum16(l4, pseudoSum(saddr, daddr, proto, l4.length)) === 0xffff,
    });
  } else if (proto === PROTO.udp) {
    const c = l4.readUInt16BE(6);
    Object.assign(out, {
      sport: l4.readUInt16BE(0),
      dport: l4.readUInt16BE(2),
      udpChecksum: c,
      l4ChecksumOk: c === 0 || sum16(l4, pseudoSum(saddr, daddr, proto, l4.length)) === 0xffff,
    });
  } else if (proto === PROTO.icmp) {
    // the quoted datagram is truncated: parse its headers only
    const quoted = Buffer.concat([pkt.subarray(0, ETH_HLEN), l4.subarray(8)]);
    out.icmp = { type: l4[0]!, code: l4[1]!, quoted: parseQuoted(quoted) };
    out.l4ChecksumOk = sum16(l4) === 0xffff;
  }
  return out;
}

function parseQuoted(pkt: Buffer): Parsed {
  const ip = pkt.subarray(ETH_HLEN);
  const l4 = ip.subarray((ip[0]! & 0xf) * 4);
  return {
    srcMac: '',
    dstMac: '',
    saddr: intToIp(ip.readUInt32BE(12)),
    daddr: intToIp(ip.readUInt32BE(16)),
    proto: ip[9]!,
    ttl: ip[8]!,
    totLen: ip.readUInt16BE(2),
    ipChecksumOk: sum16(ip.subarray(0, 20)) === 0xffff,
    l4ChecksumOk: false,
    sport: l4.readUInt16BE(0),
    dport: l4.readUInt16BE(2),
  };
}

/** a program's output carries a valid IPv4 header checksum and, for TCP, UDP and ICMP, a valid L4 checksum */
export function expectValidChecksums(out: Parsed, where: string): void {
  expect(out.ipChecksumOk, `${where}: IPv4 header checksum`).toBe(true);
  if (out.proto === 6 || out.proto === 17 || out.proto === 1) expect(out.l4ChecksumOk, `${where}: L4 checksum`).toBe(true);
}
