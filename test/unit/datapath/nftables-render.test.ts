// SPDX-License-Identifier: Apache-2.0
// Golden-file tests of the kube-proxy nftables renderer (the iptables renderer's cases), a line-for-line check
// against upstream's TestOverallNFTablesRules, the real `nft -f` in throwaway network namespaces, and DNAT end
// to end in a lab cluster. Regenerate the goldens with: UPDATE_GOLDEN=1 npx vitest run test/unit/datapath
//
// The lab cluster of the end-to-end test (one nft agent per node, driven from outside its namespace):
//
//   [external] ── br0 [fabric] ──┬── eth0 [node0]                 [node1] eth0 ──┘
//                                     lxc0 ─ [node0-pod0] client        lxc0 ─ [node1-pod0] echo
//                                     lxc1 ─ [node0-pod1] echo          lxc1 ─ [node1-pod1] echo
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { NodeContext } from '../../../src/cluster/state.ts';
import {
  affinitySetName, clusterPolicyChainName, endpointChainName, externalChainName, firewallChainName,
  localPolicyChainName, renderNftables, type NftRender, type NftRenderOptions,
} from '../../../src/datapath/nftables/render.ts';
import { NftablesAgent } from '../../../src/datapath/nftables/agent.ts';
import { LabCluster } from '../../../src/cluster/lab/lab.ts';
import { allPods, planLab } from '../../../src/cluster/lab/plan.ts';
import { buildClusterState, clientPod, ECHO_PORT, ECHO_VIP_INDEX, EMPTY_VIP_INDEX, serviceObjects, serviceVIP } from '../../../src/cluster/objects.ts';
import { probeConnect, probeServerArgv, waitForServer } from '../../../src/workload/probe/index.ts';
import { run } from '../../../src/util/exec.ts';
import { newPrefix } from '../../../src/runner/run.ts';
import { loadClusterShape } from '../../../src/runner/scenario/load.ts';
import { hostSnapshot, labNetns } from '../../helpers/host.ts';
import { CASES, NODE, type GoldenCase } from '../../fixtures/iptables/cases.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/nftables/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** upstream's fake proxier has service CIDR 172.30.0.0/16; the other cases use the lab's default */
const serviceCIDRsOf = (c: GoldenCase) => (c.name === 'upstream-overall' ? ['172.30.0.0/16'] : ['10.96.0.0/12']);
const nodeOf = (c: GoldenCase): NodeContext => c.node ?? NODE;

/** a fresh table for plain cases; the stale-chain case syncs on top of its previous state */
function renderCase(c: GoldenCase, extra: NftRenderOptions = {}): { render: NftRender; previous?: NftRender } {
  const base = { serviceCIDRs: serviceCIDRsOf(c), ...extra };
  if (!c.previous) return { render: renderNftables(c.state, nodeOf(c), { firstSync: true, ...base }) };
  const previous = renderNftables(c.previous, nodeOf(c), { firstSync: true, ...base });
  const render = renderNftables(c.state, nodeOf(c), { previousChains: previous.chains, previousAffinitySets: previous.affinitySets, ...base });
  return { render, previous };
}

const goldenFile = (name: string) => `${FIXTURES}${name}.nft`;

function expectGolden(name: string, text: string): void {
  const file = goldenFile(name);
  if (UPDATE) {
    mkdirSync(FIXTURES, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file)) throw new Error(`golden ${file} is missing; create it with UPDATE_GOLDEN=1 npx vitest run test/unit/datapath`);
  expect(text, `${name}: differs from its golden (UPDATE_GOLDEN=1 rewrites it after review)`).toBe(readFileSync(file, 'utf8'));
}

const byName = new Map(CASES.map((c) => [c.name, c]));
const rendered = (name: string, extra: NftRenderOptions = {}) => renderCase(byName.get(name)!, extra).render;
const lines = (r: NftRender) => r.script.split('\n').filter(Boolean);

describe('renderNftables golden files', () => {
  for (const c of CASES) {
    it(c.name, () => expectGolden(c.name, renderCase(c).render.script));
  }
});

describe('chain names match kube-proxy', () => {
  // values from the expected dumps of TestOverallNFTablesRules / TestSyncProxyRulesRepeated, kubernetes
  // pkg/proxy/nftables/proxier_test.go
  const port = (namespace: string, name: string, p: string) => ({ namespace, name, port: p, protocol: 'tcp' });

  it('hashes service ports like upstream', () => {
    expect(clusterPolicyChainName(port('ns1', 'svc1', 'p80'))).toBe('service-ULMVA6XW-ns1/svc1/tcp/p80');
    expect(externalChainName(port('ns2', 'svc2', 'p80'))).toBe('external-42NFTM6N-ns2/svc2/tcp/p80');
    expect(firewallChainName(port('ns5', 'svc5', 'p80'))).toBe('firewall-HVFWP5L3-ns5/svc5/tcp/p80');
    expect(clusterPolicyChainName(port('ns2', 'svc2', 'p8080'))).toBe('service-MHHHYRWA-ns2/svc2/tcp/p8080');
    // local- and external- share the service's hash, as upstream's chainNameBase is computed once
    expect(localPolicyChainName(port('ns2', 'svc2', 'p80'))).toBe('local-42NFTM6N-ns2/svc2/tcp/p80');
  });

  it('hashes endpoints and affinity sets like upstream', () => {
    expect(endpointChainName(port('ns1', 'svc1', 'p80'), '10.180.0.1:80')).toBe('endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
    expect(endpointChainName(port('ns2', 'svc2', 'p8080'), '10.0.2.1:8080')).toBe('endpoint-7RVP4LUQ-ns2/svc2/tcp/p8080__10.0.2.1/8080');
    expect(affinitySetName(port('ns5', 'svc5', 'p80'), '10.180.0.3:80')).toBe('affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80');
  });

  it('is sensitive to protocol and port name', () => {
    expect(clusterPolicyChainName({ ...port('ns1', 'svc1', 'p80'), protocol: 'udp' })).toMatch(/^service-(?!ULMVA6XW)[A-Z2-7]{8}-ns1\/svc1\/udp\/p80$/);
    expect(clusterPolicyChainName(port('ns1', 'svc1', ''))).toMatch(/^service-[A-Z2-7]{8}-ns1\/svc1\/tcp\/$/);
  });
});

describe('renderNftables behaviour', () => {
  it('reproduces upstream TestOverallNFTablesRules line for line', () => {
    const expected = readFileSync(`${FIXTURES}upstream-overall.expected.nft`, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    // not a first sync: the dump holds no add+delete pairs; the fake proxier's mark is 0x4000 (see the fixture)
    const r = rendered('upstream-overall', { firstSync: false });
    const ours = lines(r).filter((l) => l.startsWith('add ')).map((l) => l.replaceAll('0x004000', '0x4000'));
    expect(new Set(ours)).toEqual(new Set(expected));
    expect(ours.length, 'each command written once').toBe(new Set(ours).size);
  });

  it('spreads endpoints with one numgen vmap, in ip:port order', () => {
    const rule = lines(rendered('clusterip-3-endpoints')).find((l) => l.includes('numgen'))!;
    expect(rule).toMatch(/^add rule ip kube-proxy service-[A-Z2-7]{8}-ns1\/web\/tcp\/http numgen random mod 3 vmap \{ 0 : goto endpoint-\S+__10\.244\.1\.5\/8080 , 1 : goto endpoint-\S+__10\.244\.2\.7\/8080 , 2 : goto endpoint-\S+__10\.244\.3\.9\/8080 \}$/);
  });

  it('marks off-cluster traffic and hairpins for masquerade', () => {
    const out = lines(rendered('clusterip-3-endpoints'));
    expect(out).toContain(`add rule ip kube-proxy ${clusterPolicyChainName({ namespace: 'ns1', name: 'web', port: 'http', protocol: 'tcp' })} ip daddr 10.96.0.20 ip saddr != 10.244.0.0/16 jump mark-for-masquerade`);
    expect(out.filter((l) => / ip saddr 10\.244\.\d\.\d jump mark-for-masquerade$/.test(l))).toHaveLength(3);
  });

  it('rejects services without endpoints through no-endpoint-services, with no chains of their own', () => {
    const r = rendered('no-endpoints');
    expect(lines(r)).toContain('add element ip kube-proxy no-endpoint-services { 10.96.0.30 . tcp . 80 comment "ns1/empty:http" : goto reject-chain }');
    expect(lines(r)).toContain('add element ip kube-proxy no-endpoint-nodeports { tcp . 30031 comment "ns1/unready:http" : goto reject-chain }');
    expect(lines(r)).toContain('add element ip kube-proxy cluster-ips { 10.96.0.31 }');
    expect(r.serviceIpElements).toBe(0);
    expect([...r.chains].filter((ch) => ch.includes('/'))).toEqual([]);
  });

  it('applies externalTrafficPolicy Local: local chain, pod/host short-circuits, drop without local endpoints', () => {
    const out = lines(rendered('etp-local'));
    const edge = { namespace: 'ns1', name: 'edge', port: 'http', protocol: 'tcp' };
    const ext = externalChainName(edge);
    expect(out).toContain(`add rule ip kube-proxy ${ext} ip saddr 10.244.0.0/16 goto ${clusterPolicyChainName(edge)} comment "short-circuit pod traffic"`);
    expect(out).toContain(`add rule ip kube-proxy ${ext} fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`);
    expect(out).toContain(`add rule ip kube-proxy ${ext} goto ${localPolicyChainName(edge)}`);
    expect(out.find((l) => l.startsWith(`add rule ip kube-proxy ${localPolicyChainName(edge)} numgen`))).toMatch(/mod 1 vmap \{ 0 : goto endpoint-\S+__10\.244\.1\.9\/8080 \}$/);
    // ns1/lb has endpoints, none on this node: external traffic dropped, its cluster IP still served
    expect(out).toContain('add element ip kube-proxy no-endpoint-services { 203.0.113.51 . tcp . 80 comment "ns1/lb:http" : drop }');
    expect(out).toContain('add element ip kube-proxy no-endpoint-nodeports { tcp . 30051 comment "ns1/lb:http" : drop }');
    expect(out.some((l) => l.startsWith('add element ip kube-proxy service-ips { 10.96.0.51 . tcp . 80 : goto service-'))).toBe(true);
  });

  it('keeps session affinity in per-endpoint sets with the service timeout', () => {
    const out = lines(rendered('session-affinity'));
    const sets = out.filter((l) => l.startsWith('add set ip kube-proxy affinity-'));
    expect(sets).toHaveLength(2);
    for (const s of sets) expect(s).toMatch(/\{ type ipv4_addr ; flags dynamic,timeout ; timeout 300s ; \}$/);
    expect(out.filter((l) => /ip saddr @affinity-\S+ goto endpoint-/.test(l))).toHaveLength(2);
    expect(out.filter((l) => /update @affinity-\S+ \{ ip saddr \}$/.test(l))).toHaveLength(2);
  });

  it('flushes, then deletes, the chains and affinity sets of the previous sync that are gone', () => {
    const { render, previous } = renderCase(byName.get('stale-chains')!);
    const gone = [...previous!.chains].filter((ch) => !render.chains.has(ch)).sort();
    expect(gone).toHaveLength(4); // shop/gone's service, external and endpoint chains, shop/cart's second endpoint
    expect(render.staleChains).toEqual(gone);
    const out = lines(render);
    const lastFlush = Math.max(...gone.map((ch) => out.indexOf(`flush chain ip kube-proxy ${ch}`)));
    for (const ch of gone) expect(out.indexOf(`delete chain ip kube-proxy ${ch}`)).toBeGreaterThan(lastFlush);
    // fixed chains are never deleted, even when asked to
    const c = byName.get('stale-chains')!;
    const r = renderNftables(c.state, NODE, { previousChains: new Set(['services', 'mark-for-masquerade', 'endpoint-AAAAAAAA-x/y/tcp/p__1.2.3.4/80']) });
    expect(lines(r).filter((l) => l.startsWith('delete '))).toEqual(['delete chain ip kube-proxy endpoint-AAAAAAAA-x/y/tcp/p__1.2.3.4/80']);
    // kernels before 6.2: flush only, and keep them to delete next time
    const deferred = renderNftables(c.state, NODE, { previousChains: previous!.chains, deleteStaleChains: false });
    expect(lines(deferred).filter((l) => l.startsWith('delete '))).toEqual([]);
    for (const ch of gone) expect(deferred.chains.has(ch)).toBe(true);
    // affinity sets of endpoints that are gone are deleted outright
    const sticky = rendered('session-affinity');
    const none = renderNftables({ ...c.state, services: [] }, NODE, { previousChains: sticky.chains, previousAffinitySets: sticky.affinitySets });
    expect(lines(none).filter((l) => l.startsWith('delete set '))).toEqual([...sticky.affinitySets].sort().map((s) => `delete set ip kube-proxy ${s}`));
  });

  it('re-creates the base chains only on the first sync', () => {
    const c = byName.get('nodeport')!;
    expect(lines(renderNftables(c.state, NODE, { firstSync: true })).filter((l) => l.startsWith('delete chain'))).toHaveLength(8);
    expect(lines(renderNftables(c.state, NODE)).filter((l) => l.startsWith('delete chain'))).toHaveLength(0);
  });

  it('counts rules and elements, lists its chains and service-ips elements', () => {
    for (const c of CASES) {
      const r = renderCase(c).render;
      const out = lines(r);
      const elements = out.filter((l) => l.startsWith('add element ')).length - out.filter((l) => l.startsWith('delete element ')).length;
      expect(r.ruleCount, c.name).toBe(out.filter((l) => l.startsWith('add rule ')).length + elements);
      expect(r.serviceIpElements, c.name).toBe(out.filter((l) => l.startsWith('add element ip kube-proxy service-ips ')).length);
      const defined = new Set<string>();
      for (const l of out) {
        const [verb, what, , , name] = l.split(' ');
        if (what !== 'chain') continue;
        if (verb === 'add') defined.add(name!);
        if (verb === 'delete') defined.delete(name!);
      }
      expect(r.chains, c.name).toEqual(defined);
    }
    expect(rendered('upstream-overall').serviceIpElements).toBe(9);
  });

  it('is deterministic whatever the input order', () => {
    const c = byName.get('upstream-overall')!;
    const a = renderNftables(c.state, c.node!);
    const shuffled = { ...c.state, services: [...c.state.services].reverse(), endpointSlices: [...c.state.endpointSlices].reverse() };
    expect(renderNftables(shuffled, c.node!).script).toBe(a.script);
  });

  it('honours masqueradeBit and rejects a bad one', () => {
    const c = byName.get('nodeport')!;
    expect(renderNftables(c.state, NODE, { masqueradeBit: 0 }).script).toContain('add rule ip kube-proxy mark-for-masquerade mark set mark or 0x000001\n');
    expect(() => renderNftables(c.state, NODE, { masqueradeBit: 32 })).toThrow(/masqueradeBit/);
  });

  it('drops traffic to unallocated cluster IPs only when it knows the service CIDRs', () => {
    const c = byName.get('nodeport')!;
    expect(renderNftables(c.state, NODE, { serviceCIDRs: ['10.96.0.0/12'] }).script).toContain('cluster-ips-check ip daddr { 10.96.0.0/12 } drop');
    expect(renderNftables(c.state, NODE).script).not.toContain('} drop comment "Drop traffic to unallocated ClusterIPs"');
  });
});

// ── the real nft, in network namespaces created and deleted by each test ──
const canNft = process.getuid?.() === 0 && ['/usr/sbin/nft', '/usr/sbin/ip', '/usr/bin/nsenter'].every(existsSync);
const NETNS_PREFIX = `dpbtest-nft-${process.pid}`;

interface TableDump {
  chains: Set<string>;
  rules: number;
  /** elements per set or map */
  elements: Map<string, number>;
  affinitySets: Set<string>;
}

type NftJson = { nftables: Record<string, { name?: string; elem?: unknown[] }>[] };

async function dumpTable(netns: string): Promise<TableDump> {
  const { nftables } = JSON.parse((await run(['nft', '-j', 'list', 'table', 'ip', 'kube-proxy'], { netns })).stdout) as NftJson;
  const d: TableDump = { chains: new Set(), rules: 0, elements: new Map(), affinitySets: new Set() };
  for (const o of nftables) {
    if (o.chain) d.chains.add(o.chain.name!);
    if (o.rule) d.rules++;
    const set = o.set ?? o.map;
    if (set) {
      d.elements.set(set.name!, set.elem?.length ?? 0);
      if (o.set && set.name!.startsWith('affinity-')) d.affinitySets.add(set.name!);
    }
  }
  return d;
}

async function withNetns(tag: string, body: (netns: string) => Promise<void>): Promise<void> {
  const netns = `${NETNS_PREFIX}-${tag}`;
  await run(['ip', 'netns', 'add', netns]);
  try {
    await body(netns);
  } finally {
    await run(['ip', 'netns', 'del', netns], { allowFail: true });
  }
}

describe.skipIf(!canNft)('nft -f accepts the goldens (root, throwaway netns)', () => {
  CASES.forEach((c, i) => {
    it(`${c.name}: loads, then a sync with fewer services deletes the stale chains`, async () => {
      const { render, previous } = renderCase(c);
      const node = nodeOf(c);
      await withNetns(String(i), async (netns) => {
        const nft = (script: string) => run(['nft', '-f', '-'], { netns, input: script, timeoutMs: 20_000 });
        if (previous) await nft(previous.script);
        await nft(readFileSync(goldenFile(c.name), 'utf8'));
        const d = await dumpTable(netns);
        expect(d.chains).toEqual(render.chains);
        expect(d.rules + [...d.elements.values()].reduce((a, b) => a + b, 0)).toBe(render.ruleCount);
        expect(d.elements.get('service-ips')).toBe(render.serviceIpElements);
        expect(d.affinitySets).toEqual(render.affinitySets);

        // the agent's first sync: lists the table, re-creates the base chains, deletes what is gone
        const agent = new NftablesAgent({ netns, serviceCIDRs: serviceCIDRsOf(c) });
        await agent.init({ datapath: 'nftables', node, options: { iptablesBackend: 'nft' } });
        const fewer = { ...c.state, services: c.state.services.slice(0, Math.floor(c.state.services.length / 2)) };
        const report = await agent.sync(fewer);
        const expected = renderNftables(fewer, node, { serviceCIDRs: serviceCIDRsOf(c) });
        const after = await dumpTable(netns);
        expect(after.chains).toEqual(expected.chains);
        expect(after.affinitySets).toEqual(expected.affinitySets);
        expect(report.rules).toBe(expected.ruleCount);
        expect(report.detail).toMatchObject({ lookup: 'verdict-map', serviceIpElements: expected.serviceIpElements, chains: expected.chains.size });
        expect(report.detail.staleChains).toBe([...render.chains].filter((ch) => !expected.chains.has(ch)).length);
        expect(report.durationMs).toBeGreaterThanOrEqual(report.renderMs + report.applyMs);

        await agent.cleanup();
        expect((await run(['nft', 'list', 'tables'], { netns })).stdout).not.toContain('kube-proxy');
        await agent.cleanup(); // "no such table" is not an error
      });
    }, 30_000);
  });

  it('leaves no namespace behind', async () => {
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(NETNS_PREFIX);
  });
});

describe.skipIf(!canNft)('DNAT end to end in a lab cluster (root)', () => {
  const plan = planLab(newPrefix(), 'nftables', loadClusterShape('lab-2node', 'test'));

  it('connects through the service VIPs, NodePort, hairpin and affinity; rejects what has no endpoints', async () => {
    const before = await hostSnapshot();
    const lab = new LabCluster(plan);
    try {
      await lab.up();
      const client = clientPod(plan);
      const servers = allPods(plan).filter((p) => p !== client);
      for (const p of servers) lab.spawn(p.netns, probeServerArgv(p.name, { tcp: [ECHO_PORT] }));

      const [node0, node1] = [plan.nodes[0]!, plan.nodes[1]!];
      const remote = node1.pods[0]!;
      const local = node0.pods[1]!;
      const [nodePortVIP, hairpinVIP, stickyVIP] = [110, 111, 112].map((i) => serviceVIP(plan, i)) as [string, string, string];
      const http = (nodePort?: number) => [{ name: 'http', port: 80, targetPort: ECHO_PORT, ...(nodePort ? { nodePort } : {}) }];
      const extra = [
        serviceObjects({ namespace: 'dpbench', name: 'echo-np', clusterIP: nodePortVIP, type: 'NodePort', ports: http(30080), backends: [{ ip: remote.ip, nodeName: remote.node }] }),
        serviceObjects({ namespace: 'dpbench', name: 'hairpin', clusterIP: hairpinVIP, ports: http(), backends: [{ ip: local.ip, nodeName: local.node }] }),
        serviceObjects({
          namespace: 'dpbench', name: 'sticky', clusterIP: stickyVIP, ports: http(), sessionAffinity: 'ClientIP',
          backends: servers.map((p) => ({ ip: p.ip, nodeName: p.node })),
        }),
      ];
      const state = buildClusterState(plan, { services: 2, backendsPerService: 1, extras: true });
      state.services.push(...extra.map((e) => e.service));
      state.endpointSlices.push(...extra.map((e) => e.slice));

      for (const n of plan.nodes) {
        const agent = new NftablesAgent({ netns: n.netns, serviceCIDRs: [plan.serviceCIDR] });
        await agent.init({
          datapath: 'nftables',
          node: { nodeName: n.name, nodeIPs: [n.ip], clusterCIDR: plan.clusterCIDR, podCIDR: n.podCIDR },
          options: { iptablesBackend: 'nft' },
        });
        const report = await agent.sync(state);
        expect(report).toMatchObject({ datapath: 'nftables', node: n.name, detail: { lookup: 'verdict-map' } });
        expect(report.detail).not.toHaveProperty('targetPosition');
      }
      for (const p of servers) await waitForServer(client.netns, p.ip, ECHO_PORT);

      // pod -> VIP: DNAT to every backend in turn, source address kept
      const echo = await probeConnect(client.netns, serviceVIP(plan, ECHO_VIP_INDEX), 80, 30, { timeoutMs: 2000 });
      expect(echo.refused + echo.timeouts, JSON.stringify(echo)).toBe(0);
      expect(Object.keys(echo.replies).length, 'numgen spreads over the backends').toBeGreaterThanOrEqual(2);
      for (const name of Object.keys(echo.replies)) expect(servers.map((p) => p.name)).toContain(name);
      expect(echo.sources).toEqual({ [client.ip]: 30 });

      // external client -> node0's NodePort -> a pod on node1: answers only because node0 masquerades
      const np = await probeConnect(plan.externalNetns, node0.ip, 30080, 3, { timeoutMs: 2000 });
      expect(np.replies, JSON.stringify(np)).toEqual({ [remote.name]: 3 });
      expect(np.sources).toEqual({ [node0.ip]: 3 });

      // a pod reaching itself through its service: answers only because of the hairpin masquerade
      const hairpin = await probeConnect(local.netns, hairpinVIP, 80, 3, { timeoutMs: 2000 });
      expect(hairpin.replies, JSON.stringify(hairpin)).toEqual({ [local.name]: 3 });
      expect(Object.keys(hairpin.sources)).not.toContain(local.ip);

      const sticky = await probeConnect(client.netns, stickyVIP, 80, 10, { timeoutMs: 2000 });
      expect(Object.values(sticky.replies), JSON.stringify(sticky)).toEqual([10]);

      // reject-chain for a service without endpoints, cluster-ips-check for a port the VIP does not serve
      const empty = await probeConnect(client.netns, serviceVIP(plan, EMPTY_VIP_INDEX), 80, 2, { timeoutMs: 2000 });
      expect(empty.refused, JSON.stringify(empty)).toBe(2);
      const wrongPort = await probeConnect(client.netns, serviceVIP(plan, ECHO_VIP_INDEX), 81, 2, { timeoutMs: 2000 });
      expect(wrongPort.refused, JSON.stringify(wrongPort)).toBe(2);
    } finally {
      await lab.down();
    }
    expect(await hostSnapshot(), 'the machine namespace is untouched').toEqual(before);
  }, 120_000);

  it('leaves no namespace behind', () => {
    expect(labNetns().filter((n) => n.startsWith(plan.prefix))).toEqual([]);
  });
});
