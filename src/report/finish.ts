// SPDX-License-Identifier: Apache-2.0
// What happens when a run ends (called by `dpbench run`): report.html, thresholds, and the comparison with a
// baseline when one is given. finishRun returns what failed; finishLines says it, assertFinished turns a breach
// or a regression into exit 99 (ThresholdError) — after the summary and the files are out.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ThresholdError } from '../errors.ts';
import type { ThresholdSpec } from '../runner/scenario/schema.ts';
import { displayPath } from '../runner/scenario/yaml-config.ts';
import { compareResults, regressionLines } from './compare.ts';
import { renderCompareHtml } from './compare-html.ts';
import { loadResults } from './load.ts';
import { writeReport } from './render.ts';
import { findThresholds, type ThresholdSource } from './threshold-source.ts';
import { breachedLines, checkThresholds } from './thresholds.ts';

export const DEFAULT_TOLERANCE = 0.1;
export const DEFAULT_ALPHA = 0.05;

export interface FinishOptions {
  /** a run directory or results.json to compare against */
  baseline?: string;
  tolerance?: number;
  alpha?: number;
  /**
   * the scenario's thresholds as the run loaded them (`scenario.thresholds`); without this key they are read from
   * the scenario file results.json names. `null` or `[]`: none.
   */
  thresholds?: ThresholdSpec[] | null;
  /** where those thresholds came from, for the report (e.g. scenarios/smoke.yaml) */
  thresholdSource?: string;
}

export interface FinishOutcome {
  reportFile: string;
  /** one line per failed threshold check */
  breached: string[];
  /** thresholds checked, and how many passed (0 / 0 when there are none) */
  thresholdCount: { total: number; pass: number; notEvaluated: number };
  /** one line per regression against the baseline */
  regressions: string[];
  compareFile?: string;
  /** the baseline's run id, when compared */
  baselineId?: string;
  /** why thresholds were not checked, when they were not */
  thresholdNote?: string;
}

export async function finishRun(dir: string, opts: FinishOptions = {}): Promise<FinishOutcome> {
  const loaded = loadResults(dir);
  const source: ThresholdSource = opts.thresholds !== undefined
    ? { thresholds: opts.thresholds?.length ? opts.thresholds : null, source: opts.thresholdSource }
    : findThresholds(loaded);
  const outcomes = source.thresholds ? checkThresholds(loaded.results, source.thresholds) : null;
  const reportFile = writeReport(loaded.dir, { results: loaded.results, thresholds: outcomes, thresholdSource: source.source });
  const out: FinishOutcome = {
    reportFile,
    breached: outcomes ? breachedLines(outcomes) : [],
    thresholdCount: {
      total: outcomes?.length ?? 0,
      pass: outcomes?.filter((o) => o.status === 'pass').length ?? 0,
      notEvaluated: outcomes?.filter((o) => o.status === 'not-evaluated').length ?? 0,
    },
    regressions: [],
    thresholdNote: source.note,
  };
  if (opts.baseline) {
    const baseline = loadResults(opts.baseline);
    const report = compareResults(baseline.results, loaded.results, { tolerance: opts.tolerance ?? DEFAULT_TOLERANCE, alpha: opts.alpha ?? DEFAULT_ALPHA });
    out.compareFile = join(loaded.dir, 'compare.html');
    writeFileSync(out.compareFile, renderCompareHtml(report));
    out.regressions = regressionLines(report);
    out.baselineId = report.baseline.id;
  }
  return out;
}

/** what to print after the run summary: where the pages went, how the thresholds and the comparison came out */
export function finishLines(f: FinishOutcome): string[] {
  const lines = [`report: ${displayPath(f.reportFile)}`];
  const t = f.thresholdCount;
  if (t.total) {
    const breached = t.total - t.pass - t.notEvaluated;
    lines.push(`thresholds: ${t.pass} pass, ${breached} breached${t.notEvaluated ? `, ${t.notEvaluated} not evaluated` : ''}`);
  } else if (f.thresholdNote) {
    lines.push(`thresholds: ${f.thresholdNote}`);
  }
  if (f.compareFile) {
    lines.push(`compare: ${displayPath(f.compareFile)} (against ${f.baselineId}: ${f.regressions.length ? `${f.regressions.length} regression(s)` : 'no regression'})`);
  }
  return lines;
}

/** exit 99 (ThresholdError) when a threshold was breached or the run regressed against its baseline */
export function assertFinished(f: FinishOutcome): void {
  const parts: string[] = [];
  if (f.breached.length) parts.push(`${f.breached.length} threshold check(s) failed:\n${f.breached.map((l) => `  ${l}`).join('\n')}`);
  if (f.regressions.length) parts.push(`${f.regressions.length} regression(s) against ${f.baselineId}:\n${f.regressions.map((l) => `  ${l}`).join('\n')}`);
  if (parts.length) throw new ThresholdError(`${parts.join('\n')}\n  see ${displayPath(f.compareFile && f.regressions.length ? f.compareFile : f.reportFile)}`);
}
