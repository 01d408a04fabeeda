// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy in the iptables datapath: golden renders of built-in cases for one node, every built-in case sent
// through a small iptables/ipset interpreter and compared cell by cell with the reference evaluator, the renderer's
// rules (names, ports, excepts, stale chains), and, as root, every golden loaded by the real ipset and
// iptables-restore (nft and legacy) in a throwaway namespace.
// Regenerate the goldens with: UPDATE_GOLDEN=1 npx vitest run test/unit/datapath/iptables-policy.test.ts
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { caseModel, loadCases, type NetpolCase } from '../../../src/netpol/cases.ts';
import { modelKubeObjects, modelLabPlan, type ModelPod } from '../../../src/netpol/model.ts';
import { buildTable, compareTables, expectedTable, failures, probeLabel, renderTable } from '../../../src/netpol/truth-table.ts';
import { podKey } from '../../../src/netpol/evaluator.ts';
import {
  parseHostRoutes, policyFilterTable, policyHook, renderPolicy, spliceIntoFilter, type PolicyRender,
} from '../../../src/datapath/iptables/policy.ts';
import { cidrIpset, podIpset, renderIpsetDestroy, renderIpsetRestore } from '../../../src/datapath/iptables/ipset.ts';
import { run } from '../../../src/util/exec.ts';
import { FilterSim, IpsetSim } from '../../fixtures/iptables-policy/simulate.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../fixtures/iptables-policy/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const PLAN = modelLabPlan();
const CASES = loadCases();
const byName = new Map(CASES.map((c) => [c.name, c]));

/** case × node: ingress, egress, ipBlock with except, named ports, endPort, AND / OR peers, stacked policies, SCTP */
const GOLDENS: [string, string][] = [
  ['no-policies', 'node0'],
  ['allow-from-pod-b', 'node0'],
  ['deny-all', 'node0'],
  ['ingress-and-egress-together', 'node0'],
  ['egress-denied-on-client-side', 'node1'],
  ['named-port-ingress', 'node0'],
  ['named-port-egress', 'node0'],
  ['end-port-egress', 'node0'],
  ['egress-cidr-except', 'node0'],
  ['ingress-from-cidr-except', 'node0'],
  ['namespace-and-pod-selector', 'node0'],
  ['namespace-or-pod-selector', 'node0'],
  ['stacked-port-policies', 'node0'],
  ['protocol-only-tcp', 'node0'],
  ['sctp-allow-port-81-from-namespace', 'node0'],
];

const interfacesOf = (node: string) => new Map(PLAN.nodes.find((n) => n.name === node)!.pods.map((p) => [p.ip, p.hostVeth]));

function render(c: Pick<NetpolCase, 'namespaceLabels' | 'podLabels'>, policies: V1NetworkPolicy[], node: string, previousChains?: Set<string>): PolicyRender {
  const objects = modelKubeObjects(caseModel(c));
  return renderPolicy({ state: { ...objects, networkPolicies: policies }, node: { nodeName: node }, interfaces: interfacesOf(node), previousChains });
}

const IPSET_MARK = '# ipset restore -exist\n';
const IPTABLES_MARK = '# iptables-restore --noflush\n';
const goldenText = (r: PolicyRender) => `${IPSET_MARK}${renderIpsetRestore(r.ipsets).text}${IPTABLES_MARK}${policyFilterTable(r)}`;
const splitGolden = (text: string) => {
  const [ipsets, filter] = text.slice(IPSET_MARK.length).split(IPTABLES_MARK);
  return { ipsets: ipsets!, filter: filter! };
};

describe('renderPolicy golden files', () => {
  for (const [name, node] of GOLDENS) {
    it(`${name} on ${node}`, () => {
      const c = byName.get(name)!;
      const text = goldenText(render(c, c.policies, node));
      const file = `${GOLDEN_DIR}${name}-${node}.txt`;
      if (UPDATE) {
        mkdirSync(GOLDEN_DIR, { recursive: true });
        writeFileSync(file, text);
        return;
      }
      if (!existsSync(file)) throw new Error(`golden ${file} is missing; create it with UPDATE_GOLDEN=1`);
      expect(text, `${name}: differs from its golden (UPDATE_GOLDEN=1 rewrites it after review)`).toBe(readFileSync(file, 'utf8'));
    });
  }
});

describe('every built-in case, interpreted, agrees with the evaluator', () => {
  // a packet crosses FORWARD on the sender's node (in: its veth) and, across nodes, on the receiver's (out: its veth)
  const verdict = (sims: Map<string, FilterSim>, from: ModelPod, to: ModelPod, protocol: string, port: number): boolean => {
    const iface = (p: ModelPod) => PLAN.nodes.find((n) => n.name === p.node)!.pods.find((x) => x.ip === p.ip)!.hostVeth;
    const pass = (node: string, inIf: string, outIf: string) =>
      sims.get(node)!.run('DPB-POLICY', { in: inIf, out: outIf, src: from.ip, dst: to.ip, protocol: protocol.toLowerCase() as 'tcp', dport: port }) !== 'DROP';
    if (from.node === to.node) return pass(from.node, iface(from), iface(to));
    return pass(from.node, iface(from), 'eth0') && pass(to.node, 'eth0', iface(to));
  };

  for (const c of CASES) {
    it(c.name, () => {
      const sims = new Map(PLAN.nodes.map((n) => {
        const r = render(c, c.policies, n.name);
        return [n.name, new FilterSim(policyFilterTable(r), new IpsetSim(renderIpsetRestore(r.ipsets).text))];
      }));
      const model = caseModel(c);
      const pods = new Map(model.pods.map((p) => [podKey(p), p]));
      // every case's probes plus both ports on every protocol, so port and protocol mix-ups show
      const probes = [...c.probes, ...(['TCP', 'UDP', 'SCTP'] as const).flatMap((protocol) => [80, 81].map((port) => ({ port, protocol })))];
      for (const probe of probes) {
        const expected = expectedTable(c.policies, model, probe);
        const observed = buildTable(expected.froms, expected.tos, (f, t) => f === t || verdict(sims, pods.get(f)!, pods.get(t)!, probe.protocol, probe.port));
        const bad = failures(compareTables(expected, observed));
        expect(bad, `${c.name} ${probeLabel(probe)}\n${renderTable(observed, { against: expected })}`).toEqual([]);
      }
    });
  }
});

describe('ipsets', () => {
  it('names are short, deterministic and content-addressed', () => {
    const a = podIpset(['10.244.1.11', '10.244.0.10', '10.244.1.11']);
    expect(a.members).toEqual(['10.244.0.10', '10.244.1.11']);
    expect(a.name).toMatch(/^DPB-[A-Z2-7]{16}$/);
    expect(podIpset(['10.244.0.10', '10.244.1.11']).name).toBe(a.name);
    expect(podIpset(['10.244.0.10']).name).not.toBe(a.name);
    expect(cidrIpset([{ cidr: '10.244.0.10/32', except: [] }]).name).not.toBe(podIpset(['10.244.0.10']).name);
  });

  it('stores excepts as nomatch, normalises bases, and splits 0.0.0.0/0 (hash:net cannot hold it)', () => {
    expect(cidrIpset([{ cidr: '10.244.1.7/24', except: ['10.244.1.12/32'] }]).members).toEqual(['10.244.1.0/24', '10.244.1.12/32 nomatch']);
    expect(cidrIpset([{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }]).members).toEqual(['0.0.0.0/1', '10.0.0.0/8 nomatch', '128.0.0.0/1']);
    // an except equal to half of the split /0 must win over that half
    const half = new IpsetSim(renderIpsetRestore([cidrIpset([{ cidr: '0.0.0.0/0', except: ['0.0.0.0/1'] }])]).text);
    const name = [...half.sets.keys()][0]!;
    expect([half.contains(name, '10.0.0.1'), half.contains(name, '200.0.0.1')]).toEqual([false, true]);
  });

  it('builds only untrusted sets; existing ones via a temporary twin and an atomic swap', () => {
    const a = podIpset(['10.244.0.10']);
    const b = cidrIpset([{ cidr: '10.0.0.0/8', except: [] }]);
    const fresh = renderIpsetRestore([a, b, a]);
    expect(fresh.built).toEqual([a.name, b.name].sort());
    expect(fresh.text).not.toContain('swap');
    expect(renderIpsetRestore([a, b], { trusted: new Set([a.name, b.name]) }).text).toBe('');
    const temp = `DPBT-${a.name.slice(4)}`;
    const rebuilt = renderIpsetRestore([a], { existing: new Set([a.name, temp]) });
    expect(rebuilt.text.split('\n')).toEqual([
      `destroy ${temp}`,
      `create ${temp} hash:ip family inet hashsize 64 maxelem 65536`,
      `add ${temp} 10.244.0.10`,
      `swap ${temp} ${a.name}`,
      `destroy ${temp}`,
      '',
    ]);
    expect(renderIpsetDestroy(['DPB-B', 'KUBE-X', 'DPB-A'])).toBe('destroy DPB-A\ndestroy DPB-B\n');
  });
});

describe('renderPolicy', () => {
  const c = byName.get('allow-from-pod-b')!;

  it('programs nothing but empty fixed chains without policies', () => {
    const r = render(c, [], 'node0');
    expect(r.ruleCount).toBe(0);
    expect(r.declarations).toEqual([':DPB-POLICY - [0:0]', ':DPB-FROM-POD - [0:0]', ':DPB-TO-POD - [0:0]']);
    expect(r.endpoints.map((e) => [e.pod, e.iface, e.ingress, e.egress])).toEqual([['x/a', 'lxc0', false, false], ['x/b', 'lxc1', false, false], ['x/c', 'lxc2', false, false]]);
  });

  it('programs only the pods of its node, and reports local pods without a route', () => {
    expect(render(c, c.policies, 'node1').ruleCount).toBe(0); // x/a lives on node0
    const objects = modelKubeObjects(caseModel(c));
    const r = renderPolicy({ state: { ...objects, networkPolicies: c.policies }, node: { nodeName: 'node0' }, interfaces: new Map([['10.244.0.11', 'lxc1']]) });
    expect(r.unrouted).toEqual(['x/a', 'x/c']);
    expect(r.ruleCount).toBe(0);
  });

  it('deletes chains of the last sync that are gone, never the fixed ones', () => {
    const before = render(c, c.policies, 'node0');
    const after = render(c, [], 'node0', new Set([...before.chains, 'KUBE-FORWARD']));
    const gone = [...before.chains].filter((ch) => !after.chains.has(ch));
    expect(gone.sort()).toEqual(['DPB-PI-BXWVTH3IRJ2TJBY3', 'DPB-TW-lxc0']);
    expect(after.rules.filter((l) => l.startsWith('-X '))).toEqual(gone.sort().map((g) => `-X ${g}`));
    for (const g of gone) expect(after.declarations).toContain(`:${g} - [0:0]`);
  });

  it('splits many ports over multiport rules of at most 15 slots, ranges counting twice', () => {
    const policy: V1NetworkPolicy = {
      metadata: { name: 'many', namespace: 'x' },
      spec: {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ ports: [...Array.from({ length: 16 }, (_, i) => ({ port: 1000 + i })), { port: 2000, endPort: 2010 }, { protocol: 'UDP', port: 53 }, { protocol: 'SCTP' }] }],
      },
    };
    const lines = render(c, [policy], 'node0').rules.filter((l) => l.startsWith('-A DPB-PI-'));
    expect(lines.map((l) => /-p (\w+)(?: -m \w+ --dports? (\S+))?/.exec(l)!.slice(1).join(' '))).toEqual([
      'tcp 1000,1001,1002,1003,1004,1005,1006,1007,1008,1009,1010,1011,1012,1013,1014',
      'tcp 1015,2000:2010',
      'udp 53',
      'sctp ',
    ]);
  });

  it('keeps every chain name within iptables\' 28 characters and is independent of input order', () => {
    const big = byName.get('namespace-or-pod-selector')!;
    const a = render(big, big.policies, 'node0');
    for (const ch of a.chains) expect(ch.length).toBeLessThanOrEqual(28);
    const objects = modelKubeObjects(caseModel(big));
    const b = renderPolicy({
      state: { namespaces: [...objects.namespaces].reverse(), pods: [...objects.pods].reverse(), networkPolicies: [...big.policies].reverse() },
      node: { nodeName: 'node0' },
      interfaces: interfacesOf('node0'),
    });
    expect(policyFilterTable(b)).toBe(policyFilterTable(a));
  });

  it('hooks FORWARD, reads host routes, and splices into kube-proxy\'s filter table', () => {
    expect(policyHook()).toEqual({ table: 'filter', chain: 'FORWARD', args: ['-m', 'comment', '--comment', 'dpbench network policy', '-j', 'DPB-POLICY'] });
    const routes = 'default via 172.18.0.1 dev eth0\n10.244.1.0/24 via 172.18.0.3 dev eth0\n10.244.0.10 dev lxc0 scope link\n10.244.0.11 dev lxc1 scope link\n';
    expect([...parseHostRoutes(routes)]).toEqual([['10.244.0.10', 'lxc0'], ['10.244.0.11', 'lxc1']]);
    const r = render(c, c.policies, 'node0');
    const spliced = spliceIntoFilter('*filter\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -j ACCEPT\nCOMMIT\n', r).split('\n');
    expect(spliced.slice(0, 3)).toEqual(['*filter', ':KUBE-FORWARD - [0:0]', ':DPB-POLICY - [0:0]']);
    expect(spliced.indexOf('-A KUBE-FORWARD -j ACCEPT')).toBeLessThan(spliced.indexOf(r.rules[0]!));
    expect(spliced.slice(-2)).toEqual(['COMMIT', '']);
  });
});

// ── the real ipset and iptables-restore, in a namespace created and deleted by each test ──
const BACKENDS = ['nft', 'legacy'].filter((b) => existsSync(`/usr/sbin/iptables-${b}-restore`));
const canLoad = process.getuid?.() === 0 && BACKENDS.length > 0 && ['/usr/sbin/ip', '/usr/sbin/ipset', '/usr/bin/nsenter'].every(existsSync);

const created: string[] = [];

async function withNetns(body: (netns: string) => Promise<void>): Promise<void> {
  const netns = `dpb-test-${randomBytes(4).toString('hex')}`;
  created.push(netns);
  await run(['ip', 'netns', 'add', netns]);
  try {
    await body(netns);
  } finally {
    await run(['ip', 'netns', 'del', netns], { allowFail: true });
  }
}

describe.skipIf(!canLoad)('ipset and iptables-restore load the goldens (root, throwaway netns)', () => {
  for (const b of BACKENDS) {
    it(`every golden (iptables-${b})`, async () => {
      for (const [name, node] of GOLDENS) {
        const { ipsets, filter } = splitGolden(readFileSync(`${GOLDEN_DIR}${name}-${node}.txt`, 'utf8'));
        await withNetns(async (netns) => {
          await run(['ipset', 'restore', '-exist'], { netns, input: ipsets });
          await run([`iptables-${b}-restore`, '-w', '--noflush'], { netns, input: filter });
          const saved = (await run([`iptables-${b}-save`, '-t', 'filter'], { netns })).stdout;
          const count = (text: string) => text.split('\n').filter((l) => /^-A DPB-/.test(l)).length;
          expect(count(saved), name).toBe(count(filter));
          const sets = (await run(['ipset', 'list', '-n'], { netns })).stdout.split('\n').filter(Boolean).sort();
          expect(sets, name).toEqual([...new Set([...ipsets.matchAll(/^create (\S+)/gm)].map((m) => m[1]))].sort());
        });
      }
    }, 60_000);
  }

  it('make before break: old sets stay in use until the switch, then go; stale chains are deleted', async () => {
    const b = BACKENDS[0]!;
    const c = byName.get('egress-cidr-except')!;
    const first = render(c, c.policies, 'node0');
    const changed = structuredClone(c.policies);
    changed[0]!.spec!.egress![0]!.to![0]!.ipBlock!.except = ['10.244.0.12/32'];
    const second = render(c, changed, 'node0', first.chains);
    const oldSets = first.ipsets.map((s) => s.name);
    expect(second.ipsets.map((s) => s.name).some((n) => oldSets.includes(n))).toBe(false);
    await withNetns(async (netns) => {
      const restore = (text: string) => run([`iptables-${b}-restore`, '-w', '--noflush'], { netns, input: text });
      await run(['ipset', 'restore', '-exist'], { netns, input: renderIpsetRestore(first.ipsets).text });
      await restore(policyFilterTable(first));
      await run(['ipset', 'restore', '-exist'], { netns, input: renderIpsetRestore(second.ipsets).text });
      // the kernel refuses to destroy a set rules still match on: the old rules are intact until the switch
      const early = await run(['ipset', 'restore'], { netns, input: renderIpsetDestroy(oldSets), allowFail: true });
      expect(early.code).not.toBe(0);
      await restore(policyFilterTable(second));
      // after it they can go (nft may release a rule's reference shortly after its commit, hence the retries)
      for (let i = 0; i < 5; i++) {
        const listed = (await run(['ipset', 'list', '-n'], { netns })).stdout.split('\n');
        const left = oldSets.filter((n) => listed.includes(n));
        if (!left.length) break;
        await run(['ipset', 'restore'], { netns, input: renderIpsetDestroy(left), allowFail: true });
        await new Promise((r) => setTimeout(r, 20 * i));
      }
      const sets = (await run(['ipset', 'list', '-n'], { netns })).stdout.split('\n').filter(Boolean).sort();
      expect(sets).toEqual(second.ipsets.map((s) => s.name).sort());
      const cleared = render(c, [], 'node0', second.chains);
      await restore(policyFilterTable(cleared));
      const saved = (await run([`iptables-${b}-save`, '-t', 'filter'], { netns })).stdout;
      expect(saved.match(/^:DPB-\S+/gm)?.sort()).toEqual([':DPB-FROM-POD', ':DPB-POLICY', ':DPB-TO-POD']);
    });
  }, 30_000);

  it('leaves no namespace behind', async () => {
    const listed = (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
    expect(created.length).toBeGreaterThan(0);
    expect(created.filter((n) => listed.includes(n))).toEqual([]);
  });
});
