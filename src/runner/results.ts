// SPDX-License-Identifier: Apache-2.0
// The results contract (documented in README "Results"): every later stage — report, compare, CI — reads only
// results.json. One record per datapath × scale step × workload × metric, with every sample kept.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { summarize, type Summary } from '../measure/stats.ts';
import type { Environment } from '../measure/environment.ts';
import type { CpuCost } from '../measure/cpu.ts';
import type { SyncReport } from '../datapath/types.ts';
import type { Datapath, TrafficPath } from './scenario/schema.ts';

export const RESULTS_SCHEMA_VERSION = 1;

export interface SampleRecord {
  datapath: Datapath;
  services: number;
  /** NetworkPolicies installed (scale.policies), when the scenario has a policy dimension */
  policies?: number;
  /** 'churn': measured while a kube-burner job changed the cluster (the same workload without it has no phase) */
  phase?: 'churn';
  test: string;
  path: TrafficPath;
  /** 1-based sample number within datapath × step × workload */
  sample: number;
  /** position of this datapath in the sample round's rotation (0 = ran first) */
  order: number;
  startedAt: string;
  valid: boolean;
  /** why the sample is kept out of the statistics (empty when valid) */
  reasons: string[];
  latencyUs?: { min: number; p50: number; p90: number; p99: number; mean: number; max: number; stddev: number };
  transactionsPerSec?: number;
  throughputMbps?: number;
  /** machine-wide CPU during the netperf run (src/measure/cpu.ts); absent for propagation samples */
  cpu?: CpuCost;
  /** NETPOL_PROPAGATION: policy change submitted → first probe that saw the new verdict */
  propagation?: { direction: 'allow-to-deny' | 'deny-to-allow'; latencyMs?: number; syncMs: number; attempts: number };
  target: {
    host: string;
    port: number;
    /** service: through a ClusterIP; nodeport: to a node's NodePort from outside; pod: straight to the pod; direct: `none` datapath's stand-in for a service */
    kind: 'service' | 'pod' | 'direct' | 'nodeport';
    serverPod: string;
    /** 1-based position of the target in the datapath's service lookup order, when it has one */
    lookupPosition?: number;
  };
  placement: { clientPod: string; serverPod: string; sameNode: boolean; clientCpu: number; serverCpu: number };
  netperf?: { argv: string[]; code: number | null; durationMs: number };
}

export interface ResultRecord {
  datapath: Datapath;
  services: number;
  policies?: number;
  phase?: 'churn';
  test: string;
  path: string;
  metric: string;
  unit: string;
  /** values of the valid samples, in sample order */
  samples: number[];
  /** null when no sample was valid */
  summary: Summary | null;
  invalid: { sample: number; reasons: string[] }[];
}

/** one kube-burner churn run against one datapath at one scale step (src/workload/churn/executor.ts) */
export interface ChurnRecord {
  datapath: Datapath;
  services: number;
  jobs: string;
  minSyncPeriodMs: number;
  /** per service: first endpoint Ready → first answer through its ClusterIP (ClusterLoader2's network programming latency) */
  programmingLatencyMs: number[];
  /** every sync the churn caused, per node (kube-proxy's sync_proxy_rules_duration_seconds) */
  syncDurationsMs: number[];
  agentCpuMs: number;
  podsCreated: number;
  podsDeleted: number;
  servicesCreated: number;
  unreached: string[];
  abandoned: number;
  durationS: number;
}

export interface SyncRecord extends SyncReport {
  services: number;
  policies?: number;
}

export interface Results {
  schemaVersion: number;
  run: {
    id: string;
    scenario: string;
    description: string;
    scenarioFile: string;
    startedAt: string;
    finishedAt: string;
    durationS: number;
    argv: string[];
    datapaths: Datapath[];
    serviceSteps: number[];
    policySteps?: number[];
    backendsPerService: number;
    cluster: { provider: string; shape: string; nodes: number; podsPerNode: number };
    workloads: { test: string; path: string; duration: number; samples: number }[];
    /** false when the run stopped early (the results hold what was measured) */
    complete: boolean;
    /** the scenario's thresholds, so a published run carries its own pass/fail rules */
    thresholds?: unknown[];
  };
  environment: Environment;
  syncs: SyncRecord[];
  churn?: ChurnRecord[];
  results: ResultRecord[];
  samples: SampleRecord[];
}

/** the metrics one sample yields, by test */
export function sampleMetrics(s: SampleRecord): { metric: string; unit: string; value: number | undefined }[] {
  if (s.propagation) {
    return [{ metric: `propagation_${s.propagation.direction.replaceAll('-', '_')}`, unit: 'ms', value: s.propagation.latencyMs }];
  }
  if (s.test === 'TCP_STREAM') {
    return [
      { metric: 'throughput', unit: 'Mbit/s', value: s.throughputMbps },
      { metric: 'cpu_busy_per_gb', unit: 'us/GB', value: s.cpu?.busyUsPerGB },
      { metric: 'cpu_softirq_per_gb', unit: 'us/GB', value: s.cpu?.softirqUsPerGB },
      { metric: 'cpu_ksoftirqd_per_gb', unit: 'us/GB', value: s.cpu?.ksoftirqdUsPerGB },
    ];
  }
  return [
    { metric: 'cpu_busy_per_tx', unit: 'us', value: s.cpu?.busyUsPerTransaction },
    { metric: 'cpu_softirq_per_tx', unit: 'us', value: s.cpu?.softirqUsPerTransaction },
    { metric: 'cpu_ksoftirqd_per_tx', unit: 'us', value: s.cpu?.ksoftirqdUsPerTransaction },
    { metric: 'latency_p50', unit: 'us', value: s.latencyUs?.p50 },
    { metric: 'latency_p90', unit: 'us', value: s.latencyUs?.p90 },
    { metric: 'latency_p99', unit: 'us', value: s.latencyUs?.p99 },
    { metric: 'latency_mean', unit: 'us', value: s.latencyUs?.mean },
    { metric: 'transaction_rate', unit: 'tx/s', value: s.transactionsPerSec },
  ];
}

/** groups samples into result records; sync durations become records of test "sync" too */
export function aggregate(samples: SampleRecord[], syncs: SyncRecord[], churns: ChurnRecord[] = []): ResultRecord[] {
  const groups = new Map<string, ResultRecord>();
  for (const s of samples) {
    for (const m of sampleMetrics(s)) {
      const key = [s.datapath, s.services, s.policies, s.phase, s.test, s.path, m.metric].join('|');
      let rec = groups.get(key);
      if (!rec) {
        rec = {
          datapath: s.datapath, services: s.services, ...(s.policies !== undefined ? { policies: s.policies } : {}),
          ...(s.phase ? { phase: s.phase } : {}),
          test: s.test, path: s.path, metric: m.metric, unit: m.unit, samples: [], summary: null, invalid: [],
        };
        groups.set(key, rec);
      }
      if (s.valid && m.value !== undefined) rec.samples.push(m.value);
      else if (!rec.invalid.some((i) => i.sample === s.sample)) rec.invalid.push({ sample: s.sample, reasons: s.reasons });
    }
  }
  for (const y of syncs) {
    for (const [metric, unit, value] of [
      ['sync_duration', 'ms', y.durationMs],
      ['rules', 'count', y.rules],
    ] as const) {
      const key = [y.datapath, y.services, y.policies, 'sync', 'control-plane', metric].join('|');
      let rec = groups.get(key);
      if (!rec) {
        rec = {
          datapath: y.datapath, services: y.services, ...(y.policies !== undefined ? { policies: y.policies } : {}),
          test: 'sync', path: 'control-plane', metric, unit, samples: [], summary: null, invalid: [],
        };
        groups.set(key, rec);
      }
      rec.samples.push(value);
    }
  }
  for (const c of churns) {
    for (const [metric, unit, values] of [
      ['endpoint_programming_latency', 'ms', c.programmingLatencyMs],
      ['churn_sync_duration', 'ms', c.syncDurationsMs],
      ['agent_cpu', 'ms', [c.agentCpuMs]],
    ] as const) {
      groups.set([c.datapath, c.services, 'churn', metric].join('|'), {
        datapath: c.datapath, services: c.services, phase: 'churn', test: 'churn', path: 'control-plane', metric, unit,
        samples: [...values], summary: null, invalid: [],
      });
    }
  }
  const out = [...groups.values()];
  for (const r of out) r.summary = r.samples.length ? summarize(r.samples) : null;
  return out;
}

const CSV_COLUMNS = [
  'datapath', 'services', 'policies', 'phase', 'test', 'path', 'sample', 'order', 'startedAt', 'valid', 'reasons',
  'p50_us', 'p90_us', 'p99_us', 'mean_us', 'min_us', 'max_us', 'transactions_per_s', 'throughput_mbps',
  'cpu_busy_us', 'cpu_softirq_us', 'cpu_ksoftirqd_us', 'net_rx_softirqs', 'cpu_busy_us_per_tx', 'cpu_softirq_us_per_tx',
  'cpu_busy_us_per_gb', 'cpu_softirq_us_per_gb', 'propagation_direction', 'propagation_ms', 'propagation_sync_ms',
  'target_kind', 'target_host', 'lookup_position', 'client_pod', 'server_pod', 'same_node', 'client_cpu', 'server_cpu',
];

export function samplesCsv(samples: SampleRecord[]): string {
  return stringify(
    samples.map((s) => [
      s.datapath, s.services, s.policies, s.phase, s.test, s.path, s.sample, s.order, s.startedAt, s.valid, s.reasons.join('; '),
      s.latencyUs?.p50, s.latencyUs?.p90, s.latencyUs?.p99, s.latencyUs?.mean, s.latencyUs?.min, s.latencyUs?.max,
      s.transactionsPerSec, s.throughputMbps,
      s.cpu?.busyUs, s.cpu?.softirqUs, s.cpu?.ksoftirqdUs, s.cpu?.netRxSoftirqs, s.cpu?.busyUsPerTransaction, s.cpu?.softirqUsPerTransaction,
      s.cpu?.busyUsPerGB, s.cpu?.softirqUsPerGB, s.propagation?.direction, s.propagation?.latencyMs, s.propagation?.syncMs,
      s.target.kind, s.target.host, s.target.lookupPosition, s.placement.clientPod, s.placement.serverPod,
      s.placement.sameNode, s.placement.clientCpu, s.placement.serverCpu,
    ]),
    { header: true, columns: CSV_COLUMNS, cast: { boolean: (v) => String(v) } },
  );
}

export function writeResults(dir: string, results: Results): { json: string; csv: string; environment: string } {
  mkdirSync(dir, { recursive: true });
  const files = { json: join(dir, 'results.json'), csv: join(dir, 'samples.csv'), environment: join(dir, 'environment.json') };
  writeFileSync(files.json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(files.csv, samplesCsv(results.samples));
  writeFileSync(files.environment, `${JSON.stringify(results.environment, null, 2)}\n`);
  return files;
}
