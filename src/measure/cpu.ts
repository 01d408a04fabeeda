// SPDX-License-Identifier: Apache-2.0
// What a sample costs in CPU: system-wide time by category from /proc/stat, CPU time of the ksoftirqd/N threads,
// and NET_RX/NET_TX softirq counts from /proc/softirqs, taken around the sample and normalised per transaction
// (RR/CRR) or per gigabyte (STREAM). The machine-wide view includes everything running, as netperf's own -c/-C do.
import { readdirSync, readFileSync } from 'node:fs';

/** /proc/stat and /proc/<pid>/stat count in USER_HZ ticks; 100 on every Linux ABI that matters */
export const USER_HZ = 100;
const TICK_US = 1e6 / USER_HZ;

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface CpuSnapshot {
  /** the aggregate "cpu" line of /proc/stat, in ticks */
  total: CpuTimes;
  /** utime + stime of every ksoftirqd/N thread, in ticks */
  ksoftirqdTicks: number;
  netRx: number;
  netTx: number;
}

export interface CpuCost {
  userUs: number;
  systemUs: number;
  softirqUs: number;
  irqUs: number;
  idleUs: number;
  /** user + nice + system + irq + softirq + steal */
  busyUs: number;
  ksoftirqdUs: number;
  netRxSoftirqs: number;
  netTxSoftirqs: number;
  /** RR/CRR: busy CPU, softirq and ksoftirqd µs per transaction */
  busyUsPerTransaction?: number;
  softirqUsPerTransaction?: number;
  ksoftirqdUsPerTransaction?: number;
  /** STREAM: the same per gigabyte (10^9 bytes) moved */
  busyUsPerGB?: number;
  softirqUsPerGB?: number;
  ksoftirqdUsPerGB?: number;
}

export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no aggregate "cpu" line');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { user, nice, system, idle, iowait, irq, softirq, steal };
}

/** sums of the NET_RX and NET_TX rows of /proc/softirqs over all CPUs */
export function parseSoftirqs(text: string): { netRx: number; netTx: number } {
  const row = (name: string): number => {
    const line = text.split('\n').find((l) => l.trim().startsWith(`${name}:`));
    return line ? line.trim().split(/\s+/).slice(1).map(Number).reduce((a, b) => a + b, 0) : 0;
  };
  return { netRx: row('NET_RX'), netTx: row('NET_TX') };
}

/** utime + stime (fields 14 and 15) of a /proc/<pid>/stat line */
export function parseTaskTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

let ksoftirqdPids: number[] | undefined;

/** pids of the ksoftirqd/N kernel threads; found once, they live as long as the machine */
function findKsoftirqd(): number[] {
  ksoftirqdPids ??= readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return /^ksoftirqd\/\d+$/.test(readFileSync(`/proc/${d}/comm`, 'utf8').trim());
      } catch {
        return false;
      }
    })
    .map(Number);
  return ksoftirqdPids;
}

export function cpuSnapshot(): CpuSnapshot {
  let ksoftirqdTicks = 0;
  for (const pid of findKsoftirqd()) {
    try {
      ksoftirqdTicks += parseTaskTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      /* a CPU went offline */
    }
  }
  return { total: parseProcStat(readFileSync('/proc/stat', 'utf8')), ksoftirqdTicks, ...parseSoftirqs(readFileSync('/proc/softirqs', 'utf8')) };
}

export function cpuCost(before: CpuSnapshot, after: CpuSnapshot, work: { transactions?: number; bytes?: number }): CpuCost {
  const d = (k: keyof CpuTimes): number => (after.total[k] - before.total[k]) * TICK_US;
  const busyUs = d('user') + d('nice') + d('system') + d('irq') + d('softirq') + d('steal');
  const cost: CpuCost = {
    userUs: d('user') + d('nice'),
    systemUs: d('system'),
    softirqUs: d('softirq'),
    irqUs: d('irq'),
    idleUs: d('idle') + d('iowait'),
    busyUs,
    ksoftirqdUs: (after.ksoftirqdTicks - before.ksoftirqdTicks) * TICK_US,
    netRxSoftirqs: after.netRx - before.netRx,
    netTxSoftirqs: after.netTx - before.netTx,
  };
  if (work.transactions && work.transactions > 0) {
    cost.busyUsPerTransaction = busyUs / work.transactions;
    cost.softirqUsPerTransaction = cost.softirqUs / work.transactions;
    cost.ksoftirqdUsPerTransaction = cost.ksoftirqdUs / work.transactions;
  }
  if (work.bytes && work.bytes > 0) {
    cost.busyUsPerGB = busyUs / (work.bytes / 1e9);
    cost.softirqUsPerGB = cost.softirqUs / (work.bytes / 1e9);
    cost.ksoftirqdUsPerGB = cost.ksoftirqdUs / (work.bytes / 1e9);
  }
  return cost;
}
