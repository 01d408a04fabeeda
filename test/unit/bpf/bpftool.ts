// SPDX-License-Identifier: Apache-2.0
// What the kernel holds of the ebpf datapath, read with bpftool for tests: its tcx links and programs by id.
// (bpftool 7.1 lists tcx links, as type 11, but not under `net show`.)
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROGRAMS } from '../../../src/datapath/bpf/object.ts';
import { run } from '../../../src/util/exec.ts';

const OUR_PROGRAMS = new Set<string>(Object.values(PROGRAMS));

async function bpftoolJson<T>(args: string[]): Promise<T> {
  return JSON.parse((await run(['bpftool', '-j', ...args], { timeoutMs: 20_000 })).stdout) as T;
}

/** every link (any namespace) whose program is one of lb_tc.bpf.c's, by link id → program id */
export async function datapathLinks(): Promise<Map<number, number>> {
  const progs = await bpftoolJson<{ id: number; name?: string }[]>(['prog', 'show']);
  const ours = new Set(progs.filter((p) => p.name && OUR_PROGRAMS.has(p.name)).map((p) => p.id));
  const links = await bpftoolJson<{ id: number; prog_id: number }[]>(['link', 'show']);
  return new Map(links.filter((l) => ours.has(l.prog_id)).map((l) => [l.id, l.prog_id]));
}

/** the links pinned under a node's pin directory (`<dir>/links/<ifname>-<direction>`), by pin name */
export async function pinnedLinks(pinDir: string): Promise<Map<string, { id: number; progId: number }>> {
  const out = new Map<string, { id: number; progId: number }>();
  for (const name of readdirSync(join(pinDir, 'links'))) {
    const l = await bpftoolJson<{ id: number; prog_id: number }>(['link', 'show', 'pinned', join(pinDir, 'links', name)]);
    out.set(name, { id: l.id, progId: l.prog_id });
  }
  return out;
}

/** false once the kernel has freed the link or program with that id */
export async function exists(kind: 'link' | 'prog', id: number): Promise<boolean> {
  return (await run(['bpftool', kind, 'show', 'id', String(id)], { allowFail: true, timeoutMs: 20_000 })).code === 0;
}

/**
 * Waits until the kernel has freed the link or program with that id, up to `timeoutMs`; false if it never did.
 * Freeing is asynchronous when the last reference was a pin: the bpffs inode goes in an RCU callback.
 */
export async function freed(kind: 'link' | 'prog', id: number, timeoutMs = 5000): Promise<boolean> {
  for (const started = Date.now(); ; ) {
    if (!(await exists(kind, id))) return true;
    if (Date.now() - started > timeoutMs) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** dp_metrics of a pinned map, summed over CPUs: one row per {reason, direction} */
export async function pinnedMetrics(path: string): Promise<{ reason: number; dir: number; packets: number; bytes: number }[]> {
  type Row = { formatted: { key: { reason: number; dir: number }; values: { value: { packets: number; bytes: number } }[] } };
  const rows = await bpftoolJson<Row[]>(['map', 'dump', 'pinned', path]);
  return rows.map(({ formatted: { key, values } }) => ({
    reason: key.reason,
    dir: key.dir,
    packets: values.reduce((n, v) => n + v.value.packets, 0),
    bytes: values.reduce((n, v) => n + v.value.bytes, 0),
  }));
}
