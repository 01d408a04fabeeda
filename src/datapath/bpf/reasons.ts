// SPDX-License-Identifier: Apache-2.0
// TypeScript mirror of bpf/reasons.h (verdict and drop reasons) and of the metrics directions in bpf/metrics.h.
// test/unit/bpf/reasons.test.ts parses the headers and fails when the two drift apart.

/** dp_metrics reason codes; values start at 128 so they never read as TC_ACT_* or XDP_* actions */
export const REASONS = {
  REASON_PASS: 128,
  REASON_LB_NEW: 129,
  REASON_LB_ESTABLISHED: 130,
  REASON_REV_NAT: 131,
  REASON_HAIRPIN: 132,
  REASON_LB_NEW_NO_AFFINITY: 133,
  REASON_PASS_FRAGMENT: 134,
  REASON_XDP_PASS_TO_STACK: 135,
  REASON_REJECT_NO_BACKEND: 140,
  REASON_DROP_INVALID: 160,
  REASON_DROP_NO_LOCAL_BACKEND: 161,
  REASON_DROP_CT_MAP_FULL: 162,
  REASON_DROP_NO_CT_ENTRY: 163,
  REASON_DROP_NO_BACKEND_SLOT: 164,
  REASON_DROP_WRITE: 165,
  REASON_DROP_SNAT_NO_PORT: 166,
  REASON_DROP_UNSUPPORTED: 167,
  REASON_DROP_POLICY_EGRESS: 168,
  REASON_DROP_POLICY_INGRESS: 169,
} as const;
export type ReasonName = keyof typeof REASONS;

/** dp_metrics directions: which program counted */
export const METRICS_DIRS = {
  METRICS_DIR_FROM_POD: 0,
  METRICS_DIR_TO_POD: 1,
  METRICS_DIR_FROM_NETDEV: 2,
  METRICS_DIR_XDP: 3,
} as const;
export type MetricsDirName = keyof typeof METRICS_DIRS;

const reasonByCode = new Map<number, ReasonName>(Object.entries(REASONS).map(([k, v]) => [v, k as ReasonName]));
const dirByCode = new Map<number, MetricsDirName>(Object.entries(METRICS_DIRS).map(([k, v]) => [v, k as MetricsDirName]));

/** "lb_new", "drop_ct_map_full", … or "reason_200" for a code this build does not know */
export function reasonLabel(code: number): string {
  return reasonByCode.get(code)?.slice('REASON_'.length).toLowerCase() ?? `reason_${code}`;
}

/** "from_pod", "to_pod", "from_netdev", "xdp" */
export function dirLabel(code: number): string {
  return dirByCode.get(code)?.slice('METRICS_DIR_'.length).toLowerCase() ?? `dir_${code}`;
}

/** drops are 160 and up: everything else went on or was answered */
export function isDrop(code: number): boolean {
  return code >= REASONS.REASON_DROP_INVALID;
}
