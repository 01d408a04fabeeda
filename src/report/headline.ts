// SPDX-License-Identifier: Apache-2.0
// Headline figures: per datapath, its largest measured scale step's key numbers. Shown atop report.html and
// per run on index.html, so both agree on what "the headline" is.
import type { ResultRecord, Results } from '../runner/results.ts';
import { largestStep, sameStep, stepText } from './steps.ts';
import { fmt } from './table.ts';
import { esc, type Cell } from './html.ts';

/** the service path is what datapaths differ on; pod→pod paths are the fallback */
const PATH_PREFERENCE = ['pod-to-service', 'pod-to-pod-cross-node', 'pod-to-pod-same-node'];

export interface HeadlineRow {
  datapath: string;
  services: number;
  /** the policy step, in runs with a policy dimension */
  policies?: number;
  crrP50?: ResultRecord;
  crrP99?: ResultRecord;
  rrP50?: ResultRecord;
  throughput?: ResultRecord;
  sync?: ResultRecord;
  rules?: ResultRecord;
  propagationDeny?: ResultRecord;
  propagationAllow?: ResultRecord;
  programming?: ResultRecord;
}

export interface HeadlineColumn {
  key: Exclude<keyof HeadlineRow, 'datapath' | 'services' | 'policies'>;
  title: string;
  unit: string;
  better: 'lower' | 'higher' | 'none';
}

export const HEADLINE_COLUMNS: HeadlineColumn[] = [
  { key: 'crrP50', title: 'TCP_CRR p50', unit: 'µs', better: 'lower' },
  { key: 'crrP99', title: 'TCP_CRR p99', unit: 'µs', better: 'lower' },
  { key: 'rrP50', title: 'TCP_RR p50', unit: 'µs', better: 'lower' },
  { key: 'throughput', title: 'throughput', unit: 'Mbit/s', better: 'higher' },
  { key: 'sync', title: 'sync time', unit: 'ms', better: 'lower' },
  { key: 'rules', title: 'rules / entries', unit: '', better: 'none' },
  { key: 'propagationDeny', title: 'policy allow → deny', unit: 'ms', better: 'lower' },
  { key: 'propagationAllow', title: 'policy deny → allow', unit: 'ms', better: 'lower' },
  { key: 'programming', title: 'endpoint programming in churn', unit: 'ms', better: 'lower' },
];

function find(records: ResultRecord[], test: string, metric: string): ResultRecord | undefined {
  for (const path of [...PATH_PREFERENCE, undefined]) {
    const r = records.find((x) => x.test === test && x.metric === metric && (path === undefined || x.path === path) && x.summary);
    if (r) return r;
  }
  return undefined;
}

export function headlineRows(res: Results): HeadlineRow[] {
  const datapaths = [...new Set([...res.run.datapaths, ...res.results.map((r) => r.datapath)])];
  return datapaths.flatMap((datapath) => {
    // steady state: what was measured during churn is a column of its own
    const all = res.results.filter((r) => r.datapath === datapath && r.summary);
    const mine = all.filter((r) => !r.phase);
    if (!mine.length) return [];
    const step = largestStep(mine)!;
    const at = mine.filter((r) => sameStep(r, step));
    const programmed = datapath !== 'none';
    return [{
      datapath,
      services: step.services,
      ...(step.policies === undefined ? {} : { policies: step.policies }),
      crrP50: find(at, 'TCP_CRR', 'latency_p50'),
      crrP99: find(at, 'TCP_CRR', 'latency_p99'),
      rrP50: find(at, 'TCP_RR', 'latency_p50'),
      throughput: find(at, 'TCP_STREAM', 'throughput'),
      sync: programmed ? find(at, 'sync', 'sync_duration') : undefined,
      rules: programmed ? find(at, 'sync', 'rules') : undefined,
      propagationDeny: find(at, 'NETPOL_PROPAGATION', 'propagation_allow_to_deny'),
      propagationAllow: find(at, 'NETPOL_PROPAGATION', 'propagation_deny_to_allow'),
      programming: find(all.filter((r) => r.test === 'churn' && sameStep(r, step)), 'churn', 'endpoint_programming_latency'),
    }];
  });
}

/** the columns any row has a figure for */
export function presentColumns(rows: readonly HeadlineRow[], columns = HEADLINE_COLUMNS): HeadlineColumn[] {
  return columns.filter((c) => rows.some((r) => r[c.key]));
}

/** a table cell: median, with its CI underneath in small print; the best datapath's figure in bold */
export function figureCell(r: ResultRecord | undefined, best = false): Cell {
  if (!r?.summary) return { text: '–', num: true, cls: 'muted' };
  const s = r.summary;
  const ci = s.ci95.low === s.ci95.high ? '' : `<br><span class="ci">${esc(fmt(s.ci95.low))}–${esc(fmt(s.ci95.high))}</span>`;
  const where = r.test === 'sync' ? '' : `${r.test} ${r.path}, `;
  return {
    html: `${esc(fmt(s.median))}${ci}`,
    num: true,
    cls: best ? 'best' : '',
    title: `${where}${s.n} valid samples, median ${s.median} ${r.unit}, ${Math.round(s.ci95.level * 100)}% CI ${s.ci95.low}–${s.ci95.high}`,
  };
}

/**
 * which row is best in a column (only when at least two rows share the same step and path); `none` is the
 * floor every datapath is measured against, not a contender
 */
export function bestIn(rows: readonly HeadlineRow[], c: HeadlineColumn): HeadlineRow | undefined {
  if (c.better === 'none') return undefined;
  const candidates = rows.filter((r) => r.datapath !== 'none' && r[c.key]?.summary);
  if (candidates.length < 2) return undefined;
  const key = (r: HeadlineRow): string => `${stepText(r)}|${r[c.key]!.path}`;
  if (new Set(candidates.map(key)).size > 1) return undefined;
  const value = (r: HeadlineRow): number => r[c.key]!.summary!.median;
  return candidates.reduce((a, b) => ((c.better === 'lower' ? value(b) < value(a) : value(b) > value(a)) ? b : a));
}
