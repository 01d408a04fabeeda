// SPDX-License-Identifier: Apache-2.0
// Kubernetes objects for a lab cluster at one scale step: the pods, the netperf target service in front of a
// server pod, N-1 filler services (with endpoints on addresses nothing listens on, as kube-proxy's own scale
// tests do), and for interactive use an `echo` service over several pods and a service with no endpoints.
import type { V1EndpointSlice, V1Namespace, V1NetworkPolicy, V1Pod, V1Service } from '@kubernetes/client-node';
import type { ClusterState } from './state.ts';
import { allPods, LAB_POD_NAMESPACE, type LabPlan, type PodPlan } from './lab/plan.ts';
import { cidrHost, parseCidr } from '../util/ip.ts';

export const NETPERF_CONTROL_PORT = 12865;
export const NETPERF_DATA_PORT = 12866;
/** the prober servers' ports in every lab pod: TCP and UDP on ECHO_PORT, TCP on ECHO_PORT_2 */
export const ECHO_PORT = 8080;
export const ECHO_PORT_2 = 9090;
export const TARGET_SERVICE = 'netperf';
/**
 * the NodePort in front of the same server, for the external paths. netperf tells netserver which data port to
 * listen on (`-- -P ,port`) and connects to that same number, so the data NodePort and its targetPort are equal.
 */
export const EXTERNAL_SERVICE = 'netperf-external';
export const NODEPORT_CONTROL = 31865;
export const NODEPORT_DATA = 31866;

export interface ServiceSpecLite {
  namespace: string;
  name: string;
  clusterIP: string;
  ports: { name: string; port: number; targetPort: number; protocol?: 'TCP' | 'UDP'; nodePort?: number }[];
  backends: { ip: string; nodeName?: string; podName?: string; ready?: boolean; serving?: boolean; terminating?: boolean }[];
  type?: 'ClusterIP' | 'NodePort';
  sessionAffinity?: 'None' | 'ClientIP';
  externalTrafficPolicy?: 'Cluster' | 'Local';
}

/** the addresses lab services use: fixed ones at the start of the service CIDR, fillers after them */
export function serviceVIP(plan: Pick<LabPlan, 'serviceCIDR'>, n: number): string {
  return cidrHost(plan.serviceCIDR, n);
}
export const TARGET_VIP_INDEX = 100;
export const ECHO_VIP_INDEX = 101;
export const EMPTY_VIP_INDEX = 102;
export const EXTERNAL_VIP_INDEX = 103;
const FILLER_VIP_BASE = 1000;

/** the client is always the first pod on the first node; servers are chosen per path */
export function clientPod(plan: LabPlan): PodPlan {
  return plan.nodes[0]!.pods[0]!;
}
export function sameNodeServer(plan: LabPlan): PodPlan | undefined {
  return plan.nodes[0]!.pods[1];
}
export function crossNodeServer(plan: LabPlan): PodPlan | undefined {
  return plan.nodes[1]?.pods[0];
}
/** the pod behind the netperf service: across nodes when there are two nodes, like k8s-netperf's default */
export function targetServer(plan: LabPlan): PodPlan {
  return (crossNodeServer(plan) ?? sameNodeServer(plan))!;
}

export function serviceObjects(s: ServiceSpecLite): { service: V1Service; slice: V1EndpointSlice } {
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      type: s.type ?? 'ClusterIP',
      clusterIP: s.clusterIP,
      clusterIPs: [s.clusterIP],
      ipFamilies: ['IPv4'],
      sessionAffinity: s.sessionAffinity ?? 'None',
      ...(s.type === 'NodePort' ? { externalTrafficPolicy: s.externalTrafficPolicy ?? 'Cluster' } : {}),
      ports: s.ports.map((p) => ({
        name: p.name,
        port: p.port,
        targetPort: p.targetPort,
        protocol: p.protocol ?? 'TCP',
        ...(p.nodePort ? { nodePort: p.nodePort } : {}),
      })),
    },
  };
  const slice: V1EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${s.name}-lab`, namespace: s.namespace, labels: { 'kubernetes.io/service-name': s.name } },
    addressType: 'IPv4',
    endpoints: s.backends.map((b) => ({
      addresses: [b.ip],
      conditions: { ready: b.ready ?? true, serving: b.serving ?? b.ready ?? true, terminating: b.terminating ?? false },
      ...(b.nodeName ? { nodeName: b.nodeName } : {}),
      ...(b.podName ? { targetRef: { kind: 'Pod', name: b.podName, namespace: s.namespace } } : {}),
    })),
    ports: s.ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: p.protocol ?? 'TCP' })),
  };
  return { service, slice };
}

function podObject(p: PodPlan): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.name, namespace: p.namespace, labels: { app: 'dpbench', 'dpbench.io/node': p.node } },
    spec: {
      nodeName: p.node,
      containers: [
        {
          name: 'server',
          image: 'netperf',
          ports: [
            { name: 'netperf-ctl', containerPort: NETPERF_CONTROL_PORT },
            { name: 'netperf-data', containerPort: NETPERF_DATA_PORT },
            { name: 'echo', containerPort: ECHO_PORT },
            { name: 'echo-udp', containerPort: ECHO_PORT, protocol: 'UDP' },
            { name: 'echo-2', containerPort: ECHO_PORT_2 },
          ],
        },
      ],
    },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function namespaceObject(name: string): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } };
}

/** address of the k-th filler endpoint: the upper half of the pod CIDR, which no lab node uses */
function fillerEndpoint(plan: LabPlan, k: number): string {
  const half = parseCidr(plan.clusterCIDR).size / 2;
  return cidrHost(plan.clusterCIDR, half + 1 + (k % (half - 2)));
}

export interface StateOptions {
  /** total services including the netperf target (a scale step) */
  services: number;
  backendsPerService: number;
  /** add the echo and no-endpoints services (lab up, tests) */
  extras?: boolean;
  /** add the netperf-external NodePort service (scenarios with external paths); one of the step's N services */
  external?: boolean;
  /**
   * NetworkPolicy mode: the netperf target pod is isolated by a default-deny ingress policy, the client is let
   * in by one allow policy (dropped when allowClient is false: the propagation toggle), and this many filler
   * policies select the target but admit only pods that do not exist — rules every datapath must walk or index.
   */
  policies?: number;
  allowClient?: boolean;
}

export const ROLE_LABEL = 'dpbench.io/role';

function policy(name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: LAB_POD_NAMESPACE }, spec };
}

export function labPolicies(count: number, allowClient: boolean): V1NetworkPolicy[] {
  const target = { matchLabels: { [ROLE_LABEL]: 'target' } };
  const out = [policy('target-default-deny', { podSelector: target, policyTypes: ['Ingress'], ingress: [] })];
  for (let i = 1; i <= count; i++) {
    out.push(
      policy(`filler-${String(i).padStart(5, '0')}`, {
        podSelector: target,
        policyTypes: ['Ingress'],
        ingress: [{ _from: [{ podSelector: { matchLabels: { 'dpbench.io/filler': String(i) } } }], ports: [{ protocol: 'TCP', port: 80 + (i % 1000) }] }],
      }),
    );
  }
  if (allowClient) {
    out.push(policy('allow-client', { podSelector: target, policyTypes: ['Ingress'], ingress: [{ _from: [{ podSelector: { matchLabels: { [ROLE_LABEL]: 'client' } } }] }] }));
  }
  return out;
}

export function labServices(plan: LabPlan, opts: StateOptions): ServiceSpecLite[] {
  const server = targetServer(plan);
  const services: ServiceSpecLite[] = [
    {
      namespace: LAB_POD_NAMESPACE,
      name: TARGET_SERVICE,
      clusterIP: serviceVIP(plan, TARGET_VIP_INDEX),
      // netperf's control and data connections both go through the VIP (notes/measuring.md)
      ports: [
        { name: 'netperf-ctl', port: NETPERF_CONTROL_PORT, targetPort: NETPERF_CONTROL_PORT },
        { name: 'netperf-data', port: NETPERF_DATA_PORT, targetPort: NETPERF_DATA_PORT },
      ],
      backends: [{ ip: server.ip, nodeName: server.node, podName: server.name }],
    },
  ];
  if (opts.external) {
    services.push({
      namespace: LAB_POD_NAMESPACE,
      name: EXTERNAL_SERVICE,
      type: 'NodePort',
      clusterIP: serviceVIP(plan, EXTERNAL_VIP_INDEX),
      ports: [
        { name: 'netperf-ctl', port: NETPERF_CONTROL_PORT, targetPort: NETPERF_CONTROL_PORT, nodePort: NODEPORT_CONTROL },
        { name: 'netperf-data', port: NODEPORT_DATA, targetPort: NODEPORT_DATA, nodePort: NODEPORT_DATA },
      ],
      backends: [{ ip: server.ip, nodeName: server.node, podName: server.name }],
    });
  }
  if (opts.extras) {
    const client = clientPod(plan);
    services.push(
      {
        namespace: LAB_POD_NAMESPACE,
        name: 'echo',
        clusterIP: serviceVIP(plan, ECHO_VIP_INDEX),
        ports: [{ name: 'http', port: 80, targetPort: ECHO_PORT }],
        backends: allPods(plan)
          .filter((p) => p !== client)
          .map((p) => ({ ip: p.ip, nodeName: p.node, podName: p.name })),
      },
      {
        namespace: LAB_POD_NAMESPACE,
        name: 'no-endpoints',
        clusterIP: serviceVIP(plan, EMPTY_VIP_INDEX),
        ports: [{ name: 'http', port: 80, targetPort: ECHO_PORT }],
        backends: [],
      },
    );
  }
  // the step's N services: the netperf target (and netperf-external) plus fillers; echo/no-endpoints are extra
  for (let i = opts.external ? 2 : 1; i < opts.services; i++) {
    services.push({
      namespace: 'default',
      name: `svc-${String(i).padStart(5, '0')}`,
      clusterIP: serviceVIP(plan, FILLER_VIP_BASE + i),
      ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      backends: Array.from({ length: opts.backendsPerService }, (_, b) => ({ ip: fillerEndpoint(plan, i * opts.backendsPerService + b) })),
    });
  }
  return services;
}

export function buildClusterState(plan: LabPlan, opts: StateOptions): ClusterState {
  const built = labServices(plan, opts).map(serviceObjects);
  const pods = allPods(plan).map(podObject);
  const state: ClusterState = {
    namespaces: [namespaceObject('default'), namespaceObject(LAB_POD_NAMESPACE)],
    pods,
    services: built.map((b) => b.service),
    endpointSlices: built.map((b) => b.slice),
  };
  if (opts.policies !== undefined) {
    const role = (name: string, value: string): void => {
      const pod = pods.find((p) => p.metadata!.name === name)!;
      pod.metadata!.labels = { ...pod.metadata!.labels, [ROLE_LABEL]: value };
    };
    role(clientPod(plan).name, 'client');
    role(targetServer(plan).name, 'target');
    state.networkPolicies = labPolicies(opts.policies, opts.allowClient ?? true);
  }
  return state;
}
