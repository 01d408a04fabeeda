// SPDX-License-Identifier: Apache-2.0
// Removes what runs left behind: processes recorded by pid (checked against their start time, so a reused pid
// is never killed), network namespaces named with the dpbench prefix, and bpffs pins with that prefix.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { deleteNetns, listNetns, netnsPids } from './netns.ts';
import { isAlive, NAME_PREFIX, processStartTime, readRecords, removeRecord, type RunRecord } from './registry.ts';

export const BPFFS = '/sys/fs/bpf';

export interface CleanReport {
  runs: string[];
  killed: number[];
  netns: string[];
  pins: string[];
}

export interface CleanOptions {
  /** only this run prefix */
  prefix?: string;
  /** also clusters left running on purpose by `dpbench lab up` */
  includePersistent?: boolean;
}

function killRecorded(rec: RunRecord, killed: number[]): void {
  for (const p of rec.processes) {
    if (processStartTime(p.pid) !== p.startTime) continue; // gone, or the pid now belongs to someone else
    try {
      process.kill(p.pid, 'SIGKILL');
      killed.push(p.pid);
    } catch {
      /* exited meanwhile */
    }
  }
}

export async function cleanLeftovers(opts: CleanOptions = {}): Promise<CleanReport> {
  const report: CleanReport = { runs: [], killed: [], netns: [], pins: [] };
  const records = readRecords();
  const protectedPrefixes = new Set<string>();
  for (const rec of records) {
    const selected = opts.prefix ? rec.prefix === opts.prefix : true;
    const ownerRunning = rec.ownerPid !== process.pid && isAlive(rec.ownerPid) && !rec.persistent;
    if (!selected || ownerRunning || (rec.persistent && !opts.includePersistent)) {
      protectedPrefixes.add(rec.prefix);
      continue;
    }
    killRecorded(rec, report.killed);
    report.runs.push(rec.prefix);
  }
  const scope = opts.prefix ?? NAME_PREFIX;
  for (const ns of listNetns(scope)) {
    if ([...protectedPrefixes].some((p) => ns.startsWith(`${p}-`))) continue;
    // whatever still runs inside one of our namespaces was started by a dpbench run
    for (const pid of await netnsPids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
        report.killed.push(pid);
      } catch {
        /* gone */
      }
    }
    await deleteNetns(ns);
    report.netns.push(ns);
  }
  if (existsSync(BPFFS)) {
    for (const pin of readdirSync(BPFFS).filter((n) => n.startsWith(scope))) {
      if ([...protectedPrefixes].some((p) => pin.startsWith(p))) continue;
      rmSync(`${BPFFS}/${pin}`, { recursive: true, force: true });
      report.pins.push(pin);
    }
  }
  for (const prefix of report.runs) removeRecord(prefix);
  return report;
}
