// SPDX-License-Identifier: Apache-2.0
// The console summary printed at the end of a run: medians with their 95% CI per datapath × step × workload,
// then each datapath's sync time and rule count per step.
import type { ResultRecord, Results } from '../runner/results.ts';
import { fmt, textTable } from './table.ts';

function find(results: ResultRecord[], base: ResultRecord, metric: string): ResultRecord | undefined {
  return results.find(
    (r) =>
      r.datapath === base.datapath && r.services === base.services && r.policies === base.policies && r.phase === base.phase &&
      r.test === base.test && r.path === base.path && r.metric === metric,
  );
}

/** "1000" or "1000 / 100 pol" when the run has a policy dimension */
const step = (r: { services: number; policies?: number; phase?: string }): string =>
  `${r.policies !== undefined ? `${r.services} / ${r.policies} pol` : String(r.services)}${r.phase ? ` (${r.phase})` : ''}`;

function withCi(r: ResultRecord | undefined): string {
  if (!r?.summary) return '-';
  const s = r.summary;
  return `${fmt(s.median)} (${fmt(s.ci95.low)}–${fmt(s.ci95.high)})`;
}

/** machine-wide CPU per transaction (RR/CRR, µs) or per gigabyte (STREAM, ms): busy and softirq medians */
function cpuCell(results: ResultRecord[], r: ResultRecord, stream: boolean): string {
  const [busy, softirq] = (stream ? ['cpu_busy_per_gb', 'cpu_softirq_per_gb'] : ['cpu_busy_per_tx', 'cpu_softirq_per_tx']).map((m) => find(results, r, m)?.summary?.median);
  if (busy === undefined) return '-';
  const scale = stream ? 1e-3 : 1;
  return `${fmt(busy * scale)} / ${softirq === undefined ? '-' : fmt(softirq * scale)}`;
}

export function renderSummary(res: Results): string {
  const rows: string[][] = [];
  const heads = res.results.filter((r) => (r.metric === 'latency_p50' || r.metric === 'throughput') && r.test !== 'churn');
  heads.sort((a, b) => a.test.localeCompare(b.test) || a.path.localeCompare(b.path) || a.services - b.services || (a.policies ?? 0) - (b.policies ?? 0) || a.datapath.localeCompare(b.datapath));
  for (const r of heads) {
    const stream = r.metric === 'throughput';
    const total = r.samples.length + r.invalid.length;
    rows.push([
      r.test,
      r.path,
      step(r),
      r.datapath,
      stream ? '-' : withCi(r),
      stream ? '-' : withCi(find(res.results, r, 'latency_p99')),
      stream ? withCi(r) : withCi(find(res.results, r, 'transaction_rate')),
      cpuCell(res.results, r, stream),
      `${r.samples.length}/${total}`,
    ]);
  }
  const out = [
    textTable(['test', 'path', 'services', 'datapath', 'p50 µs (95% CI)', 'p99 µs (95% CI)', 'tx/s | Mbit/s (95% CI)', 'CPU busy / softirq µs/tx | ms/GB', 'valid'], rows),
  ];
  const propagation = res.results
    .filter((r) => r.metric.startsWith('propagation_'))
    .sort((a, b) => a.metric.localeCompare(b.metric) || (a.policies ?? 0) - (b.policies ?? 0) || a.datapath.localeCompare(b.datapath))
    .map((r) => [r.metric.replace('propagation_', '').replaceAll('_', ' '), step(r), r.datapath, withCi(r), r.summary ? fmt(r.summary.max) : '-', `${r.samples.length}/${r.samples.length + r.invalid.length}`]);
  if (propagation.length) out.push('', textTable(['policy propagation', 'services / policies', 'datapath', 'ms (95% CI)', 'max ms', 'valid'], propagation));
  const churn = res.results
    .filter((r) => r.metric === 'endpoint_programming_latency')
    .sort((a, b) => a.services - b.services || a.datapath.localeCompare(b.datapath))
    .map((r) => {
      const syncs = find(res.results, r, 'churn_sync_duration')?.summary;
      const cpu = find(res.results, r, 'agent_cpu')?.summary;
      const s = r.summary;
      return [r.datapath, String(r.services), s ? `${fmt(s.median)} / ${fmt(s.p99)} / ${fmt(s.max)}` : '-', String(s?.n ?? 0), syncs ? `${fmt(syncs.median)} / ${fmt(syncs.p99)} / ${fmt(syncs.max)}` : '-', fmt(cpu?.max)];
    });
  if (churn.length) {
    out.push('', textTable(['churn', 'services', 'programming latency ms p50 / p99 / max', 'services', 'sync ms p50 / p99 / max', 'agent CPU ms'], churn));
  }
  const syncRows = res.results
    .filter((r) => r.test === 'sync' && r.metric === 'sync_duration' && r.datapath !== 'none')
    .sort((a, b) => a.datapath.localeCompare(b.datapath) || a.services - b.services)
    .map((r) => {
      const rules = find(res.results, r, 'rules');
      return [r.datapath, step(r), fmt(r.summary?.median), fmt(r.summary?.max), fmt(rules?.summary?.max)];
    });
  if (syncRows.length) out.push('', textTable(['datapath', 'services', 'sync ms (median node)', 'sync ms (max)', 'rules per node'], syncRows));
  out.push(...xdpModes(res.syncs).map(([dp, nodes]) => `XDP attach mode (${dp}): ${nodes}`));
  const invalid = res.samples.filter((s) => !s.valid);
  if (invalid.length) {
    out.push('', `${invalid.length} invalid sample(s), kept out of the statistics:`);
    for (const s of invalid.slice(0, 10)) out.push(`  ${s.datapath} services=${step(s)} ${s.test} ${s.path} #${s.sample}: ${s.reasons.join('; ')}`);
    if (invalid.length > 10) out.push(`  … and ${invalid.length - 10} more (see samples.csv)`);
  }
  return out.join('\n');
}

/** where each datapath's XDP program really ran, as its agents reported at every sync: [datapath, "node0: native, …"] */
export function xdpModes(syncs: Results['syncs']): [datapath: string, nodes: string][] {
  const modes = new Map<string, Set<string>>();
  for (const y of syncs) {
    const mode = y.detail?.xdpMode;
    if (mode === undefined) continue;
    const fallback = y.detail.xdpFallback ? ` (native refused: ${String(y.detail.xdpFallback).split('\n')[0]})` : '';
    const set = modes.get(y.datapath) ?? new Set<string>();
    set.add(`${y.node}: ${mode}${fallback}`);
    modes.set(y.datapath, set);
  }
  return [...modes].map(([dp, set]) => [dp, [...set].sort().join(', ')]);
}
