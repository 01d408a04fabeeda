// SPDX-License-Identifier: Apache-2.0
// The lab cluster provider against the real kernel:
//
//   [external] ──┐                       fabric: br0
//   [node0] ─────┼── br0 ──── [node1]
//     lxc0─[node0-pod0]  lxc1─[node0-pod1]     lxc0─[node1-pod0]  lxc1─[node1-pod1]
//
// up/down leaves nothing, the machine's own namespace is never touched, pods reach each other like in kind.
import { describe, expect, it } from 'vitest';
import { LabCluster } from '../../src/cluster/lab/lab.ts';
import { planLab, planNetns } from '../../src/cluster/lab/plan.ts';
import { cleanLeftovers } from '../../src/cluster/lab/clean.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { probeConnect, probeServerArgv, waitForServer } from '../../src/workload/probe/index.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { hostSnapshot, isRoot, labNetns, rootReason } from '../helpers/host.ts';

describe.skipIf(!isRoot)(`lab cluster (${rootReason})`, () => {
  const shape = loadClusterShape('lab-2node', 'test');

  it('up creates the planned namespaces, touches nothing in the machine namespace, down removes all of it', async () => {
    const before = await hostSnapshot();
    const plan = planLab(newPrefix(), 'test', shape);
    {
      await using lab = new LabCluster(plan);
      await lab.up();
      expect(labNetns().filter((n) => n.startsWith(plan.prefix)).sort()).toEqual(planNetns(plan).sort());
      expect(await hostSnapshot()).toEqual(before);
    }
    expect(labNetns().filter((n) => n.startsWith(plan.prefix))).toEqual([]);
    expect(await hostSnapshot()).toEqual(before);
  });

  it('pods reach each other on the same node and across nodes; the external client reaches node IPs', async () => {
    const plan = planLab(newPrefix(), 'test', shape);
    await using lab = new LabCluster(plan);
    await lab.up();
    const [client, sameNode] = plan.nodes[0]!.pods;
    const crossNode = plan.nodes[1]!.pods[0]!;
    lab.spawn(sameNode!.netns, probeServerArgv(sameNode!.name, { tcp: [8080] }));
    lab.spawn(crossNode.netns, probeServerArgv(crossNode.name, { tcp: [8080] }));
    lab.spawn(plan.nodes[1]!.netns, probeServerArgv('node1', { tcp: [8080] }));
    await waitForServer(client!.netns, sameNode!.ip, 8080);
    const same = await probeConnect(client!.netns, sameNode!.ip, 8080, 3);
    const cross = await probeConnect(client!.netns, crossNode.ip, 8080, 3);
    const external = await probeConnect(plan.externalNetns, plan.nodes[1]!.ip, 8080, 3);
    expect(same.replies).toEqual({ [sameNode!.name]: 3 });
    expect(cross.replies).toEqual({ [crossNode.name]: 3 });
    expect(external.replies).toEqual({ node1: 3 });
  });

  it('refuses to build over leftovers, and `clean` removes a crashed run by its record', async () => {
    const plan = planLab(newPrefix(), 'test', shape);
    const lab = new LabCluster(plan);
    await lab.up();
    // a second cluster with the same names must not silently reuse the first one's namespaces
    await expect(new LabCluster(plan).up()).rejects.toThrow(/already exists.*dpbench clean/);
    // simulate a crash: the process forgets the cluster; clean finds it by name
    const report = await cleanLeftovers({ prefix: plan.prefix });
    expect(report.netns.sort()).toEqual(planNetns(plan).sort());
    expect(labNetns().filter((n) => n.startsWith(plan.prefix))).toEqual([]);
  });
});
