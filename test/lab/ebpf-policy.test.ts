// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy in the ebpf datapath on a real 3×3 lab: the standard model's probes (TCP and UDP, 80 and 81, every
// pod pair) through bpf/lb_tc.bpf.o, judged against the reference evaluator, for cases that cover ingress, egress,
// ipBlock with except, named ports, endPort, AND / OR peers and stacked policies. Root only.
import { describe, expect, it } from 'vitest';
import { renderNetpol, runNetpolConformance } from '../../src/conform/netpol/run.ts';
import { loadCases } from '../../src/netpol/cases.ts';
import { isRoot, rootReason } from '../helpers/host.ts';

const CASES = [
  'no-policies',
  'deny-all-ingress',
  'allow-from-pod-b',
  'ingress-and-egress-together',
  'egress-denied-on-client-side',
  'named-port-ingress',
  'named-port-egress',
  'end-port-egress',
  'egress-cidr-except',
  'ingress-from-cidr-except',
  'namespace-and-pod-selector',
  'namespace-or-pod-selector',
  'stacked-port-policies',
  'protocol-only-tcp',
];

describe.skipIf(!isRoot)(`ebpf NetworkPolicy conformance (${rootReason})`, () => {
  it('agrees with the evaluator on ingress, egress, ipBlock, named ports, endPort and AND/OR cases', async () => {
    const cases = loadCases().filter((c) => CASES.includes(c.name));
    expect(cases.map((c) => c.name).sort()).toEqual([...CASES].sort());
    const report = await runNetpolConformance({ cases, datapaths: ['ebpf'] });
    expect(report.passed, renderNetpol(report, { verbose: true })).toBe(true);
    for (const c of report.cases) expect(c.datapaths.ebpf?.status, c.name).toBe('agree');
  }, 600_000);
});
