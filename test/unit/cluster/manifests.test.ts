// SPDX-License-Identifier: Apache-2.0
// The objects the kind/kubeconfig providers apply: pinned netperf pods behind the netperf Service, selectorless
// filler Services with hand-made EndpointSlices on never-routed addresses, and the agent DaemonSet with its RBAC.
import { describe, expect, it } from 'vitest';
import {
  agentArgv, agentManifests, DEFAULT_NETPERF_IMAGE, fillerEndpointIPs, fillerEndpointSlice, fillerName, fillerService,
  namespaceFor, namespaceManifest, netperfPod, netperfService, RUN_LABEL, SLICE_MANAGER,
} from '../../../src/cluster/kube/manifests.ts';
import { NETPERF_CONTROL_PORT, NETPERF_DATA_PORT } from '../../../src/cluster/objects.ts';
import { netserverArgv } from '../../../src/workload/netperf/driver.ts';
import { cidrContains } from '../../../src/util/ip.ts';

const prefix = 'dpb-abc123';
const ns = 'dpbench-dpb-abc123';

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('namespace', () => {
  it('is dpbench-<prefix>, labelled with the run', () => {
    expect(namespaceFor(prefix)).toBe(ns);
    const n = namespaceManifest(prefix);
    expect(n.metadata?.name).toBe(ns);
    expect(n.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'dpbench', [RUN_LABEL]: prefix });
  });
});

describe('netperf pods and service', () => {
  const client = netperfPod({ prefix, name: 'netperf-client', node: 'kind-worker', role: 'client' });
  const server = netperfPod({ prefix, name: 'netperf-server-cross', node: 'kind-control-plane', role: 'server', target: true });
  const same = netperfPod({ prefix, name: 'netperf-server-same', node: 'kind-worker', role: 'server' });

  it('pins pods to their node with nodeName and tolerates control-plane taints', () => {
    expect(client.spec?.nodeName).toBe('kind-worker');
    expect(server.spec?.nodeName).toBe('kind-control-plane');
    expect(server.spec?.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(client.metadata?.namespace).toBe(ns);
  });

  it('runs netserver in the foreground on the control port in servers, and idles in the client', () => {
    const c = server.spec!.containers[0]!;
    expect(c.image).toBe(DEFAULT_NETPERF_IMAGE);
    expect(c.command).toEqual(netserverArgv({ port: NETPERF_CONTROL_PORT }));
    expect(c.ports?.map((p) => p.containerPort)).toEqual([NETPERF_CONTROL_PORT, NETPERF_DATA_PORT]);
    expect(c.readinessProbe?.tcpSocket?.port).toBe(NETPERF_CONTROL_PORT);
    expect(client.spec!.containers[0]!.command).toEqual(['sleep', 'infinity']);
    expect(client.spec!.containers[0]!.readinessProbe).toBeUndefined();
  });

  it('sets only kubelet-safe sysctls unless the kubelet allows the unsafe ones (dpbench kind config)', () => {
    expect(client.spec?.securityContext?.sysctls).toEqual([{ name: 'net.ipv4.ip_local_port_range', value: '1024 65535' }]);
    const kind = netperfPod({ prefix, name: 'c', node: 'n', role: 'client', unsafeSysctls: true, image: 'my/netperf:1' });
    expect(kind.spec?.securityContext?.sysctls?.map((s) => s.name)).toEqual(['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_max_tw_buckets']);
    expect(kind.spec!.containers[0]!.image).toBe('my/netperf:1');
  });

  it('puts the netperf Service (control + data port) in front of the target server only', () => {
    const svc = netperfService(prefix);
    expect(svc.metadata).toMatchObject({ name: 'netperf', namespace: ns });
    expect(svc.spec?.ports).toEqual([
      { name: 'netperf-ctl', port: 12865, targetPort: 12865, protocol: 'TCP' },
      { name: 'netperf-data', port: 12866, targetPort: 12866, protocol: 'TCP' },
    ]);
    const selector = svc.spec!.selector!;
    expect(matches(selector, server.metadata?.labels)).toBe(true);
    expect(matches(selector, same.metadata?.labels)).toBe(false);
    expect(matches(selector, client.metadata?.labels)).toBe(false);
  });
});

describe('filler services', () => {
  it('are selectorless ClusterIP services named like the lab\'s, with the IP left to the API server', () => {
    const svc = fillerService(prefix, 7);
    expect(fillerName(7)).toBe('svc-00007');
    expect(svc.metadata).toMatchObject({ name: 'svc-00007', namespace: ns });
    expect(svc.spec?.selector).toBeUndefined();
    expect(svc.spec?.clusterIP).toBeUndefined();
    expect(svc.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }]);
  });

  it('get an EndpointSlice of their own, tied to the Service by label, port name and owner', () => {
    const ips = fillerEndpointIPs(7, 3);
    const slice = fillerEndpointSlice(prefix, 7, ips, 'uid-7');
    expect(slice.metadata?.name).toBe('svc-00007-dpbench');
    expect(slice.metadata?.labels).toMatchObject({ 'kubernetes.io/service-name': 'svc-00007', 'endpointslice.kubernetes.io/managed-by': SLICE_MANAGER });
    expect(slice.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Service', name: 'svc-00007', uid: 'uid-7' }]);
    expect(slice.addressType).toBe('IPv4');
    expect(slice.endpoints!.map((e) => e.addresses[0])).toEqual(ips);
    expect(slice.endpoints!.every((e) => e.conditions?.ready === true)).toBe(true);
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(fillerEndpointSlice(prefix, 7, ips).metadata?.ownerReferences).toBeUndefined();
  });

  it('point at distinct addresses of the never-routed benchmarking range 198.18.0.0/15', () => {
    expect(fillerEndpointIPs(1, 3)).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.3']);
    expect(fillerEndpointIPs(2, 3)).toEqual(['198.18.0.4', '198.18.0.5', '198.18.0.6']);
    const all = Array.from({ length: 20_000 }, (_, i) => fillerEndpointIPs(i + 1, 3)).flat();
    expect(new Set(all).size).toBe(60_000);
    expect(all.every((ip) => cidrContains('198.18.0.0/15', ip))).toBe(true);
  });
});

describe('agent DaemonSet', () => {
  const m = agentManifests({
    prefix, datapath: 'ebpf', image: 'registry.example/dpbench-agent:dev', clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12',
    apiServer: { host: '172.18.0.3', port: 6443 },
  });
  const pod = m.daemonSet.spec!.template.spec!;
  const c = pod.containers[0]!;

  it('runs the informer agent with the datapath and CIDRs, from the given image', () => {
    expect(c.image).toBe('registry.example/dpbench-agent:dev');
    expect(c.command).toEqual(agentArgv({ datapath: 'ebpf', clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' }));
    expect(c.command?.slice(0, 6)).toEqual(['node', '--import', 'tsx', 'src/datapath/agent/informer.ts', '--datapath', 'ebpf']);
    expect(c.workingDir).toBe('/opt/dpbench');
  });

  it('is host-network and privileged, mounts bpffs, and runs on every node', () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe('Default');
    expect(c.securityContext?.privileged).toBe(true);
    expect(c.volumeMounts).toContainEqual({ name: 'bpffs', mountPath: '/sys/fs/bpf', mountPropagation: 'Bidirectional' });
    expect(pod.volumes).toContainEqual({ name: 'bpffs', hostPath: { path: '/sys/fs/bpf', type: 'DirectoryOrCreate' } });
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(matches(m.daemonSet.spec!.selector.matchLabels!, m.daemonSet.spec!.template.metadata?.labels)).toBe(true);
  });

  it('learns its node from the downward API and reaches the API server directly, not through a VIP it programs', () => {
    expect(c.env).toEqual([
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      { name: 'KUBERNETES_SERVICE_HOST', value: '172.18.0.3' },
      { name: 'KUBERNETES_SERVICE_PORT', value: '6443' },
    ]);
    const without = agentManifests({ prefix, datapath: 'xdp', image: 'i', clusterCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' });
    expect(without.daemonSet.spec!.template.spec!.containers[0]!.env?.map((e) => e.name)).toEqual(['NODE_NAME', 'NODE_IP']);
  });

  it('may get, list and watch what it syncs (and read its node), bound to its service account', () => {
    expect(m.serviceAccount.metadata).toMatchObject({ name: 'dpbench-agent', namespace: ns });
    expect(pod.serviceAccountName).toBe('dpbench-agent');
    const can = (group: string, resource: string, verb: string): boolean =>
      m.clusterRole.rules!.some((r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb));
    for (const [group, resource] of [['', 'services'], ['discovery.k8s.io', 'endpointslices'], ['', 'pods'], ['', 'namespaces'], ['networking.k8s.io', 'networkpolicies']]) {
      for (const verb of ['get', 'list', 'watch']) expect(can(group!, resource!, verb), `${verb} ${resource}`).toBe(true);
    }
    expect(can('', 'nodes', 'get')).toBe(true);
    expect(m.clusterRole.rules!.flatMap((r) => r.verbs)).not.toContain('create');
    expect(m.clusterRole.metadata?.name).toBe('dpbench-agent-dpb-abc123');
    expect(m.clusterRoleBinding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'dpbench-agent-dpb-abc123' });
    expect(m.clusterRoleBinding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'dpbench-agent', namespace: ns }]);
  });
});
