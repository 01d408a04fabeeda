// SPDX-License-Identifier: Apache-2.0
// Where a run's thresholds come from: a scenario named on the command line, else thresholds embedded in
// results.json, else the scenario file the run recorded (run.scenarioFile; looked up as written, then next to
// results.json, so a run directory copied elsewhere with its scenario still works).
import { existsSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { thresholdsSchema, type ThresholdSpec } from '../runner/scenario/schema.ts';
import { displayPath, loadYamlConfig } from '../runner/scenario/yaml-config.ts';
import type { LoadedResults } from './load.ts';
import { parseThresholds } from './thresholds.ts';

export interface ThresholdSource {
  /** null: none defined, or none could be read (see note) */
  thresholds: ThresholdSpec[] | null;
  source?: string;
  /** why there are none, when that is worth telling */
  note?: string;
}

// only the thresholds key is checked: the rest of a scenario may have moved on since the run
const thresholdsOnly = z.looseObject({ thresholds: thresholdsSchema.optional() });

function fromScenarioFile(file: string): ThresholdSource {
  const parsed = loadYamlConfig(file, thresholdsOnly, 'scenario');
  return parsed.thresholds ? { thresholds: parsed.thresholds, source: displayPath(file) } : { thresholds: null, source: displayPath(file) };
}

/** the thresholds embedded in results.json, if the run wrote them (run.thresholds or scenario.thresholds) */
function embedded(loaded: LoadedResults): unknown {
  const r = loaded.results as unknown as { run: { thresholds?: unknown }; scenario?: { thresholds?: unknown } };
  return r.run.thresholds ?? r.scenario?.thresholds;
}

export function findThresholds(loaded: LoadedResults, scenarioFile?: string): ThresholdSource {
  if (scenarioFile) {
    if (!existsSync(scenarioFile)) throw new ConfigError(`--scenario ${scenarioFile}: no such file; expected a scenario .yaml with a thresholds list`);
    return fromScenarioFile(resolve(scenarioFile));
  }
  const inline = embedded(loaded);
  if (inline !== undefined) {
    try {
      return { thresholds: parseThresholds(inline, displayPath(loaded.file)), source: `${displayPath(loaded.file)} (embedded)` };
    } catch (e) {
      throw new ConfigError(`${displayPath(loaded.file)}: ${(e as Error).message}`);
    }
  }
  const recorded = loaded.results.run.scenarioFile;
  if (!recorded) return { thresholds: null, note: 'results.json names no scenario file; thresholds not checked' };
  const candidates = [isAbsolute(recorded) ? recorded : resolve(recorded), resolve(loaded.dir, recorded), join(loaded.dir, basename(recorded))];
  const found = candidates.find((f) => existsSync(f));
  if (!found) return { thresholds: null, note: `scenario file ${recorded} not found; thresholds not checked (pass --scenario to name it)` };
  try {
    return fromScenarioFile(found);
  } catch (e) {
    // best effort: a scenario edited since the run must not cost the report
    return { thresholds: null, note: `cannot read thresholds from ${displayPath(found)}: ${(e as Error).message}` };
  }
}
