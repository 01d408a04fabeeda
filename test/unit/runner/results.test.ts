// SPDX-License-Identifier: Apache-2.0
// Results aggregation: invalid samples stay out of the statistics but are listed; interleaving rotates.
import { describe, expect, it } from 'vitest';
import { aggregate, samplesCsv, type SampleRecord } from '../../../src/runner/results.ts';
import { rotation } from '../../../src/runner/interleave.ts';
import { plannedSeconds } from '../../../src/runner/run.ts';
import { loadScenario } from '../../../src/runner/scenario/load.ts';

function sample(n: number, p50: number, valid = true): SampleRecord {
  return {
    datapath: 'iptables', services: 1000, test: 'TCP_CRR', path: 'pod-to-service', sample: n, order: 0, startedAt: '2026-01-01T00:00:00Z',
    valid, reasons: valid ? [] : ['2 SYN retransmissions (TcpExt.TCPSynRetrans)'],
    latencyUs: { min: 1, p50, p90: p50 * 2, p99: p50 * 3, mean: p50, max: 1000, stddev: 1 },
    transactionsPerSec: 1e6 / p50,
    cpu: { userUs: 1, systemUs: 1, softirqUs: 1, irqUs: 0, idleUs: 1, busyUs: 3, ksoftirqdUs: 0, netRxSoftirqs: 1, netTxSoftirqs: 1, busyUsPerTransaction: 10, softirqUsPerTransaction: 2, ksoftirqdUsPerTransaction: 0 },
    target: { host: '10.96.0.100', port: 12866, kind: 'service', serverPod: 'node1-pod0', lookupPosition: 1000 },
    placement: { clientPod: 'node0-pod0', serverPod: 'node1-pod0', sameNode: false, clientCpu: 0, serverCpu: 1 },
    netperf: { argv: ['netperf'], code: 0, durationMs: 1000 },
  };
}

describe('aggregate', () => {
  it('keeps invalid samples out of the summary and lists them with their reasons', () => {
    const recs = aggregate([sample(1, 100), sample(2, 5000, false), sample(3, 120), sample(4, 110)], []);
    const p50 = recs.find((r) => r.metric === 'latency_p50')!;
    expect(p50.samples).toEqual([100, 120, 110]);
    expect(p50.summary!.median).toBe(110);
    expect(p50.invalid).toEqual([{ sample: 2, reasons: ['2 SYN retransmissions (TcpExt.TCPSynRetrans)'] }]);
    expect(recs.map((r) => r.metric).sort()).toEqual(['cpu_busy_per_tx', 'cpu_ksoftirqd_per_tx', 'cpu_softirq_per_tx', 'latency_mean', 'latency_p50', 'latency_p90', 'latency_p99', 'transaction_rate']);
  });

  it('turns sync reports into sync_duration and rules records per datapath and step', () => {
    const sync = { datapath: 'iptables' as const, node: 'node0', durationMs: 640, renderMs: 40, applyMs: 600, rules: 11008, servicePorts: 1000, endpoints: 3000, detail: {}, services: 1000 };
    const recs = aggregate([], [sync, { ...sync, node: 'node1', durationMs: 660 }]);
    expect(recs.find((r) => r.metric === 'sync_duration')!.samples).toEqual([640, 660]);
    expect(recs.find((r) => r.metric === 'rules')!.summary!.max).toBe(11008);
  });

  it('writes one CSV row per sample with a header', () => {
    const csv = samplesCsv([sample(1, 100), sample(2, 5000, false)]).trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[2]).toContain('false,2 SYN retransmissions');
  });
});

describe('interleaving and planning', () => {
  it('rotates the datapath order every round', () => {
    expect([0, 1, 2, 3].map((i) => rotation(['a', 'b', 'c'], i).join(''))).toEqual(['abc', 'bca', 'cab', 'abc']);
  });

  it('plans the smoke scenario at under two minutes of traffic', () => {
    expect(plannedSeconds(loadScenario('smoke'))).toBeLessThan(120);
  });
});
