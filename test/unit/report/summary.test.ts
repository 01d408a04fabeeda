// SPDX-License-Identifier: Apache-2.0
// The console summary: CPU per transaction / per GB next to latency and rate, and the XDP mode each node attached.
import { describe, expect, it } from 'vitest';
import { renderSummary, xdpModes } from '../../../src/report/summary.ts';
import type { ResultRecord, Results } from '../../../src/runner/results.ts';
import { fmt } from '../../../src/report/table.ts';
import { fixture } from './fixtures.ts';

const sync = (datapath: string, node: string, detail: Record<string, string | number>): Results['syncs'][number] =>
  ({ datapath, node, durationMs: 1, renderMs: 0, applyMs: 1, rules: 1, servicePorts: 1, endpoints: 1, services: 1, detail }) as Results['syncs'][number];

describe('console summary', () => {
  it('shows busy / softirq CPU per transaction beside every RR/CRR row and per GB (ms) beside STREAM', () => {
    const res = fixture('synthetic-4x5');
    const text = renderSummary(res);
    expect(text).toContain('CPU busy / softirq µs/tx | ms/GB');
    const rows = text.split('\n').filter((l) => /^TCP_/.test(l));
    const same = (a: ResultRecord, b: ResultRecord) => a.datapath === b.datapath && a.services === b.services && a.test === b.test && a.path === b.path;
    const withCpu = res.results.filter((r) => (r.metric === 'cpu_busy_per_tx' || r.metric === 'cpu_busy_per_gb') && r.summary);
    expect(withCpu.length).toBeGreaterThan(0);
    for (const busy of withCpu) {
      const gb = busy.metric === 'cpu_busy_per_gb';
      const softirq = res.results.find((r) => r.metric === (gb ? 'cpu_softirq_per_gb' : 'cpu_softirq_per_tx') && same(r, busy))!;
      const scale = gb ? 1e-3 : 1;
      const cell = `${fmt(busy.summary!.median * scale)} / ${fmt(softirq.summary!.median * scale)}`;
      const row = rows.find((l) => l.startsWith(`${busy.test} `) && l.includes(` ${busy.path} `) && l.includes(` ${busy.datapath} `) && new RegExp(`\\s${busy.services}\\s`).test(l));
      expect(row, `${busy.test} ${busy.path} ${busy.datapath} ${busy.services}`).toContain(cell);
    }
  });

  it('says "-" where a run recorded no CPU (older results), never a made-up number', () => {
    const res = fixture('synthetic-4x5');
    const stripped = { ...res, results: res.results.filter((r) => !r.metric.startsWith('cpu_')) };
    const rows = renderSummary(stripped).split('\n').filter((l) => /^TCP_/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    for (const l of rows) expect(l).toMatch(/\s-\s+\d+\/\d+$/);
  });

  it('lists the XDP mode per datapath and node, once per distinct mode, with the reason of a fallback', () => {
    const syncs = [
      sync('ebpf', 'node0', { attach: 'tcx' }),
      sync('xdp', 'node0', { xdpMode: 'native' }),
      sync('xdp', 'node1', { xdpMode: 'generic', xdpFallback: 'native XDP: Operation not supported (errno 95)\nmore' }),
      sync('xdp', 'node0', { xdpMode: 'native' }),
    ];
    expect(xdpModes(syncs)).toEqual([['xdp', 'node0: native, node1: generic (native refused: native XDP: Operation not supported (errno 95))']]);
    expect(xdpModes(syncs.slice(0, 1))).toEqual([]);
    expect(renderSummary({ ...fixture('synthetic-4x5'), syncs })).toContain('XDP attach mode (xdp): node0: native, node1: generic');
  });
});
