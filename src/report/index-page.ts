// SPDX-License-Identifier: Apache-2.0
// index.html for a folder of runs (reports/, or a gh-pages checkout): every run folder holding results.json,
// newest first, with per-datapath headline figures, links to its report.html / compare.html, and a trend
// chart per scenario once it has two runs.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Results } from '../runner/results.ts';
import { trendChart, slug, type ChartDef, type TrendPoint } from './charts.ts';
import { figureCell, headlineRows, HEADLINE_COLUMNS, presentColumns } from './headline.ts';
import { badge, chartGrid, esc, renderPage, table, type Cell, type PageSection, type Row } from './html.ts';
import { loadResults } from './load.ts';
import { stepText } from './steps.ts';

export interface IndexEntry {
  /** folder name under the index root */
  name: string;
  results: Results;
  hasReport: boolean;
  hasCompare: boolean;
}

export interface IndexScan {
  entries: IndexEntry[];
  /** folders with a results.json that could not be read, and why */
  skipped: { name: string; reason: string }[];
}

export function scanRuns(root: string): IndexScan {
  const entries: IndexEntry[] = [];
  const skipped: IndexScan['skipped'] = [];
  for (const d of readdirSync(root, { withFileTypes: true })) {
    if (!d.isDirectory() || !existsSync(join(root, d.name, 'results.json'))) continue;
    try {
      const { results } = loadResults(join(root, d.name));
      entries.push({ name: d.name, results, hasReport: existsSync(join(root, d.name, 'report.html')), hasCompare: existsSync(join(root, d.name, 'compare.html')) });
    } catch (e) {
      skipped.push({ name: d.name, reason: (e as Error).message });
    }
  }
  entries.sort((a, b) => b.results.run.startedAt.localeCompare(a.results.run.startedAt) || b.name.localeCompare(a.name));
  return { entries, skipped };
}

/** relative link to a file in a run folder; the folder name is URL-encoded, then HTML-escaped */
const link = (name: string, file: string): string => esc(`./${encodeURIComponent(name)}/${file}`);

const INDEX_COLUMNS = HEADLINE_COLUMNS.filter((c) => ['crrP50', 'rrP50', 'throughput', 'propagationDeny'].includes(c.key));

function runsTable(entries: readonly IndexEntry[]): string {
  const rows = entries.map((e) => ({ e, figures: headlineRows(e.results) }));
  const cols = presentColumns(rows.flatMap((r) => r.figures), INDEX_COLUMNS);
  const header: (Cell | string)[] = ['run', 'datapath at its largest step',
    ...cols.map((c) => ({ text: `${c.title} (${c.unit})`, num: true }))];
  const body: Row[] = [];
  for (const { e, figures } of rows) {
    const r = e.results.run;
    const links = [e.hasReport ? `<a href="${link(e.name, 'report.html')}">report</a>` : '<span class="muted">no report</span>',
      e.hasCompare ? `<a href="${link(e.name, 'compare.html')}">compare</a>` : ''].filter(Boolean).join(' · ');
    const invalid = e.results.samples.filter((s) => !s.valid).length;
    const status = [r.complete ? badge('complete', 'ok') : badge('stopped early', 'warn'), invalid ? badge(`${invalid} invalid`, 'warn') : ''].join(' ');
    const lines = figures.length ? figures : [undefined];
    lines.forEach((f, i) => {
      // the run's own facts once, in one cell, so the figures get the width
      const started = `${r.startedAt.replace('T', ' ').slice(0, 16)} UTC`;
      const lead: Cell[] = i === 0
        ? [{ html: `<b>${esc(e.name)}</b> ${links}<br><span class="ci">${esc(r.scenario)} · ${esc(started)}</span><br>${status}`, cls: 'run-cell' }]
        : [{ text: '' }];
      const where: Cell = f ? { html: `<span class="mono">${esc(f.datapath)}</span><br><span class="ci">${esc(stepText(f))}</span>` } : { text: '–' };
      const cells = [...lead, where,
        ...cols.map((c) => figureCell(f?.[c.key]))];
      body.push(i === 0 ? { cls: 'run-start', cells } : cells);
    });
  }
  return table(header, body, 'runs');
}

/** per scenario with at least two runs: its headline latency across runs */
export function trendCharts(entries: readonly IndexEntry[]): ChartDef[] {
  const byScenario = new Map<string, IndexEntry[]>();
  for (const e of entries) byScenario.set(e.results.run.scenario, [...(byScenario.get(e.results.run.scenario) ?? []), e]);
  return [...byScenario].flatMap(([scenario, runs]) => {
    if (runs.length < 2) return [];
    const metric = runs.some((e) => headlineRows(e.results).some((f) => f.crrP50)) ? 'crrP50' : 'rrP50';
    const points: TrendPoint[] = runs.flatMap((e) =>
      headlineRows(e.results).flatMap((f) => {
        const s = f[metric]?.summary;
        return s ? [{ datapath: f.datapath, time: e.results.run.startedAt, run: e.name, median: s.median, low: s.ci95.low, high: s.ci95.high }] : [];
      }));
    if (!points.length) return [];
    const datapaths = [...new Set(points.map((p) => p.datapath))];
    const label = metric === 'crrP50' ? 'TCP_CRR p50' : 'TCP_RR p50';
    return [trendChart(points, {
      id: slug('trend', scenario), title: `${scenario}: ${label} latency across runs`,
      subtitle: 'each datapath at its largest step; band = 95% CI of the median', valueTitle: `${label} (µs)`, format: ',.0f', datapaths,
    })];
  });
}

export function renderIndex(scan: IndexScan, title = 'dpbench results'): string {
  const charts = trendCharts(scan.entries);
  const sections: PageSection[] = [
    { id: 'runs', title: `Runs (${scan.entries.length})`, html: scan.entries.length ? runsTable(scan.entries) : '<p class="muted">No run folders with a results.json here yet.</p>' },
    ...(charts.length ? [{ id: 'trends', title: 'Trends', html: chartGrid(charts) }] : []),
    ...(scan.skipped.length
      ? [{ id: 'skipped', title: 'Skipped', html: `<ul class="plain">${scan.skipped.map((s) => `<li><b>${esc(s.name)}</b>: ${esc(s.reason)}</li>`).join('')}</ul>` }]
      : []),
  ];
  const header = `<h1>${esc(title)}</h1><p class="sub">Every run with its headline figures: TCP_CRR and TCP_RR p50 latency, TCP_STREAM throughput and policy propagation at each datapath’s largest step (pod → service path where measured), median with 95% CI.</p>`;
  return renderPage({ title, header, sections, charts });
}

export function writeIndex(root: string, title?: string): { file: string; scan: IndexScan } {
  const scan = scanRuns(root);
  const file = join(root, 'index.html');
  writeFileSync(file, renderIndex(scan, title));
  return { file, scan };
}
