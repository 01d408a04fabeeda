// SPDX-License-Identifier: Apache-2.0
// The Services the services conformance suite programs into every datapath, on top of the lab's own (echo,
// no-endpoints): one per behaviour, so one check's setup cannot hide another's bug.
import { buildClusterState, clientPod, ECHO_PORT, ECHO_PORT_2, serviceObjects, serviceVIP, type ServiceSpecLite } from '../../cluster/objects.ts';
import { allPods, LAB_POD_NAMESPACE, type LabPlan, type PodPlan } from '../../cluster/lab/plan.ts';
import type { ClusterState } from '../../cluster/state.ts';

export const NODEPORT = 30080;
export const NODEPORT_LOCAL = 30081;

export const CONFORM_VIP = {
  multi: 110,
  udp: 111,
  hairpin: 112,
  nodeport: 113,
  affinity: 114,
  local: 115,
  terminating: 116,
} as const;

type Backend = ServiceSpecLite['backends'][number];
const backend = (p: PodPlan, extra: Partial<Backend> = {}): Backend => ({ ip: p.ip, nodeName: p.node, podName: p.name, ...extra });

/** the pods that serve (everything but the client) */
export function servers(plan: LabPlan): PodPlan[] {
  const client = clientPod(plan);
  return allPods(plan).filter((p) => p !== client);
}

export function conformanceServices(plan: LabPlan): ServiceSpecLite[] {
  const node0Server = plan.nodes[0]!.pods[1]!;
  const [node1Ready, node1Terminating] = plan.nodes[1]!.pods;
  const everyServer = servers(plan).map((p) => backend(p));
  const svc = (name: keyof typeof CONFORM_VIP, rest: Omit<ServiceSpecLite, 'namespace' | 'name' | 'clusterIP'>): ServiceSpecLite => ({
    namespace: LAB_POD_NAMESPACE,
    name,
    clusterIP: serviceVIP(plan, CONFORM_VIP[name]),
    ...rest,
  });
  const http = { name: 'http', port: 80, targetPort: ECHO_PORT };
  return [
    svc('multi', { ports: [http, { name: 'alt', port: 90, targetPort: ECHO_PORT_2 }], backends: everyServer }),
    svc('udp', { ports: [{ name: 'dns', port: 53, targetPort: ECHO_PORT, protocol: 'UDP' }], backends: everyServer }),
    svc('hairpin', { ports: [http], backends: [backend(clientPod(plan))] }),
    // NodePort whose only endpoint is on node0: reached through node0 (local) and node1 (remote)
    svc('nodeport', { type: 'NodePort', ports: [{ ...http, nodePort: NODEPORT }], backends: [backend(node0Server)] }),
    svc('affinity', { sessionAffinity: 'ClientIP', ports: [http], backends: everyServer }),
    svc('local', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ ...http, nodePort: NODEPORT_LOCAL }], backends: everyServer }),
    svc('terminating', {
      ports: [http],
      backends: [backend(node1Ready!), backend(node1Terminating!, { ready: false, serving: true, terminating: true })],
    }),
  ];
}

export function conformanceState(plan: LabPlan): ClusterState {
  const state = buildClusterState(plan, { services: 1, backendsPerService: 1, extras: true });
  for (const s of conformanceServices(plan).map(serviceObjects)) {
    state.services.push(s.service);
    state.endpointSlices.push(s.slice);
  }
  return state;
}
