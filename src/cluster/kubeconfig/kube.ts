// SPDX-License-Identifier: Apache-2.0
// A KubeTarget over @kubernetes/client-node: any cluster a kubeconfig reaches (kind's included). Every object it
// makes lives in namespace dpbench-<prefix> (plus the agent's ClusterRole/Binding), all removed on dispose;
// every API call is bounded in time, so an unreachable cluster is a clear error and never a hang.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { CommandError, ConfigError, DpbenchError, PrereqError } from '../../errors.ts';
import type { RunResult } from '../../util/exec.ts';
import type { SyncReport } from '../../datapath/types.ts';
import { parseSyncLines } from '../../datapath/agent/informer.ts';
import { NETPERF_CONTROL_PORT, NETPERF_DATA_PORT, TARGET_SERVICE } from '../objects.ts';
import {
  AGENT_CONTAINER, AGENT_NAME, agentManifests, fillerEndpointIPs, fillerEndpointSlice, fillerName, fillerService,
  namespaceManifest, NETPERF_CONTAINER, netperfPod, netperfService, namespaceFor, ROLE_LABEL, RUN_LABEL,
} from '../kube/manifests.ts';
import {
  errorChain, loadClientNode, mapLimit, withTimeout, type AgentDeployOptions, type ClientNode, type ExecOptions, type KubeNode,
  type KubeProvider, type KubeTarget, type NetperfDeployOptions, type NetperfPods, type PodRef, type ServiceScaleOptions, type ServiceScaleResult,
} from '../provider.ts';

export const IN_CLUSTER = 'in-cluster';
const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** an API request that failed or got no answer: an external failure (exit 2), like a failed command */
export class KubeApiError extends DpbenchError {
  override readonly exitCode = 2;
  constructor(what: string, readonly status: number | undefined, detail: string) {
    super(`${what} failed${status ? ` (HTTP ${status})` : ''}: ${detail}`);
    this.name = 'KubeApiError';
  }
}

/** ApiException by shape: the class lives in the lazily loaded module */
function isApiException(e: unknown): e is k8s.ApiException<unknown> {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && 'body' in e && 'headers' in e;
}

function toKubeError(what: string, e: unknown): KubeApiError {
  if (isApiException(e)) {
    let detail = String(e.body ?? e.message);
    try {
      detail = (JSON.parse(detail) as { message?: string }).message ?? detail;
    } catch {
      // not JSON: keep the text
    }
    return new KubeApiError(what, e.code, detail);
  }
  return new KubeApiError(what, undefined, errorChain(e));
}

const isNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;

/** the kubeconfig to use: explicit path, else $KUBECONFIG's first existing file, ~/.kube/config, in-cluster */
export function resolveKubeconfig(explicit?: string, env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  if (explicit) {
    if (!existsSync(explicit)) throw new PrereqError(`kubeconfig ${explicit} does not exist\n  fix: pass the path of an existing kubeconfig file`);
    return explicit;
  }
  for (const p of (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean)) if (existsSync(p)) return p;
  if (existsSync(join(home, '.kube', 'config'))) return join(home, '.kube', 'config');
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SA_TOKEN)) return IN_CLUSTER;
  throw new PrereqError('no kubeconfig found ($KUBECONFIG, ~/.kube/config, in-cluster)\n  fix: pass --kubeconfig <path> or set KUBECONFIG (kind and cloud CLIs write one)');
}

export function loadKubeConfig(lib: ClientNode, path: string, context?: string): k8s.KubeConfig {
  const kc = new lib.KubeConfig();
  try {
    if (path === IN_CLUSTER) kc.loadFromCluster();
    else kc.loadFromFile(path);
  } catch (e) {
    throw new ConfigError(`kubeconfig ${path} cannot be read: ${errorChain(e)}`);
  }
  if (context) {
    if (!kc.getContextObject(context)) throw new ConfigError(`kubeconfig ${path} has no context "${context}"; it has: ${kc.getContexts().map((c) => c.name).join(', ')}`);
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()?.server) throw new ConfigError(`kubeconfig ${path}: the current context names no cluster with a server address`);
  return kc;
}

/** /readyz with a short deadline: connection refused, TLS and timeouts become one PrereqError with the fix */
export async function checkReachable(lib: ClientNode, kc: k8s.KubeConfig, path: string, timeoutMs = 5000): Promise<void> {
  const server = kc.getCurrentCluster()!.server;
  let ready: boolean;
  try {
    ready = await new lib.Health(kc).readyz({ signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const name = (e as Error).name;
    const why = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${timeoutMs} ms` : errorChain(e);
    throw new PrereqError(`no cluster reachable at ${server} from kubeconfig ${path}: ${why}\n  fix: start the cluster, or point --kubeconfig/--context at one that runs`);
  }
  if (!ready) throw new PrereqError(`the cluster at ${server} (kubeconfig ${path}) answers but is not ready or denies /readyz`);
}

export function kubeNodeOf(n: k8s.V1Node): KubeNode {
  const taints = n.spec?.taints ?? [];
  const labels = n.metadata?.labels ?? {};
  return {
    name: n.metadata!.name!,
    internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
    podCIDRs: n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []),
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    controlPlane: 'node-role.kubernetes.io/control-plane' in labels,
    schedulable: !n.spec?.unschedulable && !taints.some((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute'),
  };
}

/** why a pod is not Ready yet, for the timeout message: phase, then the first container's waiting/terminated reason */
export function describePodState(pod: k8s.V1Pod): string {
  const parts = [`phase ${pod.status?.phase ?? 'unknown'}`];
  for (const c of pod.status?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    const t = c.state?.terminated;
    if (w) parts.push(`container ${c.name} waiting: ${w.reason ?? ''}${w.message ? ` (${w.message})` : ''}`);
    else if (t) parts.push(`container ${c.name} terminated: ${t.reason ?? ''} exit code ${t.exitCode}`);
  }
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) parts.push(`not scheduled: ${unscheduled.message ?? unscheduled.reason ?? ''}`);
  return parts.join('; ');
}

export const isPodReady = (pod: k8s.V1Pod): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** the exec API's closing status → exit code: Success 0, NonZeroExitCode its ExitCode cause, else null */
export function exitCodeFromStatus(status: k8s.V1Status | undefined): number | null {
  if (!status) return null;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause?.message !== undefined && /^\d+$/.test(cause.message) ? Number(cause.message) : null;
}

/** the socket the exec API returns (ws, typed loosely: @types/ws is not a dependency) */
interface ExecSocket {
  readyState: number;
  on(event: 'close' | 'error', cb: () => void): void;
  close(): void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface KubeConnectOptions {
  provider: KubeProvider;
  prefix: string;
  kubeconfig?: string;
  context?: string;
  reachTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** the kubelets accept the lab's unsafe pod sysctls (dpbench's kind config) */
  unsafeSysctls?: boolean;
  /** false when the whole cluster is deleted anyway (kind) */
  deleteNamespaceOnDispose?: boolean;
  onDispose?: () => Promise<void>;
  log?: (line: string) => void;
}

export async function connectKube(opts: KubeConnectOptions): Promise<KubeCluster> {
  const path = resolveKubeconfig(opts.kubeconfig);
  const lib = await loadClientNode();
  const kc = loadKubeConfig(lib, path, opts.context);
  await checkReachable(lib, kc, path, opts.reachTimeoutMs);
  const timeout = opts.requestTimeoutMs ?? 30_000;
  const version = await withTimeout(kc.makeApiClient(lib.VersionApi).getCode(), timeout, 'GET /version').catch((e) => {
    throw toKubeError(`reading the server version of ${kc.getCurrentCluster()!.server}`, e);
  });
  const target = new KubeCluster(lib, kc, path, opts, version.gitVersion);
  await target.call('creating namespace', target.core.createNamespace({ body: namespaceManifest(opts.prefix) }));
  opts.log?.(`${opts.provider}: ${target.server} (${version.gitVersion}), namespace ${target.namespace}`);
  return target;
}

export class KubeCluster implements KubeTarget {
  readonly provider: KubeProvider;
  readonly server: string;
  readonly namespace: string;
  readonly context?: string;
  readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly discovery: k8s.DiscoveryV1Api;
  private readonly rbac: k8s.RbacAuthorizationV1Api;
  private readonly execApi: k8s.Exec;
  /** filler indices that exist, so a partly failed step still scales and cleans up exactly */
  private readonly fillers = new Set<number>();
  private clusterScoped: { kind: 'ClusterRole' | 'ClusterRoleBinding'; name: string }[] = [];
  private disposed = false;

  constructor(
    lib: ClientNode,
    kc: k8s.KubeConfig,
    readonly kubeconfig: string,
    private readonly opts: KubeConnectOptions,
    readonly version = 'unknown',
  ) {
    this.provider = opts.provider;
    this.server = kc.getCurrentCluster()!.server;
    this.context = opts.context;
    this.namespace = namespaceFor(opts.prefix);
    this.core = kc.makeApiClient(lib.CoreV1Api);
    this.apps = kc.makeApiClient(lib.AppsV1Api);
    this.discovery = kc.makeApiClient(lib.DiscoveryV1Api);
    this.rbac = kc.makeApiClient(lib.RbacAuthorizationV1Api);
    this.execApi = new lib.Exec(kc);
  }

  /** one bounded API call; failures name what was being done */
  async call<T>(what: string, p: Promise<T>): Promise<T> {
    try {
      return await withTimeout(p, this.opts.requestTimeoutMs ?? 30_000, what);
    } catch (e) {
      throw toKubeError(what, e);
    }
  }

  async nodes(): Promise<KubeNode[]> {
    const list = await this.call('listing nodes', this.core.listNode());
    return list.items
      .map(kubeNodeOf)
      .filter((n) => n.ready)
      .sort((a, b) => Number(b.schedulable) - Number(a.schedulable) || a.name.localeCompare(b.name));
  }

  private async waitPodReady(name: string, container: string, timeoutMs: number): Promise<PodRef> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pod = await this.call(`reading pod ${this.namespace}/${name}`, this.core.readNamespacedPod({ name, namespace: this.namespace }));
      if (isPodReady(pod) && pod.status?.podIP) {
        return { namespace: this.namespace, name, container, node: pod.spec!.nodeName!, ip: pod.status.podIP };
      }
      const phase = pod.status?.phase;
      if (phase === 'Failed' || phase === 'Succeeded' || performance.now() > deadline) {
        throw new DpbenchError(`pod ${this.namespace}/${name} is not Ready after ${Math.round(timeoutMs / 1000)} s: ${describePodState(pod)}`);
      }
      await sleep(500);
    }
  }

  async deployNetperf(opts: NetperfDeployOptions = {}): Promise<NetperfPods> {
    const nodes = opts.nodes ?? (await this.nodes()).map((n) => n.name);
    if (!nodes.length) throw new DpbenchError(`no Ready node in the cluster at ${this.server}`);
    const [a, b] = nodes as [string, string | undefined];
    const base = { prefix: this.opts.prefix, image: opts.image, unsafeSysctls: this.opts.unsafeSysctls };
    const specs = [
      netperfPod({ ...base, name: 'netperf-client', node: a, role: 'client' }),
      netperfPod({ ...base, name: 'netperf-server-same', node: a, role: 'server', target: !b }),
      ...(b ? [netperfPod({ ...base, name: 'netperf-server-cross', node: b, role: 'server', target: true })] : []),
    ];
    for (const body of specs) await this.call(`creating pod ${body.metadata!.name}`, this.core.createNamespacedPod({ namespace: this.namespace, body }));
    const svc = await this.call('creating the netperf service', this.core.createNamespacedService({ namespace: this.namespace, body: netperfService(this.opts.prefix) }));
    const timeout = opts.readyTimeoutMs ?? 180_000;
    const [client, same, cross] = await Promise.all(specs.map((p) => this.waitPodReady(p.metadata!.name!, NETPERF_CONTAINER, timeout)));
    return {
      client: client!,
      sameNodeServer: same!,
      ...(cross ? { crossNodeServer: cross } : {}),
      target: cross ?? same!,
      service: { namespace: this.namespace, name: TARGET_SERVICE, clusterIP: svc.spec!.clusterIP!, controlPort: NETPERF_CONTROL_PORT, dataPort: NETPERF_DATA_PORT },
    };
  }

  async exec(pod: PodRef, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    const started = performance.now();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sink = (into: Buffer[]): Writable => new Writable({ write: (chunk: Buffer, _enc, cb) => void (into.push(Buffer.from(chunk)), cb()) });
    let status: k8s.V1Status | undefined;
    const where = `exec in pod ${pod.namespace}/${pod.name}`;
    const socket = (await this.call(where, this.execApi.exec(pod.namespace, pod.name, pod.container, [...argv], sink(out), sink(err), null, false, (s) => (status = s)))) as unknown as ExecSocket;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const timedOut = await new Promise<boolean>((resolve) => {
      if (socket.readyState >= 2) return resolve(false); // CLOSING/CLOSED already
      const timer = setTimeout(() => (socket.close(), resolve(true)), timeoutMs);
      const done = (): void => (clearTimeout(timer), resolve(false));
      socket.on('close', done);
      socket.on('error', done);
    });
    const code = timedOut ? null : exitCodeFromStatus(status);
    let stderr = Buffer.concat(err).toString();
    if (timedOut) stderr += `\ndpbench: ${where} stopped after ${timeoutMs} ms`;
    else if (code === null) stderr += `\ndpbench: ${where} ended without an exit code${status ? `: ${status.message ?? status.reason}` : ''}`;
    const result: RunResult = { argv: [...argv], stdout: Buffer.concat(out).toString(), stderr, code, signal: timedOut ? 'timeout' : null, durationMs: performance.now() - started };
    // named as the kubectl command that does the same, so a user can repeat it by hand
    if (code !== 0 && !opts.allowFail) throw new CommandError(['kubectl', 'exec', '-n', pod.namespace, pod.name, '--', ...argv], code, result.signal, stderr, result.durationMs);
    return result;
  }

  async setServiceCount(total: number, opts: ServiceScaleOptions): Promise<ServiceScaleResult> {
    const started = performance.now();
    const want = Math.max(0, total - 1);
    const toCreate = Array.from({ length: want }, (_, k) => k + 1).filter((i) => !this.fillers.has(i));
    const toDelete = [...this.fillers].filter((i) => i > want).sort((x, y) => y - x);
    const work = toCreate.length + toDelete.length;
    let done = 0;
    const tick = (): void => {
      done++;
      if (done % 100 === 0 || done === work) opts.onProgress?.(done, work);
    };
    const limit = opts.concurrency ?? 16;
    const ns = this.namespace;
    await mapLimit(toCreate, limit, async (i) => {
      if (opts.signal?.aborted) throw new DpbenchError('scaling services: aborted');
      const svc = await this.call(`creating service ${fillerName(i)}`, this.core.createNamespacedService({ namespace: ns, body: fillerService(this.opts.prefix, i) }));
      this.fillers.add(i);
      const body = fillerEndpointSlice(this.opts.prefix, i, fillerEndpointIPs(i, opts.backendsPerService), svc.metadata?.uid);
      await this.call(`creating endpointslice of ${fillerName(i)}`, this.discovery.createNamespacedEndpointSlice({ namespace: ns, body }));
      tick();
    });
    await mapLimit(toDelete, limit, async (i) => {
      if (opts.signal?.aborted) throw new DpbenchError('scaling services: aborted');
      await this.call(`deleting service ${fillerName(i)}`, this.core.deleteNamespacedService({ name: fillerName(i), namespace: ns })).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      // the owner reference would let the garbage collector do this, later; the datapath should see it now
      await this.call(`deleting endpointslice of ${fillerName(i)}`, this.discovery.deleteNamespacedEndpointSlice({ name: `${fillerName(i)}-dpbench`, namespace: ns })).catch((e) => {
        if (!isNotFound(e)) throw e;
      });
      this.fillers.delete(i);
      tick();
    });
    return { services: this.fillers.size + 1, created: toCreate.length, deleted: toDelete.length, durationMs: performance.now() - started };
  }

  /** where agents reach the API server without a Service VIP: kind's control-plane node, or the kubeconfig's server */
  private async apiServerAddress(): Promise<{ host: string; port: number } | undefined> {
    if (this.provider === 'kind') {
      const cp = (await this.nodes()).find((n) => n.controlPlane)?.internalIP;
      return cp ? { host: cp, port: 6443 } : undefined;
    }
    const url = new URL(this.server);
    if (['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return undefined;
    return { host: url.hostname, port: Number(url.port || 443) };
  }

  async deployAgents(opts: AgentDeployOptions): Promise<PodRef[]> {
    const m = agentManifests({ ...opts, prefix: this.opts.prefix, apiServer: await this.apiServerAddress() });
    const ns = this.namespace;
    await this.call('creating the agent service account', this.core.createNamespacedServiceAccount({ namespace: ns, body: m.serviceAccount }));
    await this.call('creating the agent cluster role', this.rbac.createClusterRole({ body: m.clusterRole }));
    this.clusterScoped.push({ kind: 'ClusterRole', name: m.clusterRole.metadata!.name! });
    await this.call('creating the agent cluster role binding', this.rbac.createClusterRoleBinding({ body: m.clusterRoleBinding }));
    this.clusterScoped.push({ kind: 'ClusterRoleBinding', name: m.clusterRoleBinding.metadata!.name! });
    await this.call('creating the agent daemonset', this.apps.createNamespacedDaemonSet({ namespace: ns, body: m.daemonSet }));
    const timeoutMs = opts.readyTimeoutMs ?? 180_000;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const ds = await this.call('reading the agent daemonset', this.apps.readNamespacedDaemonSet({ name: AGENT_NAME, namespace: ns }));
      const want = ds.status?.desiredNumberScheduled ?? 0;
      if (want > 0 && ds.status?.numberReady === want) break;
      if (performance.now() > deadline) {
        const pods = await this.agentPods(false);
        const stuck = pods.find((p) => !isPodReady(p));
        throw new DpbenchError(`agent DaemonSet not ready after ${Math.round(timeoutMs / 1000)} s (${ds.status?.numberReady ?? 0}/${want})${stuck ? `: pod ${stuck.metadata?.name}: ${describePodState(stuck)}` : ''}`);
      }
      await sleep(1000);
    }
    return (await this.agentPods(true)).map((p) => ({ namespace: ns, name: p.metadata!.name!, container: AGENT_CONTAINER, node: p.spec!.nodeName!, ip: p.status?.podIP ?? '' }));
  }

  private async agentPods(readyOnly: boolean): Promise<k8s.V1Pod[]> {
    const labelSelector = `${RUN_LABEL}=${this.opts.prefix},${ROLE_LABEL}=agent`;
    const list = await this.call('listing agent pods', this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }));
    return list.items.filter((p) => !readyOnly || isPodReady(p));
  }

  async agentReports(): Promise<SyncReport[]> {
    const reports: SyncReport[] = [];
    for (const p of await this.agentPods(false)) {
      const log = await this.call(`reading the log of ${p.metadata!.name}`, this.core.readNamespacedPodLog({ name: p.metadata!.name!, namespace: this.namespace, container: AGENT_CONTAINER }));
      reports.push(...parseSyncLines(String(log)));
    }
    return reports;
  }

  async waitForAgentSync(minServicePorts: number, timeoutMs: number): Promise<SyncReport[]> {
    const deadline = performance.now() + timeoutMs;
    const nodes = (await this.agentPods(false)).length;
    for (;;) {
      const latest = new Map<string, SyncReport>();
      for (const r of await this.agentReports()) latest.set(r.node, r);
      const done = [...latest.values()].filter((r) => r.servicePorts >= minServicePorts);
      if (nodes > 0 && done.length === nodes) return done;
      if (performance.now() > deadline) {
        throw new DpbenchError(`agents did not sync ${minServicePorts} service ports within ${timeoutMs} ms: ${done.length}/${nodes} nodes did`);
      }
      await sleep(500);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    const attempt = async (what: string, p: () => Promise<unknown>): Promise<void> => {
      await this.call(what, p()).catch((e) => void (isNotFound(e) || errors.push(e)));
    };
    if (this.opts.deleteNamespaceOnDispose ?? true) {
      for (const o of this.clusterScoped.reverse()) {
        await attempt(`deleting ${o.kind} ${o.name}`, () =>
          o.kind === 'ClusterRole' ? this.rbac.deleteClusterRole({ name: o.name }) : this.rbac.deleteClusterRoleBinding({ name: o.name }),
        );
      }
      // the API server removes the namespace's contents in the background; nothing here waits for it
      await attempt(`deleting namespace ${this.namespace}`, () => this.core.deleteNamespace({ name: this.namespace }));
    }
    await this.opts.onDispose?.().catch((e: unknown) => void errors.push(e));
    if (errors.length) throw errors[0];
  }
}
