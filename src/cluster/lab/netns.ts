// SPDX-License-Identifier: Apache-2.0
// Network namespace and link primitives, all through `ip -n NS …`, so nothing is ever created in the
// machine's own namespace: veth pairs are born inside one lab namespace with their peer in another.
import { readdirSync, existsSync } from 'node:fs';
import { run, NETNS_DIR } from '../../util/exec.ts';

export async function ip(netns: string, ...args: string[]): Promise<void> {
  await run(['ip', '-n', netns, ...args], { timeoutMs: 20_000 });
}

export async function addNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'add', name], { timeoutMs: 20_000 });
  await ip(name, 'link', 'set', 'lo', 'up');
}

export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name], { timeoutMs: 20_000, allowFail: true });
}

export function listNetns(prefix: string): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix)).sort();
}

/** a veth pair: `name` inside `netns`, `peer` inside `peerNetns` */
export async function addVethPair(netns: string, name: string, peerNetns: string, peer: string): Promise<void> {
  await ip(netns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', peer, 'netns', peerNetns);
}

/** ethtool -K inside a namespace: offload features of one device, as `name on|off` pairs */
export async function setFeatures(netns: string, dev: string, features: Record<string, 'on' | 'off'>): Promise<void> {
  await run(['ethtool', '-K', dev, ...Object.entries(features).flat()], { netns, timeoutMs: 10_000 });
}

/** sysctl -w inside a namespace; /proc/sys/net is per network namespace */
export async function sysctl(netns: string, values: Record<string, string | number>): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  await run(['sysctl', '-q', '-w', ...args], { netns, timeoutMs: 10_000 });
}

/** pids of processes whose network namespace is `name` (ip netns pids) */
export async function netnsPids(name: string): Promise<number[]> {
  const res = await run(['ip', 'netns', 'pids', name], { allowFail: true, timeoutMs: 10_000 });
  return res.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}
