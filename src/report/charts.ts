// SPDX-License-Identifier: Apache-2.0
// vega-lite spec builders: pure functions from results.json records to chart specs. One datapath keeps one
// colour in every chart of every page. With several scale steps a chart is median vs services (log x) with the
// 95% CI of the median as a band; with one step it becomes a dot plot with error bars, one dot per datapath.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRecord, Results } from '../runner/results.ts';
import { PROPAGATION_TEST } from '../runner/scenario/schema.ts';
import { phaseText, policySteps, serviceSteps, stepText, thousands } from './steps.ts';

export interface ChartDef {
  /** stable DOM id suffix */
  id: string;
  spec: TopLevelSpec;
  /** spans the whole chart grid instead of one column (a dot plot with many long row labels) */
  wide?: boolean;
}

/** one median with its interval: a point and the band around it */
export interface ChartPoint {
  datapath: string;
  services: number;
  /** the NetworkPolicy step, in runs with a policy dimension */
  policies?: number;
  median: number;
  low: number;
  high: number;
  /** valid samples */
  n: number;
  /** coverage the interval really has (below 0.95 with few samples) */
  level: number;
  /** row label in one-step charts (the workload) */
  row?: string;
}

export interface ChartOptions {
  id: string;
  title: string;
  subtitle?: string;
  /** axis title, with unit */
  valueTitle: string;
  /** d3-format for values in labels and tooltips */
  format?: string;
  datapaths: readonly string[];
  /** 'auto': log when the values span more than ~30×, as sync time and rule counts do across scale steps */
  valueScale?: 'linear' | 'log' | 'auto';
  /** dashed reference lines across the value axis, e.g. 1 ± tolerance on a ratio chart */
  refLines?: readonly number[];
  /** dot plots: start the value axis at 0 (default) or at the data, for ratios that live around 1 */
  fromZero?: boolean;
}

/** kube-proxy modes warm, eBPF modes cool, the no-datapath floor grey */
export const DATAPATH_COLORS: Record<string, string> = {
  none: '#8c8c8c',
  iptables: '#d95f02',
  nftables: '#b8308a',
  ebpf: '#1f78b4',
  xdp: '#1b9e77',
};
const SPARE_COLORS = ['#e6ab02', '#66a61e', '#a6761d', '#7570b3'];

export function colorScale(datapaths: readonly string[]): { domain: string[]; range: string[] } {
  let spare = 0;
  const range = datapaths.map((d) => DATAPATH_COLORS[d] ?? SPARE_COLORS[spare++ % SPARE_COLORS.length]!);
  return { domain: [...datapaths], range };
}

/** shared look: readable at a glance, quiet grid, legend on top where it does not steal plot width */
export const CHART_CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  view: { stroke: null },
  title: { anchor: 'start', fontSize: 14, fontWeight: 600, subtitleColor: '#5f6b7a', subtitleFontSize: 11, offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 500, titleColor: '#3b4451', gridColor: '#e8ebef', domainColor: '#9aa3ad', tickColor: '#9aa3ad' },
  // the band layer would otherwise lend the legend its faint fill
  legend: { orient: 'top', labelFontSize: 12, title: null, symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1, symbolSize: 220 },
} as const;

export function chartPoints(records: readonly ResultRecord[], row?: (r: ResultRecord) => string): ChartPoint[] {
  return pointsOf(records, row);
}

function pointsOf(records: readonly ResultRecord[], row?: (r: ResultRecord) => string): ChartPoint[] {
  return records
    .filter((r) => r.summary)
    .map((r) => ({
      datapath: r.datapath,
      services: r.services,
      ...(r.policies === undefined ? {} : { policies: r.policies }),
      median: r.summary!.median,
      low: r.summary!.ci95.low,
      high: r.summary!.ci95.high,
      n: r.summary!.n,
      level: r.summary!.ci95.level,
      ...(row ? { row: row(r) } : {}),
    }));
}

function useLog(points: readonly ChartPoint[], mode: ChartOptions['valueScale']): boolean {
  if (mode !== 'auto') return mode === 'log';
  const values = points.flatMap((p) => [p.low, p.high, p.median]);
  const min = Math.min(...values);
  return min > 0 && Math.max(...values) / min > 30;
}

/**
 * SI labels (1k, 20k) formatted tick by tick: an axis `format` alone gives every tick the largest tick's prefix
 * on linear and symlog scales, so 0 and 100 would read "0k".
 */
const SI_LABEL = "format(datum.value, '~s')";

/** powers of ten covering the values: a log axis labelled 1, 10, 100 … instead of 1, 2, 10, 20 … */
export function decades(points: readonly ChartPoint[]): number[] {
  const values = points.flatMap((p) => [p.low, p.high]).filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  return Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
}

/** a dot plot's value axis: from 0 (or just below the data) to ~18% of the span past the largest value, room for its label */
function labelledDomain(points: readonly ChartPoint[], o: ChartOptions): [number, number] {
  const hi = Math.max(...points.map((p) => p.high), ...(o.refLines ?? []));
  if (o.fromZero !== false) return [0, hi * 1.18];
  const lo = Math.min(...points.map((p) => p.low), ...(o.refLines ?? []));
  const span = hi - lo || Math.abs(hi) || 1;
  return [Math.max(0, lo - span * 0.08), hi + span * 0.3];
}

/** `labelRoom`: the axis runs past the largest value, so a value written right of its whisker fits */
function valueEncoding(points: readonly ChartPoint[], o: ChartOptions, field: string, zero: boolean, labelRoom = false): object {
  if (useLog(points, o.valueScale ?? 'linear')) {
    const values = decades(points);
    return { field, type: 'quantitative', title: o.valueTitle, scale: { type: 'log', domain: [values[0], values[values.length - 1]] }, axis: { values, format: '~s' } };
  }
  const scale = labelRoom ? { domain: labelledDomain(points, o), nice: false } : { zero, nice: true };
  // 12k rather than 12,000 once labels get long enough to collide
  const format = Math.max(...points.map((p) => p.high)) >= 10_000 ? '~s' : ',~r';
  return { field, type: 'quantitative', title: o.valueTitle, scale, axis: { format, tickCount: 6, ...(format === '~s' ? { labelExpr: SI_LABEL } : {}) } };
}

function tooltip(o: ChartOptions, points: readonly ChartPoint[]): object[] {
  const format = o.format ?? ',.3~r';
  return [
    { field: 'datapath', type: 'nominal' },
    { field: 'services', type: 'quantitative', format: ',' },
    ...(points.some((p) => p.policies !== undefined) ? [{ field: 'policies', type: 'quantitative', format: ',' }] : []),
    { field: 'median', type: 'quantitative', title: o.valueTitle, format },
    { field: 'low', type: 'quantitative', title: 'CI low', format },
    { field: 'high', type: 'quantitative', title: 'CI high', format },
    { field: 'level', type: 'quantitative', title: 'CI coverage', format: '.0%' },
    { field: 'n', type: 'quantitative', title: 'valid samples' },
  ];
}

function base(points: readonly ChartPoint[], o: ChartOptions) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 'container',
    // fit the card's width only; heights are set per chart
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CHART_CONFIG,
    title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) },
    data: { values: points },
  } as const;
}

/** a layer with its own data, so it inherits no encoding from the data layers */
/** `value`: the data layers' value encoding, whose scale the lines share (else vega-lite would add 0 to the domain) */
function refLayer(o: ChartOptions, channel: 'x' | 'y', value: object): object[] {
  if (!o.refLines?.length) return [];
  const { scale } = value as { scale?: object };
  return [{
    data: { values: o.refLines.map((ref) => ({ ref })) },
    mark: { type: 'rule', strokeDash: [5, 4], color: '#7a8694', strokeWidth: 1 },
    encoding: { [channel]: { field: 'ref', type: 'quantitative', ...(scale ? { scale } : {}) } },
  }];
}

const colorOf = (o: ChartOptions) => ({ field: 'datapath', type: 'nominal', scale: colorScale(o.datapaths) }) as const;

/**
 * A metric against the number of services (log x), one line per datapath, the median's 95% CI as a band. With
 * `xField: 'policies'` against the number of NetworkPolicies instead: a symlog axis, which has room for 0.
 */
export function scaleChart(points: readonly ChartPoint[], o: ChartOptions & { steps: readonly number[]; xField?: 'services' | 'policies' }): ChartDef {
  const field = o.xField ?? 'services';
  const x = {
    field, type: 'quantitative', title: field === 'services' ? 'services (log scale)' : 'NetworkPolicies (log scale, 0 included)',
    scale: { type: field === 'services' ? 'log' : 'symlog', domain: [Math.min(...o.steps), Math.max(...o.steps)], nice: false },
    axis: { values: [...o.steps], format: '~s', labelExpr: SI_LABEL, grid: true },
  };
  const y = (field: string) => valueEncoding(points, o, field, false);
  const color = colorOf(o);
  const spec = {
    ...base(points, o),
    height: 230,
    layer: [
      ...refLayer(o, 'y', y('median')),
      { mark: { type: 'area', opacity: 0.12 }, encoding: { x, color, y: y('low'), y2: { field: 'high' } } },
      { mark: { type: 'line', strokeWidth: 2.2 }, encoding: { x, color, y: y('median') } },
      { mark: { type: 'point', filled: true, size: 45, opacity: 1 }, encoding: { x, color, y: y('median'), tooltip: tooltip(o, points) } },
    ],
  } as unknown as TopLevelSpec;
  return { id: o.id, spec };
}

/**
 * One scale step: nothing to draw a line along. A dot plot instead: one row per workload (or one row), a dot
 * per datapath with its interval as a whisker and the median written beside it.
 */
export function stepChart(points: readonly ChartPoint[], o: ChartOptions & { rows: readonly string[] }): ChartDef {
  const x = (field: string) => valueEncoding(points, o, field, true, true);
  const perRow = Math.max(1, new Set(points.map((p) => p.datapath)).size);
  const y = { field: 'row', type: 'nominal', title: null, sort: [...o.rows], axis: { labelFontSize: 12, labelLimit: 380, domain: false, ticks: false } };
  const yOffset = { field: 'datapath', type: 'nominal', sort: [...o.datapaths], scale: { paddingInner: 0.2 } };
  const format = o.format ?? ',.3~r';
  const enc = { y, yOffset, color: colorOf(o) };
  const spec = {
    ...base(points, o),
    // a fixed height (not a band step, which vega-lite would not combine with fit-x): ~22 px per dot
    height: o.rows.length * perRow * Math.max(16, 30 - 4 * perRow),
    layer: [
      ...refLayer(o, 'x', x('median')),
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { ...enc, x: x('low'), x2: { field: 'high' } } },
      { mark: { type: 'point', filled: true, size: 80, opacity: 1 }, encoding: { ...enc, x: x('median'), tooltip: tooltip(o, points) } },
      { mark: { type: 'text', align: 'left', dx: 8, dy: -1, fontSize: 11, fontWeight: 600 }, encoding: { ...enc, x: x('high'), text: { field: 'median', type: 'quantitative', format } } },
    ],
  } as unknown as TopLevelSpec;
  return { id: o.id, spec };
}

export const slug = (...parts: (string | number)[]): string => parts.join('-').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** a workload as charts see it: a test on a path, and `phase: 'churn'` when measured during kube-burner churn */
export interface Workload {
  test: string;
  path: string;
  phase?: string;
}

/** the workloads measured, in the scenario's order, each followed by its churn-phase twin when there is one */
export function workloadsOf(res: Results, tests: readonly string[]): Workload[] {
  const seen = new Set<string>();
  const out: Workload[] = [];
  const phases = [...new Set(res.results.flatMap((r) => (r.phase ? [r.phase] : [])))];
  const measured = new Set(res.results.map((r) => `${r.test}|${r.path}|${r.phase ?? ''}`));
  const add = (test: string, path: string, phase?: string): void => {
    const key = `${test}|${path}|${phase ?? ''}`;
    if (!tests.includes(test) || seen.has(key)) return;
    seen.add(key);
    out.push({ test, path, ...(phase ? { phase } : {}) });
    for (const p of phase ? [] : phases) if (measured.has(`${test}|${path}|${p}`)) add(test, path, p);
  };
  for (const w of res.run.workloads) add(w.test, w.path);
  for (const r of res.results) add(r.test, r.path, r.phase);
  return out;
}

/**
 * What runs along the x axis: the service count, or the policy count when only it varies. When both vary, x is
 * services and the charts split by policy count. null: one step, nothing to draw a line along.
 */
export interface ScaleAxis {
  field: 'services' | 'policies';
  steps: number[];
  /** policy counts to draw a chart each for, when services and policies both vary */
  splitByPolicies?: number[];
}

export function scaleAxis(records: readonly Pick<ResultRecord, 'services' | 'policies'>[]): ScaleAxis | null {
  const services = serviceSteps(records);
  const policies = policySteps(records);
  if (services.length > 1) return { field: 'services', steps: services, ...(policies.length > 1 ? { splitByPolicies: policies } : {}) };
  if (policies.length > 1) return { field: 'policies', steps: policies };
  return null;
}

function context(res: Results): { datapaths: string[]; axis: ScaleAxis | null } {
  const datapaths = [...new Set([...res.run.datapaths, ...res.results.map((r) => r.datapath)])];
  return { datapaths, axis: scaleAxis(res.results) };
}

function pick(res: Results, w: Workload, metric: string): ResultRecord[] {
  return res.results.filter((r) => r.test === w.test && r.path === w.path && r.phase === w.phase && r.metric === metric);
}

const PATH_WORDS: Record<string, string> = {
  'pod-to-service': 'pod → ClusterIP service',
  'pod-to-pod-cross-node': 'pod → pod, across nodes',
  'pod-to-pod-same-node': 'pod → pod, same node',
};
export const pathWords = (path: string): string => PATH_WORDS[path] ?? path;

const TEST_WORDS: Record<string, string> = {
  TCP_RR: 'request/response on one connection',
  TCP_CRR: 'a new connection per transaction',
  TCP_STREAM: 'bulk transfer',
};

const rowLabel = (r: ResultRecord): string =>
  (r.test === 'sync' || r.test === 'churn' ? stepText(r) : `${r.test} · ${pathWords(r.path)}${r.phase ? ` · during ${r.phase}` : ''}`);

/**
 * One metric over some workloads: with several steps, a chart per workload against services (or policies);
 * with one step, a single dot plot with a row per workload.
 */
function metricCharts(
  res: Results,
  workloads: Workload[],
  metric: string,
  o: Omit<ChartOptions, 'id' | 'title' | 'datapaths'> & {
    idPrefix: string;
    title: (w?: Workload) => string;
    datapaths?: string[];
    /** unit conversion applied to every value, e.g. 1e-3 for µs → ms */
    factor?: number;
  },
): ChartDef[] {
  const ctx = context(res);
  const datapaths = o.datapaths ?? ctx.datapaths;
  const keep = (r: ResultRecord): boolean => datapaths.includes(r.datapath);
  const f = o.factor ?? 1;
  const chartPoints = (records: ResultRecord[], row?: (r: ResultRecord) => string): ChartPoint[] =>
    pointsOf(records, row).map((p) => ({ ...p, median: p.median * f, low: p.low * f, high: p.high * f }));
  const axis = ctx.axis;
  if (axis) {
    // one chart per workload, and per policy count when services and policies both vary
    const splits: (number | undefined)[] = axis.splitByPolicies ?? [undefined];
    return workloads.flatMap((w) => splits.flatMap((policies) => {
      const records = pick(res, w, metric).filter((r) => keep(r) && (policies === undefined || r.policies === policies));
      const points = chartPoints(records);
      if (!points.length) return [];
      const id = slug(o.idPrefix, w.test, w.path, w.phase ?? '', policies === undefined ? '' : `${policies}-policies`);
      const during = w.phase && w.test !== w.phase ? ` —${phaseText(w)}` : '';
      const title = `${o.title(w)}${during}${policies === undefined ? '' : ` — ${thousands(policies)} policies`}`;
      return [scaleChart(points, { ...o, id, title, datapaths, steps: axis.steps, xField: axis.field })];
    }));
  }
  const records = workloads.flatMap((w) => pick(res, w, metric).filter(keep));
  const points = chartPoints(records, rowLabel);
  if (!points.length) return [];
  const rows = [...new Set(points.map((p) => p.row!))];
  const step = records.find((r) => r.summary)!;
  return [stepChart(points, { ...o, id: slug(o.idPrefix), title: o.title(workloads.length === 1 ? workloads[0] : undefined), subtitle: `at ${stepText(step)}; ${o.subtitle ?? ''}`, datapaths, rows })];
}

/** two related metrics side by side: per workload with several steps, else one dot plot each over all workloads */
function pairedCharts(
  res: Results,
  tests: readonly string[],
  pair: readonly { metric: string; label: string }[],
  o: { idPrefix: string; subtitle: string; unit: string; format: string; factor?: number; what: (label: string, w?: Workload) => string },
): ChartDef[] {
  const workloads = workloadsOf(res, tests);
  const groups = context(res).axis ? workloads.map((w) => [w]) : [workloads];
  return groups.flatMap((group) =>
    pair.flatMap(({ metric, label }) =>
      metricCharts(res, group, metric, {
        idPrefix: `${o.idPrefix}-${slug(label)}`, title: (w) => o.what(label, w), subtitle: o.subtitle,
        valueTitle: `${label} (${o.unit})`, format: o.format, factor: o.factor,
      }),
    ),
  );
}

/** p50 and p99 latency: side by side per workload, or (one step) one dot plot each over every workload */
export function latencyCharts(res: Results): ChartDef[] {
  return pairedCharts(res, ['TCP_CRR', 'TCP_RR'], [{ metric: 'latency_p50', label: 'p50' }, { metric: 'latency_p99', label: 'p99' }], {
    idPrefix: 'latency', subtitle: 'lower is better; whisker/band = 95% CI of the median', unit: 'µs', format: ',.0f',
    what: (p, w) => (w ? `${w.test} ${p} latency — ${pathWords(w.path)}` : `${p} latency per transaction`),
  });
}

/** machine-wide CPU per transaction (RR/CRR) and per GB (STREAM): all of it, and the softirq part where datapaths run */
export function cpuCharts(res: Results): ChartDef[] {
  const common = { subtitle: 'lower is better; machine-wide, both ends of the connection', format: ',.3~r' };
  return [
    ...pairedCharts(res, ['TCP_CRR', 'TCP_RR'], [{ metric: 'cpu_busy_per_tx', label: 'busy CPU' }, { metric: 'cpu_softirq_per_tx', label: 'softirq CPU' }], {
      ...common, idPrefix: 'cpu-tx', unit: 'µs per transaction',
      what: (label, w) => (w ? `${w.test} ${label} per transaction — ${pathWords(w.path)}` : `${label} per transaction`),
    }),
    ...pairedCharts(res, ['TCP_STREAM'], [{ metric: 'cpu_busy_per_gb', label: 'busy CPU' }, { metric: 'cpu_softirq_per_gb', label: 'softirq CPU' }], {
      ...common, idPrefix: 'cpu-gb', unit: 'ms per GB', factor: 1e-3,
      what: (label, w) => (w ? `${w.test} ${label} per GB — ${pathWords(w.path)}` : `${label} per GB moved`),
    }),
  ];
}

/** NetworkPolicy propagation: from the policy change to the first probe that sees the new verdict, each direction */
export function propagationCharts(res: Results): ChartDef[] {
  return pairedCharts(res, [PROPAGATION_TEST], [
    { metric: 'propagation_allow_to_deny', label: 'allow → deny' },
    { metric: 'propagation_deny_to_allow', label: 'deny → allow' },
  ], {
    idPrefix: 'propagation', subtitle: 'policy change submitted → first probe with the new verdict; lower is better', unit: 'ms', format: ',.3~r',
    what: (label, w) => (w ? `Policy propagation ${label} — ${pathWords(w.path)}` : `Policy propagation ${label}`),
  });
}

/** transaction rate per request/response workload, throughput per stream workload */
export function rateCharts(res: Results): ChartDef[] {
  const stream = metricCharts(res, workloadsOf(res, ['TCP_STREAM']), 'throughput', {
    idPrefix: 'throughput',
    title: (w) => (w ? `${w.test} throughput — ${pathWords(w.path)}` : 'TCP_STREAM throughput'),
    subtitle: 'one TCP stream; higher is better', valueTitle: 'throughput (Mbit/s)', format: ',.0f',
  });
  const tx = metricCharts(res, workloadsOf(res, ['TCP_CRR', 'TCP_RR']), 'transaction_rate', {
    idPrefix: 'rate',
    title: (w) => (w ? `${w.test} transaction rate — ${pathWords(w.path)}` : 'Transaction rate'),
    subtitle: 'one netperf client; higher is better', valueTitle: 'transactions/s', format: ',.0f',
  });
  return [...stream, ...tx];
}

/** kube-burner churn (scenarios with `churn`): endpoint programming latency and every sync's duration per step */
export function churnCharts(res: Results): ChartDef[] {
  const churn = [{ test: 'churn', path: 'control-plane', phase: 'churn' }];
  return [
    ...metricCharts(res, churn, 'endpoint_programming_latency', {
      idPrefix: 'churn-programming', title: () => 'Endpoint programming latency during churn',
      subtitle: 'pod Ready → first answer through its ClusterIP, median over services; lower is better',
      valueTitle: 'programming latency (ms)', format: ',.3~r', valueScale: 'auto',
    }),
    ...metricCharts(res, churn, 'churn_sync_duration', {
      idPrefix: 'churn-sync', title: () => 'Sync duration during churn',
      subtitle: 'every sync the churn caused, median over syncs and nodes; lower is better',
      valueTitle: 'sync time (ms)', format: ',.3~r', valueScale: 'auto',
    }),
  ];
}

/** sync time and programmed rules per step; `none` programs nothing and is left out */
export function controlPlaneCharts(res: Results): ChartDef[] {
  const programmed = context(res).datapaths.filter((d) => d !== 'none');
  const sync = [{ test: 'sync', path: 'control-plane' }];
  return [
    ...metricCharts(res, sync, 'sync_duration', {
      idPrefix: 'sync-duration', datapaths: programmed, title: () => 'Datapath sync time',
      subtitle: 'one full sync of every service, median over nodes; lower is better',
      valueTitle: 'sync time (ms)', format: ',.3~r', valueScale: 'auto',
    }),
    ...metricCharts(res, sync, 'rules', {
      idPrefix: 'rules', datapaths: programmed, title: () => 'Rules / map entries programmed per node',
      subtitle: 'what each sync hands the kernel', valueTitle: 'rules or entries', format: ',.0f', valueScale: 'auto',
    }),
  ];
}

export interface TrendPoint {
  datapath: string;
  /** ISO time the run started */
  time: string;
  run: string;
  median: number;
  low: number;
  high: number;
}

/** a headline figure across published runs, one line per datapath: is it drifting? */
export function trendChart(points: readonly TrendPoint[], o: Omit<ChartOptions, 'valueScale' | 'refLines'>): ChartDef {
  // a tick per run while they are few; the hour too when they all fall within two days
  const times = [...new Set(points.map((p) => Date.parse(p.time)))].sort((a, b) => a - b);
  const short = times.length > 1 && times[times.length - 1]! - times[0]! < 2 * 86_400_000;
  const axis = { format: short ? '%b %d %H:%M' : '%b %d', labelAngle: 0, labelOverlap: true, ...(times.length <= 10 ? { values: times } : {}) };
  const x = { field: 'time', type: 'temporal', title: 'run started (UTC)', scale: { type: 'utc' }, axis };
  const y = (field: string) => ({ field, type: 'quantitative', title: o.valueTitle, scale: { zero: false, nice: true } });
  const color = colorOf({ ...o });
  const format = o.format ?? ',.3~r';
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 'container',
    autosize: { type: 'fit-x', contains: 'padding' },
    config: CHART_CONFIG,
    title: { text: o.title, ...(o.subtitle ? { subtitle: o.subtitle } : {}) },
    data: { values: points },
    height: 200,
    layer: [
      { mark: { type: 'area', opacity: 0.12 }, encoding: { x, color, y: y('low'), y2: { field: 'high' } } },
      { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, color, y: y('median') } },
      {
        mark: { type: 'point', filled: true, size: 40, opacity: 1 },
        encoding: {
          x, color, y: y('median'),
          tooltip: [{ field: 'run', type: 'nominal' }, { field: 'datapath', type: 'nominal' }, { field: 'median', type: 'quantitative', title: o.valueTitle, format }],
        },
      },
    ],
  } as unknown as TopLevelSpec;
  return { id: o.id, spec };
}
