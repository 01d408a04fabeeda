// SPDX-License-Identifier: Apache-2.0
// Reading results.json for the later stages (report, compare, index): a run directory or the file itself,
// checked just enough that a wrong path or an incompatible version fails with a message, not a stack trace.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { RESULTS_SCHEMA_VERSION, type ResultRecord, type Results } from '../runner/results.ts';

export interface LoadedResults {
  results: Results;
  /** the results.json file */
  file: string;
  /** the run directory holding it (where report.html goes) */
  dir: string;
}

/** `reports/<run-id>` or `reports/<run-id>/results.json` → the path of results.json */
export function resultsFile(dirOrFile: string): string {
  const p = resolve(dirOrFile);
  if (!existsSync(p)) throw new ConfigError(`${dirOrFile}: no such file or directory; expected a run directory (reports/<run-id>) or its results.json`);
  if (statSync(p).isDirectory()) {
    const f = join(p, 'results.json');
    if (!existsSync(f)) throw new ConfigError(`${dirOrFile}: no results.json in this directory; expected a run directory written by \`dpbench run\``);
    return f;
  }
  return p;
}

export function parseResults(text: string, where: string): Results {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${where}: not valid JSON (${(e as Error).message}); expected a results.json written by \`dpbench run\``);
  }
  const r = raw as Partial<Results> | null;
  if (!r || typeof r !== 'object' || typeof r.schemaVersion !== 'number') {
    throw new ConfigError(`${where}: no schemaVersion; expected a results.json written by \`dpbench run\``);
  }
  if (r.schemaVersion !== RESULTS_SCHEMA_VERSION) {
    throw new ConfigError(`${where}: results schema version ${r.schemaVersion}; this dpbench reads version ${RESULTS_SCHEMA_VERSION}`);
  }
  const missing = (['run', 'environment', 'syncs', 'results', 'samples'] as const).filter((k) => r[k] === undefined);
  if (missing.length || !Array.isArray(r.results) || !Array.isArray(r.samples) || !Array.isArray(r.syncs)) {
    throw new ConfigError(`${where}: incomplete results (missing ${missing.join(', ') || 'arrays'}); expected a results.json written by \`dpbench run\``);
  }
  return r as Results;
}

export function loadResults(dirOrFile: string): LoadedResults {
  const file = resultsFile(dirOrFile);
  const results = parseResults(readFileSync(file, 'utf8'), file);
  return { results, file, dir: dirname(file) };
}

/**
 * A record without a figure where a valid sample carried no value for its metric (listed among `invalid` with no
 * reason): the metric was not measured in this run (e.g. CPU cost in results from before it was), whatever its
 * other samples' troubles. Not a validity problem; nothing to show.
 */
export function unmeasured(r: ResultRecord): boolean {
  return r.summary === null && r.invalid.some((i) => i.reasons.length === 0);
}
