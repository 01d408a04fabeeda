// SPDX-License-Identifier: Apache-2.0
// `dpbench index <dir>`: <dir>/index.html listing every run folder under <dir> with headline figures and links,
// e.g. for GitHub Pages. Run folders without a report.html get one first (unless --no-render).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { displayPath } from '../runner/scenario/yaml-config.ts';
import { ConfigError } from '../errors.ts';
import { writeIndex, scanRuns } from '../report/index-page.ts';
import { loadResults } from '../report/load.ts';
import { writeReport } from '../report/render.ts';
import { findThresholds } from '../report/threshold-source.ts';
import { checkThresholds } from '../report/thresholds.ts';

export interface IndexFlags {
  /** false with --no-render */
  render?: boolean;
  title?: string;
}

/** relative to the working directory when inside it, else absolute */
const rel = displayPath;

export async function indexCommand(dir: string, flags: IndexFlags): Promise<void> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`${dir}: not a directory; expected a folder of run folders such as reports/`);
  if (flags.render !== false) {
    for (const e of scanRuns(dir).entries.filter((x) => !x.hasReport)) {
      const loaded = loadResults(join(dir, e.name));
      const source = findThresholds(loaded);
      writeReport(loaded.dir, { results: loaded.results, thresholds: source.thresholds ? checkThresholds(loaded.results, source.thresholds) : null, thresholdSource: source.source });
      process.stdout.write(`report: ${rel(join(loaded.dir, 'report.html'))}\n`);
    }
  }
  const { file, scan } = writeIndex(dir, flags.title);
  for (const s of scan.skipped) process.stderr.write(`skipped ${s.name}: ${s.reason}\n`);
  process.stdout.write(`index: ${rel(file)} (${scan.entries.length} run${scan.entries.length === 1 ? '' : 's'})\n`);
}
