// SPDX-License-Identifier: Apache-2.0
// The scenario and cluster-shape file formats: zod schemas (unknown keys rejected) and the typed values they give.
import { z } from 'zod';

export const DATAPATHS = ['none', 'iptables', 'nftables', 'ebpf', 'xdp'] as const;
/** where the xdp datapath's program is attached: `auto` tries native (in the driver), then generic (on the skb) */
export const XDP_MODE_REQUESTS = ['auto', 'native', 'generic'] as const;
export type XdpModeRequest = (typeof XDP_MODE_REQUESTS)[number];
/** datapaths this version can program; the others are recognised but rejected with a clear message */
export const IMPLEMENTED_DATAPATHS: readonly Datapath[] = ['none', 'iptables', 'nftables', 'ebpf', 'xdp'];
export type Datapath = (typeof DATAPATHS)[number];

export const TESTS = ['TCP_RR', 'TCP_CRR', 'TCP_STREAM'] as const;
/** not a netperf test: how long a NetworkPolicy change takes to change what a prober sees (kube-burner netpolLatency) */
export const PROPAGATION_TEST = 'NETPOL_PROPAGATION';
export const WORKLOAD_TESTS = [...TESTS, PROPAGATION_TEST] as const;
export const PATHS = [
  'pod-to-pod-same-node',
  'pod-to-pod-cross-node',
  'pod-to-service',
  /** from the external namespace to a NodePort on the node that hosts the backend, or on the other node */
  'external-to-nodeport-local',
  'external-to-nodeport-remote',
] as const;
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
  test: z.enum(WORKLOAD_TESTS),
  path: z.enum(PATHS),
  /** seconds per sample (netperf -l); default: the scenario's `duration` */
  duration: seconds.optional(),
  /** samples per datapath and scale step; default: the scenario's `samples` */
  samples: positiveInt.max(100).optional(),
  /** RR/CRR request,response bytes; STREAM send size */
  requestSize: positiveInt.optional(),
  responseSize: positiveInt.optional(),
});

/** metrics a threshold can name: the `metric` of a results.json record */
export const THRESHOLD_METRICS = [
  'latency_p50', 'latency_p90', 'latency_p99', 'latency_mean', 'transaction_rate', 'throughput', 'sync_duration', 'rules',
  'cpu_busy_per_tx', 'cpu_softirq_per_tx', 'cpu_ksoftirqd_per_tx', 'cpu_busy_per_gb', 'cpu_softirq_per_gb', 'cpu_ksoftirqd_per_gb',
  'propagation_allow_to_deny', 'propagation_deny_to_allow', 'endpoint_programming_latency', 'churn_sync_duration', 'agent_cpu',
] as const;

/**
 * One pass/fail rule checked against results.json. The selector (metric, test, path, datapath, services, policies, phase) picks
 * records, an omitted selector key matching every value; the bound is absolute (`min`/`max`, in the metric's unit)
 * or relative to another record (`relativeTo` + `minRatio`/`maxRatio`), never both.
 */
const thresholdSchema = z
  .strictObject({
    /** shown in messages instead of the generated description */
    name: z.string().min(1).optional(),
    metric: z.enum(THRESHOLD_METRICS),
    test: z.enum([...WORKLOAD_TESTS, 'sync', 'churn']).optional(),
    path: z.enum([...PATHS, 'control-plane']).optional(),
    datapath: z.enum(DATAPATHS).optional(),
    services: positiveInt.optional(),
    /** the NetworkPolicy step, in scenarios with scale.policies */
    policies: z.number().int().min(0).optional(),
    /** churn: only what was measured while kube-burner changed the cluster; steady: only what was not */
    phase: z.enum(['churn', 'steady']).optional(),
    /** the statistic of the record's valid samples that is compared */
    stat: z.enum(['median', 'ci95High', 'ci95Low', 'max', 'min']).default('median'),
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
    /** the reference record: the same test/path/metric, with these keys replaced */
    relativeTo: z
      .strictObject({ datapath: z.enum(DATAPATHS).optional(), services: positiveInt.optional(), policies: z.number().int().min(0).optional() })
      .refine((r) => r.datapath !== undefined || r.services !== undefined || r.policies !== undefined, 'expected datapath, services and/or policies')
      .optional(),
    minRatio: z.number().positive().optional(),
    maxRatio: z.number().positive().optional(),
  })
  .superRefine((t, ctx) => {
    const absolute = t.min !== undefined || t.max !== undefined;
    const ratio = t.minRatio !== undefined || t.maxRatio !== undefined;
    if (absolute && (ratio || t.relativeTo)) {
      ctx.addIssue({ code: 'custom', path: ['relativeTo'], message: 'expected either min/max or relativeTo with minRatio/maxRatio, not both' });
    } else if (!absolute && !ratio) {
      ctx.addIssue({ code: 'custom', path: [], message: 'expected a bound: min and/or max, or relativeTo with minRatio and/or maxRatio' });
    } else if (ratio && !t.relativeTo) {
      ctx.addIssue({ code: 'custom', path: ['relativeTo'], message: 'missing; minRatio/maxRatio need relativeTo: { datapath }, { services } and/or { policies }' });
    } else if (t.relativeTo && !ratio) {
      ctx.addIssue({ code: 'custom', path: ['maxRatio'], message: 'missing; relativeTo needs minRatio and/or maxRatio' });
    }
    if (t.relativeTo && t.relativeTo.datapath === t.datapath && t.relativeTo.services === undefined && t.relativeTo.policies === undefined && t.datapath !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['relativeTo', 'datapath'], message: 'the reference is the record itself; expected another datapath, services or policies' });
    }
    if (t.min !== undefined && t.max !== undefined && t.min > t.max) ctx.addIssue({ code: 'custom', path: ['min'], message: 'min is above max' });
    if (t.minRatio !== undefined && t.maxRatio !== undefined && t.minRatio > t.maxRatio) {
      ctx.addIssue({ code: 'custom', path: ['minRatio'], message: 'minRatio is above maxRatio' });
    }
  });
export type ThresholdSpec = z.output<typeof thresholdSchema>;
export const thresholdsSchema = z.array(thresholdSchema);

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
      /** where the xdp datapath's program runs: `auto` = native (in the veth driver), generic where refused */
      xdp: z.strictObject({ mode: z.enum(XDP_MODE_REQUESTS).default('auto') }).prefault({}),
    })
    .prefault({}),
  scale: z.strictObject({
    /** service counts, one scale step each */
    services: z.array(positiveInt.max(100_000)).min(1),
    /** endpoints behind each of the filler services */
    backendsPerService: positiveInt.max(100).default(3),
    /**
     * NetworkPolicy counts, one step each (crossed with the service counts): with any, the netperf server is
     * isolated by a default-deny policy, the client is allowed by one policy, and N-0 filler policies that
     * select the server but admit no existing pod sit in front of it (src/cluster/objects.ts)
     */
    policies: z.array(z.number().int().min(0).max(50_000)).min(1).optional(),
  }),
  /**
   * a kube-burner job run against every datapath at every scale step, one datapath at a time, while the
   * scenario's pod-to-service netperf workloads keep measuring an unrelated service (src/workload/churn)
   */
  churn: z
    .strictObject({
      /** kube-burner job file, relative to scenarios/ */
      jobs: z.string().min(1),
      /** per datapath minimum interval between syncs, ms (kube-proxy's minSyncPeriod: 1 s; dpbench's ebpf: 0) */
      minSyncPeriodMs: z.partialRecord(z.enum(DATAPATHS), z.number().int().min(0).max(60_000)).default({}),
    })
    .optional(),
  /** defaults for every workload */
  duration: seconds.default(5),
  samples: positiveInt.max(100).default(5),
  /** seconds of unmeasured traffic before each workload's samples on each datapath */
  warmup: z.number().int().min(0).max(60).default(1),
  workloads: z.array(workloadSchema).min(1),
  /** pass/fail rules checked by `dpbench report` and at the end of a run (exit 99 when breached) */
  thresholds: thresholdsSchema.optional(),
});
export type ScenarioFile = z.output<typeof scenarioSchema>;

export interface Workload {
  test: (typeof WORKLOAD_TESTS)[number];
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
