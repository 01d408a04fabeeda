// SPDX-License-Identifier: Apache-2.0
// The sections that say what ran and where: scenario, environment, and the data itself as downloads.
import { xdpModes } from './summary.ts';
import { stringify } from 'csv-stringify/sync';
import { samplesCsv, type Results } from '../runner/results.ts';
import { fmt } from './table.ts';
import { dataDownload, esc, facts, table } from './html.ts';
import { compareSteps, policySteps } from './steps.ts';
import type { ReportSection } from './sections.ts';

const list = (xs: readonly (string | number)[]): string => xs.map((x) => (typeof x === 'number' ? x.toLocaleString('en-US') : x)).join(', ');

export const scenarioSection: ReportSection = {
  id: 'scenario',
  title: 'Scenario',
  render: ({ results: res }) => {
    const r = res.run;
    const left = facts([
      ['scenario', r.scenario],
      ['description', r.description || '–'],
      ['file', r.scenarioFile],
      ['datapaths', list(r.datapaths)],
      ['service steps', list(r.serviceSteps)],
      ...(r.policySteps?.length ? [['NetworkPolicy steps', list(r.policySteps)] as [string, string]] : []),
      ['backends per service', r.backendsPerService],
      ['cluster', `${r.cluster.provider}, shape ${r.cluster.shape}: ${r.cluster.nodes} nodes × ${r.cluster.podsPerNode} pods`],
    ]);
    const right = facts([
      ['run id', r.id],
      ['started', r.startedAt],
      ['finished', r.finishedAt],
      ['duration', `${Math.round(r.durationS)} s`],
      ['complete', r.complete ? 'yes' : 'no — stopped early'],
      ['command', `dpbench ${r.argv.join(' ')}`],
    ]);
    const workloads = table(['test', 'path', { text: 'seconds per sample', num: true }, { text: 'samples', num: true }],
      r.workloads.map((w) => [w.test, w.path, w.duration, w.samples]));
    return { html: `<div class="cols"><div>${left}</div><div>${right}</div></div><h3>Workloads</h3>${workloads}` };
  },
};

export const environmentSection: ReportSection = {
  id: 'environment',
  title: 'Environment',
  render: ({ results: res }) => {
    const e = res.environment;
    const machine = facts([
      ['kernel', e.kernel],
      ...xdpModes(res.syncs).map(([dp, nodes]): [string, string] => [`XDP attach mode (${dp})`, nodes]),
      ['os', e.os],
      ['cpu', `${e.cpu.model} × ${e.cpu.count}${e.cpu.governor ? `, governor ${e.cpu.governor}` : ''}`],
      ['memory', `${(e.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
      ['hostname', e.hostname],
      ['node.js', e.node],
      ['git', e.git ? `${e.git.revision}${e.git.dirty ? ' (uncommitted changes)' : ''}` : 'not a git checkout'],
    ]);
    const tools = facts(Object.entries(e.tools).sort(([a], [b]) => a.localeCompare(b)));
    const sysctls = facts(Object.entries(e.sysctls));
    const pod = facts(Object.entries(e.podSysctls));
    return {
      html: `<div class="cols"><div><h3>Machine</h3>${machine}</div><div><h3>Tools</h3>${tools}</div>` +
        `<div><h3>Host sysctls</h3>${sysctls}</div><div><h3>Sysctls set in every lab pod</h3>${pod}</div></div>`,
    };
  },
};

/** one row per result record: the figures behind every chart */
export function resultsCsv(res: Results): string {
  return stringify(
    res.results.map((r) => [
      r.datapath, r.services, r.policies, r.phase, r.test, r.path, r.metric, r.unit, r.samples.length, r.samples.length + r.invalid.length,
      r.summary?.median, r.summary?.ci95.low, r.summary?.ci95.high, r.summary?.ci95.level, r.summary?.min, r.summary?.max, r.summary?.mean,
    ]),
    { header: true, columns: ['datapath', 'services', 'policies', 'phase', 'test', 'path', 'metric', 'unit', 'valid', 'total', 'median', 'ci_low', 'ci_high', 'ci_level', 'min', 'max', 'mean'] },
  );
}

export const dataSection: ReportSection = {
  id: 'data',
  title: 'Data',
  render: ({ results: res }) => {
    const id = res.run.id.replace(/[^\w.-]+/g, '_');
    const downloads = [
      dataDownload(`${id}-samples.csv`, 'text/csv', samplesCsv(res.samples), `samples.csv (${res.samples.length} samples)`),
      dataDownload(`${id}-figures.csv`, 'text/csv', resultsCsv(res), `figures.csv (${res.results.length} medians with CI)`),
    ].join('');
    const policies = policySteps(res.results).length > 0;
    const phases = res.results.some((r) => r.phase);
    const rows = [...res.results]
      .sort((a, b) => a.test.localeCompare(b.test) || a.path.localeCompare(b.path) || (a.phase ?? '').localeCompare(b.phase ?? '') || a.metric.localeCompare(b.metric) || compareSteps(a, b) || a.datapath.localeCompare(b.datapath))
      .map((r) => [
        r.test, r.path, ...(phases ? [r.phase ?? 'steady'] : []), r.metric, { text: r.datapath, cls: 'mono' }, r.services, ...(policies ? [r.policies ?? '–'] : []),
        { text: r.summary ? fmt(r.summary.median) : '–', num: true },
        { text: r.summary ? `${fmt(r.summary.ci95.low)}–${fmt(r.summary.ci95.high)}` : '–', num: true },
        { text: r.summary ? `${Math.round(r.summary.ci95.level * 100)}%` : '–', num: true },
        r.unit, { text: `${r.samples.length}/${r.samples.length + r.invalid.length}`, num: true },
      ]);
    const figures = table(['test', 'path', ...(phases ? ['phase'] : []), 'metric', 'datapath', { text: 'services', num: true }, ...(policies ? [{ text: 'policies', num: true }] : []), { text: 'median', num: true },
      { text: 'CI', num: true }, { text: 'coverage', num: true }, 'unit', { text: 'valid', num: true }], rows);
    return {
      html: `<p>${downloads}</p><p class="muted">The files are inside this page: the links work offline. ` +
        `results.json next to this report holds the same data with every sample.</p>` +
        `<details><summary>Every figure (${esc(res.results.length)})</summary>${figures}</details>`,
    };
  },
};
