// SPDX-License-Identifier: Apache-2.0
// The standard model of upstream's netpol e2e suite and Cyclonus: namespaces x, y, z, pods a, b, c in each, every
// pod serving ports 80 and 81 on TCP, UDP and SCTP. Placed on a 3-node × 3-pod lab so addresses are fixed: a
// namespace per node (x → node0, y → node1, z → node2), pod a/b/c = pod0/pod1/pod2, IP 10.244.<node>.<10+pod>.
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { planLab, type LabPlan, type PodPlan } from '../cluster/lab/plan.ts';
import {
  NAMESPACE_NAME_LABEL,
  podKey,
  PROTOCOLS,
  type NetpolNamespace,
  type NetpolPod,
  type NetpolPort,
  type Protocol,
} from './evaluator.ts';

export const MODEL_NAMESPACES = ['x', 'y', 'z'] as const;
export const MODEL_POD_NAMES = ['a', 'b', 'c'] as const;
export const MODEL_PORTS = [80, 81] as const;
export const MODEL_PROTOCOLS: readonly Protocol[] = PROTOCOLS;

/** the lab shape the model is placed on (clusters/lab-3node.yaml) */
export const MODEL_SHAPE = {
  nodes: 3,
  podsPerNode: 3,
  network: { nodeSubnet: '172.18.0.0/16', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' },
} as const;

export interface ModelPod extends NetpolPod {
  /** the lab node and pod that play this model pod */
  node: string;
  labPod: string;
}

export interface NetpolModel {
  namespaces: NetpolNamespace[];
  /** in truth-table order: x/a x/b x/c y/a y/b y/c z/a z/b z/c */
  pods: ModelPod[];
}

export interface ModelExtras {
  /** extra labels per namespace name, e.g. { y: { ns2: updated } } */
  namespaceLabels?: Record<string, Record<string, string>>;
  /** extra labels per pod, keyed `namespace/pod`, e.g. { 'x/b': { role: client } } */
  podLabels?: Record<string, Record<string, string>>;
}

/** upstream's container port name: serve-80-tcp */
export function modelPortName(port: number, protocol: Protocol): string {
  return `serve-${port}-${protocol.toLowerCase()}`;
}

export const MODEL_POD_PORTS: readonly NetpolPort[] = MODEL_PORTS.flatMap((port) =>
  MODEL_PROTOCOLS.map((protocol) => ({ name: modelPortName(port, protocol), port, protocol })),
);

/** the `x/a` names of the model's pods in truth-table order */
export const MODEL_POD_KEYS: readonly string[] = MODEL_NAMESPACES.flatMap((ns) => MODEL_POD_NAMES.map((p) => `${ns}/${p}`));

export function modelLabPlan(prefix = 'dpb-netpol', label = 'model'): LabPlan {
  return planLab(prefix, label, MODEL_SHAPE);
}

/** the lab pod playing model pod `x/a` (namespace index = node index, pod index = pod index on the node) */
export function labPodFor(plan: LabPlan, key: string): PodPlan {
  const [ns, name] = key.split('/');
  const n = MODEL_NAMESPACES.indexOf(ns as (typeof MODEL_NAMESPACES)[number]);
  const p = MODEL_POD_NAMES.indexOf(name as (typeof MODEL_POD_NAMES)[number]);
  const pod = plan.nodes[n]?.pods[p];
  if (n < 0 || p < 0 || !pod) throw new Error(`"${key}" is not a pod of the standard model (x|y|z)/(a|b|c), or the lab is too small`);
  return pod;
}

export function standardModel(extra: ModelExtras = {}, plan: LabPlan = modelLabPlan()): NetpolModel {
  const namespaces = MODEL_NAMESPACES.map((name) => ({
    name,
    labels: { ns: name, [NAMESPACE_NAME_LABEL]: name, ...extra.namespaceLabels?.[name] },
  }));
  const pods = MODEL_NAMESPACES.flatMap((namespace) =>
    MODEL_POD_NAMES.map((name): ModelPod => {
      const key = `${namespace}/${name}`;
      const lab = labPodFor(plan, key);
      return {
        namespace,
        name,
        labels: { pod: name, ...extra.podLabels?.[key] },
        ip: lab.ip,
        ports: MODEL_POD_PORTS.map((p) => ({ ...p })),
        node: lab.node,
        labPod: lab.name,
      };
    }),
  );
  return { namespaces, pods };
}

export function findModelPod(model: NetpolModel, key: string): ModelPod {
  const pod = model.pods.find((p) => podKey(p) === key);
  if (!pod) throw new Error(`no pod "${key}" in the model; expected one of ${model.pods.map(podKey).join(', ')}`);
  return pod;
}

const labelText = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** `dpbench conform --print-model`: every namespace and pod with labels, address, node and ports */
export function printModel(model: NetpolModel = standardModel()): string {
  const ports = MODEL_POD_PORTS.map((p) => `${p.name}(${p.port}/${p.protocol})`).join(' ');
  const lines = [
    'NetworkPolicy standard model (upstream e2e / Cyclonus)',
    `every pod serves: ${ports}`,
    '',
    'namespaces:',
    ...model.namespaces.map((n) => `  ${n.name.padEnd(4)} ${labelText(n.labels)}`),
    '',
    'pods (truth-table order; rows = from, columns = to):',
    `  ${'pod'.padEnd(5)} ${'ip'.padEnd(13)} ${'lab pod'.padEnd(11)} labels`,
    ...model.pods.map((p) => `  ${podKey(p).padEnd(5)} ${p.ip.padEnd(13)} ${p.labPod.padEnd(11)} ${labelText(p.labels)}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** the model as Kubernetes objects, for datapath agents fed a ClusterState (one container per port, as upstream) */
export function modelKubeObjects(model: NetpolModel): { namespaces: V1Namespace[]; pods: V1Pod[] } {
  return {
    namespaces: model.namespaces.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.name, labels: { ...n.labels } } })),
    pods: model.pods.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { namespace: p.namespace, name: p.name, labels: { ...p.labels } },
      spec: {
        nodeName: p.node,
        containers: p.ports.map((port) => ({
          name: `cont-${port.port}-${port.protocol.toLowerCase()}`,
          image: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
          ports: [{ containerPort: port.port, protocol: port.protocol, ...(port.name ? { name: port.name } : {}) }],
        })),
      },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
    })),
  };
}
