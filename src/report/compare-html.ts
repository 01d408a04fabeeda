// SPDX-License-Identifier: Apache-2.0
// compare.html: the verdict first, then where things moved (ratio charts with bootstrap CIs), then every record.
import { scaleAxis, scaleChart, stepChart, pathWords, slug, type ChartDef, type ChartPoint } from './charts.ts';
import { onlyInSummary, regressionLines, verdictCounts, type CompareReport, type CompareRow } from './compare.ts';
import { badge, chartGrid, esc, facts, renderPage, table, type Cell, type PageSection } from './html.ts';
import { policySteps, thousands } from './steps.ts';
import { fmt } from './table.ts';

const CHART_METRICS = ['latency_p50', 'latency_p99', 'transaction_rate', 'throughput', 'cpu_busy_per_tx', 'cpu_busy_per_gb',
  'propagation_allow_to_deny', 'propagation_deny_to_allow', 'sync_duration', 'endpoint_programming_latency', 'churn_sync_duration'];
const METRIC_WORDS: Record<string, string> = {
  latency_p50: 'p50 latency', latency_p99: 'p99 latency', transaction_rate: 'transaction rate', throughput: 'throughput', sync_duration: 'sync time',
  cpu_busy_per_tx: 'CPU per transaction', cpu_busy_per_gb: 'CPU per GB',
  propagation_allow_to_deny: 'policy allow → deny', propagation_deny_to_allow: 'policy deny → allow',
  endpoint_programming_latency: 'endpoint programming latency', churn_sync_duration: 'sync duration',
};

/** a record as a chart title or row label: "TCP_CRR p50 latency — pod → ClusterIP service — during churn" */
function recordTitle(r: CompareRow, sep: string): string {
  if (r.test === 'sync') return 'sync time';
  if (r.test === 'churn') return `${METRIC_WORDS[r.metric] ?? r.metric} during churn`;
  return `${r.test} ${METRIC_WORDS[r.metric] ?? r.metric}${sep}${pathWords(r.path)}${r.phase ? `${sep}during ${r.phase}` : ''}`;
}

const VERDICT_BADGE: Record<CompareRow['verdict'], [string, 'ok' | 'bad' | 'warn' | 'info']> = {
  regression: ['regression', 'bad'],
  improvement: ['improvement', 'ok'],
  inconclusive: ['inconclusive', 'warn'],
  unchanged: ['unchanged', 'info'],
  'no-data': ['no data', 'warn'],
};

function ratioPoint(r: CompareRow, row?: string): ChartPoint | null {
  if (r.ratio === null) return null;
  return { datapath: r.datapath, services: r.services, ...(r.policies === undefined ? {} : { policies: r.policies }), median: r.ratio, low: r.ci95?.low ?? r.ratio, high: r.ci95?.high ?? r.ratio, n: r.candidateN, level: 0.95, ...(row ? { row } : {}) };
}

/** candidate/baseline ratio per record: against services when there are several steps, else one dot plot */
export function ratioCharts(report: CompareReport): ChartDef[] {
  // `none` programs nothing: its sync time is 0 and has no ratio worth a line
  const rows = report.rows.filter((r) => CHART_METRICS.includes(r.metric) && r.ratio !== null && !(r.datapath === 'none' && r.test === 'sync'));
  const datapaths = report.datapaths.filter((d) => rows.some((r) => r.datapath === d));
  const axis = scaleAxis(rows);
  const common = {
    valueTitle: 'candidate / baseline', format: '.3f', datapaths, refLines: [1 - report.tolerance, 1, 1 + report.tolerance], fromZero: false,
    subtitle: `median ratio with bootstrap 95% CI; dashed: 1 and ±${Math.round(report.tolerance * 100)}% tolerance`,
  };
  if (!axis) {
    const points = rows.map((r) => ratioPoint(r, recordTitle(r, ' · '))).filter((p): p is ChartPoint => p !== null);
    // one dot plot with a row per record: the whole width, so the row labels fit
    return points.length ? [{ ...stepChart(points, { ...common, id: 'ratio', title: 'Candidate vs baseline', rows: [...new Set(points.map((p) => p.row!))] }), wide: true }] : [];
  }
  // workload by workload in the order the rows come (test, path), metrics in CHART_METRICS order, sync last
  const groups = new Map<string, CompareRow[]>();
  // with services and policies both varying, a chart per policy count too
  const split = (r: CompareRow): string => (axis.splitByPolicies ? String(r.policies ?? '').padStart(7, '0') : '');
  const order = (r: CompareRow): string =>
    `${r.test === 'sync' || r.test === 'churn' ? 1 : 0}|${r.test}|${r.path}|${r.phase ?? ''}|${String(CHART_METRICS.indexOf(r.metric)).padStart(2, '0')}|${split(r)}`;
  for (const r of [...rows].sort((a, b) => order(a).localeCompare(order(b)))) groups.set(order(r), [...(groups.get(order(r)) ?? []), r]);
  return [...groups.values()].map((g) => {
    const r0 = g[0]!;
    const policies = axis.splitByPolicies && r0.policies !== undefined ? r0.policies : undefined;
    const title = recordTitle(r0, ' — ') + (policies === undefined ? '' : ` — ${thousands(policies)} policies`);
    const points = g.map((r) => ratioPoint(r)).filter((p): p is ChartPoint => p !== null);
    const id = slug('ratio', r0.test, r0.path, r0.phase && r0.test !== r0.phase ? r0.phase : '', r0.metric, ...(policies === undefined ? [] : [`${policies}-policies`]));
    return scaleChart(points, { ...common, id, title, steps: axis.steps, xField: axis.field });
  });
}

const num = (v: number | null, digits?: number): Cell => ({ text: v === null ? '–' : digits === undefined ? fmt(v) : v.toFixed(digits), num: true });

function rowCells(r: CompareRow, policies: boolean, phases: boolean): (Cell | string | number)[] {
  const [text, kind] = VERDICT_BADGE[r.verdict];
  return [
    { text: r.datapath, cls: 'mono' }, r.services, ...(policies ? [r.policies ?? '–'] : []), r.test, r.path, ...(phases ? [r.phase ?? 'steady'] : []), `${r.metric}${r.unit === 'count' ? '' : ` (${r.unit})`}`,
    num(r.baselineMedian), num(r.candidateMedian),
    num(r.ratio, 3), { text: r.ci95 ? `${r.ci95.low.toFixed(3)}–${r.ci95.high.toFixed(3)}` : '–', num: true },
    { text: r.p === null ? '–' : r.p.toPrecision(2), num: true }, { text: `${r.baselineN} / ${r.candidateN}`, num: true },
    { html: badge(text, kind), title: r.reason },
  ];
}

/**
 * Why records are inconclusive or without data, once per distinct reason under the table rather than in a
 * column: the reason is usually the same for many records (too few samples), and a column would not fit.
 */
function whyNotes(rows: readonly CompareRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) {
    if (r.verdict !== 'inconclusive' && r.verdict !== 'no-data') continue;
    const why = `${VERDICT_BADGE[r.verdict][0]}: ${r.why ?? r.reason}`;
    counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  if (!counts.size) return '';
  return `<ul class="plain muted">${[...counts].map(([why, n]) => `<li>${esc(why)} (${n} record${n > 1 ? 's' : ''})</li>`).join('')}</ul>`;
}

function rowsTable(rows: CompareRow[]): string {
  const policies = policySteps(rows).length > 0;
  const phases = rows.some((r) => r.phase);
  const header: (Cell | string)[] = ['datapath', { text: 'services', num: true }, ...(policies ? [{ text: 'policies', num: true }] : []), 'test', 'path',
    ...(phases ? ['phase'] : []), 'metric',
    { text: 'baseline', num: true }, { text: 'candidate', num: true }, { text: 'ratio', num: true }, { text: '95% CI', num: true }, { text: 'p', num: true },
    { text: 'n (b / c)', num: true }, 'verdict'];
  return table(header, rows.map((r) => ({ cls: r.verdict, cells: rowCells(r, policies, phases) }))) + whyNotes(rows);
}

export function renderCompareHtml(report: CompareReport): string {
  const counts = verdictCounts(report);
  const regressions = report.rows.filter((r) => r.verdict === 'regression');
  const notable = report.rows.filter((r) => r.verdict === 'improvement' || r.verdict === 'inconclusive' || r.verdict === 'no-data');
  const tol = `±${Math.round(report.tolerance * 100)}%`;
  const verdict = regressions.length
    ? `<div class="callout bad"><b>${regressions.length} regression${regressions.length > 1 ? 's' : ''}</b><ul class="plain">${regressionLines(report).map((l) => `<li>${esc(l)}</li>`).join('')}</ul></div>`
    : '<div class="callout ok"><b>No regression</b> beyond the tolerance with statistical significance.</div>';
  const rule = `<p class="muted">A record regresses when its median moves beyond ${esc(tol)} in the bad direction (latency, CPU cost, sync and policy propagation time up, ` +
    `throughput and transaction rate down) <i>and</i> a two-sided Mann–Whitney U test gives p &lt; ${esc(report.alpha)}. ` +
    'The ratio’s 95% CI is a seeded bootstrap of the medians (reproducible). Rule counts are shown, not judged.</p>';
  const plural = (v: string, n: number): string => (n > 1 && (v === 'regression' || v === 'improvement') ? `${v}s` : v);
  const summary = `${verdict}${rule}<p>${Object.entries(counts).map(([v, n]) => badge(`${n} ${plural(VERDICT_BADGE[v as CompareRow['verdict']][0], n)}`, VERDICT_BADGE[v as CompareRow['verdict']][1])).join(' ')}</p>`;
  const charts = ratioCharts(report);
  const sections: PageSection[] = [
    { id: 'verdict', title: 'Verdict', html: summary },
    ...(notable.length || regressions.length
      ? [{ id: 'changes', title: 'What moved', html: rowsTable([...regressions, ...notable]) }]
      : []),
    { id: 'ratios', title: 'Ratios', html: chartGrid(charts) },
    {
      id: 'runs', title: 'Runs',
      html: `<div class="cols"><div><h3>Baseline</h3>${facts(Object.entries(report.baseline))}</div><div><h3>Candidate</h3>${facts(Object.entries(report.candidate))}</div></div>` +
        (report.setupDifferences.length
          ? `<div class="callout warn"><b>The setups differ</b> — a change may come from here rather than the code:<ul class="plain">${report.setupDifferences.map((d) => `<li>${esc(d)}</li>`).join('')}</ul></div>`
          : '<p class="muted">Same scenario, kernel, CPU, tools and sysctls.</p>') +
        (report.onlyInBaseline.length || report.onlyInCandidate.length
          ? `<p>Not compared, measured in one run only:</p><ul class="plain">${[
            ...onlyInSummary(report.onlyInBaseline).map((l) => `baseline only: ${l}`),
            ...onlyInSummary(report.onlyInCandidate).map((l) => `candidate only: ${l}`),
          ].map((l) => `<li>${esc(l)}</li>`).join('')}</ul>`
          : ''),
    },
    { id: 'records', title: 'Every record', html: `<details><summary>${esc(report.rows.length)} records compared</summary>${rowsTable(report.rows)}</details>` },
  ];
  const header = `<h1>dpbench compare — ${esc(report.candidate.scenario)}</h1>` +
    `<p class="sub">candidate ${esc(report.candidate.id)} vs baseline ${esc(report.baseline.id)}</p>` +
    `<div class="meta">${regressions.length ? badge(`${regressions.length} regression${regressions.length > 1 ? 's' : ''}`, 'bad') : badge('no regression', 'ok')}` +
    `<span>tolerance <b>${esc(tol)}</b></span><span>alpha <b>${esc(report.alpha)}</b></span>` +
    `<span>baseline git <b>${esc(report.baseline.git)}</b></span><span>candidate git <b>${esc(report.candidate.git)}</b></span></div>`;
  return renderPage({ title: `dpbench compare ${report.candidate.id} vs ${report.baseline.id}`, header, sections, charts });
}
