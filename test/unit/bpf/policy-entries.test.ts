// SPDX-License-Identifier: Apache-2.0
// The ebpf datapath's NetworkPolicy entries (src/datapath/ebpf/policy.ts), pure: every built-in case, every pod pair
// and probe, "does the sender's node allow it out and the receiver's node let it in" over the computed ipcache and
// allow entries (with the LPM semantics of bpf/policy.h) must equal the reference evaluator; plus port ranges,
// wildcards, excepts and stable identities. No kernel needed.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { caseModel, loadCases } from '../../../src/netpol/cases.ts';
import { modelKubeObjects, modelLabPlan, type ModelPod } from '../../../src/netpol/model.ts';
import { buildTable, compareTables, expectedTable, failures, probeLabel, renderTable } from '../../../src/netpol/truth-table.ts';
import { podKey, type Protocol } from '../../../src/netpol/evaluator.ts';
import { IDENTITY_ANY, IDENTITY_HOST, IDENTITY_WORLD, IPPROTO_TCP, IPPROTO_UDP } from '../../../src/datapath/bpf/codec.ts';
import {
  IPPROTO_SCTP, IdentityAllocator, computePolicyEntries, entriesAllow, lookupIdentity, portBlocks, type PolicyEntries,
} from '../../../src/datapath/ebpf/policy.ts';

const PLAN = modelLabPlan();
const PROTO: Record<Protocol, number> = { TCP: IPPROTO_TCP, UDP: IPPROTO_UDP, SCTP: IPPROTO_SCTP };

function nodeEntries(c: Parameters<typeof caseModel>[0], policies: V1NetworkPolicy[]): Map<string, PolicyEntries> {
  const objects = modelKubeObjects(caseModel(c));
  return new Map(PLAN.nodes.map((n) => [
    n.name,
    computePolicyEntries({ ...objects, networkPolicies: policies }, { nodeName: n.name, nodeIPs: [n.ip] }, new IdentityAllocator()),
  ]));
}

describe('policy entries of every built-in case agree with the evaluator', () => {
  for (const c of loadCases()) {
    it(c.name, () => {
      const byNode = nodeEntries(c, c.policies);
      const model = caseModel(c);
      const pods = new Map(model.pods.map((p) => [podKey(p), p]));
      const allowed = (from: ModelPod, to: ModelPod, protocol: Protocol, port: number): boolean =>
        entriesAllow(byNode.get(from.node)!, from.ip, to.ip, 'egress', PROTO[protocol], port) &&
        entriesAllow(byNode.get(to.node)!, to.ip, from.ip, 'ingress', PROTO[protocol], port);
      const probes = [...c.probes, ...(['TCP', 'UDP', 'SCTP'] as const).flatMap((protocol) => [80, 81].map((port) => ({ port, protocol })))];
      for (const probe of probes) {
        const expected = expectedTable(c.policies, model, probe);
        const observed = buildTable(expected.froms, expected.tos, (f, t) => f === t || allowed(pods.get(f)!, pods.get(t)!, probe.protocol, probe.port));
        const bad = failures(compareTables(expected, observed));
        expect(bad, `${c.name} ${probeLabel(probe)}\n${renderTable(observed, { against: expected })}`).toEqual([]);
      }
    });
  }
});

describe('entry shapes', () => {
  it('splits a port range into aligned blocks that cover it exactly', () => {
    expect(portBlocks(80, 81)).toEqual([{ port: 80, prefix: 15 }]);
    expect(portBlocks(80, 80)).toEqual([{ port: 80, prefix: 16 }]);
    expect(portBlocks(0, 65535)).toEqual([{ port: 0, prefix: 0 }]);
    for (const [lo, hi] of [[1, 65535], [1000, 2000], [32768, 60999], [81, 90]] as const) {
      const blocks = portBlocks(lo, hi);
      expect(blocks.length).toBeLessThanOrEqual(30);
      const covered = blocks.reduce((n, b) => n + 2 ** (16 - b.prefix), 0);
      expect(covered).toBe(hi - lo + 1);
      expect(blocks[0]!.port).toBe(lo);
    }
  });

  const c = loadCases().find((x) => x.name === 'egress-cidr-except')!;
  it('gives excepts their own identity, 0.0.0.0/0 the world, node addresses the host', () => {
    const e = nodeEntries(c, c.policies).get('node0')!;
    expect(e.ipcache.get('0.0.0.0/0')).toBe(IDENTITY_WORLD);
    expect(e.ipcache.get(`${PLAN.nodes[0]!.ip}/32`)).toBe(IDENTITY_HOST);
    expect(lookupIdentity(e.ipcache, '203.0.113.9')).toBe(IDENTITY_WORLD);
    const ids = new Set(e.ipcache.values());
    expect(ids.size).toBe(e.ipcache.size - [...e.ipcache.values()].filter((v) => v === IDENTITY_WORLD).length + 1);
  });

  it('keeps identities stable across syncs and writes "any peer" as identity 0', () => {
    const any = loadCases().find((x) => x.name === 'allow-all-ingress' || x.name === 'deny-all')!;
    const ids = new IdentityAllocator();
    const objects = modelKubeObjects(caseModel(any));
    const a = computePolicyEntries({ ...objects, networkPolicies: any.policies }, { nodeName: 'node0', nodeIPs: [] }, ids);
    const b = computePolicyEntries({ ...objects, networkPolicies: any.policies }, { nodeName: 'node0', nodeIPs: [] }, ids);
    expect([...b.ipcache]).toEqual([...a.ipcache]);
    expect([...b.policy.keys()]).toEqual([...a.policy.keys()]);
    const allowAll: V1NetworkPolicy = {
      metadata: { namespace: 'x', name: 'all' }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
    };
    const open = computePolicyEntries({ ...objects, networkPolicies: [allowAll] }, { nodeName: 'node0', nodeIPs: [] }, ids);
    expect([...open.policy.values()].every((e) => e.identity === IDENTITY_ANY && e.proto === 0 && e.portPrefix === 0)).toBe(true);
  });
});
