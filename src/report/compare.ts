// SPDX-License-Identifier: Apache-2.0
// Candidate vs baseline, record by record (datapath × services × test × path × metric): matches the records of
// two results.json files, runs compare-stats on each pair, and notes what else differs between the two runs.
import type { ResultRecord, Results } from '../runner/results.ts';
import { compareSamples, seedFrom, type Direction, type SampleComparison } from './compare-stats.ts';
import { unmeasured } from './load.ts';
import { policySteps, recordKey } from './steps.ts';
import { fmt, textTable } from './table.ts';
import { recordName } from './thresholds.ts';

export interface CompareOptions {
  /** relative change treated as noise; default 0.10 */
  tolerance: number;
  /** significance level; default 0.05 */
  alpha: number;
  /** bootstrap seed; fixed by default so a comparison is reproducible */
  seed?: number;
  resamples?: number;
}

export interface RecordKey {
  datapath: string;
  services: number;
  /** the NetworkPolicy step, in runs with a policy dimension */
  policies?: number;
  /** 'churn': measured while kube-burner changed the cluster */
  phase?: 'churn';
  test: string;
  path: string;
  metric: string;
}

export interface CompareRow extends RecordKey, SampleComparison {
  unit: string;
  direction: Direction;
  baselineN: number;
  candidateN: number;
}

export interface RunRef {
  id: string;
  scenario: string;
  startedAt: string;
  git: string;
}

export interface CompareReport {
  baseline: RunRef;
  candidate: RunRef;
  tolerance: number;
  alpha: number;
  /** the candidate's datapaths in run order, then any only the baseline had */
  datapaths: string[];
  rows: CompareRow[];
  onlyInBaseline: RecordKey[];
  onlyInCandidate: RecordKey[];
  /** differences between the two runs' setups that could explain a change */
  setupDifferences: string[];
}

export const DEFAULT_SEED = 20240601;

/** which way is bad; rule counts are deterministic facts, reported but not judged */
export function metricDirection(metric: string): Direction {
  if (metric.startsWith('latency_') || metric.startsWith('cpu_') || metric.startsWith('propagation_')) return 'higher-is-worse';
  if (['sync_duration', 'endpoint_programming_latency', 'churn_sync_duration', 'agent_cpu'].includes(metric)) return 'higher-is-worse';
  if (metric === 'transaction_rate' || metric === 'throughput') return 'lower-is-worse';
  return 'neutral';
}

const keyOf = (r: RecordKey): string => recordKey(r as ResultRecord);
const pickKey = (r: RecordKey): RecordKey => ({
  datapath: r.datapath, services: r.services, ...(r.policies === undefined ? {} : { policies: r.policies }), ...(r.phase ? { phase: r.phase } : {}),
  test: r.test, path: r.path, metric: r.metric,
});

function runRef(res: Results): RunRef {
  const git = res.environment.git ? `${res.environment.git.revision.slice(0, 10)}${res.environment.git.dirty ? '+dirty' : ''}` : '–';
  return { id: res.run.id, scenario: res.run.scenario, startedAt: res.run.startedAt, git };
}

export function setupDifferences(b: Results, c: Results): string[] {
  const out: string[] = [];
  const diff = (what: string, x: unknown, y: unknown): void => {
    const a = typeof x === 'string' ? x : JSON.stringify(x);
    const z = typeof y === 'string' ? y : JSON.stringify(y);
    if (a !== z) out.push(`${what}: ${a} → ${z}`);
  };
  diff('scenario', b.run.scenario, c.run.scenario);
  diff('kernel', b.environment.kernel, c.environment.kernel);
  diff('cpu', `${b.environment.cpu.model} × ${b.environment.cpu.count}`, `${c.environment.cpu.model} × ${c.environment.cpu.count}`);
  diff('cluster', b.run.cluster, c.run.cluster);
  diff('backends per service', b.run.backendsPerService, c.run.backendsPerService);
  for (const tool of new Set([...Object.keys(b.environment.tools), ...Object.keys(c.environment.tools)])) {
    diff(tool, b.environment.tools[tool] ?? 'absent', c.environment.tools[tool] ?? 'absent');
  }
  for (const k of new Set([...Object.keys(b.environment.sysctls), ...Object.keys(c.environment.sysctls)])) {
    diff(k, b.environment.sysctls[k] ?? 'absent', c.environment.sysctls[k] ?? 'absent');
  }
  const w = (r: Results): string => r.run.workloads.map((x) => `${x.test}/${x.path} ${x.duration}s×${x.samples}`).join(', ');
  diff('workloads', w(b), w(c));
  return out;
}

export function compareResults(baseline: Results, candidate: Results, opts: CompareOptions): CompareReport {
  const base = new Map(baseline.results.filter((r) => !unmeasured(r)).map((r) => [keyOf(r), r]));
  const cand = new Map(candidate.results.filter((r) => !unmeasured(r)).map((r) => [keyOf(r), r]));
  const rows: CompareRow[] = [];
  for (const [key, c] of cand) {
    const b = base.get(key);
    if (!b) continue;
    const direction = metricDirection(c.metric);
    const cmp = compareSamples(b.samples, c.samples, {
      direction, tolerance: opts.tolerance, alpha: opts.alpha, seed: seedFrom(key, opts.seed ?? DEFAULT_SEED), resamples: opts.resamples,
    });
    rows.push({ ...pickKey(c), unit: c.unit, direction, baselineN: b.samples.length, candidateN: c.samples.length, ...cmp });
  }
  const order = (r: RecordKey): string => `${r.test}|${r.path}|${r.metric}|${String(r.services).padStart(7, '0')}|${String(r.policies ?? '').padStart(7, '0')}|${r.phase ?? ''}|${r.datapath}`;
  rows.sort((x, y) => order(x).localeCompare(order(y)));
  return {
    baseline: runRef(baseline),
    candidate: runRef(candidate),
    tolerance: opts.tolerance,
    alpha: opts.alpha,
    datapaths: [...new Set([...candidate.run.datapaths, ...baseline.run.datapaths])],
    rows,
    onlyInBaseline: [...base].filter(([k]) => !cand.has(k)).map(([, r]) => pickKey(r)),
    onlyInCandidate: [...cand].filter(([k]) => !base.has(k)).map(([, r]) => pickKey(r)),
    setupDifferences: setupDifferences(baseline, candidate),
  };
}

export function rowName(r: RecordKey): string {
  return `${recordName(r as ResultRecord)} ${r.metric}`;
}

/** one line per regression, for the console, finishRun and CI logs */
export function regressionLines(report: CompareReport): string[] {
  return report.rows
    .filter((r) => r.verdict === 'regression')
    .map((r) => `${rowName(r)}: ${fmt(r.baselineMedian ?? undefined)} → ${fmt(r.candidateMedian ?? undefined)} ${r.unit} (${r.reason})`);
}

const VERDICT_ORDER: Record<string, number> = { regression: 0, improvement: 1, inconclusive: 2, 'no-data': 3, unchanged: 4 };

/** worth a line by default: what moved (judged or not, e.g. a rule count), and what has no data on one side */
export function notable(r: CompareRow): boolean {
  return r.verdict !== 'unchanged';
}

/**
 * The console table: by default only the records that moved (regressions first, then improvements, then
 * changes past the tolerance that were not significant), which stays short for 4 datapaths × 5 steps;
 * `all` prints every record in record order.
 */
export function compareTable(report: CompareReport, all = false): string {
  const rows = all
    ? report.rows
    : report.rows.filter(notable).sort((a, b) => VERDICT_ORDER[a.verdict]! - VERDICT_ORDER[b.verdict]!);
  if (!rows.length) {
    return `no record moved beyond ±${Math.round(report.tolerance * 100)}% of the baseline (${report.rows.length} compared; --all lists them)`;
  }
  const ratio = (r: CompareRow): string => (r.ratio === null ? '-' : r.ratio.toFixed(3));
  const ci = (r: CompareRow): string => (r.ci95 ? `${r.ci95.low.toFixed(3)}–${r.ci95.high.toFixed(3)}` : '-');
  const policies = policySteps(rows).length > 0;
  const phases = rows.some((r) => r.phase);
  return textTable(
    ['datapath', 'services', ...(policies ? ['policies'] : []), 'test', 'path', ...(phases ? ['phase'] : []), 'metric', 'baseline', 'candidate', 'ratio', '95% CI', 'p', 'verdict'],
    rows.map((r) => [
      r.datapath, String(r.services), ...(policies ? [r.policies === undefined ? '-' : String(r.policies)] : []), r.test, r.path, ...(phases ? [r.phase ?? 'steady'] : []), r.metric,
      fmt(r.baselineMedian ?? undefined), fmt(r.candidateMedian ?? undefined), ratio(r), ci(r),
      r.p === null ? '-' : r.p.toPrecision(2), r.verdict === 'regression' ? 'REGRESSION' : r.verdict,
    ]),
  );
}

export function verdictCounts(report: CompareReport): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of report.rows) counts[r.verdict] = (counts[r.verdict] ?? 0) + 1;
  return counts;
}

/** records in one run only, counted per metric: "cpu_busy_per_tx (60)" rather than 60 lines */
export function onlyInSummary(keys: readonly RecordKey[]): string[] {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k.metric, (counts.get(k.metric) ?? 0) + 1);
  return [...counts].map(([metric, n]) => `${metric} (${n} record${n > 1 ? 's' : ''})`);
}
