// SPDX-License-Identifier: Apache-2.0
// The ipsets NetworkPolicy rules match peers with, and the `ipset restore` text that programs them. Pure.
//
// Sets are content-addressed: the name is `DPB-` + the first 16 chars of base32(sha256(type + members)), so a set
// never changes once rules reference it. A peer list that changes gets a new set, built completely before the
// iptables-restore that switches rules over to it; the old one is destroyed only after that commit (make before
// break, so no packet ever meets a half-filled set). A set that already exists but was not built by this agent (a
// crashed sync may have left it half-filled) is rebuilt as Calico rewrites sets: filled under a temporary name and
// swapped into place atomically.
import { createHash } from 'node:crypto';
import { intToIp, parseCidr } from '../../util/ip.ts';
import { base32 } from './chains.ts';

export const IPSET_PREFIX = 'DPB-';
/** temporary names: filled, then swapped with the real set and destroyed, within one restore */
export const IPSET_TEMP_PREFIX = 'DPBT-';

export type IpsetType = 'hash:ip' | 'hash:net';

export interface Ipset {
  name: string;
  type: IpsetType;
  /** canonical and sorted: "10.244.0.10" (hash:ip), "10.0.0.0/8" or "10.1.0.0/16 nomatch" (hash:net) */
  members: string[];
}

/** an ipBlock as programmed: the CIDR minus its excepts */
export interface CidrBlock {
  cidr: string;
  except: readonly string[];
}

const hash16 = (s: string): string => base32(createHash('sha256').update(s, 'utf8').digest()).slice(0, 16);

export function ipsetName(type: IpsetType, members: readonly string[]): string {
  return IPSET_PREFIX + hash16(`${type}\n${members.join('\n')}`);
}

export function tempIpsetName(name: string): string {
  return IPSET_TEMP_PREFIX + name.slice(IPSET_PREFIX.length);
}

/** whether a set name is ours (a real or a temporary one): what cleanup and crash recovery may destroy */
export function isPolicyIpset(name: string): boolean {
  return name.startsWith(IPSET_PREFIX) || name.startsWith(IPSET_TEMP_PREFIX);
}

function byAddress(a: { base: number; bits: number; nomatch: boolean }, b: { base: number; bits: number; nomatch: boolean }): number {
  return a.base - b.base || a.bits - b.bits || Number(a.nomatch) - Number(b.nomatch);
}

/** pod addresses: hash:ip, members sorted numerically and deduplicated */
export function podIpset(ips: readonly string[]): Ipset {
  const members = [...new Set(ips)]
    .map((ip) => parseCidr(`${ip}/32`).base)
    .sort((a, b) => a - b)
    .map(intToIp);
  return { name: ipsetName('hash:ip', members), type: 'hash:ip', members };
}

/**
 * CIDRs: hash:net, excepts as `nomatch` entries. hash:net matches the most specific entry, so one block and its
 * excepts (strict subsets of it, as the API demands) read exactly as "in cidr and in no except". Several blocks may
 * share a set only when none has excepts (a nomatch would hide a wider block of the set that allows the address):
 * callers give every block with excepts a set of its own. hash:net cannot hold a /0: 0.0.0.0/0 is stored as two /1s.
 */
export function cidrIpset(blocks: readonly CidrBlock[]): Ipset {
  const entries = new Map<string, { base: number; bits: number; nomatch: boolean }>();
  const put = (cidr: string, nomatch: boolean): void => {
    const { base, bits } = parseCidr(cidr);
    const halves = bits === 0 ? [{ base: 0, bits: 1 }, { base: 0x80000000, bits: 1 }] : [{ base, bits }];
    // an except equal to one half of a split /0 must replace that half, so excepts overwrite
    for (const h of halves) entries.set(`${h.base}/${h.bits}`, { ...h, nomatch });
  };
  for (const b of blocks) put(b.cidr, false);
  for (const b of blocks) for (const e of b.except) put(e, true);
  const members = [...entries.values()].sort(byAddress).map((e) => `${intToIp(e.base)}/${e.bits}${e.nomatch ? ' nomatch' : ''}`);
  return { name: ipsetName('hash:net', members), type: 'hash:net', members };
}

function createLine(name: string, set: Ipset): string {
  // maxelem is a hard cap: never below the members it must hold
  const maxelem = Math.max(65536, set.members.length);
  // a small table per set (thousands of policies mean thousands of sets); the kernel grows it as needed
  let hashsize = 64;
  while (hashsize < set.members.length) hashsize *= 2;
  return `create ${name} ${set.type} family inet hashsize ${hashsize} maxelem ${maxelem}`;
}

export interface IpsetRestore {
  /** `ipset restore -exist` input; empty when there is nothing to build */
  text: string;
  /** sets built by this restore (real names) */
  built: string[];
  /** temporary sets the restore created and destroyed again */
  temps: string[];
}

export interface IpsetState {
  /** sets this agent built itself and has not lost: complete, nothing to do */
  trusted?: ReadonlySet<string>;
  /** every set of ours believed to exist in the kernel (found at start-up, or built since) */
  existing?: ReadonlySet<string>;
}

/**
 * Builds every set that is not trusted, sorted by name. A set that does not exist yet is created and filled in
 * place: no rule can reference it before the iptables-restore that follows, so a crash half-way leaves nothing
 * visible. A set that exists but is not trusted (left by an earlier agent, perhaps half-built, perhaps already
 * referenced) is filled under its temporary twin and swapped in: atomic, even for rules matching on it right now.
 */
export function renderIpsetRestore(sets: readonly Ipset[], state: IpsetState = {}): IpsetRestore {
  const trusted = state.trusted ?? new Set<string>();
  const existing = state.existing ?? new Set<string>();
  const lines: string[] = [];
  const built: string[] = [];
  const temps: string[] = [];
  const todo = [...new Map(sets.map((s) => [s.name, s])).values()].filter((s) => !trusted.has(s.name));
  todo.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const set of todo) {
    built.push(set.name);
    if (!existing.has(set.name)) {
      lines.push(createLine(set.name, set), ...set.members.map((m) => `add ${set.name} ${m}`));
      continue;
    }
    const temp = tempIpsetName(set.name);
    temps.push(temp);
    if (existing.has(temp)) lines.push(`destroy ${temp}`); // a crashed rebuild's leftover
    lines.push(createLine(temp, set), ...set.members.map((m) => `add ${temp} ${m}`), `swap ${temp} ${set.name}`, `destroy ${temp}`);
  }
  return { text: lines.length ? `${lines.join('\n')}\n` : '', built, temps };
}

/** `ipset restore` input destroying sets no rule references any more (sorted, so goldens and logs are stable) */
export function renderIpsetDestroy(names: Iterable<string>): string {
  const sorted = [...names].filter(isPolicyIpset).sort();
  return sorted.length ? `${sorted.map((n) => `destroy ${n}`).join('\n')}\n` : '';
}
