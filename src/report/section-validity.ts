// SPDX-License-Identifier: Apache-2.0
// What might make a figure untrustworthy (invalid samples, thin intervals, a dirty tree), and the thresholds.
import { unmeasured } from './load.ts';
import { fmt } from './table.ts';
import { badge, esc, table } from './html.ts';
import { recordName, type ThresholdOutcome } from './thresholds.ts';
import type { ReportSection } from './sections.ts';

export const validitySection: ReportSection = {
  id: 'validity',
  title: 'Validity',
  render: ({ results: res }) => {
    const parts: string[] = [];
    const warnings: string[] = [];
    if (!res.run.complete) warnings.push('The run did not complete: later steps or datapaths may be missing.');
    if (res.environment.git?.dirty) warnings.push(`The git tree had uncommitted changes: revision ${res.environment.git.revision.slice(0, 12)} does not fully describe the code that ran.`);
    for (const c of res.churn ?? []) {
      if (c.unreached.length) {
        const names = c.unreached.slice(0, 5).join(', ') + (c.unreached.length > 5 ? ', …' : '');
        warnings.push(`${c.datapath} churn @${c.services} services: ${c.unreached.length} service(s) never answered through their ClusterIP (${names}); their programming latency is missing.`);
      }
    }
    const empty = res.results.filter((r) => !r.summary && !unmeasured(r));
    for (const r of empty) warnings.push(`${recordName(r)} ${r.metric}: no valid sample, so no figure.`);
    // intervals with less than 95% coverage: too few samples for the nominal interval
    const thin = res.results.filter((r) => r.summary && r.summary.ci95.level < 0.95 && r.path !== 'control-plane');
    if (thin.length) {
      const levels = [...new Set(thin.map((r) => Math.round(r.summary!.ci95.level * 100)))].sort((a, b) => a - b);
      warnings.push(`${thin.length} of ${res.results.filter((r) => r.path !== 'control-plane').length} figures rest on too few valid samples for a 95% interval ` +
        `(their min–max interval covers the median with ${levels.join('% / ')}%); 6 or more valid samples give ≥ 95%.`);
    }
    parts.push(warnings.length ? `<ul class="plain">${warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : '');
    const invalid = res.samples.filter((s) => !s.valid);
    if (invalid.length) {
      parts.push(`<h3>Invalid samples (${invalid.length} of ${res.samples.length}), kept out of the statistics</h3>`);
      const policies = invalid.some((s) => s.policies !== undefined);
      const phases = invalid.some((s) => s.phase);
      parts.push(table(['datapath', { text: 'services', num: true }, ...(policies ? [{ text: 'policies', num: true }] : []), 'test', 'path', ...(phases ? ['phase'] : []),
        { text: 'sample', num: true }, 'started', 'reasons'],
        invalid.map((s) => [{ text: s.datapath, cls: 'mono' }, s.services, ...(policies ? [s.policies ?? '–'] : []), s.test, s.path, ...(phases ? [s.phase ?? 'steady'] : []), s.sample,
          { text: s.startedAt, cls: 'mono' }, { text: s.reasons.join('; ') || 'no reason recorded', cls: 'prose' }]), 'fit'));
    } else {
      parts.push(`<div class="callout ok">All ${res.samples.length} samples were valid (no SYN retransmissions, listen drops or conntrack trouble).</div>`);
    }
    return { html: parts.join('') };
  },
};

export const thresholdsSection: ReportSection = {
  id: 'thresholds',
  title: 'Thresholds',
  render: ({ thresholds, thresholdSource }) => {
    if (!thresholds) return null;
    if (!thresholds.length) return { html: '<p class="muted">The scenario defines no thresholds.</p>' };
    const kinds = { pass: badge('pass', 'ok'), breached: badge('breached', 'bad'), 'not-evaluated': badge('not evaluated', 'warn') } as const;
    const rows = thresholds.map((o) => {
      const failed = o.checks.filter((c) => !c.ok);
      const detail = o.note ?? (failed.length ? failed.map((c) => c.message).join('\n') : `${o.checks.length} record${o.checks.length > 1 ? 's' : ''} checked; worst: ${worst(o)}`);
      return [o.index + 1, { html: kinds[o.status] }, { text: o.label, cls: 'prose' }, { html: esc(detail).replace(/\n/g, '<br>'), cls: 'prose' }];
    });
    const from = thresholdSource ? `<p class="muted">From ${esc(thresholdSource)}.</p>` : '';
    return { html: from + table([{ text: '#', num: true }, 'status', 'threshold', 'detail'], rows, 'fit') };
  },
};

/** the check closest to (or furthest past) the bound, for a passing threshold's one-line detail */
function worst(o: ThresholdOutcome): string {
  const observed = o.checks.map((c) => c.observed).filter((v): v is number => v !== null);
  if (!observed.length) return '–';
  const upper = o.threshold.max !== undefined || o.threshold.maxRatio !== undefined;
  const v = upper ? Math.max(...observed) : Math.min(...observed);
  if (o.threshold.relativeTo) return `${v.toFixed(2)}×`;
  const unit = o.checks[0]!.record.unit;
  return `${fmt(v)}${unit === 'count' ? '' : ` ${unit}`}`;
}
