// SPDX-License-Identifier: Apache-2.0
// report.html: the page header, then every section of REPORT_SECTIONS that has something to show.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Results } from '../runner/results.ts';
import type { ChartDef } from './charts.ts';
import { badge, esc, renderPage, type PageSection } from './html.ts';
import { REPORT_SECTIONS, type ReportContext, type ReportSection } from './sections.ts';

export function reportHeader(res: Results, ctx: Pick<ReportContext, 'thresholds'>): string {
  const r = res.run;
  const badges = [r.complete ? badge('complete', 'ok') : badge('stopped early', 'warn')];
  const breached = ctx.thresholds?.filter((t) => t.status === 'breached').length ?? 0;
  if (ctx.thresholds?.length) badges.push(breached ? badge(`${breached} threshold${breached > 1 ? 's' : ''} breached`, 'bad') : badge('thresholds pass', 'ok'));
  const invalid = res.samples.filter((s) => !s.valid).length;
  if (invalid) badges.push(badge(`${invalid} invalid sample${invalid > 1 ? 's' : ''}`, 'warn'));
  const meta: [string, string][] = [
    ['run', r.id],
    ['datapaths', r.datapaths.join(', ')],
    ['services', r.serviceSteps.map((s) => s.toLocaleString('en-US')).join(' → ')],
    ...(r.policySteps?.length ? [['policies', r.policySteps.map((s) => s.toLocaleString('en-US')).join(' → ')] as [string, string]] : []),
    ['kernel', res.environment.kernel],
    ['started', r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')],
    ['git', res.environment.git ? res.environment.git.revision.slice(0, 10) + (res.environment.git.dirty ? '+dirty' : '') : '–'],
  ];
  return `<h1>dpbench — ${esc(r.scenario)}</h1>` +
    (r.description ? `<p class="sub">${esc(r.description)}</p>` : '') +
    `<div class="meta">${badges.join('')}${meta.map(([k, v]) => `<span>${esc(k)} <b>${esc(v)}</b></span>`).join('')}</div>`;
}

export function renderReport(ctx: ReportContext, sections: readonly ReportSection[] = REPORT_SECTIONS): string {
  const rendered: PageSection[] = [];
  const charts: ChartDef[] = [];
  for (const s of sections) {
    const out = s.render(ctx);
    if (!out) continue;
    rendered.push({ id: s.id, title: s.title, html: out.html });
    charts.push(...(out.charts ?? []));
  }
  return renderPage({
    title: `dpbench ${ctx.results.run.scenario} — ${ctx.results.run.id}`,
    header: reportHeader(ctx.results, ctx),
    sections: rendered,
    charts,
  });
}

export function writeReport(dir: string, ctx: ReportContext, file = join(dir, 'report.html')): string {
  writeFileSync(file, renderReport(ctx));
  return file;
}
