// SPDX-License-Identifier: Apache-2.0
// A run's scale dimensions: the service count always, the NetworkPolicy count when the scenario has one
// (scale.policies). Records, names and chart axes are keyed by both, so two policy steps at the same service
// count never fold into one.
import type { ResultRecord } from '../runner/results.ts';

export interface StepKey {
  services: number;
  /** absent in runs without a policy dimension */
  policies?: number;
}

export type RecordId = Pick<ResultRecord, 'datapath' | 'services' | 'policies' | 'phase' | 'test' | 'path' | 'metric'>;

export const thousands = (n: number): string => n.toLocaleString('en-US');

/** "@1000 services", or "@1 services, 5000 policies" (the form thresholds and regressions are listed in) */
export function stepName(r: StepKey): string {
  return `@${r.services} services${r.policies === undefined ? '' : `, ${r.policies} policies`}`;
}

/** for tables and subtitles: "1,000 services", "1 service · 5,000 policies" */
export function stepText(r: StepKey): string {
  const services = `${thousands(r.services)} service${r.services === 1 ? '' : 's'}`;
  return r.policies === undefined ? services : `${services} · ${thousands(r.policies)} polic${r.policies === 1 ? 'y' : 'ies'}`;
}

/** one record's identity in results.json: a workload measured during churn is another record than without */
export function recordKey(r: RecordId): string {
  return [r.datapath, r.services, r.policies ?? '', r.phase ?? '', r.test, r.path, r.metric].join('|');
}

/** " during churn" for records measured while kube-burner changed the cluster, else "" */
export function phaseText(r: { phase?: string }): string {
  return r.phase ? ` during ${r.phase}` : '';
}

/** same step: same services and same policies (both absent counts as the same) */
export function sameStep(a: StepKey, b: StepKey): boolean {
  return a.services === b.services && a.policies === b.policies;
}

/** orders steps by services, then policies */
export function compareSteps(a: StepKey, b: StepKey): number {
  return a.services - b.services || (a.policies ?? -1) - (b.policies ?? -1);
}

/** the policy steps a set of records has (empty without a policy dimension) */
export function policySteps(records: readonly { policies?: number }[]): number[] {
  return [...new Set(records.flatMap((r) => (r.policies === undefined ? [] : [r.policies])))].sort((a, b) => a - b);
}

export function serviceSteps(records: readonly { services: number }[]): number[] {
  return [...new Set(records.map((r) => r.services))].sort((a, b) => a - b);
}

/** the largest step among records: most services, then most policies */
export function largestStep(records: readonly StepKey[]): StepKey | undefined {
  return [...records].sort(compareSteps).at(-1);
}
