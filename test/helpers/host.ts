// SPDX-License-Identifier: Apache-2.0
// Test helpers: is this root, and a snapshot of the machine's own network namespace to prove the lab never
// touches it (links, addresses, routes, iptables/nftables rules, bpffs pins, lab namespaces).
import { readdirSync, existsSync } from 'node:fs';
import { run } from '../../src/util/exec.ts';

export const isRoot = process.getuid?.() === 0;
export const rootReason = 'lab tests build network namespaces and need root (run: sudo npm test)';

async function out(argv: string[]): Promise<string> {
  const r = await run(argv, { allowFail: true, timeoutMs: 20_000 }).catch(() => undefined);
  return r?.stdout ?? '';
}

export interface HostSnapshot {
  links: string;
  addrs: string;
  routes: string;
  iptables: string;
  iptablesLegacy: string;
  nft: string;
}

/** volatile parts (counters, timestamps) are stripped so two snapshots compare equal when nothing changed */
export async function hostSnapshot(): Promise<HostSnapshot> {
  const strip = (s: string): string => s.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
  return {
    links: (await out(['ip', '-o', 'link', 'show'])).replace(/link-netns \S+|link-netnsid \d+/g, ''),
    addrs: (await out(['ip', '-o', 'addr', 'show'])).replace(/valid_lft \S+ preferred_lft \S+/g, ''),
    routes: await out(['ip', 'route', 'show', 'table', 'all']),
    iptables: strip(await out(['iptables-nft-save'])),
    iptablesLegacy: strip(await out(['iptables-legacy-save'])),
    nft: await out(['nft', 'list', 'ruleset']),
  };
}

export function labNetns(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('dpb-')) : [];
}

export function dpbPins(): string[] {
  return existsSync('/sys/fs/bpf') ? readdirSync('/sys/fs/bpf').filter((n) => n.startsWith('dpb-')) : [];
}
