// SPDX-License-Identifier: Apache-2.0
// The ebpf datapath (bpf/lb_tc.bpf.c + its agent) on a real lab cluster: ClusterIP spreads over every backend, a
// service without endpoints refuses at once, netperf works through a VIP, a repeated sync writes nothing, every
// services conformance check passes, and disposal leaves no namespace, pin, link or program behind.
//
//   node0-pod0 (client) ─lxc0▶ tc_from_pod: 10.96.0.101:80 (echo) ──DNAT──▶ node0-pod1 | node1-pod0 | node1-pod1 :8080
//                                           10.96.0.102:80, :53/udp (no endpoints) ──TCP RST / ICMP back out of lxc0
//                                           10.96.0.100:12865/12866 (netperf) ──▶ node1-pod0
//   external ─fabric▶ node eth0: tc_from_netdev (NodePorts; SNAT to the node IP for a remote backend)
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allPods } from '../../src/cluster/lab/plan.ts';
import { buildClusterState, clientPod, ECHO_PORT, ECHO_VIP_INDEX, EMPTY_VIP_INDEX, NETPERF_CONTROL_PORT, NETPERF_DATA_PORT, serviceVIP, TARGET_VIP_INDEX } from '../../src/cluster/objects.ts';
import { SERVICE_CHECKS } from '../../src/conform/services/checks.ts';
import { conformanceState, servers } from '../../src/conform/services/fixtures.ts';
import { LabSet } from '../../src/runner/lab-set.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { run } from '../../src/util/exec.ts';
import { runNetperf } from '../../src/workload/netperf/driver.ts';
import { parseNetperf } from '../../src/workload/netperf/parse.ts';
import { probeConnect, waitForServer } from '../../src/workload/probe/index.ts';
import { isRoot, rootReason } from '../helpers/host.ts';
import { freed, pinnedLinks } from '../unit/bpf/bpftool.ts';

const shape = loadClusterShape('lab-2node', 'test');

/** the tcx links and programs of every node, as pinned under the run's directory */
async function kernelObjects(prefix: string): Promise<{ links: number[]; progs: number[] }> {
  const links: number[] = [];
  const progs = new Set<number>();
  for (const node of readdirSync(`/sys/fs/bpf/${prefix}`)) {
    for (const l of (await pinnedLinks(`/sys/fs/bpf/${prefix}/${node}`)).values()) {
      links.push(l.id);
      progs.add(l.progId);
    }
  }
  return { links, progs: [...progs] };
}

/** nothing of the run is left: namespaces, bpffs pins (maps and tcx links), attached links and loaded programs */
async function expectGone(prefix: string, kernel: { links: number[]; progs: number[] }): Promise<void> {
  const netns = (await run(['ip', 'netns', 'list'])).stdout;
  expect(netns).not.toContain(prefix);
  expect(existsSync('/sys/fs/bpf') ? readdirSync('/sys/fs/bpf').filter((n) => n.startsWith(prefix)) : []).toEqual([]);
  for (const id of kernel.links) expect(await freed('link', id), `tcx link ${id} freed`).toBe(true);
  for (const id of kernel.progs) expect(await freed('prog', id), `program ${id} freed`).toBe(true);
}

/** one datagram from a connected UDP socket, which (unlike the prober's) is told about ICMP errors */
async function connectedUdp(netns: string, host: string, port: number): Promise<string> {
  const js = `const s = require('dgram').createSocket('udp4');
    s.on('error', (e) => { console.log(e.code); process.exit(0); });
    s.on('message', () => { console.log('reply'); process.exit(0); });
    s.connect(${port}, '${host}', () => s.send('probe'));
    setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000);`;
  return (await run([process.execPath, '-e', js], { netns, timeoutMs: 10_000 })).stdout.trim();
}

describe.skipIf(!isRoot)(`ebpf datapath on a lab cluster (${rootReason})`, () => {
  it('ClusterIP spreads over every backend, no endpoints → refused, netperf through a VIP, incremental resync', async () => {
    const prefix = newPrefix();
    let kernel = { links: [] as number[], progs: [] as number[] };
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['ebpf'], shape, iptablesBackend: 'nft', echoServers: true });
      const { plan } = labs.member('ebpf');
      const state = (p: typeof plan) => {
        const s = buildClusterState(p, { services: 100, backendsPerService: 3, extras: true });
        // the service without endpoints answers UDP too (ICMP port unreachable)
        s.services.find((svc) => svc.metadata!.name === 'no-endpoints')!.spec!.ports!.push({ name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' });
        return s;
      };

      const first = await labs.syncAll(state);
      for (const r of first) {
        expect(r.datapath).toBe('ebpf');
        // 100 services + echo (3 backends) + no-endpoints, with their slots and backends
        expect(r.rules).toBeGreaterThan(100 * 4);
        expect(r.detail).toMatchObject({ deleted: 0, attach: 'tcx' });
        expect(r.detail.updated).toBe(r.rules);
      }
      // the same state again: nothing to write
      for (const r of await labs.syncAll(state)) expect(r.detail).toMatchObject({ updated: 0, deleted: 0 });
      // maps pinned per run and node; tcx links (pinned too) on eth0 and both hooks of every pod veth
      expect(readdirSync(`/sys/fs/bpf/${prefix}`).sort()).toEqual(plan.nodes.map((n) => n.netns).sort());
      for (const node of plan.nodes) {
        const dir = `/sys/fs/bpf/${prefix}/${node.netns}`;
        expect(readdirSync(dir).sort()).toEqual(['dp_ct4', 'dp_endpoints', 'dp_ipcache', 'dp_lb4_affinity', 'dp_lb4_backends', 'dp_lb4_services', 'dp_metrics', 'dp_policy', 'dp_policy_ct4', 'dp_policy_gen', 'links']);
        const hooks = ['eth0-ingress', ...node.pods.flatMap((p) => [`${p.hostVeth}-egress`, `${p.hostVeth}-ingress`])];
        expect(readdirSync(`${dir}/links`).sort()).toEqual(hooks.sort());
      }

      const client = clientPod(plan);
      const backends = allPods(plan).filter((p) => p !== client);
      for (const s of backends) await waitForServer(client.netns, s.ip, ECHO_PORT);

      const echo = await probeConnect(client.netns, serviceVIP(plan, ECHO_VIP_INDEX), 80, 60, { timeoutMs: 2000 });
      expect(echo.refused + echo.timeouts).toBe(0);
      expect(Object.values(echo.replies).reduce((a, b) => a + b, 0)).toBe(60);
      expect(Object.keys(echo.replies).sort()).toEqual(backends.map((p) => p.name).sort());

      const empty = await probeConnect(client.netns, serviceVIP(plan, EMPTY_VIP_INDEX), 80, 3, { timeoutMs: 5000 });
      expect(empty).toMatchObject({ refused: 3, timeouts: 0 });
      expect(await connectedUdp(client.netns, serviceVIP(plan, EMPTY_VIP_INDEX), 53)).toBe('ECONNREFUSED');

      const raw = await runNetperf(
        { test: 'TCP_CRR', host: serviceVIP(plan, TARGET_VIP_INDEX), controlPort: NETPERF_CONTROL_PORT, dataPort: NETPERF_DATA_PORT, durationS: 1 },
        { netns: client.netns },
      );
      const sample = parseNetperf('TCP_CRR', raw);
      expect(sample.errors, raw.stderr).toEqual([]);
      expect(sample.transactionsPerSec).toBeGreaterThan(0);

      kernel = await kernelObjects(prefix);
      expect(kernel.links).toHaveLength(plan.nodes.reduce((n, node) => n + 1 + 2 * node.pods.length, 0));
      expect(kernel.progs).toHaveLength(2 * 3); // each node loads its own copy of the three programs
    }
    await expectGone(prefix, kernel);
  }, 180_000);

  it('passes every services conformance check', async () => {
    const prefix = newPrefix();
    let kernel = { links: [] as number[], progs: [] as number[] };
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['ebpf'], shape, iptablesBackend: 'nft', echoServers: true });
      const { plan } = labs.member('ebpf');
      await labs.syncAll(conformanceState);
      kernel = await kernelObjects(prefix);
      const client = clientPod(plan);
      for (const pod of servers(plan)) await waitForServer(client.netns, pod.ip, ECHO_PORT);
      const failed: string[] = [];
      for (const check of SERVICE_CHECKS) {
        const v = await check.run(plan);
        if (v.status !== 'pass') failed.push(`${check.id}: ${v.reason} — ${v.evidence.map((e) => `${e.sent} → ${e.received}`).join('; ')}`);
      }
      expect(failed).toEqual([]);
    }
    await expectGone(prefix, kernel);
  }, 180_000);
});
