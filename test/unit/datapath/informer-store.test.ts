// SPDX-License-Identifier: Apache-2.0
// The informer agent's pure parts, without an API server: the StateStore that turns add/update/delete events
// into a ClusterState, the coalescing sync loop, the SyncReport log lines, and the agent's flags.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';
import {
  formatSyncLine, parseAgentFlags, parseSyncLines, STATE_KINDS, StateStore, SyncLoop, type StateKind,
} from '../../../src/datapath/agent/informer.ts';
import { agentArgv } from '../../../src/cluster/kube/manifests.ts';
import { buildClusterState } from '../../../src/cluster/objects.ts';
import { planLab } from '../../../src/cluster/lab/plan.ts';
import { renderIptables } from '../../../src/datapath/iptables/render.ts';
import { NoneAgent } from '../../../src/datapath/none.ts';
import type { SyncReport } from '../../../src/datapath/types.ts';

const svc = (namespace: string, name: string, resourceVersion?: string, port = 80): V1Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace, name, ...(resourceVersion ? { resourceVersion } : {}) },
  spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port, protocol: 'TCP' }] },
});

describe('StateStore', () => {
  it('adds, updates and deletes by namespace/name, counting each change once', () => {
    const s = new StateStore();
    expect(s.apply('services', 'add', svc('default', 'a', '1'))).toBe(true);
    expect(s.apply('services', 'add', svc('kube-system', 'a', '2'))).toBe(true); // same name, other namespace
    expect(s.size('services')).toBe(2);
    expect(s.apply('services', 'update', svc('default', 'a', '3', 8080))).toBe(true);
    expect(s.snapshot().services.find((x) => x.metadata?.namespace === 'default')?.spec?.ports?.[0]?.port).toBe(8080);
    expect(s.apply('services', 'delete', svc('default', 'a', '4'))).toBe(true);
    expect(s.snapshot().services.map((x) => `${x.metadata?.namespace}/${x.metadata?.name}`)).toEqual(['kube-system/a']);
    expect(s.generation).toBe(4);
  });

  it('ignores events that change nothing: same resourceVersion, unknown deletes, nameless objects', () => {
    const s = new StateStore();
    s.apply('services', 'add', svc('default', 'a', '7'));
    const g = s.generation;
    expect(s.apply('services', 'update', svc('default', 'a', '7'))).toBe(false);
    expect(s.apply('services', 'add', svc('default', 'a', '7'))).toBe(false); // a re-list of a known object
    expect(s.apply('services', 'delete', svc('default', 'gone', '1'))).toBe(false);
    expect(s.apply('services', 'add', { metadata: {} })).toBe(false);
    expect(s.generation).toBe(g);
    // without resourceVersions (hand-made objects) every update counts
    expect(s.apply('services', 'update', svc('default', 'b'))).toBe(true);
    expect(s.apply('services', 'update', svc('default', 'b'))).toBe(true);
  });

  it('an add for a known object is an update (informers re-list after a watch error)', () => {
    const s = new StateStore();
    s.apply('services', 'add', svc('default', 'a', '1'));
    expect(s.apply('services', 'add', svc('default', 'a', '2', 443))).toBe(true);
    expect(s.size('services')).toBe(1);
    expect(s.snapshot().services[0]?.spec?.ports?.[0]?.port).toBe(443);
  });

  it('keeps each kind apart and snapshots sorted by namespace/name', () => {
    const s = new StateStore();
    for (const n of ['c', 'a', 'b']) s.apply('services', 'add', svc('default', n, '1'));
    s.apply('namespaces', 'add', { metadata: { name: 'default', resourceVersion: '1' } });
    s.apply('pods', 'add', { metadata: { namespace: 'default', name: 'a', resourceVersion: '1' } });
    s.apply('networkPolicies', 'add', { metadata: { namespace: 'default', name: 'deny-all', resourceVersion: '1' }, spec: { podSelector: {} } });
    const snap = s.snapshot();
    expect(snap.services.map((x) => x.metadata?.name)).toEqual(['a', 'b', 'c']);
    expect([snap.namespaces.length, snap.pods.length, snap.endpointSlices.length, snap.networkPolicies?.length]).toEqual([1, 1, 0, 1]);
  });

  it('events in any order, with churn, give the lab\'s state and the same iptables rules', () => {
    const plan = planLab('dpb-abc123', 'iptables', { nodes: 2, podsPerNode: 2, network: { nodeSubnet: '172.18.0.0/16', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' } });
    const state = buildClusterState(plan, { services: 50, backendsPerService: 3 });
    const events: { kind: StateKind; obj: { metadata?: { name?: string } } }[] = STATE_KINDS.flatMap((kind) =>
      ((state[kind] ?? []) as { metadata?: { name?: string } }[]).map((obj) => ({ kind, obj })),
    );
    const inOrder = new StateStore();
    for (const e of events) inOrder.apply(e.kind, 'add', e.obj as never);
    // a deterministic shuffle, plus a service that comes and goes and a stale slice that is deleted
    const shuffled = new StateStore();
    const order = events.map((e, i) => ({ e, k: (i * 7919) % 104729 })).sort((a, b) => a.k - b.k).map((x) => x.e);
    shuffled.apply('services', 'add', svc('default', 'transient'));
    for (const e of order) shuffled.apply(e.kind, 'add', e.obj as never);
    shuffled.apply('endpointSlices', 'add', { metadata: { namespace: 'default', name: 'stale' }, addressType: 'IPv4', endpoints: [] });
    shuffled.apply('services', 'delete', svc('default', 'transient'));
    shuffled.apply('endpointSlices', 'delete', { metadata: { namespace: 'default', name: 'stale' }, addressType: 'IPv4', endpoints: [] });

    expect(shuffled.snapshot()).toEqual(inOrder.snapshot());
    for (const kind of STATE_KINDS) expect(shuffled.size(kind)).toBe(state[kind]?.length ?? 0);
    const node = { nodeName: 'node0', nodeIPs: ['172.18.0.2'], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };
    const fromEvents = renderIptables(shuffled.snapshot(), node);
    expect(fromEvents.nat).toBe(renderIptables(inOrder.snapshot(), node).nat);
    expect(fromEvents.ruleCount).toBe(renderIptables(state, node).ruleCount);
  });

  it('feeds a DatapathAgent as the lab does', async () => {
    const s = new StateStore();
    s.apply('services', 'add', svc('default', 'a', '1'));
    const agent = new NoneAgent();
    await agent.init({ datapath: 'none', node: { nodeName: 'n0', nodeIPs: [], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' }, options: { iptablesBackend: 'nft' } });
    expect((await agent.sync(s.snapshot())).servicePorts).toBe(1);
  });
});

describe('SyncLoop', () => {
  afterEach(() => void vi.useRealTimers());

  function setup(minIntervalMs: number, syncMs: number) {
    vi.useFakeTimers();
    const starts: number[] = [];
    const loop = new SyncLoop(
      minIntervalMs,
      async () => {
        starts.push(Date.now());
        await new Promise((r) => setTimeout(r, syncMs));
      },
      () => Date.now(),
    );
    return { loop, starts, t0: Date.now() };
  }

  it('coalesces a burst of requests into one sync', async () => {
    const { loop, starts } = setup(10, 1);
    for (let i = 0; i < 100; i++) loop.request();
    await vi.advanceTimersByTimeAsync(50);
    expect(starts).toHaveLength(1);
    await loop.stop();
  });

  it('requests during a sync give exactly one more, no sooner than the minimum interval', async () => {
    const { loop, starts, t0 } = setup(100, 30);
    loop.request();
    await vi.advanceTimersByTimeAsync(5); // the first sync is running
    for (let i = 0; i < 10; i++) loop.request();
    await vi.advanceTimersByTimeAsync(500);
    expect(starts.map((t) => t - t0)).toEqual([0, 100]);
    loop.request();
    await vi.advanceTimersByTimeAsync(500);
    expect(starts).toHaveLength(3);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(100);
    await loop.stop();
  });

  it('a failing sync does not stop the loop; stop() ends it', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const loop = new SyncLoop(0, async () => {
      calls++;
      throw new Error('iptables-restore failed');
    });
    loop.request();
    await vi.advanceTimersByTimeAsync(1);
    loop.request();
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await loop.stop();
    loop.request();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(2);
  });
});

describe('sync log lines', () => {
  const report: SyncReport = {
    datapath: 'iptables', node: 'kind-worker', durationMs: 12.5, renderMs: 3, applyMs: 9.5, rules: 120, servicePorts: 11, endpoints: 31, detail: { targetPosition: 4 },
  };

  it('one JSON line per report, read back from a log with other lines in it', () => {
    const line = formatSyncLine(report, 42, new Date('2026-01-02T03:04:05Z'));
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toMatchObject({ event: 'sync', at: '2026-01-02T03:04:05.000Z', generation: 42, rules: 120 });
    const log = ['{"event":"start"}', line, 'not json', '{"event":"sync"', formatSyncLine({ ...report, servicePorts: 12 }, 43), ''].join('\n');
    expect(parseSyncLines(log)).toEqual([report, { ...report, servicePorts: 12 }]);
  });
});

describe('agent flags', () => {
  it('reads what the DaemonSet passes, NODE_NAME/NODE_IP from the downward API', () => {
    const argv = agentArgv({ datapath: 'ebpf', clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12', minSyncIntervalMs: 25 }).slice(4);
    expect(parseAgentFlags(argv, { NODE_NAME: 'kind-worker', NODE_IP: '172.18.0.3' })).toEqual({
      datapath: 'ebpf', nodeName: 'kind-worker', nodeIPs: ['172.18.0.3'], clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12', minSyncIntervalMs: 25, iptablesBackend: 'nft',
    });
    const local = parseAgentFlags(['--datapath', 'iptables', '--kubeconfig', '/tmp/kc', '--node-name', 'n1', '--cluster-cidr', '10.244.0.0/16', '--pod-cidr', '10.244.1.0/24'], {});
    expect(local).toMatchObject({ kubeconfig: '/tmp/kc', nodeName: 'n1', podCIDR: '10.244.1.0/24', nodeIPs: [], minSyncIntervalMs: 10 });
  });

  it('says what is missing or wrong', () => {
    expect(() => parseAgentFlags(['--cluster-cidr', 'x'], { NODE_NAME: 'n' })).toThrow(/--datapath: expected one of none, iptables/);
    expect(() => parseAgentFlags(['--datapath', 'ebpf', '--cluster-cidr', 'x'], {})).toThrow(/--node-name \(or NODE_NAME/);
    expect(() => parseAgentFlags(['--datapath', 'ebpf'], { NODE_NAME: 'n' })).toThrow(/--cluster-cidr is required/);
    expect(() => parseAgentFlags(['--datapath', 'ebpf', '--cluster-cidr', 'x', '--bogus'], { NODE_NAME: 'n' })).toThrow(/bogus/);
  });
});
