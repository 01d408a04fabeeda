// SPDX-License-Identifier: Apache-2.0
// The report is a list of sections the renderer iterates: the extension point. A later feature adds its
// section here (conformance truth tables, policy-propagation charts) and touches nothing else.
import type { Results } from '../runner/results.ts';
import type { ChartDef } from './charts.ts';
import type { ThresholdOutcome } from './thresholds.ts';
import { summarySection } from './section-summary.ts';
import { churnSection, controlPlaneSection, cpuSection, latencySection, propagationSection, ratesSection } from './section-charts.ts';
import { thresholdsSection, validitySection } from './section-validity.ts';
import { dataSection, environmentSection, scenarioSection } from './section-run.ts';

export interface ReportContext {
  results: Results;
  /** null: the scenario defines no thresholds */
  thresholds: ThresholdOutcome[] | null;
  /** where the thresholds came from, for the reader */
  thresholdSource?: string;
}

export interface SectionOutput {
  /** escaped HTML */
  html: string;
  /** charts whose slots (chartGrid) the html holds */
  charts?: ChartDef[];
}

export interface ReportSection {
  id: string;
  title: string;
  /** null leaves the section (and its link) out, e.g. a chart section with nothing to plot */
  render(ctx: ReportContext): SectionOutput | null;
}

export const REPORT_SECTIONS: readonly ReportSection[] = [
  summarySection,
  thresholdsSection,
  latencySection,
  ratesSection,
  cpuSection,
  controlPlaneSection,
  churnSection,
  propagationSection,
  // conformanceSection (truth tables) goes here
  validitySection,
  scenarioSection,
  environmentSection,
  dataSection,
];
