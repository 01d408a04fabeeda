// SPDX-License-Identifier: Apache-2.0
// The agent entry for kind/kubeconfig clusters, run by the dpbench agent DaemonSet on every node: informers for
// Services, EndpointSlices, Pods, Namespaces and NetworkPolicies keep a ClusterState; changes are coalesced with a minimum interval
// between syncs (kube-proxy's minSyncPeriod) and fed to the same DatapathAgent the lab drives over IPC.
// Each SyncReport is one JSON line on stdout, which the runner reads back from the pod's log.
//
//   node --import tsx src/datapath/agent/informer.ts --datapath ebpf --cluster-cidr 10.244.0.0/16 [--kubeconfig F]
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import { DATAPATH_AGENTS, type SyncReport } from '../types.ts';
import { DATAPATHS, type Datapath } from '../../runner/scenario/schema.ts';
import { errorChain, loadClientNode } from '../../cluster/provider.ts';

export type StateKind = keyof ClusterState;
export type EventVerb = 'add' | 'update' | 'delete';
type ObjectOf<K extends StateKind> = NonNullable<ClusterState[K]>[number];
export const STATE_KINDS: readonly StateKind[] = ['services', 'endpointSlices', 'pods', 'namespaces', 'networkPolicies'];

function keyOf(obj: KubernetesObject): string | undefined {
  const name = obj.metadata?.name;
  return name ? `${obj.metadata?.namespace ?? ''}/${name}` : undefined;
}

/**
 * The objects an agent knows, from informer events. Pure: no API server, no clock. `apply` says whether the
 * state changed, so an event that changes nothing (a relist's same resourceVersion) triggers no sync.
 */
export class StateStore {
  private readonly objects: { [K in StateKind]: Map<string, ObjectOf<K>> } = {
    services: new Map(),
    endpointSlices: new Map(),
    pods: new Map(),
    namespaces: new Map(),
    networkPolicies: new Map(),
  };
  /** bumped on every change: the sync that follows reports which state it programmed */
  generation = 0;

  /** a store holding exactly this state */
  static from(state: ClusterState): StateStore {
    const store = new StateStore();
    for (const kind of Object.keys(store.objects) as StateKind[]) {
      for (const obj of state[kind] ?? []) store.apply(kind, 'add', obj as never);
    }
    return store;
  }

  apply<K extends StateKind>(kind: K, verb: EventVerb, obj: ObjectOf<K>): boolean {
    const key = keyOf(obj);
    if (!key) return false;
    const map = this.objects[kind] as Map<string, ObjectOf<K>>;
    if (verb === 'delete') {
      if (!map.delete(key)) return false;
    } else {
      // an add for a known object is an update (informers re-list after a watch error)
      const rv = obj.metadata?.resourceVersion;
      if (rv !== undefined && map.get(key)?.metadata?.resourceVersion === rv) return false;
      map.set(key, obj);
    }
    this.generation++;
    return true;
  }

  size(kind: StateKind): number {
    return this.objects[kind].size;
  }

  /** the state as agents take it; sorted by namespace/name so the same objects always render the same rules */
  snapshot(): ClusterState {
    const sorted = <K extends StateKind>(kind: K): ObjectOf<K>[] =>
      [...(this.objects[kind] as Map<string, ObjectOf<K>>).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
    return {
      services: sorted('services'),
      endpointSlices: sorted('endpointSlices'),
      pods: sorted('pods'),
      namespaces: sorted('namespaces'),
      networkPolicies: sorted('networkPolicies'),
    };
  }
}

/**
 * Runs `sync` after a request, at most once per minIntervalMs (kube-proxy's BoundedFrequencyRunner with
 * minSyncPeriod): requests during a sync or within the interval coalesce into one more sync, never a queue.
 */
export class SyncLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  private lastStart = -Infinity;
  private stopped = false;

  constructor(
    private readonly minIntervalMs: number,
    private readonly sync: () => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.lastStart + this.minIntervalMs - this.now());
    this.timer = setTimeout(() => void this.fire(), wait);
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.pending = false;
    this.lastStart = this.now();
    this.running = this.sync().catch(() => undefined);
    await this.running;
    this.running = undefined;
    if (this.pending) this.request();
  }

  /** no more syncs; waits for the one in flight */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/** one SyncReport as one log line; `generation` says which state it programmed */
export function formatSyncLine(report: SyncReport, generation: number, at = new Date()): string {
  return JSON.stringify({ event: 'sync', at: at.toISOString(), generation, ...report });
}

/** the SyncReports in an agent's log, in order; other lines (errors, start-up) are skipped */
export function parseSyncLines(text: string): SyncReport[] {
  const reports: SyncReport[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (o.event !== 'sync' || typeof o.datapath !== 'string' || typeof o.durationMs !== 'number') continue;
    const { datapath, node, durationMs, renderMs, applyMs, rules, servicePorts, endpoints, detail } = o as unknown as SyncReport;
    reports.push({ datapath, node, durationMs, renderMs, applyMs, rules, servicePorts, endpoints, detail: detail ?? {} });
  }
  return reports;
}

export interface AgentFlags {
  datapath: Datapath;
  /** a kubeconfig path; absent: the pod's in-cluster service account */
  kubeconfig?: string;
  nodeName: string;
  /** override the node object's InternalIPs (the DaemonSet passes status.hostIP) */
  nodeIPs: string[];
  clusterCIDR: string;
  serviceCIDR?: string;
  /** override the node object's spec.podCIDR */
  podCIDR?: string;
  minSyncIntervalMs: number;
  iptablesBackend: 'nft' | 'legacy';
}

/** flags, with NODE_NAME / NODE_IP from the downward API as defaults; throws with what is missing */
export function parseAgentFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentFlags {
  const { values } = parseArgs({
    args: argv,
    options: {
      datapath: { type: 'string' },
      kubeconfig: { type: 'string' },
      'node-name': { type: 'string' },
      'node-ip': { type: 'string' },
      'cluster-cidr': { type: 'string' },
      'service-cidr': { type: 'string' },
      'pod-cidr': { type: 'string' },
      'min-sync-interval-ms': { type: 'string', default: '10' },
      'iptables-backend': { type: 'string', default: 'nft' },
    },
    strict: true,
  });
  const datapath = values.datapath as Datapath | undefined;
  if (!datapath || !(DATAPATHS as readonly string[]).includes(datapath)) throw new Error(`--datapath: expected one of ${DATAPATHS.join(', ')}`);
  const nodeName = values['node-name'] ?? env.NODE_NAME;
  if (!nodeName) throw new Error('--node-name (or NODE_NAME from the downward API) is required');
  const clusterCIDR = values['cluster-cidr'];
  if (!clusterCIDR) throw new Error('--cluster-cidr is required (kube-proxy --cluster-cidr)');
  const interval = Number(values['min-sync-interval-ms']);
  if (!Number.isFinite(interval) || interval < 0) throw new Error('--min-sync-interval-ms: expected milliseconds >= 0');
  const backend = values['iptables-backend'];
  if (backend !== 'nft' && backend !== 'legacy') throw new Error('--iptables-backend: expected nft or legacy');
  const ips = values['node-ip'] ?? env.NODE_IP;
  return {
    datapath,
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    nodeName,
    nodeIPs: ips ? ips.split(',').filter(Boolean) : [],
    clusterCIDR,
    ...(values['service-cidr'] ? { serviceCIDR: values['service-cidr'] } : {}),
    ...(values['pod-cidr'] ? { podCIDR: values['pod-cidr'] } : {}),
    minSyncIntervalMs: interval,
    iptablesBackend: backend,
  };
}

const logLine = (o: Record<string, unknown>): void => void process.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), ...o })}\n`);

async function main(): Promise<void> {
  const flags = parseAgentFlags(process.argv.slice(2));
  const k8s = await loadClientNode();
  const kc = new k8s.KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromCluster();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);

  // kube-proxy reads its own Node for the pod CIDR and addresses; flags win
  const nodeObj = await core.readNode({ name: flags.nodeName });
  const node: NodeContext = {
    nodeName: flags.nodeName,
    nodeIPs: flags.nodeIPs.length ? flags.nodeIPs : (nodeObj.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
    clusterCIDR: flags.clusterCIDR,
    podCIDR: flags.podCIDR ?? nodeObj.spec?.podCIDR ?? '',
    ...(flags.serviceCIDR ? { serviceCIDR: flags.serviceCIDR } : {}),
  };
  const make = DATAPATH_AGENTS[flags.datapath];
  if (!make) throw new Error(`datapath ${flags.datapath} is not implemented by this agent`);
  const agent = await make();
  await agent.init({ datapath: flags.datapath, node, options: { iptablesBackend: flags.iptablesBackend } });
  logLine({ event: 'start', datapath: flags.datapath, node });

  const store = new StateStore();
  const loop = new SyncLoop(flags.minSyncIntervalMs, async () => {
    const generation = store.generation;
    try {
      const report = await agent.sync(store.snapshot());
      process.stdout.write(`${formatSyncLine(report, generation)}\n`);
    } catch (e) {
      logLine({ event: 'sync-error', generation, message: (e as Error).message });
    }
  });
  let synced = false;
  const watch = <K extends StateKind>(kind: K, path: string, list: () => Promise<KubernetesListObject<ObjectOf<K>>>) => {
    const informer = k8s.makeInformer<ObjectOf<K>>(kc, path, list);
    const on = (verb: EventVerb) => (obj: ObjectOf<K>) => {
      if (store.apply(kind, verb, obj) && synced) loop.request();
    };
    informer.on('add', on('add'));
    informer.on('update', on('update'));
    informer.on('delete', on('delete'));
    // a ListWatch stops on error; start again after a pause (it re-lists, and the store drops what is gone)
    informer.on('error', (err: unknown) => {
      logLine({ event: 'watch-error', kind, message: String((err as Error)?.message ?? err) });
      setTimeout(() => void informer.start().catch(() => undefined), 5000);
    });
    return informer;
  };
  const informers = [
    watch('services', '/api/v1/services', () => core.listServiceForAllNamespaces()),
    watch('endpointSlices', '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces()),
    watch('pods', '/api/v1/pods', () => core.listPodForAllNamespaces()),
    watch('namespaces', '/api/v1/namespaces', () => core.listNamespace()),
    watch('networkPolicies', '/apis/networking.k8s.io/v1/networkpolicies', () => networking.listNetworkPolicyForAllNamespaces()),
  ];
  // like kube-proxy's WaitForCacheSync: the first sync sees every initial list, not a partial cluster
  await Promise.all(informers.map((i) => i.start()));
  synced = true;
  loop.request();

  const shutdown = async (signal: string): Promise<void> => {
    logLine({ event: 'stop', signal });
    await Promise.all(informers.map((i) => i.stop()));
    await loop.stop();
    // a DaemonSet being deleted leaves the node as it found it (eBPF programs on a real cluster's veths)
    await agent.cleanup().catch((e: Error) => logLine({ event: 'cleanup-error', message: e.message }));
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

const invokedAs = process.argv[1] ? pathToFileURL(realpathSync(process.argv[1])).href : '';
if (import.meta.url === invokedAs) {
  main().catch((e: unknown) => {
    logLine({ event: 'fatal', message: errorChain(e) });
    process.exit(1);
  });
}
