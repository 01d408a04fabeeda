// SPDX-License-Identifier: Apache-2.0
// What the runner uses to benchmark a real Kubernetes cluster (kind or any kubeconfig), the counterpart of the
// lab's LabCluster: nodes, netperf pods pinned to them, the netperf Service, filler Services for a scale step,
// exec in a pod, and the dpbench agent DaemonSet for the datapaths dpbench programs itself.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PrereqError } from '../errors.ts';
import type { RunResult } from '../util/exec.ts';
import type { SyncReport } from '../datapath/types.ts';
import type { AgentManifestOptions } from './kube/manifests.ts';
import type { ClusterShape, Datapath } from '../runner/scenario/schema.ts';
import { netperfArgv, type NetperfRaw, type NetperfRequest } from '../workload/netperf/driver.ts';

export type KubeProvider = 'kind' | 'kubeconfig';

export interface KubeNode {
  name: string;
  /** the node's InternalIP */
  internalIP?: string;
  podCIDRs: string[];
  ready: boolean;
  controlPlane: boolean;
  /** no NoSchedule/NoExecute taints and not cordoned */
  schedulable: boolean;
}

export interface PodRef {
  namespace: string;
  name: string;
  container: string;
  node: string;
  ip: string;
}

/** the netperf pods of a run, placed like the lab's (src/cluster/objects.ts) */
export interface NetperfPods {
  /** the one client: netperf runs here */
  client: PodRef;
  /** a server on the client's node (pod-to-pod-same-node) */
  sameNodeServer: PodRef;
  /** a server on another node (pod-to-pod-cross-node); absent on a one-node cluster */
  crossNodeServer?: PodRef;
  /** the server behind the netperf Service: across nodes when there are two, like k8s-netperf's default */
  target: PodRef;
  service: { namespace: string; name: string; clusterIP: string; controlPort: number; dataPort: number };
}

export interface NetperfDeployOptions {
  image?: string;
  /** nodes to use, client's first; default the first two of nodes() */
  nodes?: [string, ...string[]];
  /** bounded wait for every pod to be Ready, default 180 s (an image pull included) */
  readyTimeoutMs?: number;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** resolve with a non-zero exit instead of throwing a CommandError, as util/exec.ts run() */
  allowFail?: boolean;
}

export interface ServiceScaleOptions {
  backendsPerService: number;
  /** API requests in flight at once, default 16 */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface ServiceScaleResult {
  /** total services of the step, the netperf target included (as a lab scale step counts them) */
  services: number;
  created: number;
  deleted: number;
  durationMs: number;
}

/** what deployAgents needs: the DaemonSet's options (src/cluster/kube/manifests.ts) less what the target knows */
export type AgentDeployOptions = Omit<AgentManifestOptions, 'prefix' | 'apiServer'> & {
  /** bounded wait for the DaemonSet to be ready on every node, default 180 s */
  readyTimeoutMs?: number;
};

export interface KubeTarget extends AsyncDisposable {
  readonly provider: KubeProvider;
  /** a kubeconfig file path, or "in-cluster" */
  readonly kubeconfig: string;
  readonly context?: string;
  /** the API server URL, for messages and results.json */
  readonly server: string;
  /** the server's version (gitVersion), recorded next to the results */
  readonly version: string;
  /** everything this target creates lives here (dpbench-<prefix>); deleted on dispose */
  readonly namespace: string;
  /** Ready nodes, schedulable ones first, then by name */
  nodes(): Promise<KubeNode[]>;
  /** client + servers pinned to nodes, the netperf Service in front of the target; waits until all are Ready */
  deployNetperf(opts?: NetperfDeployOptions): Promise<NetperfPods>;
  /** runs argv in a pod's container through the exec API: stdout, stderr, exit code */
  exec(pod: PodRef, argv: readonly string[], opts?: ExecOptions): Promise<RunResult>;
  /** creates or deletes filler Services (+ EndpointSlices) so the step has `total` services, the target included */
  setServiceCount(total: number, opts: ServiceScaleOptions): Promise<ServiceScaleResult>;
  /** the agent DaemonSet (ebpf/xdp: dpbench replaces kube-proxy); returns its pods once Ready */
  deployAgents(opts: AgentDeployOptions): Promise<PodRef[]>;
  /** every SyncReport the agent pods have logged so far, per pod in order */
  agentReports(): Promise<SyncReport[]>;
  /** waits until every agent pod has logged a sync that saw at least this many service ports */
  waitForAgentSync(minServicePorts: number, timeoutMs: number): Promise<SyncReport[]>;
}

/** one netperf run in the client pod; like runNetperf, a failing netperf is a result to parse, not an exception */
export async function runNetperfInPod(target: KubeTarget, pod: PodRef, req: NetperfRequest): Promise<NetperfRaw> {
  const res = await target.exec(pod, netperfArgv(req), { allowFail: true, timeoutMs: req.durationS * 1000 + 20_000 });
  return { argv: res.argv, stdout: res.stdout, stderr: res.stderr, code: res.code, durationMs: res.durationMs };
}

/** runs fn over items with at most `limit` in flight; results in input order; the first error stops new work */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** a promise bounded in time: rejects with `what` and the limit when it takes longer */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** the messages of an error and its causes ("fetch failed: connect ECONNREFUSED 127.0.0.1:1") */
export function errorChain(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 6; depth++) {
    const err = cur as { message?: unknown; code?: unknown; cause?: unknown; errors?: unknown[] };
    const msg = typeof err.message === 'string' && err.message ? err.message : String(cur);
    if (!parts.includes(msg)) parts.push(msg);
    // undici reports a refused dual-stack connect as an AggregateError with the per-address errors inside
    cur = err.cause ?? (Array.isArray(err.errors) ? err.errors[0] : undefined);
  }
  return parts.join(': ');
}

export type ClientNode = typeof import('@kubernetes/client-node');

/** ">=22.19.0" against a Node version; other range forms are not judged here (undefined) */
export function engineUnmet(range: string | undefined, node = process.versions.node): string | undefined {
  const m = /^\s*>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range ?? '');
  if (!m) return undefined;
  const want = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  const have = node.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) < want[i]! ? `>=${want.join('.')}` : undefined;
  return undefined;
}

/**
 * client-node 2.0.1 depends on undici 8, which throws while loading on Node < 22.19 (zlib zstd), and under tsx or
 * vitest that failure escapes any catch. So the packages' engines are read first and nothing unloadable is imported.
 */
function clientNodeEngineProblem(): string | undefined {
  try {
    const own = createRequire(import.meta.url).resolve('@kubernetes/client-node/package.json');
    for (const pkg of [own, createRequire(own).resolve('undici/package.json')]) {
      const { name, version, engines } = JSON.parse(readFileSync(pkg, 'utf8')) as { name: string; version: string; engines?: { node?: string } };
      const need = engineUnmet(engines?.node);
      if (need) return `${name} ${version}${pkg === own ? '' : ' (used by @kubernetes/client-node)'} needs Node ${need}`;
    }
  } catch {
    // not resolvable: the import below says why
  }
  return undefined;
}

const CLIENT_NODE_FIX = 'run dpbench with a Node that satisfies it, or pin the dependency to a release that supports this Node (npm overrides)';

/** the client library, loaded only when a cluster is used: lab runs never pay for it */
export async function loadClientNode(): Promise<ClientNode> {
  const problem = clientNodeEngineProblem();
  if (problem) throw new PrereqError(`@kubernetes/client-node cannot be loaded on Node ${process.version}: ${problem}\n  fix: ${CLIENT_NODE_FIX}`);
  try {
    return await import('@kubernetes/client-node');
  } catch (e) {
    throw new PrereqError(`@kubernetes/client-node cannot be loaded on Node ${process.version}: ${errorChain(e)}\n  fix: reinstall the dependencies (npm ci)`);
  }
}

export interface OpenKubeTargetOptions {
  provider: KubeProvider;
  /** the run's prefix (dpb-xxxxxx): names the kind cluster and the namespace */
  prefix: string;
  datapath: Datapath;
  shape: Pick<ClusterShape, 'name' | 'nodes' | 'network'>;
  /** kubeconfig provider: a path (default $KUBECONFIG, ~/.kube/config, in-cluster) and context */
  kubeconfig?: string;
  context?: string;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * kind: creates the datapath's kind cluster and connects to it; disposal deletes the cluster.
 * kubeconfig: connects to the cluster as it is; disposal deletes only what dpbench created.
 * Both fail with a PrereqError (exit 3) when the tools or the cluster are not there.
 */
export async function openKubeTarget(opts: OpenKubeTargetOptions): Promise<KubeTarget> {
  // before creating anything: a kind cluster is no use if the API client cannot load
  await loadClientNode();
  const { connectKube } = await import('./kubeconfig/kube.ts');
  if (opts.provider === 'kubeconfig') {
    return await connectKube({ provider: 'kubeconfig', prefix: opts.prefix, kubeconfig: opts.kubeconfig, context: opts.context, log: opts.log });
  }
  const { KindCluster } = await import('./kind/kind.ts');
  const { kindClusterName } = await import('./kind/config.ts');
  const kind = await KindCluster.create({ name: kindClusterName(opts.prefix, opts.datapath), shape: opts.shape, datapath: opts.datapath, log: opts.log, signal: opts.signal });
  try {
    return await connectKube({
      provider: 'kind',
      prefix: opts.prefix,
      kubeconfig: kind.kubeconfig,
      // the cluster goes away whole: no need to wait for the namespace
      deleteNamespaceOnDispose: false,
      // dpbench's kind config lets the kubelet accept the lab's unsafe pod sysctls
      unsafeSysctls: true,
      onDispose: () => kind.delete(),
      log: opts.log,
    });
  } catch (e) {
    await kind.delete();
    throw e;
  }
}
