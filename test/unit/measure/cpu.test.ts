// SPDX-License-Identifier: Apache-2.0
// CPU accounting: parsers on text copied from this machine's /proc, and the normalisation per transaction / GB.
import { describe, expect, it } from 'vitest';
import { cpuCost, cpuSnapshot, parseProcStat, parseSoftirqs, parseTaskTicks, type CpuSnapshot } from '../../../src/measure/cpu.ts';

const PROC_STAT = `cpu  43434 272 17088 193748 1374 0 7534 119 0 0
cpu0 20215 116 8765 98012 268 0 4627 61 0 0
cpu1 23219 155 8322 95735 1106 0 2906 58 0 0
intr 123 0 0
`;
const SOFTIRQS = `                    CPU0       CPU1
          HI:          0          0
       TIMER:      31848      36299
      NET_TX:        507        463
      NET_RX:    3128243    2200178
       BLOCK:          0      80651
`;
const KSOFTIRQD = '14 (ksoftirqd/0) S 2 0 0 0 -1 69238848 0 0 0 0 13 58 0 0 20 0 1 0 25 0 0';

describe('cpu parsers', () => {
  it('reads the aggregate cpu line of /proc/stat', () => {
    expect(parseProcStat(PROC_STAT)).toEqual({ user: 43434, nice: 272, system: 17088, idle: 193748, iowait: 1374, irq: 0, softirq: 7534, steal: 119 });
  });
  it('sums NET_RX and NET_TX over CPUs', () => {
    expect(parseSoftirqs(SOFTIRQS)).toEqual({ netRx: 3128243 + 2200178, netTx: 507 + 463 });
  });
  it('reads utime + stime of a task, also when its name has spaces or parentheses', () => {
    expect(parseTaskTicks(KSOFTIRQD)).toBe(13 + 58);
    expect(parseTaskTicks(KSOFTIRQD.replace('(ksoftirqd/0)', '(a b) c)'))).toBe(71);
  });
  it('takes a live snapshot of this machine', () => {
    const s = cpuSnapshot();
    expect(s.total.idle).toBeGreaterThan(0);
    expect(s.netRx).toBeGreaterThanOrEqual(0);
  });
});

describe('cpu cost', () => {
  const before: CpuSnapshot = { total: parseProcStat(PROC_STAT), ksoftirqdTicks: 71, netRx: 100, netTx: 10 };
  const after: CpuSnapshot = {
    total: { ...before.total, user: before.total.user + 50, system: before.total.system + 30, softirq: before.total.softirq + 20, idle: before.total.idle + 100 },
    ksoftirqdTicks: 76,
    netRx: 5100,
    netTx: 60,
  };

  it('turns tick deltas into µs and normalises per transaction', () => {
    const c = cpuCost(before, after, { transactions: 10_000 });
    expect(c).toMatchObject({ userUs: 500_000, systemUs: 300_000, softirqUs: 200_000, busyUs: 1_000_000, idleUs: 1_000_000, ksoftirqdUs: 50_000, netRxSoftirqs: 5000, netTxSoftirqs: 50 });
    expect(c.busyUsPerTransaction).toBe(100);
    expect(c.softirqUsPerTransaction).toBe(20);
    expect(c.busyUsPerGB).toBeUndefined();
  });

  it('normalises per gigabyte for streams', () => {
    const c = cpuCost(before, after, { bytes: 2e9 });
    expect(c.busyUsPerGB).toBe(500_000);
    expect(c.softirqUsPerGB).toBe(100_000);
  });
});
