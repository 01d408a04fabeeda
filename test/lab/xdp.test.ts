// SPDX-License-Identifier: Apache-2.0
// The xdp datapath on a real lab cluster: xdp_from_netdev attached to every node's eth0 (native on veth, the mode
// recorded in the sync reports), external → NodePort flows forwarded by XDP itself (local backend: XDP_REDIRECT
// into the pod's lxc; remote backend: DNAT + SNAT and back out of eth0), netperf TCP_RR / TCP_CRR / TCP_STREAM
// intact end to end (no checksum errors at the server), a service without endpoints still refused (XDP passes,
// tc answers), the local backend's ingress NetworkPolicy judged in XDP, generic mode as a fallback, and nothing left
// behind. Every service conformance check passes too (test/lab/conform-services.test.ts runs xdp).
//
//   external 172.18.0.250 ─fabric─▶ node0 eth0 [xdp_from_netdev] ─DNAT+SNAT─▶ eth0 ─fabric─▶ node1 ─▶ node1-pod0
//                          └─────▶ node1 eth0 [xdp_from_netdev] ─DNAT─▶ XDP_REDIRECT lxc0 ─▶ node1-pod0
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LabPlan } from '../../src/cluster/lab/plan.ts';
import {
  buildClusterState, ECHO_PORT, NODEPORT_CONTROL, NODEPORT_DATA, serviceObjects, serviceVIP, targetServer,
} from '../../src/cluster/objects.ts';
import { LAB_POD_NAMESPACE } from '../../src/cluster/lab/plan.ts';
import type { ClusterState } from '../../src/cluster/state.ts';
import { METRICS_DIRS, REASONS, type ReasonName } from '../../src/datapath/bpf/reasons.ts';
import type { SyncReport } from '../../src/datapath/types.ts';
import { setFeatures } from '../../src/cluster/lab/netns.ts';
import { LabSet } from '../../src/runner/lab-set.ts';
import { runSample } from '../../src/runner/sampler.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { run } from '../../src/util/exec.ts';
import { runNetperf } from '../../src/workload/netperf/driver.ts';
import { parseNetperf } from '../../src/workload/netperf/parse.ts';
import { probeConnect, waitForServer } from '../../src/workload/probe/index.ts';
import { isRoot, rootReason } from '../helpers/host.ts';
import { freed, pinnedLinks, pinnedMetrics } from '../unit/bpf/bpftool.ts';

const shape = loadClusterShape('lab-2node', 'test');
const ECHO_NODEPORT = 30080;
const EMPTY_NODEPORT = 30081;

/** the lab's services plus two NodePorts: the prober on the netperf target's pod, and one without endpoints */
function state(plan: LabPlan, policy = false): ClusterState {
  const s = buildClusterState(plan, { services: 2, backendsPerService: 1, external: true, ...(policy ? { policies: 0, allowClient: true } : {}) });
  const server = targetServer(plan);
  for (const spec of [
    { name: 'echo-np', vip: 120, nodePort: ECHO_NODEPORT, backends: [{ ip: server.ip, nodeName: server.node, podName: server.name }] },
    { name: 'empty-np', vip: 121, nodePort: EMPTY_NODEPORT, backends: [] },
  ]) {
    const { service, slice } = serviceObjects({
      namespace: LAB_POD_NAMESPACE, name: spec.name, type: 'NodePort', clusterIP: serviceVIP(plan, spec.vip),
      ports: [{ name: 'http', port: 80, targetPort: ECHO_PORT, nodePort: spec.nodePort }], backends: spec.backends,
    });
    s.services.push(service);
    s.endpointSlices.push(slice);
  }
  return s;
}

/** packets XDP counted per reason on one node (dp_metrics, direction METRICS_DIR_XDP) */
async function xdpCounts(prefix: string, nodeNetns: string): Promise<Partial<Record<ReasonName, number>>> {
  const rows = await pinnedMetrics(`/sys/fs/bpf/${prefix}/${nodeNetns}/dp_metrics`);
  const byCode = new Map<number, ReasonName>(Object.entries(REASONS).map(([k, v]) => [v, k as ReasonName]));
  const out: Partial<Record<ReasonName, number>> = {};
  for (const r of rows) if (r.dir === METRICS_DIRS.METRICS_DIR_XDP) out[byCode.get(r.reason) ?? ('?' as ReasonName)] = r.packets;
  return out;
}

const delta = (before: Partial<Record<ReasonName, number>>, after: Partial<Record<ReasonName, number>>, r: ReasonName) => (after[r] ?? 0) - (before[r] ?? 0);

/** the veth driver's own XDP counters of eth0 (ethtool -S): frames XDP redirected itself */
async function xdpRedirects(netns: string): Promise<number> {
  const out = (await run(['ethtool', '-S', 'eth0'], { netns })).stdout;
  return [...out.matchAll(/rx_queue_\d+_xdp_redirect:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

/** TCP segments the pod's stack threw away for a bad checksum (/proc/net/snmp Tcp: InCsumErrors) */
async function tcpCsumErrors(netns: string): Promise<number> {
  const snmp = (await run(['cat', '/proc/net/snmp'], { netns })).stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('InCsumErrors')]);
}

const modes = (reports: SyncReport[]) => reports.map((r) => r.detail.xdpMode);

/**
 * One connection through each node first: until a node has a neighbour entry for the next hop, XDP leaves a flow's
 * packets to the stack untouched (xdp_pass_to_stack) and tc resolves it, so exact counts start after this.
 */
async function warmUp(plan: LabPlan): Promise<void> {
  for (const node of plan.nodes) {
    const r = await probeConnect(plan.externalNetns, node.ip, ECHO_NODEPORT, 1, { timeoutMs: 5000 });
    expect(Object.values(r.replies), `warm-up through ${node.name}`).toEqual([1]);
  }
}

describe.skipIf(!isRoot)(`xdp datapath on a lab cluster (${rootReason})`, () => {
  it('forwards external NodePort traffic in XDP, local and remote, with netperf intact end to end', async () => {
    const prefix = newPrefix();
    const linkIds: number[] = [];
    const progIds = new Set<number>();
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['xdp'], shape, iptablesBackend: 'nft', echoServers: true });
      const { plan } = labs.member('xdp');
      const reports = await labs.syncAll((p) => state(p));
      expect(modes(reports)).toEqual(plan.nodes.map(() => 'native'));
      expect(reports.every((r) => r.datapath === 'xdp')).toBe(true);
      for (const node of plan.nodes) {
        const link = (await run(['ip', '-d', 'link', 'show', 'eth0'], { netns: node.netns })).stdout;
        expect(link, node.name).toMatch(/prog\/xdp id \d+ name xdp_from_netdev/);
        for (const l of (await pinnedLinks(`/sys/fs/bpf/${prefix}/${node.netns}`)).values()) {
          linkIds.push(l.id);
          progIds.add(l.progId);
        }
      }

      const server = targetServer(plan);
      const local = plan.nodes.find((n) => n.name === server.node)!;
      const remote = plan.nodes.find((n) => n.name !== server.node)!;
      const ext = plan.externalNetns;
      await waitForServer(server.netns, server.ip, ECHO_PORT);
      const csumBefore = await tcpCsumErrors(server.netns);

      for (const [kind, node] of [['local', local], ['remote', remote]] as const) {
        const before = await xdpCounts(prefix, node.netns);
        const redirectsBefore = await xdpRedirects(node.netns);
        const echo = await probeConnect(ext, node.ip, ECHO_NODEPORT, 10, { timeoutMs: 5000 });
        expect(echo.replies, `${kind}: ${JSON.stringify(echo)}`).toEqual({ [server.name]: 10 });
        // the server sees the client itself behind a local NodePort, the node that forwarded behind a remote one
        expect(Object.keys(echo.sources), kind).toEqual([kind === 'local' ? plan.externalIP : node.ip]);
        for (const test of ['TCP_RR', 'TCP_CRR', 'TCP_STREAM'] as const) {
          const raw = await runNetperf({ test, host: node.ip, controlPort: NODEPORT_CONTROL, dataPort: NODEPORT_DATA, durationS: 1 }, { netns: ext });
          const sample = parseNetperf(test, raw);
          expect(sample.errors, `${kind} ${test}: ${raw.stderr}`).toEqual([]);
          expect(test === 'TCP_STREAM' ? sample.throughputMbps : sample.transactionsPerSec, `${kind} ${test}`).toBeGreaterThan(0);
        }
        const after = await xdpCounts(prefix, node.netns);
        // 10 probes + netperf's control and data connections (CRR: one per transaction) were created in XDP ...
        expect(delta(before, after, 'REASON_LB_NEW'), kind).toBeGreaterThanOrEqual(13);
        expect(delta(before, after, 'REASON_LB_ESTABLISHED'), kind).toBeGreaterThan(1000);
        // ... replies of SNATed flows come back through the forwarding node's XDP; a local backend's go out by tc
        if (kind === 'remote') expect(delta(before, after, 'REASON_REV_NAT'), kind).toBeGreaterThan(1000);
        else expect(delta(before, after, 'REASON_REV_NAT'), kind).toBe(0);
        // and XDP forwarded them itself: the driver counted its redirects
        expect((await xdpRedirects(node.netns)) - redirectsBefore, kind).toBeGreaterThan(1000);
      }
      // every rewritten segment, STREAM's full-size ones too, arrived with a valid checksum
      expect(await tcpCsumErrors(server.netns)).toBe(csumBefore);

      // no endpoints: XDP leaves the SYN to the stack, tc_from_netdev answers with a RST
      const before = await xdpCounts(prefix, local.netns);
      const empty = await probeConnect(ext, local.ip, EMPTY_NODEPORT, 3, { timeoutMs: 5000 });
      expect(empty).toMatchObject({ refused: 3, timeouts: 0 });
      expect(delta(before, await xdpCounts(prefix, local.netns), 'REASON_XDP_PASS_TO_STACK')).toBe(3);
    }
    // nothing left: namespaces, pins, links (tcx and XDP), programs
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(prefix);
    expect(existsSync('/sys/fs/bpf') ? readdirSync('/sys/fs/bpf').filter((n) => n.startsWith(prefix)) : []).toEqual([]);
    for (const id of linkIds) expect(await freed('link', id), `link ${id} freed`).toBe(true);
    for (const id of progIds) expect(await freed('prog', id), `program ${id} freed`).toBe(true);
  }, 240_000);

  it('judges the local backend ingress NetworkPolicy in XDP, which bypasses tc_to_pod', async () => {
    const prefix = newPrefix();
    await using labs = await LabSet.create({ prefix, datapaths: ['xdp'], shape, iptablesBackend: 'nft', echoServers: true });
    const { plan } = labs.member('xdp');
    const server = targetServer(plan);
    const local = plan.nodes.find((n) => n.name === server.node)!;
    const remote = plan.nodes.find((n) => n.name !== server.node)!;
    await labs.syncAll((p) => state(p));
    await waitForServer(server.netns, server.ip, ECHO_PORT);
    await warmUp(plan);
    // the target pod isolated for ingress; only the in-cluster client pod is allowed, not the outside world
    await labs.syncAll((p) => state(p, true));
    const before = await xdpCounts(prefix, local.netns);
    const denied = await probeConnect(plan.externalNetns, local.ip, ECHO_NODEPORT, 3, { timeoutMs: 1500 });
    expect(denied).toMatchObject({ timeouts: 3, replies: {} });
    expect(delta(before, await xdpCounts(prefix, local.netns), 'REASON_DROP_POLICY_INGRESS')).toBeGreaterThanOrEqual(3);
    // through the other node XDP forwards (SNAT to that node's address, not allowed either): the backend's node
    // judges it in tc_to_pod as usual
    const toPod = async () => (await pinnedMetrics(`/sys/fs/bpf/${prefix}/${local.netns}/dp_metrics`))
      .find((r) => r.dir === METRICS_DIRS.METRICS_DIR_TO_POD && r.reason === REASONS.REASON_DROP_POLICY_INGRESS)?.packets ?? 0;
    const tcDrops = await toPod();
    const remoteBefore = await xdpCounts(prefix, remote.netns);
    const viaRemote = await probeConnect(plan.externalNetns, remote.ip, ECHO_NODEPORT, 3, { timeoutMs: 1500 });
    expect(viaRemote).toMatchObject({ timeouts: 3, replies: {} });
    expect(delta(remoteBefore, await xdpCounts(prefix, remote.netns), 'REASON_LB_NEW')).toBe(3);
    expect((await toPod()) - tcDrops).toBeGreaterThanOrEqual(3);
    // the policy gone, the local path answers again
    await labs.syncAll((p) => state(p));
    const allowed = await probeConnect(plan.externalNetns, local.ip, ECHO_NODEPORT, 3, { timeoutMs: 5000 });
    expect(allowed.replies).toEqual({ [server.name]: 3 });
  }, 180_000);

  it('needs complete checksums on the wire: with TX checksum offload back on, STREAM segments arrive corrupted and the sample is invalid', async () => {
    const prefix = newPrefix();
    await using labs = await LabSet.create({ prefix, datapaths: ['xdp'], shape, iptablesBackend: 'nft', echoServers: true });
    const { plan } = labs.member('xdp');
    await labs.syncAll((p) => state(p));
    const server = targetServer(plan);
    await waitForServer(server.netns, server.ip, ECHO_PORT);
    await warmUp(plan);
    const sample = (n: number) =>
      runSample({ datapath: 'xdp', plan, services: 2, workload: { test: 'TCP_STREAM', path: 'external-to-nodeport-local', duration: 1, samples: 1 }, sample: n, order: 0 });
    const good = await sample(1);
    expect(good.reasons).toEqual([]);
    // what the lab undoes on purpose: the external client and the bridge's ports hand on CHECKSUM_PARTIAL packets
    await setFeatures(plan.externalNetns, 'eth0', { tx: 'on' });
    for (const node of plan.nodes) await setFeatures(plan.fabricNetns, node.fabricPort, { tx: 'on' });
    const bad = await sample(2);
    expect(bad.valid).toBe(false);
    expect(bad.reasons.join('; ')).toMatch(/TCP segments? with a bad checksum dropped by the receiver/);
  }, 120_000);

  it('runs in generic mode when asked, and records it', async () => {
    const prefix = newPrefix();
    await using labs = await LabSet.create({ prefix, datapaths: ['xdp'], shape, iptablesBackend: 'nft', xdpMode: 'generic', echoServers: true });
    const { plan } = labs.member('xdp');
    const reports = await labs.syncAll((p) => state(p));
    expect(modes(reports)).toEqual(plan.nodes.map(() => 'generic'));
    const link = (await run(['ip', '-d', 'link', 'show', 'eth0'], { netns: plan.nodes[0]!.netns })).stdout;
    expect(link).toMatch(/ xdpgeneric /);
    expect(link).toMatch(/prog\/xdp id \d+ name xdp_from_netdev/);
    const server = targetServer(plan);
    await waitForServer(server.netns, server.ip, ECHO_PORT);
    await warmUp(plan);
    for (const node of plan.nodes) {
      const before = await xdpCounts(prefix, node.netns);
      const echo = await probeConnect(plan.externalNetns, node.ip, ECHO_NODEPORT, 5, { timeoutMs: 5000 });
      expect(echo.replies, node.name).toEqual({ [server.name]: 5 });
      expect(delta(before, await xdpCounts(prefix, node.netns), 'REASON_LB_NEW'), node.name).toBe(5);
    }
  }, 180_000);
});
