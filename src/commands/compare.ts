// SPDX-License-Identifier: Apache-2.0
// `dpbench compare <baseline> <candidate>`: per record, the candidate/baseline ratio of medians with a bootstrap
// CI and a Mann–Whitney test; prints a table, writes compare.html, exits 99 when something regressed.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { displayPath } from '../runner/scenario/yaml-config.ts';
import { ConfigError, ThresholdError } from '../errors.ts';
import { compareResults, compareTable, onlyInSummary, regressionLines, verdictCounts } from '../report/compare.ts';
import { renderCompareHtml } from '../report/compare-html.ts';
import { DEFAULT_ALPHA, DEFAULT_TOLERANCE } from '../report/finish.ts';
import { loadResults } from '../report/load.ts';

export interface CompareFlags {
  /** "10%" or "0.1" */
  tolerance?: string;
  alpha?: string;
  out?: string;
  all?: boolean;
  resamples?: string;
}

/** "10%" → 0.1, "0.1" → 0.1; a fraction in [0, 1) */
export function parseFraction(value: string | undefined, flag: string, fallback: number, max = 1): number {
  if (value === undefined) return fallback;
  const percent = value.trim().endsWith('%');
  const n = Number(value.trim().replace(/%$/, '')) / (percent ? 100 : 1);
  if (!Number.isFinite(n) || n < 0 || n >= max) {
    throw new ConfigError(`${flag}: expected a fraction such as 0.1 or a percentage such as 10%, below ${max}; got "${value}"`);
  }
  return n;
}

/** relative to the working directory when inside it, else absolute */
const rel = displayPath;

export async function compareCommand(baselinePath: string, candidatePath: string, flags: CompareFlags): Promise<void> {
  const tolerance = parseFraction(flags.tolerance, '--tolerance', DEFAULT_TOLERANCE);
  const alpha = parseFraction(flags.alpha, '--alpha', DEFAULT_ALPHA, 0.5);
  if (alpha === 0) throw new ConfigError('--alpha: expected a significance level above 0, such as 0.05');
  const resamples = flags.resamples === undefined ? undefined : Number(flags.resamples);
  if (resamples !== undefined && !(Number.isInteger(resamples) && resamples >= 100 && resamples <= 100_000)) {
    throw new ConfigError(`--resamples: expected a whole number between 100 and 100000, got "${flags.resamples}"`);
  }
  const baseline = loadResults(baselinePath);
  const candidate = loadResults(candidatePath);
  const report = compareResults(baseline.results, candidate.results, { tolerance, alpha, resamples });
  process.stdout.write(`baseline:  ${report.baseline.id} (${rel(baseline.file)})\ncandidate: ${report.candidate.id} (${rel(candidate.file)})\n\n`);
  process.stdout.write(`${compareTable(report, flags.all)}\n\n`);
  for (const d of report.setupDifferences) process.stdout.write(`setup differs: ${d}\n`);
  for (const l of onlyInSummary(report.onlyInBaseline)) process.stdout.write(`not compared, baseline only: ${l}\n`);
  for (const l of onlyInSummary(report.onlyInCandidate)) process.stdout.write(`not compared, candidate only: ${l}\n`);
  const out = flags.out ? resolve(flags.out) : join(candidate.dir, 'compare.html');
  writeFileSync(out, renderCompareHtml(report));
  const counts = Object.entries(verdictCounts(report)).map(([v, n]) => `${n} ${n > 1 && (v === 'regression' || v === 'improvement') ? `${v}s` : v}`).join(', ');
  process.stdout.write(`${counts} (tolerance ±${Math.round(tolerance * 100)}%, alpha ${alpha})\ncompare: ${rel(out)}\n`);
  const regressions = regressionLines(report);
  if (regressions.length) {
    throw new ThresholdError(`${regressions.length} regression(s) against ${report.baseline.id}:\n${regressions.map((l) => `  ${l}`).join('\n')}`);
  }
}
