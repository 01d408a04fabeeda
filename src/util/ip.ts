// SPDX-License-Identifier: Apache-2.0
// IPv4 arithmetic for address plans (lab topology, service VIPs, filler endpoints).
import { ConfigError } from '../errors.ts';

export function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new ConfigError(`"${ip}" is not an IPv4 address`);
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; bits: number; size: number } {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!ip || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new ConfigError(`"${cidr}" is not an IPv4 CIDR`);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { base: (ipToInt(ip) & mask) >>> 0, bits, size: 2 ** (32 - bits) };
}

/** the n-th address of a CIDR; throws when it does not fit */
export function cidrHost(cidr: string, n: number): string {
  const { base, size } = parseCidr(cidr);
  if (n < 0 || n >= size) throw new ConfigError(`${cidr} has no host number ${n}`);
  return intToIp(base + n);
}

/** the index-th subnet of the given size inside a CIDR, e.g. subnetOf('10.244.0.0/16', 24, 1) = 10.244.1.0/24 */
export function subnetOf(cidr: string, bits: number, index: number): string {
  const { base, bits: outer } = parseCidr(cidr);
  if (bits < outer || index >= 2 ** (bits - outer)) throw new ConfigError(`${cidr} has no /${bits} number ${index}`);
  return `${intToIp(base + index * 2 ** (32 - bits))}/${bits}`;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= base && n < base + size;
}
