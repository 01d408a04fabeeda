// SPDX-License-Identifier: Apache-2.0
// The netpol conformance machinery on a real 3×3 lab: the standard model's pods answer on 80/81 TCP+UDP, the
// observed truth table of a datapath that enforces nothing matches "no policies" and is caught disagreeing on
// "deny all ingress" (so a datapath that ignores policies cannot pass), and a datapath that claims no
// NetworkPolicy is reported unsupported.
import { describe, expect, it } from 'vitest';
import { runNetpolConformance, renderNetpol } from '../../src/conform/netpol/run.ts';
import { loadCases } from '../../src/netpol/cases.ts';
import { failures } from '../../src/netpol/truth-table.ts';
import { isRoot, rootReason } from '../helpers/host.ts';

describe.skipIf(!isRoot)(`netpol conformance machinery (${rootReason})`, () => {
  it('observes the real truth table and catches a datapath that ignores policies', async () => {
    const cases = loadCases().filter((c) => ['no-policies', 'deny-all-ingress'].includes(c.name));
    expect(cases).toHaveLength(2);
    // `none` programs nothing; made to claim NetworkPolicy here, it must agree only where no policy applies
    const report = await runNetpolConformance({ cases, datapaths: ['none', 'nftables'], claims: { none: [], nftables: null } });
    const byName = Object.fromEntries(report.cases.map((c) => [c.name, c]));
    expect(byName['no-policies']!.datapaths.none!.status).toBe('agree');
    const deny = byName['deny-all-ingress']!.datapaths.none!;
    expect(deny.status).toBe('disagree');
    // with deny-all ingress in x, the 8 other pods' traffic into each x pod is wrongly allowed on every probe
    const tcp80 = deny.probes.find((p) => p.probe === 'TCP/80')!;
    expect(failures(tcp80.diffs).length).toBe(3 * 8);
    expect(byName['no-policies']!.datapaths.nftables!.status).toBe('unsupported');
    expect(report.passed).toBe(false);
    expect(renderNetpol(report)).toMatch(/deny-all-ingress\s+none: \d+ of 324 cells differ/);
  }, 120_000);
});
