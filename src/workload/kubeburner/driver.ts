// SPDX-License-Identifier: Apache-2.0
// Runs the real kube-burner against a kind or kubeconfig cluster: renders its config (+ the templates) into a
// directory, runs `kube-burner init` there, and parses the measurement files its local indexer writes. The
// renderer and parsers are pure and tested on files built from kube-burner's documented formats
// (test/fixtures/kubeburner/README.md); running needs the binary, which this machine cannot download.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, DpbenchError, PrereqError } from '../../errors.ts';
import { run, type RunResult } from '../../util/exec.ts';
import { findExecutable } from '../../cluster/kind/kind.ts';
import { isLoadedObject, type LoadedJob, type LoadedJobs } from './job.ts';
import { effectiveRate } from './plan.ts';

/** v1: flat churn keys (kube-burner 1.10 up to 2.0); v2: the churnConfig block */
export type KubeBurnerFormat = 'v1' | 'v2';
/** churnCycles (1.9) and metricsEndpoints with a bare local indexer (1.10) */
export const MIN_KUBE_BURNER: readonly [number, number, number] = [1, 10, 0];
export const CONFIG_FILE = 'config.yml';
export const METRICS_DIR = 'metrics';
/** written next to the config so runKubeBurner can tell which kube-burner it was rendered for */
const META_FILE = 'dpbench-kube-burner.json';
export const NOT_FOUND = 'kube-burner not found on PATH; install it from its releases page (https://github.com/kube-burner/kube-burner/releases) — this machine cannot download it';

/** A measurement's output file went missing or does not have the documented shape (exit 2, like a failed command). */
export class KubeBurnerOutputError extends DpbenchError {
  override readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'KubeBurnerOutputError';
  }
}

// ---- config rendering (pure) ----

function renderJob(job: LoadedJob, format: KubeBurnerFormat, templateName: (path: string) => string): Record<string, unknown> {
  // dpbench decides the rate, so kube-burner and dpbench's own executor run the same one (0 → client-go's defaults)
  const rate = effectiveRate(job);
  const common = { name: job.name, jobType: job.jobType, qps: rate.qps, burst: rate.burst, jobIterationDelay: job.jobIterationDelay, jobPause: job.jobPause };
  if (job.jobType === 'delete') {
    return {
      ...common,
      waitForDeletion: job.waitForDeletion,
      objects: job.objects.map((o) => ({ kind: o.kind, ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}), labelSelector: o.labelSelector ?? {} })),
    };
  }
  const churn = !job.churn
    ? {}
    : format === 'v1'
      ? { churn: true, churnCycles: job.churnCycles, churnPercent: job.churnPercent, churnDuration: job.churnDuration, churnDelay: job.churnDelay, churnDeletionStrategy: job.churnDeletionStrategy }
      : { churnConfig: { cycles: job.churnCycles, percent: job.churnPercent, duration: job.churnDuration, delay: job.churnDelay, ...(job.churnDeletionStrategy === 'gvr' ? { mode: 'objects' } : {}) } };
  return {
    ...common,
    jobIterations: job.jobIterations,
    namespace: job.namespace,
    namespacedIterations: job.namespacedIterations,
    iterationsPerNamespace: job.iterationsPerNamespace,
    podWait: job.podWait,
    waitWhenFinished: job.waitWhenFinished,
    maxWaitTimeout: job.maxWaitTimeout,
    cleanup: job.cleanup,
    // kube-burner pre-loads images by default with a DaemonSet; dpbench measures without it
    preLoadImages: false,
    verifyObjects: true,
    errorOnVerify: true,
    ...(Object.keys(job.namespaceLabels).length ? { namespaceLabels: job.namespaceLabels } : {}),
    ...(Object.keys(job.namespaceAnnotations).length ? { namespaceAnnotations: job.namespaceAnnotations } : {}),
    ...churn,
    objects: job.objects.filter(isLoadedObject).map((o) => ({
      objectTemplate: templateName(o.templatePath),
      replicas: o.replicas,
      ...(Object.keys(o.inputVars).length ? { inputVars: o.inputVars } : {}),
      wait: o.wait,
      ...(o.waitOptions ? { waitOptions: o.waitOptions } : {}),
      ...(o.runOnce ? { runOnce: true } : {}),
    })),
  };
}

/** The kube-burner config and the files it names, as relative path → content. Pure. */
export function kubeBurnerConfig(loaded: LoadedJobs, format: KubeBurnerFormat = 'v1'): Record<string, string> {
  const files: Record<string, string> = {};
  const names = new Map<string, string>();
  // templates keep their file names; two different files with one name get numbered
  for (const job of loaded.jobs) {
    for (const o of job.objects) {
      if (!isLoadedObject(o) || names.has(o.templatePath)) continue;
      let name = `templates/${basename(o.templatePath)}`;
      for (let n = 2; Object.hasOwn(files, name); n++) name = `templates/${n}-${basename(o.templatePath)}`;
      names.set(o.templatePath, name);
      files[name] = o.templateText;
    }
  }
  const templateName = (path: string): string => names.get(path)!;
  const config = {
    global: { gc: false, measurements: loaded.measurements },
    // the local indexer writes <metricName>-<job>.json files, which parsePodLatency/parseNetpolLatency read
    metricsEndpoints: [{ indexer: { type: 'local', metricsDirectory: METRICS_DIR } }],
    jobs: loaded.jobs.map((j) => renderJob(j, format, templateName)),
  };
  const header = `# rendered by dpbench from ${loaded.source} for kube-burner ${format === 'v1' ? '1.10+ (flat churn keys)' : '2.x (churnConfig)'}; edits are overwritten\n`;
  files[CONFIG_FILE] = header + stringify(config, { lineWidth: 0 });
  files[META_FILE] = JSON.stringify({ format, source: loaded.source, jobs: loaded.jobs.map((j) => j.name), measurements: loaded.measurements.map((m) => m.name) }) + '\n';
  return files;
}

/** Writes the config and templates into dir; returns the directory to pass to runKubeBurner. */
export function renderKubeBurnerConfig(loaded: LoadedJobs, opts: { dir: string; format?: KubeBurnerFormat }): { configDir: string; files: string[] } {
  const files = kubeBurnerConfig(loaded, opts.format);
  mkdirSync(join(opts.dir, 'templates'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(opts.dir, name), text);
  return { configDir: opts.dir, files: Object.keys(files).sort() };
}

// ---- running ----

/** `kube-burner version` → [major, minor, patch] */
export function parseKubeBurnerVersion(text: string): [number, number, number] | undefined {
  const m = /\bv?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function formatForVersion(v: readonly [number, number, number]): KubeBurnerFormat {
  const older = v[0] !== MIN_KUBE_BURNER[0] ? v[0] < MIN_KUBE_BURNER[0] : v[1] < MIN_KUBE_BURNER[1];
  if (older) throw new PrereqError(`kube-burner ${v.join('.')} is older than ${MIN_KUBE_BURNER.join('.')}, the first with churnCycles and a local metrics indexer; install a newer release from https://github.com/kube-burner/kube-burner/releases`);
  return v[0] >= 2 ? 'v2' : 'v1';
}

export interface KubeBurnerBinary {
  path: string;
  version: [number, number, number];
  format: KubeBurnerFormat;
}

/** Finds kube-burner and the config format it reads; PrereqError (exit 3) when it is missing or too old. */
export async function checkKubeBurner(opts: { path?: string } = {}): Promise<KubeBurnerBinary> {
  const path = findExecutable('kube-burner', opts.path ?? process.env.PATH ?? '');
  if (!path) throw new PrereqError(NOT_FOUND);
  const out = await run([path, 'version'], { timeoutMs: 10_000, allowFail: true });
  const version = parseKubeBurnerVersion(out.stdout + out.stderr);
  if (!version) throw new PrereqError(`cannot tell the version of ${path} (\`kube-burner version\` printed: ${(out.stdout + out.stderr).trim().slice(0, 200) || 'nothing'})`);
  return { path, version, format: formatForVersion(version) };
}

export interface KubeBurnerRunOptions {
  configDir: string;
  kubeconfig: string;
  uuid: string;
  /** kube-burner's own --timeout; dpbench kills it two minutes later if it does not stop */
  timeoutMs: number;
  signal?: AbortSignal;
  /** resolve on a non-zero exit (kube-burner exits 1 on breached latency thresholds) */
  allowFail?: boolean;
  /** PATH to look in (tests) */
  path?: string;
}

export interface KubeBurnerRun extends RunResult {
  metricsDir: string;
  /** files the local indexer wrote */
  metricFiles: string[];
}

export async function runKubeBurner(opts: KubeBurnerRunOptions): Promise<KubeBurnerRun> {
  const bin = await checkKubeBurner({ path: opts.path });
  const metaFile = join(opts.configDir, META_FILE);
  if (!existsSync(metaFile)) throw new ConfigError(`${opts.configDir}: no kube-burner config rendered by dpbench (missing ${META_FILE}); call renderKubeBurnerConfig first`);
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { format: KubeBurnerFormat };
  if (meta.format !== bin.format) {
    throw new ConfigError(`${opts.configDir}: the config was rendered for the kube-burner ${meta.format} format, but ${bin.path} is ${bin.version.join('.')} (${bin.format}); render it with format '${bin.format}'`);
  }
  // env -C: kube-burner reads templates and writes its log and metrics relative to its working directory
  const argv = ['env', '-C', opts.configDir, bin.path, 'init', '-c', CONFIG_FILE, '--uuid', opts.uuid, '--timeout', `${Math.ceil(opts.timeoutMs / 1000)}s`, '--log-level', 'info'];
  const result = await run(argv, {
    timeoutMs: opts.timeoutMs + 120_000,
    env: { ...process.env, KUBECONFIG: opts.kubeconfig },
    signal: opts.signal,
    allowFail: opts.allowFail,
  });
  const metricsDir = join(opts.configDir, METRICS_DIR);
  const metricFiles = existsSync(metricsDir) ? readdirSync(metricsDir).filter((f) => f.endsWith('.json')).sort() : [];
  return { ...result, metricsDir, metricFiles };
}

// ---- measurement parsers (pure) ----

export interface LatencySample {
  measurement: 'podLatency' | 'netpolLatency';
  job: string;
  /** pod condition (PodScheduled, Initialized, ContainersReady, Ready) or netpol Ready/minReady */
  condition: string;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  avgMs: number;
  /** quantiles: kube-burner's summary document; timeseries: computed here from the per-object documents */
  source: 'quantiles' | 'timeseries';
  /** objects behind the figures (timeseries only; the summary does not say) */
  count?: number;
}

const POD_CONDITIONS: Record<string, string> = {
  PodScheduled: 'schedulingLatency', Initialized: 'initializedLatency', ContainersReady: 'containersReadyLatency', Ready: 'podReadyLatency',
};
const NETPOL_CONDITIONS: Record<string, string> = { Ready: 'ready', minReady: 'minReady' };

/** montanaflynn/stats' Percentile (v0.7), which kube-burner's latency summaries use */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 1) return sorted[0]!;
  const index = (p / 100) * sorted.length;
  if (Number.isInteger(index)) return sorted[index - 1]!;
  const i = Math.trunc(index);
  return i >= 1 ? (sorted[i - 1]! + sorted[i]!) / 2 : NaN;
}

/** kube-burner's NewLatencySummary: Go's int() truncates every figure */
function summarize(values: number[]): Pick<LatencySample, 'p50Ms' | 'p95Ms' | 'p99Ms' | 'maxMs' | 'avgMs' | 'count'> {
  const s = [...values].sort((a, b) => a - b);
  const t = (v: number) => Math.trunc(v);
  return { p50Ms: t(percentile(s, 50)), p95Ms: t(percentile(s, 95)), p99Ms: t(percentile(s, 99)), maxMs: t(s.at(-1)!), avgMs: t(s.reduce((a, b) => a + b, 0) / s.length), count: s.length };
}

function documents(json: unknown, source: string): Record<string, unknown>[] {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (e) {
      throw new KubeBurnerOutputError(`${source}: not JSON: ${(e as Error).message}`);
    }
  }
  const docs = Array.isArray(value) ? value : [value];
  if (docs.some((d) => d === null || typeof d !== 'object' || Array.isArray(d))) throw new KubeBurnerOutputError(`${source}: expected a list of measurement documents (objects)`);
  return docs as Record<string, unknown>[];
}

function parseLatency(measurement: LatencySample['measurement'], conditions: Record<string, string>, json: unknown, source: string): LatencySample[] {
  const docs = documents(json, source);
  const jobOf = (d: Record<string, unknown>): string => String(d.jobName ?? (d.jobConfig as { name?: string } | undefined)?.name ?? '');
  const num = (d: Record<string, unknown>, key: string, what: string): number => {
    const v = d[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new KubeBurnerOutputError(`${source}: ${what} has no number "${key}" (got ${JSON.stringify(v)})`);
    return v;
  };
  const samples: LatencySample[] = [];
  const perObject = new Map<string, Record<string, unknown>[]>();
  for (const d of docs) {
    if (d.metricName === `${measurement}QuantilesMeasurement`) {
      const what = `the ${String(d.quantileName)} summary`;
      if (typeof d.quantileName !== 'string') throw new KubeBurnerOutputError(`${source}: a ${measurement} summary has no quantileName`);
      samples.push({ measurement, job: jobOf(d), condition: d.quantileName, p50Ms: num(d, 'P50', what), p95Ms: num(d, 'P95', what), p99Ms: num(d, 'P99', what), maxMs: num(d, 'max', what), avgMs: num(d, 'avg', what), source: 'quantiles' });
    } else if (d.metricName === `${measurement}Measurement`) {
      perObject.set(jobOf(d), [...(perObject.get(jobOf(d)) ?? []), d]);
    } else {
      throw new KubeBurnerOutputError(`${source}: a document has metricName ${JSON.stringify(d.metricName)}; expected ${measurement}Measurement or ${measurement}QuantilesMeasurement`);
    }
  }
  for (const [job, list] of perObject) {
    for (const [condition, field] of Object.entries(conditions)) {
      const values = list.map((d, k) => num(d, field, `document ${k + 1}`));
      samples.push({ measurement, job, condition, ...summarize(values), source: 'timeseries' });
    }
  }
  const order = Object.keys(conditions);
  return samples.sort((a, b) => a.job.localeCompare(b.job) || a.source.localeCompare(b.source) || order.indexOf(a.condition) - order.indexOf(b.condition));
}

/** podLatencyQuantilesMeasurement-<job>.json (kube-burner's summaries) or podLatencyMeasurement-<job>.json (per pod). */
export function parsePodLatency(json: unknown, source = 'podLatency output'): LatencySample[] {
  return parseLatency('podLatency', POD_CONDITIONS, json, source);
}

/** netpolLatencyQuantilesMeasurement-<job>.json or netpolLatencyMeasurement-<job>.json (per policy, ms). */
export function parseNetpolLatency(json: unknown, source = 'netpolLatency output'): LatencySample[] {
  return parseLatency('netpolLatency', NETPOL_CONDITIONS, json, source);
}

/** Every configured measurement of every create job, from a run's metrics directory; summaries preferred. */
export function collectLatencySamples(metricsDir: string, loaded: LoadedJobs): { samples: LatencySample[]; missing: string[] } {
  const samples: LatencySample[] = [];
  const missing: string[] = [];
  for (const job of loaded.jobs.filter((j) => j.jobType === 'create')) {
    for (const m of loaded.measurements) {
      const parse = m.name === 'podLatency' ? parsePodLatency : parseNetpolLatency;
      const file = [`${m.name}QuantilesMeasurement-${job.name}.json`, `${m.name}Measurement-${job.name}.json`].map((f) => join(metricsDir, f)).find(existsSync);
      if (!file) missing.push(`${m.name} of job ${job.name}: no ${m.name}QuantilesMeasurement-${job.name}.json in ${metricsDir}`);
      else samples.push(...parse(readFileSync(file, 'utf8'), file).filter((s) => !s.job || s.job === job.name).map((s) => ({ ...s, job: job.name })));
    }
  }
  return { samples, missing };
}
