// SPDX-License-Identifier: Apache-2.0
// The scenario and cluster-shape file formats: zod schemas (unknown keys rejected) and the typed values they give.
import { z } from 'zod';

export const DATAPATHS = ['none', 'iptables', 'nftables', 'ebpf', 'xdp'] as const;
/** datapaths this version can program; the others are recognised but rejected with a clear message */
export const IMPLEMENTED_DATAPATHS: readonly Datapath[] = ['none', 'iptables'];
export type Datapath = (typeof DATAPATHS)[number];

export const TESTS = ['TCP_RR', 'TCP_CRR', 'TCP_STREAM'] as const;
export const PATHS = ['pod-to-pod-same-node', 'pod-to-pod-cross-node', 'pod-to-service'] as const;
export type TrafficPath = (typeof PATHS)[number];

const positiveInt = z.number().int().positive();
/** netperf -l takes whole seconds */
const seconds = z.number().int().positive().max(600);
const ipv4Cidr = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'expected an IPv4 CIDR such as 10.244.0.0/16');

export const clusterShapeSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  provider: z.enum(['lab', 'kind', 'kubeconfig']).default('lab'),
  nodes: positiveInt.max(16),
  podsPerNode: positiveInt.max(64),
  network: z
    .strictObject({
      /** the underlay the nodes share (kind's docker network) */
      nodeSubnet: ipv4Cidr.default('172.18.0.0/16'),
      /** the cluster pod CIDR; node i gets the i-th /24 */
      podCIDR: ipv4Cidr.default('10.244.0.0/16'),
      serviceCIDR: ipv4Cidr.default('10.96.0.0/12'),
    })
    .prefault({}),
});
export type ClusterShape = z.output<typeof clusterShapeSchema>;

const workloadSchema = z.strictObject({
  test: z.enum(TESTS),
  path: z.enum(PATHS),
  /** seconds per sample (netperf -l); default: the scenario's `duration` */
  duration: seconds.optional(),
  /** samples per datapath and scale step; default: the scenario's `samples` */
  samples: positiveInt.max(100).optional(),
  /** RR/CRR request,response bytes; STREAM send size */
  requestSize: positiveInt.optional(),
  responseSize: positiveInt.optional(),
});

export const scenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lower-case name like service-scale'),
  description: z.string().default(''),
  cluster: z.strictObject({
    provider: z.enum(['lab', 'kind', 'kubeconfig']).default('lab'),
    /** a file in clusters/ (without .yaml) */
    shape: z.string().min(1),
    /** override the shape's node count / pods per node */
    nodes: positiveInt.max(16).optional(),
    podsPerNode: positiveInt.max(64).optional(),
  }),
  datapaths: z.array(z.enum(DATAPATHS)).min(1),
  datapathOptions: z
    .strictObject({
      iptables: z.strictObject({ backend: z.enum(['nft', 'legacy']).default('nft') }).prefault({}),
    })
    .prefault({}),
  scale: z.strictObject({
    /** service counts, one scale step each */
    services: z.array(positiveInt.max(100_000)).min(1),
    /** endpoints behind each of the filler services */
    backendsPerService: positiveInt.max(100).default(3),
  }),
  /** defaults for every workload */
  duration: seconds.default(5),
  samples: positiveInt.max(100).default(5),
  /** seconds of unmeasured traffic before each workload's samples on each datapath */
  warmup: z.number().int().min(0).max(60).default(1),
  workloads: z.array(workloadSchema).min(1),
});
export type ScenarioFile = z.output<typeof scenarioSchema>;

export interface Workload {
  test: (typeof TESTS)[number];
  path: TrafficPath;
  duration: number;
  samples: number;
  requestSize?: number;
  responseSize?: number;
}

/** A validated scenario with defaults applied and the cluster shape resolved. */
export interface Scenario extends Omit<ScenarioFile, 'workloads' | 'cluster'> {
  file: string;
  cluster: ClusterShape & { shapeFile: string };
  workloads: Workload[];
}
