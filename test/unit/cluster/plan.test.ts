// SPDX-License-Identifier: Apache-2.0
// The lab plan and the objects built from it: deterministic names and kind-like addresses, valid Kubernetes shapes.
import { describe, expect, it } from 'vitest';
import { allPods, planLab, planNetns } from '../../../src/cluster/lab/plan.ts';
import { buildClusterState, labServices, targetServer } from '../../../src/cluster/objects.ts';
import { cidrContains, cidrHost, subnetOf, ipToInt, intToIp } from '../../../src/util/ip.ts';

const shape = { nodes: 2, podsPerNode: 2, network: { nodeSubnet: '172.18.0.0/16', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' } };

describe('ip arithmetic', () => {
  it('round-trips and indexes CIDRs', () => {
    expect(intToIp(ipToInt('10.244.1.10'))).toBe('10.244.1.10');
    expect(cidrHost('172.18.0.0/16', 2)).toBe('172.18.0.2');
    expect(subnetOf('10.244.0.0/16', 24, 3)).toBe('10.244.3.0/24');
    expect(cidrContains('10.96.0.0/12', '10.111.255.255')).toBe(true);
    expect(cidrContains('10.96.0.0/12', '10.112.0.0')).toBe(false);
    expect(() => cidrHost('10.0.0.0/30', 4)).toThrow(/no host number 4/);
    expect(() => ipToInt('10.0.0.256')).toThrow(/not an IPv4 address/);
  });
});

describe('lab plan', () => {
  const plan = planLab('dpb-abc123', 'iptables', shape);

  it('names every namespace with the run prefix and the cluster', () => {
    const names = planNetns(plan);
    expect(names).toHaveLength(1 + 1 + 2 + 4);
    expect(names.every((n) => n.startsWith('dpb-abc123-iptables-'))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives kind-like addresses: nodes on 172.18.0.x, node i pods in 10.244.i.0/24', () => {
    expect(plan.nodes.map((n) => n.ip)).toEqual(['172.18.0.2', '172.18.0.3']);
    expect(plan.nodes.map((n) => n.podCIDR)).toEqual(['10.244.0.0/24', '10.244.1.0/24']);
    expect(allPods(plan).map((p) => p.ip)).toEqual(['10.244.0.10', '10.244.0.11', '10.244.1.10', '10.244.1.11']);
    expect(plan.fabricGateway).toBe('172.18.0.1');
    for (const n of plan.nodes) for (const p of n.pods) expect(cidrContains(n.podCIDR, p.ip)).toBe(true);
  });

  it('is deterministic', () => {
    expect(planLab('dpb-abc123', 'iptables', shape)).toEqual(plan);
  });
});

describe('cluster state for a scale step', () => {
  const plan = planLab('dpb-abc123', 'iptables', shape);

  it('a step of N services has exactly N services: the netperf target and N-1 fillers', () => {
    for (const n of [1, 1000]) {
      const state = buildClusterState(plan, { services: n, backendsPerService: 3 });
      expect(state.services).toHaveLength(n);
      expect(state.endpointSlices).toHaveLength(n);
    }
  });

  it('the target has control and data ports and the cross-node server as its only endpoint', () => {
    const [target] = labServices(plan, { services: 1, backendsPerService: 3 });
    expect(target!.ports.map((p) => p.port)).toEqual([12865, 12866]);
    expect(target!.backends.map((b) => b.ip)).toEqual([targetServer(plan).ip]);
    expect(targetServer(plan).node).toBe('node1');
  });

  it('filler endpoints are inside the cluster CIDR but on no lab pod, and VIPs are unique and in the service CIDR', () => {
    const state = buildClusterState(plan, { services: 2000, backendsPerService: 3, extras: true });
    const podIPs = new Set(allPods(plan).map((p) => p.ip));
    const vips = state.services.map((s) => s.spec!.clusterIP!);
    expect(new Set(vips).size).toBe(vips.length);
    expect(vips.every((v) => cidrContains('10.96.0.0/12', v))).toBe(true);
    const fillers = state.endpointSlices.filter((s) => s.metadata!.namespace === 'default');
    for (const slice of fillers) {
      expect(slice.metadata!.labels!['kubernetes.io/service-name']).toBeTruthy();
      for (const ep of slice.endpoints ?? []) {
        expect(cidrContains('10.244.0.0/16', ep.addresses[0]!)).toBe(true);
        expect(podIPs.has(ep.addresses[0]!)).toBe(false);
      }
    }
  });
});

describe('external paths', () => {
  const plan = planLab('dpb-abc123', 'iptables', shape);

  it('the netperf-external NodePort counts as one of the step services and fronts the target server', async () => {
    const { EXTERNAL_SERVICE, NODEPORT_CONTROL, NODEPORT_DATA } = await import('../../../src/cluster/objects.ts');
    const state = buildClusterState(plan, { services: 10, backendsPerService: 3, external: true });
    expect(state.services).toHaveLength(10);
    const ext = state.services.find((s) => s.metadata!.name === EXTERNAL_SERVICE)!;
    expect(ext.spec!.type).toBe('NodePort');
    expect(ext.spec!.ports!.map((p) => [p.nodePort, p.targetPort])).toEqual([[NODEPORT_CONTROL, 12865], [NODEPORT_DATA, NODEPORT_DATA]]);
  });

  it('local goes to the node hosting the server, remote to the other one, from the external namespace', async () => {
    const { resolveTarget } = await import('../../../src/runner/sampler.ts');
    const local = resolveTarget(plan, 'iptables', { path: 'external-to-nodeport-local' });
    const remote = resolveTarget(plan, 'iptables', { path: 'external-to-nodeport-remote' });
    expect([local.host, remote.host]).toEqual(['172.18.0.3', '172.18.0.2']);
    expect(local.client.netns).toBe(plan.externalNetns);
    expect(local.server.node).toBe('node1');
    expect([local.controlPort, local.dataPort]).toEqual([31865, 31866]);
  });
});
