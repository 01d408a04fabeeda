// SPDX-License-Identifier: Apache-2.0
// Scenario thresholds checked against results.json: a pure function from (results, thresholds) to outcomes.
// A threshold that matches no record is "not evaluated" (e.g. the run left that datapath out), never a pass
// in disguise: it is listed. A matched record without one valid sample is a breach: nothing proves it passed.
import type { ResultRecord, Results } from '../runner/results.ts';
import { thresholdsSchema, type ThresholdSpec } from '../runner/scenario/schema.ts';
import { unmeasured } from './load.ts';
import { phaseText, stepName } from './steps.ts';
import { fmt } from './table.ts';

export interface ThresholdCheck {
  record: ResultRecord;
  value: number | null;
  /** what the bound is compared with: the value, or value / reference for ratio thresholds */
  observed: number | null;
  /** the reference value, for ratio thresholds */
  reference?: number | null;
  ok: boolean;
  message: string;
}

export interface ThresholdOutcome {
  index: number;
  threshold: ThresholdSpec;
  label: string;
  status: 'pass' | 'breached' | 'not-evaluated';
  checks: ThresholdCheck[];
  /** why it was not evaluated, when it was not */
  note?: string;
}

/** parses thresholds from anywhere other than a scenario file (e.g. embedded in results.json) */
export function parseThresholds(raw: unknown, where: string): ThresholdSpec[] {
  const parsed = thresholdsSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${where}:thresholds.${i.path.map(String).join('.')}: ${i.message}`);
    throw new Error(`invalid thresholds\n  - ${issues.join('\n  - ')}`);
  }
  return parsed.data;
}

function statOf(r: ResultRecord, stat: ThresholdSpec['stat']): number | null {
  const s = r.summary;
  if (!s) return null;
  switch (stat) {
    case 'median': return s.median;
    case 'ci95High': return s.ci95.high;
    case 'ci95Low': return s.ci95.low;
    case 'max': return s.max;
    case 'min': return s.min;
  }
}

function matches(r: ResultRecord, t: ThresholdSpec): boolean {
  return r.metric === t.metric &&
    (t.test === undefined || r.test === t.test) &&
    (t.path === undefined || r.path === t.path) &&
    (t.datapath === undefined || r.datapath === t.datapath) &&
    (t.services === undefined || r.services === t.services) &&
    (t.policies === undefined || r.policies === t.policies) &&
    (t.phase === undefined || (t.phase === 'steady' ? r.phase === undefined : r.phase === t.phase));
}

export function recordName(r: Pick<ResultRecord, 'datapath' | 'services' | 'policies' | 'phase' | 'test' | 'path'>): string {
  if (r.test === 'sync' || r.test === 'churn') return `${r.datapath} ${r.test} ${stepName(r)}`;
  return `${r.datapath} ${r.test} ${r.path} ${stepName(r)}${phaseText(r)}`;
}

export function describeThreshold(t: ThresholdSpec): string {
  if (t.name) return t.name;
  const what = [t.metric + (t.stat === 'median' ? '' : ` (${t.stat})`), t.test, t.path, t.datapath ?? 'every datapath',
    t.services ? `@${t.services} services` : '', t.policies !== undefined ? `@${t.policies} policies` : '', t.phase ? `(${t.phase})` : '']
    .filter(Boolean)
    .join(' ');
  const bounds: string[] = [];
  if (t.relativeTo) {
    const r = t.relativeTo;
    const ref = [r.datapath, r.services ? `@${r.services} services` : '', r.policies !== undefined ? `@${r.policies} policies` : ''].filter(Boolean).join(' ');
    if (t.minRatio !== undefined) bounds.push(`≥ ${t.minRatio}× ${ref}`);
    if (t.maxRatio !== undefined) bounds.push(`≤ ${t.maxRatio}× ${ref}`);
  } else {
    if (t.min !== undefined) bounds.push(`≥ ${t.min}`);
    if (t.max !== undefined) bounds.push(`≤ ${t.max}`);
  }
  return `${what} ${bounds.join(' and ')}`;
}

function checkRecord(r: ResultRecord, t: ThresholdSpec, all: ResultRecord[]): ThresholdCheck {
  const name = `${recordName(r)}: ${t.metric}${t.stat === 'median' ? '' : ` ${t.stat}`}`;
  const value = statOf(r, t.stat);
  if (value === null) {
    return { record: r, value, observed: null, ok: false, message: `${name}: no valid sample to check (${r.invalid.length} invalid)` };
  }
  const unit = r.unit === 'count' ? '' : ` ${r.unit}`;
  if (!t.relativeTo) {
    const low = t.min !== undefined && value < t.min;
    const high = t.max !== undefined && value > t.max;
    const message = low ? `${name} ${fmt(value)}${unit} < min ${t.min}${unit}`
      : high ? `${name} ${fmt(value)}${unit} > max ${t.max}${unit}`
      : `${name} ${fmt(value)}${unit} within bounds`;
    return { record: r, value, observed: value, ok: !low && !high, message };
  }
  const refKey = { datapath: t.relativeTo.datapath ?? r.datapath, services: t.relativeTo.services ?? r.services, policies: t.relativeTo.policies ?? r.policies };
  const ref = all.find((x) => x.metric === r.metric && x.test === r.test && x.path === r.path && x.phase === r.phase && x.datapath === refKey.datapath &&
    x.services === refKey.services && x.policies === refKey.policies);
  const refName = recordName({ ...r, ...refKey });
  const reference = ref ? statOf(ref, t.stat) : null;
  if (reference === null || reference === 0) {
    const why = !ref ? 'not measured' : reference === 0 ? 'is 0' : 'has no valid sample';
    return { record: r, value, observed: null, reference, ok: false, message: `${name}: the reference ${refName} ${why}; cannot form the ratio` };
  }
  const ratio = value / reference;
  const low = t.minRatio !== undefined && ratio < t.minRatio;
  const high = t.maxRatio !== undefined && ratio > t.maxRatio;
  const shown = `${name} ${fmt(value)}${unit} = ${ratio.toFixed(2)}× ${refName} (${fmt(reference)}${unit})`;
  const message = low ? `${shown} < minRatio ${t.minRatio}` : high ? `${shown} > maxRatio ${t.maxRatio}` : `${shown} within bounds`;
  return { record: r, value, observed: ratio, reference, ok: !low && !high, message };
}

export function checkThresholds(results: Pick<Results, 'results'>, thresholds: readonly ThresholdSpec[]): ThresholdOutcome[] {
  return thresholds.map((t, index) => {
    const label = describeThreshold(t);
    // a ratio threshold does not check the reference records against themselves
    const selected = results.results.filter((r) => matches(r, t) && !unmeasured(r) && !(t.relativeTo && isReference(r, t)));
    if (!selected.length) {
      return { index, threshold: t, label, status: 'not-evaluated', checks: [], note: 'no record in results.json matches this threshold' };
    }
    const checks = selected.map((r) => checkRecord(r, t, results.results));
    return { index, threshold: t, label, status: checks.every((c) => c.ok) ? 'pass' : 'breached', checks };
  });
}

function isReference(r: ResultRecord, t: ThresholdSpec): boolean {
  const ref = t.relativeTo!;
  return (ref.datapath === undefined || r.datapath === ref.datapath) && (ref.services === undefined || r.services === ref.services) &&
    (ref.policies === undefined || r.policies === ref.policies);
}

/** one line per failed check, for the console and for finishRun */
export function breachedLines(outcomes: readonly ThresholdOutcome[]): string[] {
  return outcomes.flatMap((o) => o.checks.filter((c) => !c.ok).map((c) => `threshold #${o.index + 1} (${o.label}): ${c.message}`));
}
