// SPDX-License-Identifier: Apache-2.0
// The services conformance suite on real lab clusters: iptables, nftables, ebpf and xdp pass every check, `none` claims nothing and
// is reported unsupported (never pass), and a datapath fed a broken state fails the matching check.
import { describe, expect, it } from 'vitest';
import { SERVICE_CHECKS } from '../../src/conform/services/checks.ts';
import { conformanceState } from '../../src/conform/services/fixtures.ts';
import { renderConformance, runServiceConformance } from '../../src/conform/services/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { isRoot, rootReason } from '../helpers/host.ts';

describe.skipIf(!isRoot)(`services conformance (${rootReason})`, () => {
  const shape = loadClusterShape('lab-2node', 'test');

  it('iptables, nftables, ebpf and xdp pass every check; none is unsupported everywhere', async () => {
    const report = await runServiceConformance({ datapaths: ['iptables', 'nftables', 'ebpf', 'xdp', 'none'], shape });
    expect(report.checks.map((c) => c.id)).toEqual(SERVICE_CHECKS.map((c) => c.id));
    for (const c of report.checks) {
      expect(c.results.iptables?.status, `${c.id}: ${JSON.stringify(c.results.iptables)}`).toBe('pass');
      expect(c.results.nftables?.status, `${c.id}: ${JSON.stringify(c.results.nftables)}`).toBe('pass');
      expect(c.results.ebpf?.status, `${c.id}: ${JSON.stringify(c.results.ebpf)}`).toBe('pass');
      expect(c.results.xdp?.status, `${c.id}: ${JSON.stringify(c.results.xdp)}`).toBe('pass');
      expect(c.results.iptables!.evidence.length).toBeGreaterThan(0);
      expect(c.results.none?.status).toBe('unsupported');
    }
    expect(report.passed).toBe(true);
    expect(renderConformance(report)).toContain('every datapath passed');
  }, 120_000);

  it('a check fails with evidence when the datapath does the wrong thing', async () => {
    // drop the affinity from the "affinity" service and mark the terminating endpoint ready: two checks must fail
    const broken = (plan: Parameters<typeof conformanceState>[0]) => {
      const state = conformanceState(plan);
      state.services.find((s) => s.metadata!.name === 'affinity')!.spec!.sessionAffinity = 'None';
      const slice = state.endpointSlices.find((s) => s.metadata!.labels!['kubernetes.io/service-name'] === 'terminating')!;
      for (const ep of slice.endpoints ?? []) ep.conditions = { ready: true, serving: true, terminating: false };
      return state;
    };
    const checks = SERVICE_CHECKS.filter((c) => ['session-affinity', 'terminating-endpoints', 'clusterip'].includes(c.id));
    const report = await runServiceConformance({ datapaths: ['iptables'], shape, checks, stateFor: broken });
    const status = Object.fromEntries(report.checks.map((c) => [c.id, c.results.iptables!.status]));
    expect(status).toEqual({ clusterip: 'pass', 'session-affinity': 'fail', 'terminating-endpoints': 'fail' });
    expect(report.passed).toBe(false);
    const text = renderConformance(report);
    expect(text).toContain('iptables / session-affinity: connections from one client went to several backends');
    expect(text).toMatch(/sent: 30 new TCP flows from node0-pod0 to 10\.96\.0\.114:80/);
  }, 120_000);
});
