// SPDX-License-Identifier: Apache-2.0
// `dpbench report <run-dir>`: writes <run-dir>/report.html from results.json and checks the scenario's
// thresholds; exit 99 when one is breached (the report is written first either way).
import { resolve } from 'node:path';
import { ThresholdError } from '../errors.ts';
import { displayPath } from '../runner/scenario/yaml-config.ts';
import { loadResults } from '../report/load.ts';
import { writeReport } from '../report/render.ts';
import { findThresholds } from '../report/threshold-source.ts';
import { breachedLines, checkThresholds } from '../report/thresholds.ts';

export interface ReportFlags {
  /** where to write the HTML; default <run-dir>/report.html */
  out?: string;
  /** read thresholds from this scenario instead of the one the run recorded */
  scenario?: string;
}

/** relative to the working directory when inside it, else absolute */
const rel = displayPath;

export async function reportCommand(runDir: string, flags: ReportFlags): Promise<void> {
  const loaded = loadResults(runDir);
  const source = findThresholds(loaded, flags.scenario);
  const outcomes = source.thresholds ? checkThresholds(loaded.results, source.thresholds) : null;
  const file = writeReport(loaded.dir, { results: loaded.results, thresholds: outcomes, thresholdSource: source.source }, flags.out ? resolve(flags.out) : undefined);
  process.stdout.write(`report: ${rel(file)}\n`);
  if (!outcomes) {
    process.stdout.write(`thresholds: ${source.note ?? `none defined${source.source ? ` in ${source.source}` : ''}`}\n`);
    return;
  }
  const count = (s: string): number => outcomes.filter((o) => o.status === s).length;
  process.stdout.write(`thresholds (${source.source}): ${count('pass')} pass, ${count('breached')} breached, ${count('not-evaluated')} not evaluated\n`);
  for (const o of outcomes.filter((x) => x.status === 'not-evaluated')) process.stdout.write(`  not evaluated: #${o.index + 1} ${o.label}: ${o.note}\n`);
  const breached = breachedLines(outcomes);
  if (breached.length) {
    throw new ThresholdError(`${count('breached')} threshold(s) breached:\n${breached.map((l) => `  ${l}`).join('\n')}\n  see ${rel(file)}`);
  }
}
