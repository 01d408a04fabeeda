// SPDX-License-Identifier: Apache-2.0
// The Kubernetes objects the kind and kubeconfig providers apply: netperf pods pinned to nodes, the netperf
// Service, selectorless filler Services with hand-made EndpointSlices, and the dpbench agent DaemonSet + RBAC.
// Pure: objects in, objects out, so every manifest is tested without an API server.
import type {
  V1ClusterRole, V1ClusterRoleBinding, V1DaemonSet, V1EndpointSlice, V1Namespace, V1Pod, V1Service, V1ServiceAccount,
} from '@kubernetes/client-node';
import { NETPERF_CONTROL_PORT, NETPERF_DATA_PORT, TARGET_SERVICE } from '../objects.ts';
import { POD_SYSCTLS } from '../lab/lab.ts';
import { netserverArgv } from '../../workload/netperf/driver.ts';
import { cidrHost, parseCidr } from '../../util/ip.ts';
import type { Datapath } from '../../runner/scenario/schema.ts';

/** the image k8s-netperf runs its client and server pods from (netperf + netserver on PATH) */
export const DEFAULT_NETPERF_IMAGE = 'quay.io/cloud-bulldozer/k8s-netperf:latest';
/**
 * Filler endpoints live in 198.18.0.0/15, reserved for benchmarking (RFC 2544): never routed, so nothing
 * answers, and unlike a guess at the pod CIDR it cannot collide with a real cluster's pods.
 */
export const FILLER_ENDPOINT_CIDR = '198.18.0.0/15';
export const FILLER_PORT = 80;
export const FILLER_TARGET_PORT = 8080;

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const RUN_LABEL = 'dpbench.io/run';
export const ROLE_LABEL = 'dpbench.io/role';
/** set on the one server pod the netperf Service selects */
export const TARGET_LABEL = 'dpbench.io/netperf-target';
/** EndpointSlices made by hand carry their own manager, so the EndpointSlice controllers leave them alone */
export const SLICE_MANAGER = 'dpbench.io';

export const NETPERF_CONTAINER = 'netperf';
export const AGENT_CONTAINER = 'agent';
export const AGENT_NAME = 'dpbench-agent';

/** sysctls every kubelet allows (k8s "safe" set); the others need kubelet --allowed-unsafe-sysctls */
const SAFE_SYSCTLS = new Set(['net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range']);
/** what the kind config allows on top of the safe set, so pods get the lab's full POD_SYSCTLS */
export const UNSAFE_POD_SYSCTLS = Object.keys(POD_SYSCTLS).filter((k) => !SAFE_SYSCTLS.has(k));

export function namespaceFor(prefix: string): string {
  return `dpbench-${prefix}`;
}

export function runLabels(prefix: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: 'dpbench', [RUN_LABEL]: prefix };
}

export function namespaceManifest(prefix: string): V1Namespace {
  const name = namespaceFor(prefix);
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...runLabels(prefix), 'kubernetes.io/metadata.name': name } } };
}

export interface NetperfPodOptions {
  prefix: string;
  name: string;
  /** pinned with nodeName: placement is the point of the benchmark, so the scheduler gets no say */
  node: string;
  role: 'client' | 'server';
  image?: string;
  /** the server the netperf Service sends to */
  target?: boolean;
  /** the lab's sysctls including the unsafe ones (the kubelet must allow them, as dpbench's kind config does) */
  unsafeSysctls?: boolean;
}

export function netperfPod(o: NetperfPodOptions): V1Pod {
  const sysctls = Object.entries(POD_SYSCTLS)
    .filter(([k]) => o.unsafeSysctls || SAFE_SYSCTLS.has(k))
    .map(([name, value]) => ({ name, value: String(value) }));
  const server = o.role === 'server';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name,
      namespace: namespaceFor(o.prefix),
      labels: { ...runLabels(o.prefix), [ROLE_LABEL]: `netperf-${o.role}`, ...(o.target ? { [TARGET_LABEL]: 'true' } : {}) },
    },
    spec: {
      nodeName: o.node,
      // pinned pods must also run on control-plane nodes (kind's 2-node shape has one worker)
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 1,
      restartPolicy: 'Never',
      securityContext: { sysctls },
      containers: [
        {
          name: NETPERF_CONTAINER,
          image: o.image ?? DEFAULT_NETPERF_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          command: server ? netserverArgv({ port: NETPERF_CONTROL_PORT }) : ['sleep', 'infinity'],
          ...(server
            ? {
                ports: [
                  { name: 'netperf-ctl', containerPort: NETPERF_CONTROL_PORT, protocol: 'TCP' },
                  { name: 'netperf-data', containerPort: NETPERF_DATA_PORT, protocol: 'TCP' },
                ],
                readinessProbe: { tcpSocket: { port: NETPERF_CONTROL_PORT }, periodSeconds: 1 },
              }
            : {}),
        },
      ],
    },
  };
}

/** the benchmark target: control and data ports both through the VIP, as in the lab (notes/measuring.md) */
export function netperfService(prefix: string): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: TARGET_SERVICE, namespace: namespaceFor(prefix), labels: runLabels(prefix) },
    spec: {
      type: 'ClusterIP',
      selector: { [RUN_LABEL]: prefix, [TARGET_LABEL]: 'true' },
      ports: [
        { name: 'netperf-ctl', port: NETPERF_CONTROL_PORT, targetPort: NETPERF_CONTROL_PORT, protocol: 'TCP' },
        { name: 'netperf-data', port: NETPERF_DATA_PORT, targetPort: NETPERF_DATA_PORT, protocol: 'TCP' },
      ],
    },
  };
}

/** filler i (1-based, like the lab's svc-00001): the netperf target is service number 0 of a scale step */
export function fillerName(i: number): string {
  return `svc-${String(i).padStart(5, '0')}`;
}

export function fillerService(prefix: string, i: number): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    // no selector: the EndpointSlice below is the only source of endpoints; the ClusterIP is allocated by the API
    metadata: { name: fillerName(i), namespace: namespaceFor(prefix), labels: { ...runLabels(prefix), [ROLE_LABEL]: 'filler' } },
    spec: { type: 'ClusterIP', ports: [{ name: 'http', port: FILLER_PORT, targetPort: FILLER_TARGET_PORT, protocol: 'TCP' }] },
  };
}

/** the addresses behind filler i: consecutive hosts of the reserved range, wrapping around */
export function fillerEndpointIPs(i: number, backends: number, cidr = FILLER_ENDPOINT_CIDR): string[] {
  const usable = parseCidr(cidr).size - 2;
  return Array.from({ length: backends }, (_, b) => cidrHost(cidr, 1 + (((i - 1) * backends + b) % usable)));
}

/** ownerUid: the created Service's uid, so the garbage collector removes the slice with its Service */
export function fillerEndpointSlice(prefix: string, i: number, ips: string[], ownerUid?: string): V1EndpointSlice {
  const service = fillerName(i);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-dpbench`,
      namespace: namespaceFor(prefix),
      labels: { ...runLabels(prefix), 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': SLICE_MANAGER },
      ...(ownerUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service, uid: ownerUid }] } : {}),
    },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
    ports: [{ name: 'http', port: FILLER_TARGET_PORT, protocol: 'TCP' }],
  };
}

export interface AgentManifestOptions {
  prefix: string;
  datapath: Datapath;
  /** an image holding node, this repository (with node_modules) and the datapath tools (iptables, nft, bpftool) */
  image: string;
  /** where the repository is inside the image */
  workdir?: string;
  clusterCIDR: string;
  serviceCIDR: string;
  minSyncIntervalMs?: number;
  iptablesBackend?: 'nft' | 'legacy';
  /**
   * The API server's real address. An agent that replaces kube-proxy cannot reach it through the `kubernetes`
   * Service VIP it has yet to program (Cilium's k8sServiceHost), so it is given directly when known.
   */
  apiServer?: { host: string; port: number };
}

export const DEFAULT_AGENT_WORKDIR = '/opt/dpbench';

export function agentArgv(o: Pick<AgentManifestOptions, 'datapath' | 'clusterCIDR' | 'serviceCIDR' | 'minSyncIntervalMs' | 'iptablesBackend'>): string[] {
  return [
    'node', '--import', 'tsx', 'src/datapath/agent/informer.ts',
    '--datapath', o.datapath,
    '--cluster-cidr', o.clusterCIDR,
    '--service-cidr', o.serviceCIDR,
    '--min-sync-interval-ms', String(o.minSyncIntervalMs ?? 10),
    '--iptables-backend', o.iptablesBackend ?? 'nft',
  ];
}

/** cluster-scoped names carry the run prefix: two runs on one cluster must not share RBAC objects */
export function agentRbacName(prefix: string): string {
  return `${AGENT_NAME}-${prefix}`;
}

export function agentManifests(o: AgentManifestOptions): {
  serviceAccount: V1ServiceAccount;
  clusterRole: V1ClusterRole;
  clusterRoleBinding: V1ClusterRoleBinding;
  daemonSet: V1DaemonSet;
} {
  const namespace = namespaceFor(o.prefix);
  const labels = { ...runLabels(o.prefix), [ROLE_LABEL]: 'agent' };
  const rbacName = agentRbacName(o.prefix);
  const watch = ['get', 'list', 'watch'];
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return {
    serviceAccount: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: AGENT_NAME, namespace, labels } },
    clusterRole: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: rbacName, labels },
      rules: [
        { apiGroups: [''], resources: ['services', 'pods', 'namespaces'], verbs: watch },
        // the node object gives the agent its pod CIDR and addresses, as kube-proxy reads its own node
        { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: watch },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: watch },
      ],
    },
    clusterRoleBinding: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: rbacName, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: rbacName },
      subjects: [{ kind: 'ServiceAccount', name: AGENT_NAME, namespace }],
    },
    daemonSet: {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: AGENT_NAME, namespace, labels },
      spec: {
        selector: { matchLabels: { [RUN_LABEL]: o.prefix, [ROLE_LABEL]: 'agent' } },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: AGENT_NAME,
            // the agent programs the node's own network namespace, like kube-proxy
            hostNetwork: true,
            // cluster DNS sits behind a Service VIP this agent may be the one to program
            dnsPolicy: 'Default',
            tolerations: [{ operator: 'Exists' }],
            terminationGracePeriodSeconds: 10,
            containers: [
              {
                name: AGENT_CONTAINER,
                image: o.image,
                imagePullPolicy: 'IfNotPresent',
                workingDir: o.workdir ?? DEFAULT_AGENT_WORKDIR,
                command: agentArgv(o),
                env: [
                  fieldEnv('NODE_NAME', 'spec.nodeName'),
                  fieldEnv('NODE_IP', 'status.hostIP'),
                  ...(o.apiServer
                    ? [
                        { name: 'KUBERNETES_SERVICE_HOST', value: o.apiServer.host },
                        { name: 'KUBERNETES_SERVICE_PORT', value: String(o.apiServer.port) },
                      ]
                    : []),
                ],
                securityContext: { privileged: true },
                volumeMounts: [
                  { name: 'bpffs', mountPath: '/sys/fs/bpf', mountPropagation: 'Bidirectional' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                  { name: 'lib-modules', mountPath: '/lib/modules', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'bpffs', hostPath: { path: '/sys/fs/bpf', type: 'DirectoryOrCreate' } },
              // shared with kube-proxy and anything else running iptables on the node
              { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
              { name: 'lib-modules', hostPath: { path: '/lib/modules' } },
            ],
          },
        },
      },
    },
  };
}
