// SPDX-License-Identifier: Apache-2.0
// Chart spec builders: every spec compiles with vega-lite without a warning, and carries what the chart
// promises (log x over the steps, CI band from summary.ci95, one colour per datapath, dot plots for one step).
import { describe, expect, it } from 'vitest';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import {
  chartPoints, churnCharts, colorScale, controlPlaneCharts, cpuCharts, DATAPATH_COLORS, decades, latencyCharts, propagationCharts, rateCharts, scaleAxis, scaleChart, stepChart,
  trendChart, type ChartDef,
} from '../../../src/report/charts.ts';
import { churnFixture, fixture, policyFixture } from './fixtures.ts';

const multi = fixture('synthetic-4x5');
const single = fixture('single-step');
const policy = policyFixture();
const churn = churnFixture();

/** compiles a spec, collecting vega-lite's warnings */
function compileStrict(spec: TopLevelSpec): string[] {
  const warnings: string[] = [];
  const logger = {
    level() { return logger; },
    warn: (...a: unknown[]) => { warnings.push(a.join(' ')); return logger; },
    info: () => logger,
    debug: () => logger,
    error: (...a: unknown[]) => { warnings.push(`error: ${a.join(' ')}`); return logger; },
  };
  compile(spec, { logger: logger as never });
  return warnings;
}

type Layer = { mark: { type: string }; encoding: Record<string, { field?: string; scale?: { type?: string; domain?: unknown; range?: unknown }; axis?: { values?: number[] } }>; data?: unknown };
const layers = (c: ChartDef): Layer[] => (c.spec as unknown as { layer: Layer[] }).layer;
const values = (c: ChartDef): Record<string, unknown>[] => (c.spec as unknown as { data: { values: Record<string, unknown>[] } }).data.values;

const everyChart = (r: typeof multi): ChartDef[] =>
  [...latencyCharts(r), ...rateCharts(r), ...cpuCharts(r), ...controlPlaneCharts(r), ...churnCharts(r), ...propagationCharts(r)];

describe('every chart of every fixture compiles without warnings', () => {
  const all = [multi, single, policy, churn].flatMap(everyChart);
  it.each(all.map((c) => [c.id, c] as const))('%s', (_, c) => {
    expect(compileStrict(c.spec)).toEqual([]);
  });

  it('ids are unique per page', () => {
    for (const r of [multi, single, policy, churn]) {
      const ids = everyChart(r).map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});

describe('several steps: one chart per workload, median vs services', () => {
  const charts = latencyCharts(multi);

  it('p50 and p99 side by side for each request/response workload, in scenario order', () => {
    expect(charts.map((c) => c.id)).toEqual([
      'latency-p50-tcp-rr-pod-to-pod-cross-node', 'latency-p99-tcp-rr-pod-to-pod-cross-node',
      'latency-p50-tcp-rr-pod-to-service', 'latency-p99-tcp-rr-pod-to-service',
      'latency-p50-tcp-crr-pod-to-service', 'latency-p99-tcp-crr-pod-to-service',
    ]);
  });

  it('log x over exactly the measured steps; the band is the CI from summary.ci95', () => {
    const crr = charts.find((c) => c.id === 'latency-p50-tcp-crr-pod-to-service')!;
    const [band, line] = layers(crr);
    expect(band!.mark.type).toBe('area');
    expect(band!.encoding.x!.scale).toMatchObject({ type: 'log', domain: [1, 20000] });
    expect(band!.encoding.x!.axis!.values).toEqual([1, 1000, 5000, 10000, 20000]);
    expect(band!.encoding.y!.field).toBe('low');
    expect(band!.encoding.y2!.field).toBe('high');
    expect(line!.encoding.y!.field).toBe('median');
    const rec = multi.results.find((r) => r.datapath === 'iptables' && r.services === 20000 && r.test === 'TCP_CRR' && r.metric === 'latency_p50')!;
    expect(values(crr)).toContainEqual(expect.objectContaining({ datapath: 'iptables', services: 20000, median: rec.summary!.median, low: rec.summary!.ci95.low, high: rec.summary!.ci95.high }));
    expect(values(crr)).toHaveLength(4 * 5);
  });

  it('every datapath keeps its colour in every chart', () => {
    for (const c of [...charts, ...rateCharts(multi)]) {
      expect(layers(c)[0]!.encoding.color!.scale).toEqual({ domain: ['none', 'iptables', 'nftables', 'ebpf'], range: ['#8c8c8c', '#d95f02', '#b8308a', '#1f78b4'] });
    }
    expect(colorScale(['ebpf', 'bespoke']).range).toEqual([DATAPATH_COLORS.ebpf, '#e6ab02']);
  });

  it('control plane: sync time and rules on log axes labelled by decade, without the `none` datapath', () => {
    const [sync, rules] = controlPlaneCharts(multi);
    expect(sync!.id).toBe('sync-duration-sync-control-plane');
    expect(rules!.id).toBe('rules-sync-control-plane');
    expect(values(sync!).some((v) => v.datapath === 'none')).toBe(false);
    const y = layers(sync!)[1]!.encoding.y!;
    expect(y.scale!.type).toBe('log');
    expect(y.axis!.values!.every((v) => Math.log10(v) % 1 === 0)).toBe(true);
  });

  it('throughput and transaction rate charts', () => {
    expect(rateCharts(multi).map((c) => c.id)).toEqual(['throughput-tcp-stream-pod-to-service', 'rate-tcp-rr-pod-to-pod-cross-node', 'rate-tcp-rr-pod-to-service', 'rate-tcp-crr-pod-to-service']);
  });
});

describe('CPU cost', () => {
  it('busy and softirq CPU per transaction per workload, per GB for the stream (converted to ms)', () => {
    const charts = cpuCharts(multi);
    expect(charts.map((c) => c.id)).toEqual([
      'cpu-tx-busy-cpu-tcp-rr-pod-to-pod-cross-node', 'cpu-tx-softirq-cpu-tcp-rr-pod-to-pod-cross-node',
      'cpu-tx-busy-cpu-tcp-rr-pod-to-service', 'cpu-tx-softirq-cpu-tcp-rr-pod-to-service',
      'cpu-tx-busy-cpu-tcp-crr-pod-to-service', 'cpu-tx-softirq-cpu-tcp-crr-pod-to-service',
      'cpu-gb-busy-cpu-tcp-stream-pod-to-service', 'cpu-gb-softirq-cpu-tcp-stream-pod-to-service',
    ]);
    const gb = charts.find((c) => c.id === 'cpu-gb-busy-cpu-tcp-stream-pod-to-service')!;
    const rec = multi.results.find((r) => r.metric === 'cpu_busy_per_gb' && r.datapath === 'ebpf' && r.services === 1)!;
    expect(values(gb)).toContainEqual(expect.objectContaining({ datapath: 'ebpf', services: 1, median: rec.summary!.median / 1000 }));
  });

  it('a run from before CPU was measured has no CPU charts', () => {
    expect(cpuCharts(single)).toEqual([]);
  });
});

describe('one step: dot plots, a row per workload', () => {
  it('latency: one p50 and one p99 chart, rows for each workload, a whisker from CI low to high', () => {
    const charts = latencyCharts(single);
    expect(charts.map((c) => c.id)).toEqual(['latency-p50', 'latency-p99']);
    const [whisker, dot, label] = layers(charts[0]!);
    expect(whisker!.mark.type).toBe('rule');
    expect(whisker!.encoding.x!.field).toBe('low');
    expect(whisker!.encoding.x2!.field).toBe('high');
    expect(dot!.encoding.y!.field).toBe('row');
    expect(label!.mark.type).toBe('text');
    expect(values(charts[0]!).map((v) => v.row)).toEqual(['TCP_RR · pod → pod, across nodes', 'TCP_RR · pod → ClusterIP service', 'TCP_CRR · pod → ClusterIP service']);
    expect((charts[0]!.spec as { title: { subtitle: string } }).title.subtitle).toMatch(/^at 1,000 services/);
  });

  it('one row per datapath for sync time at one step', () => {
    const [sync] = controlPlaneCharts(single);
    expect(values(sync!)).toEqual([expect.objectContaining({ datapath: 'iptables', row: '1,000 services' })]);
  });
});

describe('a policy dimension (scale.policies): x is the policy count when only it varies', () => {
  it('scaleAxis: services when they vary (split by policies when both do), policies when only they vary, null for one step', () => {
    expect(scaleAxis(multi.results)).toEqual({ field: 'services', steps: [1, 1000, 5000, 10000, 20000] });
    expect(scaleAxis(policy.results)).toEqual({ field: 'policies', steps: [0, 100, 1000, 5000] });
    expect(scaleAxis(single.results)).toBeNull();
    const both = [...policy.results, ...policy.results.map((r) => ({ ...r, services: 1000 }))];
    expect(scaleAxis(both)).toEqual({ field: 'services', steps: [1, 1000], splitByPolicies: [0, 100, 1000, 5000] });
  });

  it('latency against NetworkPolicies on a symlog axis (0 fits), one point per datapath × policy step', () => {
    const [p50] = latencyCharts(policy);
    expect(p50!.id).toBe('latency-p50-tcp-rr-pod-to-pod-cross-node');
    const band = layers(p50!)[0]!;
    expect(band.encoding.x).toMatchObject({ field: 'policies', scale: { type: 'symlog', domain: [0, 5000] }, axis: { values: [0, 100, 1000, 5000] } });
    expect(values(p50!)).toHaveLength(2 * 4);
    expect(values(p50!)).toContainEqual(expect.objectContaining({ datapath: 'iptables', services: 1, policies: 5000 }));
  });

  it('propagation: allow → deny and deny → allow per workload; sync time against policies', () => {
    const charts = propagationCharts(policy);
    expect(charts.map((c) => c.id)).toEqual(['propagation-allow-deny-netpol-propagation-pod-to-pod-cross-node', 'propagation-deny-allow-netpol-propagation-pod-to-pod-cross-node']);
    expect(values(charts[0]!)).toHaveLength(2 * 4);
    expect(propagationCharts(multi)).toEqual([]);
    const [sync] = controlPlaneCharts(policy);
    expect(layers(sync!)[0]!.encoding.x!.field).toBe('policies');
  });

  it('both dimensions varying: one chart per policy count, never two points folded into one', () => {
    const res = { ...policy, results: [...policy.results, ...policy.results.map((r) => ({ ...r, services: 1000 }))] };
    const charts = latencyCharts(res);
    expect(charts.map((c) => c.id)).toContain('latency-p50-tcp-rr-pod-to-pod-cross-node-5000-policies');
    expect(charts.every((c) => values(c).length === 2 * 2)).toBe(true);
  });
});

describe('a churn run (phase: churn)', () => {
  it('each workload is followed by its twin measured during churn; neither folds into the other', () => {
    const charts = latencyCharts(churn);
    expect(charts.map((c) => c.id)).toEqual([
      'latency-p50-tcp-crr-pod-to-service', 'latency-p99-tcp-crr-pod-to-service',
      'latency-p50-tcp-crr-pod-to-service-churn', 'latency-p99-tcp-crr-pod-to-service-churn',
    ]);
    expect(charts.every((c) => values(c).length === 2 * 2)).toBe(true);
    expect((charts[2]!.spec as { title: { text: string } }).title.text).toBe('TCP_CRR p50 latency — pod → ClusterIP service — during churn');
    const steady = values(charts[0]!).find((v) => v.datapath === 'iptables' && v.services === 10000)!;
    const busy = values(charts[2]!).find((v) => v.datapath === 'iptables' && v.services === 10000)!;
    expect(busy.median as number).toBeCloseTo((steady.median as number) * 1.5, 6);
  });

  it('churn charts: endpoint programming latency and sync duration against services', () => {
    const charts = churnCharts(churn);
    expect(charts.map((c) => c.id)).toEqual(['churn-programming-churn-control-plane-churn', 'churn-sync-churn-control-plane-churn']);
    expect(values(charts[0]!)).toHaveLength(2 * 2);
    expect(churnCharts(multi)).toEqual([]);
  });
});

describe('primitives', () => {
  it('chartPoints skips records without a summary', () => {
    const recs = multi.results.slice(0, 3);
    expect(chartPoints([{ ...recs[0]!, summary: null }, recs[1]!])).toHaveLength(1);
  });

  it('decades covers the values with powers of ten', () => {
    expect(decades([{ datapath: 'a', services: 1, median: 5, low: 3, high: 640, n: 1, level: 1 }])).toEqual([1, 10, 100, 1000]);
  });

  it('reference lines are layers with their own data (a ratio chart’s 1 ± tolerance)', () => {
    const points = [{ datapath: 'iptables', services: 1, median: 1.02, low: 0.98, high: 1.05, n: 5, level: 0.95 }];
    const c = scaleChart([...points, { ...points[0]!, services: 10 }], { id: 'r', title: 'r', valueTitle: 'ratio', datapaths: ['iptables'], steps: [1, 10], refLines: [0.9, 1, 1.1] });
    expect(layers(c)[0]!.data).toEqual({ values: [{ ref: 0.9 }, { ref: 1 }, { ref: 1.1 }] });
    expect(compileStrict(c.spec)).toEqual([]);
    const d = stepChart(points.map((p) => ({ ...p, row: 'x' })), { id: 'd', title: 'd', valueTitle: 'ratio', datapaths: ['iptables'], rows: ['x'], refLines: [1] });
    expect(compileStrict(d.spec)).toEqual([]);
  });

  it('trend chart: temporal x, compiles', () => {
    const c = trendChart([
      { datapath: 'iptables', time: '2026-11-01T00:00:00Z', run: 'a', median: 150, low: 140, high: 160 },
      { datapath: 'iptables', time: '2026-11-02T00:00:00Z', run: 'b', median: 155, low: 145, high: 165 },
    ], { id: 't', title: 't', valueTitle: 'µs', datapaths: ['iptables'] });
    expect(layers(c)[1]!.encoding.x).toMatchObject({ field: 'time', type: 'temporal' });
    expect(compileStrict(c.spec)).toEqual([]);
  });
});
