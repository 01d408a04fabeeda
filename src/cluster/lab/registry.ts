// SPDX-License-Identifier: Apache-2.0
// On-disk record of what a run created (namespaces, processes), so `dpbench clean`, `lab status` and `lab down`
// can find it after a crash. Lives under /run (tmpfs): a reboot clears both the record and the namespaces.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_DIR = process.env.DPBENCH_STATE_DIR ?? '/run/dpbench';
/** every name a run creates starts with this */
export const NAME_PREFIX = 'dpb-';

export interface RecordedProcess {
  pid: number;
  /** /proc/<pid>/stat field 22: guards against killing a reused pid */
  startTime: string;
  what: string;
  netns?: string;
}

export interface RunRecord {
  prefix: string;
  ownerPid: number;
  createdAt: string;
  /** kept by `dpbench lab up` until `lab down` */
  persistent: boolean;
  clusters: { cluster: string; datapath: string; netns: string[]; summary?: unknown }[];
  processes: RecordedProcess[];
}

export function recordFile(prefix: string): string {
  return join(STATE_DIR, `${prefix}.json`);
}

export function writeRecord(rec: RunRecord): void {
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(recordFile(rec.prefix), JSON.stringify(rec, null, 2));
}

export function readRecords(): RunRecord[] {
  if (!existsSync(STATE_DIR)) return [];
  return readdirSync(STATE_DIR)
    .filter((f) => f.startsWith(NAME_PREFIX) && f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as RunRecord];
      } catch {
        return [];
      }
    });
}

export function removeRecord(prefix: string): void {
  rmSync(recordFile(prefix), { force: true });
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the parenthesised comm; starttime is field 22 overall
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
