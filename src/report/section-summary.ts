// SPDX-License-Identifier: Apache-2.0
// "At a glance": per datapath, its largest step's key figures, and the run's status in one line each.
import { bestIn, figureCell, headlineRows, presentColumns } from './headline.ts';
import { esc, table, type Cell } from './html.ts';
import { stepText } from './steps.ts';
import type { ReportSection } from './sections.ts';

export const summarySection: ReportSection = {
  id: 'summary',
  title: 'At a glance',
  render: ({ results: res, thresholds }) => {
    const rows = headlineRows(res);
    const cols = presentColumns(rows);
    const steps = [...new Set(rows.map((r) => stepText(r)))];
    const lead = steps.length === 1
      ? `At ${steps[0]} (the largest step), median over samples with its 95% CI below it.`
      : 'Each datapath at its largest measured step; median over samples with its 95% CI below it.';
    const header: (Cell | string)[] = ['datapath', ...(steps.length > 1 ? [{ text: 'step', num: true }] : []), ...cols.map((c) => ({ text: `${c.title}${c.unit ? ` (${c.unit})` : ''}`, num: true }))];
    const best = new Map(cols.map((c) => [c.key, bestIn(rows, c)]));
    const body = rows.map((r) => [
      { text: r.datapath, cls: 'mono' },
      ...(steps.length > 1 ? [{ text: stepText(r), num: true }] : []),
      ...cols.map((c) => figureCell(r[c.key], best.get(c.key) === r)),
    ]);
    const status: string[] = [];
    if (!res.run.complete) status.push('<div class="callout warn">The run stopped early: these are the figures measured before it stopped.</div>');
    const breached = thresholds?.filter((t) => t.status === 'breached').length ?? 0;
    if (breached) status.push(`<div class="callout bad"><b>${breached} threshold${breached > 1 ? 's' : ''} breached</b> — see <a href="#thresholds">Thresholds</a>.</div>`);
    const invalid = res.samples.filter((s) => !s.valid).length;
    if (invalid) {
      status.push(`<div class="callout warn">${invalid} of ${res.samples.length} samples were invalid and kept out of the statistics — see <a href="#validity">Validity</a>.</div>`);
    }
    return { html: `<p class="muted">${esc(lead)} ${rows.length > 1 ? `Bold: the best datapath for that figure${rows.some((r) => r.datapath === 'none') ? ' (none, the unprogrammed floor, is not ranked)' : ''}.` : ''}</p>${table(header, body, 'headline')}${status.join('')}` };
  },
};
