// SPDX-License-Identifier: Apache-2.0
// The ebpf agent under churn and faults on a real lab cluster: pods that appear, are replaced or go away after init;
// an agent killed mid-run; maps too small for a sync; an object the verifier refuses. Whatever happens, the run's
// teardown (and `dpbench clean` for a killed agent's pins) leaves no namespace, pin, link or program.
//
//   node0: eth0 ─ tc_from_netdev           node0-pod0 (client) ─lxc0─┐
//          lxc0 / lxc1 / lxc7 (added) ─────  node0-pod1 (replaced) ─lxc1─┼─ tc_from_pod ⇣ ⇡ tc_to_pod
//                                          node0-pod7 (new)      ─lxc7─┘
//   echo 10.96.0.101:80 → node0-pod1, node1-pod0, node1-pod1 :8080
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanLeftovers } from '../../src/cluster/lab/clean.ts';
import { addNetns, addVethPair, deleteNetns, ip } from '../../src/cluster/lab/netns.ts';
import type { LabPlan, NodePlan } from '../../src/cluster/lab/plan.ts';
import { isAlive } from '../../src/cluster/lab/registry.ts';
import { buildClusterState, clientPod, ECHO_PORT, ECHO_VIP_INDEX, serviceVIP } from '../../src/cluster/objects.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import { servers } from '../../src/conform/services/fixtures.ts';
import { AgentClient } from '../../src/datapath/agent/client.ts';
import { BPF_OBJECT_ENV } from '../../src/datapath/ebpf/agent.ts';
import { LabSet } from '../../src/runner/lab-set.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { cidrHost } from '../../src/util/ip.ts';
import { probeConnect, waitForServer } from '../../src/workload/probe/index.ts';
import { isRoot, rootReason } from '../helpers/host.ts';
import { datapathLinks, freed, pinnedLinks } from '../unit/bpf/bpftool.ts';
import { TestBuilds } from '../unit/bpf/build.ts';

const shape = loadClusterShape('lab-2node', 'test');
const BPFFS = '/sys/fs/bpf';
const state = (services: number) => (plan: LabPlan): ClusterState => buildClusterState(plan, { services, backendsPerService: 1, extras: true });

interface KernelObjects {
  links: number[];
  progs: number[];
}

async function kernelObjects(prefix: string): Promise<KernelObjects> {
  const links: number[] = [];
  const progs = new Set<number>();
  for (const node of readdirSync(`${BPFFS}/${prefix}`)) {
    for (const l of (await pinnedLinks(`${BPFFS}/${prefix}/${node}`)).values()) {
      links.push(l.id);
      progs.add(l.progId);
    }
  }
  return { links, progs: [...progs] };
}

async function expectGone(prefix: string, kernel: KernelObjects): Promise<void> {
  expect(readdirSync('/run/netns').filter((n) => n.startsWith(prefix))).toEqual([]);
  expect(readdirSync(BPFFS).filter((n) => n.startsWith(prefix))).toEqual([]);
  for (const id of kernel.links) expect(await freed('link', id), `tcx link ${id} freed`).toBe(true);
  for (const id of kernel.progs) expect(await freed('prog', id), `program ${id} freed`).toBe(true);
}

/** every one of `count` new connections to the echo service answered */
async function expectEchoServed(plan: LabPlan, fromNetns: string, count = 20): Promise<void> {
  const r = await probeConnect(fromNetns, serviceVIP(plan, ECHO_VIP_INDEX), 80, count, { timeoutMs: 2000 });
  expect(Object.values(r.replies).reduce((a, b) => a + b, 0), JSON.stringify(r)).toBe(count);
}

/** a pod's veth plugged in as the lab does it (CNI ptp style): /32, the node's gateway on the host side */
async function plugPod(node: NodePlan, podNetns: string, hostVeth: string, podIP: string): Promise<void> {
  await addVethPair(podNetns, 'eth0', node.netns, hostVeth);
  await ip(node.netns, 'addr', 'add', `${node.gateway}/32`, 'dev', hostVeth);
  await ip(node.netns, 'link', 'set', hostVeth, 'up');
  await ip(node.netns, 'route', 'add', `${podIP}/32`, 'dev', hostVeth);
  await ip(podNetns, 'addr', 'add', `${podIP}/32`, 'dev', 'eth0');
  await ip(podNetns, 'link', 'set', 'eth0', 'up');
  await ip(podNetns, 'route', 'add', node.gateway, 'dev', 'eth0', 'scope', 'link');
  await ip(podNetns, 'route', 'add', 'default', 'via', node.gateway, 'dev', 'eth0', 'src', podIP);
}

async function waitForServers(plan: LabPlan): Promise<void> {
  for (const pod of servers(plan)) await waitForServer(clientPod(plan).netns, pod.ip, ECHO_PORT);
}

describe.skipIf(!isRoot)(`ebpf agent under churn and faults (${rootReason})`, () => {
  it('attaches to pods created after init, re-attaches to a replaced veth, detaches from gone ones', async () => {
    const prefix = newPrefix();
    let kernel: KernelObjects = { links: [], progs: [] };
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['ebpf'], shape, iptablesBackend: 'nft', echoServers: true });
      const { plan, agents } = labs.member('ebpf');
      const node0 = plan.nodes[0]!;
      const pinDir = `${BPFFS}/${prefix}/${node0.netns}`;
      await labs.syncAll(state(10));
      await waitForServers(plan);
      const before = await pinnedLinks(pinDir);

      // a pod replaced (same veth name, a new device) and a new pod, both after init
      const replaced = node0.pods[1]!;
      await ip(node0.netns, 'link', 'del', replaced.hostVeth);
      await plugPod(node0, replaced.netns, replaced.hostVeth, replaced.ip);
      const added = { netns: `${plan.cluster}-${node0.name}-pod7`, hostVeth: 'lxc7', ip: cidrHost(node0.podCIDR, 17) };
      await addNetns(added.netns);
      try {
        await plugPod(node0, added.netns, added.hostVeth, added.ip);
        const synced = await agents[0]!.call('sync', state(10)(plan));
        expect(synced.detail).toMatchObject({ interfacesAttached: 2, interfacesDetached: 1, updated: 0, deleted: 0 });

        const after = await pinnedLinks(pinDir);
        expect([...after.keys()].sort()).toEqual([...before.keys(), 'lxc7-egress', 'lxc7-ingress'].sort());
        expect(after.get('lxc0-ingress')).toEqual(before.get('lxc0-ingress'));
        for (const hook of ['lxc1-ingress', 'lxc1-egress']) {
          expect(after.get(hook)!.id).not.toBe(before.get(hook)!.id);
          expect(await freed('link', before.get(hook)!.id), `${hook}'s old link freed`).toBe(true);
        }
        // through the new hooks: the replaced pod and the new one as clients, the replaced one as a backend too
        await waitForServer(clientPod(plan).netns, replaced.ip, ECHO_PORT);
        await expectEchoServed(plan, replaced.netns);
        await expectEchoServed(plan, added.netns);
        await expectEchoServed(plan, clientPod(plan).netns, 30);
      } finally {
        await deleteNetns(added.netns);
      }
      const gone = await agents[0]!.call('sync', state(10)(plan));
      expect(gone.detail).toMatchObject({ interfacesAttached: 0, interfacesDetached: 1 });
      expect([...(await pinnedLinks(pinDir)).keys()].sort()).toEqual([...before.keys()].sort());
      kernel = await kernelObjects(prefix);
    }
    await expectGone(prefix, kernel);
  }, 180_000);

  it('an agent killed mid-run: its datapath keeps serving, and teardown plus `dpbench clean` leave nothing', async () => {
    const prefix = newPrefix();
    let kernel: KernelObjects = { links: [], progs: [] };
    let node0Netns = '';
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['ebpf'], shape, iptablesBackend: 'nft', echoServers: true });
      const { plan, agents } = labs.member('ebpf');
      node0Netns = plan.nodes[0]!.netns;
      await labs.syncAll(state(10));
      await waitForServers(plan);
      kernel = await kernelObjects(prefix);

      const pid = agents[0]!.pid!;
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      expect(isAlive(pid)).toBe(false);
      // pinned links and maps outlive the agent, as kube-proxy's rules outlive kube-proxy
      await expectEchoServed(plan, clientPod(plan).netns);
    }
    // the teardown stopped node1's agent (its pins went with it), deleted every namespace, and removed the pins
    // the killed agent could not: the run's prefix directory; `dpbench clean` then finds nothing left
    expect(existsSync(`${BPFFS}/${prefix}`), `${node0Netns} pins removed by the teardown`).toBe(false);
    const cleaned = await cleanLeftovers({ prefix });
    expect(cleaned.pins).toEqual([]);
    await expectGone(prefix, kernel);
  }, 180_000);

  it('maps too small for a sync: the error says how to rebuild, the last state stays; a refused object changes nothing', async () => {
    const builds = new TestBuilds();
    const prefix = newPrefix();
    let kernel: KernelObjects = { links: [], progs: [] };
    try {
      // dp_lb4_services holds MAX_SERVICES + MAX_BACKENDS = 128 entries, dp_lb4_backends 64
      const small = await builds.lbTc(['-DMAX_SERVICES=64', '-DMAX_BACKENDS=64']);
      const refused = await builds.rejectedByVerifier();
      process.env[BPF_OBJECT_ENV] = small;
      const created = LabSet.create({ prefix, datapaths: ['ebpf'], shape, iptablesBackend: 'nft', echoServers: true });
      await using labs = await created.finally(() => delete process.env[BPF_OBJECT_ENV]);
      const member = labs.member('ebpf');
      const { plan } = member;
      const node0 = plan.nodes[0]!;

      // 40 services: 87 service entries, 44 backends
      for (const r of await labs.syncAll(state(40))) expect(r.rules).toBe(87 + 44);
      await waitForServers(plan);
      // every filler moves to a new address: old and new side by side (165) would not fit, so the old go first
      const moved = (p: LabPlan): ClusterState => {
        const s = state(40)(p);
        s.services.forEach((svc, i) => {
          if (!svc.metadata!.name!.startsWith('svc-')) return;
          svc.spec!.clusterIP = serviceVIP(p, 5000 + i);
          svc.spec!.clusterIPs = [svc.spec!.clusterIP];
        });
        return s;
      };
      for (const r of await labs.syncAll(moved)) expect(r.detail).toMatchObject({ updated: 39 * 2, deleted: 39 * 2 });
      await expectEchoServed(plan, clientPod(plan).netns);

      // 100 services do not fit: refused before anything is written, with the way out in the message
      await expect(labs.syncAll(state(100))).rejects.toThrow(/207 entries do not fit dp_lb4_services \(128\); rebuild with larger maps: make -C bpf clean all EXTRA_CFLAGS='-DMAX_SERVICES=…'/);
      await expectEchoServed(plan, clientPod(plan).netns);
      for (const r of await labs.syncAll(moved)) expect(r.detail).toMatchObject({ updated: 0, deleted: 0 });

      // a second agent on node0 whose object the verifier refuses: init fails with the verifier's words, and the
      // running datapath (same pin directory) keeps every pin and link
      const linksBefore = await datapathLinks();
      const pinsBefore = readdirSync(`${BPFFS}/${prefix}/${node0.netns}`);
      process.env[BPF_OBJECT_ENV] = refused;
      const extra = await AgentClient.start(member.lab, node0.netns, node0.name).finally(() => delete process.env[BPF_OBJECT_ENV]);
      const init = extra.call('init', {
        datapath: 'ebpf',
        node: { nodeName: node0.name, nodeIPs: [node0.ip], clusterCIDR: plan.clusterCIDR, podCIDR: node0.podCIDR, serviceCIDR: plan.serviceCIDR },
        options: { iptablesBackend: 'nft' },
      });
      await expect(init).rejects.toThrow(/loading BPF object .*bad\.bpf\.o: Permission denied[\s\S]*verifier log[\s\S]*invalid access to packet/);
      await extra.stop();
      expect(await datapathLinks()).toEqual(linksBefore);
      expect(readdirSync(`${BPFFS}/${prefix}/${node0.netns}`)).toEqual(pinsBefore);
      await expectEchoServed(plan, clientPod(plan).netns);
      kernel = await kernelObjects(prefix);
    } finally {
      builds.remove();
    }
    await expectGone(prefix, kernel);
    expect(existsSync(`${BPFFS}/${prefix}`)).toBe(false);
  }, 240_000);
});
