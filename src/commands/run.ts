// SPDX-License-Identifier: Apache-2.0
// `dpbench run <scenario>`: load + validate (nothing is created if invalid), run, print the summary and paths.
import { relative } from 'node:path';
import { loadScenario } from '../runner/scenario/load.ts';
import { runScenario } from '../runner/run.ts';
import { renderSummary } from '../report/summary.ts';
import { assertFinished, finishLines, finishRun } from '../report/finish.ts';
import { displayPath } from '../runner/scenario/yaml-config.ts';

export interface RunFlags {
  datapaths?: string[];
  services?: number[];
  policies?: number[];
  samples?: number;
  duration?: number;
  out?: string;
  quiet?: boolean;
  baseline?: string;
}

export async function runCommand(name: string, flags: RunFlags): Promise<void> {
  const scenario = loadScenario(name, flags);
  const outcome = await runScenario(scenario, { out: flags.out, quiet: flags.quiet });
  const rel = (p: string): string => relative(process.cwd(), p) || p;
  process.stdout.write(`\n${renderSummary(outcome.results)}\n\n`);
  process.stdout.write(`results: ${rel(outcome.files.json)}\nsamples: ${rel(outcome.files.csv)}\nenvironment: ${rel(outcome.files.environment)}\n`);
  // report.html (and compare.html against --baseline), thresholds; exit 99 on a breach or regression, after writing
  const finish = await finishRun(outcome.dir, { baseline: flags.baseline, thresholds: scenario.thresholds ?? null, thresholdSource: displayPath(scenario.file) });
  process.stdout.write(`${finishLines(finish).join('\n')}\n`);
  assertFinished(finish);
}
