// SPDX-License-Identifier: Apache-2.0
// The kube-proxy iptables datapath on a real lab cluster: ClusterIP reaches its backends, new connections
// spread over all of them, a service without endpoints refuses instead of hanging; both iptables flavours.
//
//   node0-pod0 (client) ──▶ 10.96.0.101:80 (echo) ──DNAT──▶ node0-pod1 | node1-pod0 | node1-pod1 :8080
//                       ──▶ 10.96.0.102:80 (no endpoints) ──REJECT
import { describe, expect, it } from 'vitest';
import { buildClusterState, clientPod, ECHO_VIP_INDEX, EMPTY_VIP_INDEX, serviceVIP } from '../../src/cluster/objects.ts';
import { allPods } from '../../src/cluster/lab/plan.ts';
import { LabSet } from '../../src/runner/lab-set.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { probeConnect, waitForServer } from '../../src/workload/probe/index.ts';
import { run } from '../../src/util/exec.ts';
import { isRoot, rootReason } from '../helpers/host.ts';

/** chi-square statistic of observed counts against a uniform spread */
function chiSquareUniform(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}

describe.skipIf(!isRoot)(`iptables datapath on a lab cluster (${rootReason})`, () => {
  const shape = loadClusterShape('lab-2node', 'test');

  for (const backend of ['nft', 'legacy'] as const) {
    it(`iptables-${backend}: ClusterIP spreads new connections over every backend; no endpoints → refused`, async () => {
      await using labs = await LabSet.create({ prefix: newPrefix(), datapaths: ['iptables'], shape, iptablesBackend: backend, echoServers: true });
      const { plan } = labs.member('iptables');
      const reports = await labs.syncAll((p) => buildClusterState(p, { services: 50, backendsPerService: 3, extras: true }));
      expect(reports.every((r) => r.rules > 50)).toBe(true);
      const client = clientPod(plan);
      const servers = allPods(plan).filter((p) => p !== client);
      const backends = servers.map((p) => p.name);
      for (const s of servers) await waitForServer(client.netns, s.ip, 8080);

      const echo = await probeConnect(client.netns, serviceVIP(plan, ECHO_VIP_INDEX), 80, 150, { timeoutMs: 2000 });
      expect(echo.refused + echo.timeouts).toBe(0);
      expect(Object.keys(echo.replies).sort()).toEqual(backends.sort());
      // uniform spread: chi-square with 2 degrees of freedom; 13.8 is the 0.001 critical value
      const counts = backends.map((b) => echo.replies[b] ?? 0);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(150);
      expect(chiSquareUniform(counts)).toBeLessThan(13.8);

      const empty = await probeConnect(client.netns, serviceVIP(plan, EMPTY_VIP_INDEX), 80, 3, { timeoutMs: 5000 });
      expect(empty).toMatchObject({ refused: 3, timeouts: 0 });

      // the rules really are kube-proxy's: the service chain hangs off KUBE-SERVICES in the node's nat table
      const nat = await run([`iptables-${backend}-save`, '-t', 'nat'], { netns: plan.nodes[0]!.netns });
      expect(nat.stdout).toMatch(/-A KUBE-SERVICES -d 10\.96\.0\.101\/32 -p tcp -m comment --comment "dpbench\/echo:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-/);
      expect(nat.stdout).toMatch(/-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
    });
  }
});
