// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy in the iptables datapath on a real 3-node × 3-pod lab, the standard model on it: for each case the
// agents sync the model's objects plus the case's policies, every pod probes every pod on TCP and UDP 80/81, and the
// observed truth table must equal the reference evaluator's. Then sync times with 0, 100 and 1,000 policies.
//
//   node0: x/a x/b x/c (lxc0..2)   node1: y/a y/b y/c   node2: z/a z/b z/c      (10.244.<node>.<10+pod>)
//   same node: FORWARD -i lxcA -o lxcB (egress of A, then ingress of B)
//   across:    node A FORWARD -i lxcA -o eth0 (egress)  ──fabric──▶  node B FORWARD -i eth0 -o lxcB (ingress)
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../src/cluster/state.ts';
import type { LabPlan } from '../../src/cluster/lab/plan.ts';
import { caseModel, loadCases, type NetpolCase } from '../../src/netpol/cases.ts';
import { labPodFor, MODEL_POD_KEYS, modelKubeObjects, standardModel } from '../../src/netpol/model.ts';
import { compareTables, expectedTable, failures, probeLabel, renderTable, type Probe, type TruthTable } from '../../src/netpol/truth-table.ts';
import { LabSet } from '../../src/runner/lab-set.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { run } from '../../src/util/exec.ts';
import { probeBatch, probeServerArgv, type BatchTarget } from '../../src/workload/probe/index.ts';
import { isRoot, labNetns, rootReason } from '../helpers/host.ts';

/** ingress, egress, both sides across nodes, ipBlock (with except), named ports, endPort, AND / OR peers, UDP */
const LIVE_CASES = [
  'no-policies', 'deny-all-ingress', 'allow-from-pod-b', 'egress-to-pod-in-other-namespace', 'egress-denied-on-client-side',
  'ingress-and-egress-together', 'egress-cidr-except', 'ingress-from-cidr-except', 'named-port-ingress', 'named-port-egress',
  'end-port-ingress', 'end-port-egress', 'namespace-and-pod-selector', 'namespace-or-pod-selector', 'stacked-port-policies',
  'udp-allow-port-81-from-namespace',
];
const PORTS = [80, 81];
const TIMEOUT_MS = 300;

const byName = (cases: NetpolCase[], name: string): NetpolCase => cases.find((c) => c.name === name)!;
const syncWith = (labs: LabSet, plan: LabPlan, c: NetpolCase) => labs.syncAll(() => stateFor(plan, c, c.policies));

function stateFor(plan: LabPlan, c: Pick<NetpolCase, 'namespaceLabels' | 'podLabels'>, policies: V1NetworkPolicy[]): ClusterState {
  const objects = modelKubeObjects(standardModel({ namespaceLabels: c.namespaceLabels, podLabels: c.podLabels }, plan));
  return { services: [], endpointSlices: [], ...objects, networkPolicies: policies };
}

/** every pod → every pod for each probe: one batch prober per source pod, all at once */
async function observe(plan: LabPlan, probes: Probe[], timeoutMs: number, only?: Set<string>): Promise<Map<string, boolean>> {
  const cells = new Map<string, boolean>(); // "TCP/80|x/a|y/b" → answered
  await Promise.all(
    MODEL_POD_KEYS.map(async (from) => {
      const list = probes.flatMap((p) => MODEL_POD_KEYS.map((to) => ({ key: `${probeLabel(p)}|${from}|${to}`, to, p })));
      const todo = only ? list.filter((t) => only.has(t.key)) : list;
      if (!todo.length) return;
      const targets: BatchTarget[] = todo.map((t) => ({ host: labPodFor(plan, t.to).ip, port: t.p.port, protocol: t.p.protocol as 'TCP' | 'UDP' }));
      const outcomes = await probeBatch(labPodFor(plan, from).netns, targets, timeoutMs);
      // a UDP answer names the pod that sent it: it must be the one we meant
      todo.forEach((t, i) => cells.set(t.key, outcomes[i]!.ok && (outcomes[i]!.reply === undefined || outcomes[i]!.reply === t.to)));
    }),
  );
  return cells;
}

const table = (cells: Map<string, boolean>, p: Probe): TruthTable => ({
  froms: [...MODEL_POD_KEYS],
  tos: [...MODEL_POD_KEYS],
  cells: MODEL_POD_KEYS.map((f) => MODEL_POD_KEYS.map((t) => cells.get(`${probeLabel(p)}|${f}|${t}`) ?? false)),
});

/** n distinct policies over the model: ingress from a namespace/pod selector pair, every 4th also an ipBlock egress */
function syntheticPolicies(n: number): V1NetworkPolicy[] {
  const ns = ['x', 'y', 'z'];
  const pod = ['a', 'b', 'c'];
  return Array.from({ length: n }, (_, i): V1NetworkPolicy => ({
    metadata: { name: `synthetic-${i}`, namespace: ns[i % 3]! },
    spec: {
      podSelector: { matchLabels: { pod: pod[Math.floor(i / 3) % 3]! } },
      policyTypes: i % 4 === 0 ? ['Ingress', 'Egress'] : ['Ingress'],
      ingress: [{ _from: [{ namespaceSelector: { matchLabels: { ns: ns[(i + 1) % 3]! } }, podSelector: { matchLabels: { pod: pod[i % 3]! } } }], ports: [{ port: 1000 + i }] }],
      ...(i % 4 === 0 ? { egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: [`10.${i % 256}.0.0/16`] } }], ports: [{ port: 2000 + i, endPort: 2100 + i }] }] } : {}),
    },
  }));
}

describe.skipIf(!isRoot)(`NetworkPolicy in the iptables datapath on a lab cluster (${rootReason})`, () => {
  const shape = loadClusterShape('lab-3node', 'test');

  it('observed truth tables equal the evaluator\'s; sync times with 0 / 100 / 1,000 policies', async () => {
    const prefix = newPrefix();
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['iptables'], shape, iptablesBackend: 'nft', echoServers: false });
      const { plan, lab } = labs.member('iptables');
      for (const key of MODEL_POD_KEYS) lab.spawn(labPodFor(plan, key).netns, probeServerArgv(key, { tcp: PORTS, udp: PORTS }));
      const flushConntrack = () => Promise.all(plan.nodes.map((n) => run(['conntrack', '-F'], { netns: n.netns, allowFail: true })));

      // servers take a moment: wait until every pod answers every pod with no policies programmed
      await labs.syncAll((p) => stateFor(p, { namespaceLabels: {}, podLabels: {} }, []));
      // the policy hook must come before kube-proxy's KUBE-FORWARD, which accepts masquerade-marked traffic outright
      for (const n of plan.nodes) {
        const forward = (await run(['iptables-nft', '-w', '-S', 'FORWARD'], { netns: n.netns })).stdout.split('\n').filter((l) => l.startsWith('-A '));
        expect(forward[0], n.name).toBe('-A FORWARD -m comment --comment "dpbench network policy" -j DPB-POLICY');
      }
      const tcp80: Probe = { port: 80, protocol: 'TCP' };
      for (let i = 0; ; i++) {
        const cells = await observe(plan, [tcp80], 500);
        if ([...cells.values()].every(Boolean)) break;
        if (i === 20) throw new Error('prober servers did not all answer within ~20 s');
        await new Promise((r) => setTimeout(r, 500));
      }

      const cases = loadCases().filter((c) => LIVE_CASES.includes(c.name));
      expect(cases.map((c) => c.name).sort()).toEqual([...LIVE_CASES].sort());
      const problems: string[] = [];
      let retried = 0;
      for (const c of cases) {
        await syncWith(labs, plan, c);
        // a flow an earlier case allowed must not carry this case's probes through as ESTABLISHED
        await flushConntrack();
        const model = caseModel(c);
        const probes = c.probes.filter((p) => p.protocol !== 'SCTP'); // the prober has no SCTP sockets
        const expected = new Map(probes.map((p) => [probeLabel(p), expectedTable(c.policies, model, p)]));
        const cells = await observe(plan, probes, TIMEOUT_MS);
        // a blocked cell that should be open is probed again with a longer timeout: two busy cores can starve a
        // prober past 300 ms; a datapath that really blocks it still blocks it (an open cell is never re-probed)
        const suspect = new Set([...cells].filter(([k, ok]) => {
          const [label, from, to] = k.split('|');
          return !ok && from !== to && expected.get(label!)!.cells[MODEL_POD_KEYS.indexOf(from!)]![MODEL_POD_KEYS.indexOf(to!)];
        }).map(([k]) => k));
        if (suspect.size) {
          retried += suspect.size;
          for (const [k, ok] of await observe(plan, probes, 1500, suspect)) cells.set(k, ok);
        }
        for (const p of probes) {
          const observed = table(cells, p);
          const bad = failures(compareTables(expected.get(probeLabel(p))!, observed));
          if (bad.length) problems.push(`${c.name} ${probeLabel(p)}:\n${renderTable(observed, { against: expected.get(probeLabel(p))! })}`);
        }
      }
      console.log(`iptables policy: ${cases.length} cases verified live (${cases.map((c) => c.name).join(', ')}); ${retried} cells re-probed`);
      expect(problems, problems.join('\n')).toEqual([]);

      // sync time with many policies (measured, not asserted), then back to none: every stale set must go
      const blank = { namespaceLabels: {}, podLabels: {} };
      const rows: string[] = [];
      for (const [label, n] of [['0', 0], ['100', 100], ['1000', 1000], ['1000 again', 1000], ['0 again', 0]] as const) {
        const reports = await labs.syncAll((p) => stateFor(p, blank, syntheticPolicies(n)));
        const d = reports.map((r) => r.detail);
        const avg = (f: (i: number) => number) => (reports.reduce((s, _, i) => s + f(i), 0) / reports.length).toFixed(1);
        rows.push(
          `${label.padEnd(11)} sync ${avg((i) => reports[i]!.durationMs)} ms (policy part ${avg((i) => Number(d[i]!.policyMs))} ms), ` +
            `per node: ${reports.map((r) => r.detail.policyRules).join('/')} policy rules, ${reports.map((r) => r.detail.ipsets).join('/')} ipsets, ` +
            `${reports.map((r) => r.detail.ipsetsBuilt).join('/')} built, ${reports.map((r) => r.detail.ipsetsDestroyed).join('/')} destroyed`,
        );
        if (n === 1000) expect(reports.every((r) => Number(r.detail.policyRules) > 1000)).toBe(true);
      }
      console.log(`iptables policy sync times (nft backend, average of 3 nodes):\n  ${rows.join('\n  ')}`);
      const ours = async (netns: string) => ({
        sets: (await run(['ipset', 'list', '-n'], { netns })).stdout.split('\n').filter((x) => x.startsWith('DPB')),
        rules: (await run(['iptables-nft', '-w', '-S'], { netns })).stdout.split('\n').filter((l) => l.includes('DPB-')),
      });
      for (const n of plan.nodes) {
        const left = await ours(n.netns);
        expect(left.sets, n.name).toEqual([]);
        expect(left.rules.filter((l) => l.startsWith('-A DPB-')), n.name).toEqual([]);
      }
      // cleanup takes the rest: hook, fixed chains
      await syncWith(labs, plan, byName(cases, 'deny-all-ingress'));
      for (const a of labs.member('iptables').agents) await a.call('cleanup', {});
      for (const n of plan.nodes) expect(await ours(n.netns), n.name).toEqual({ sets: [], rules: [] });
    }
    expect(labNetns().filter((n) => n.startsWith(prefix))).toEqual([]);
  }, 240_000);
});
