// SPDX-License-Identifier: Apache-2.0
// Runs a churn plan (kube-burner jobs turned into timed create/delete actions) against one lab cluster, as the
// API server, kubelet, CNI and endpoint controller would: a created Pod gets a network namespace, a veth, an
// address and a netserver on each TCP containerPort, and turns Ready when it listens; Services get ClusterIPs;
// EndpointSlices follow the Ready pods their selectors match; every change reaches the agents as deltas,
// coalesced per datapath with kube-proxy's minSyncPeriod. For every Service whose first endpoint becomes Ready,
// a prober in the client pod records when it first answers through the ClusterIP: the network programming latency.
import type { KubernetesObject, V1EndpointSlice, V1NetworkPolicy, V1Pod, V1Service } from '@kubernetes/client-node';
import type { LabMember } from '../../runner/lab-set.ts';
import type { PodPlan } from '../../cluster/lab/plan.ts';
import type { SyncReport } from '../../datapath/types.ts';
import type { StateEvent } from '../../datapath/agent/rpc.ts';
import { SyncLoop } from '../../datapath/agent/informer.ts';
import { clientPod, serviceVIP } from '../../cluster/objects.ts';
import { cidrHost } from '../../util/ip.ts';
import { netserverArgv } from '../netperf/driver.ts';
import { FirstOk } from '../probe/index.ts';
import { nowMs } from '../probe/watch.ts';

export interface ChurnAction {
  /** ms from the start of the plan */
  at: number;
  op: 'create' | 'delete';
  object: KubernetesObject;
}

export interface ChurnOptions {
  /** a lab cluster whose agents were synced with the starting state (the scale step) */
  member: LabMember;
  actions: ChurnAction[];
  /** kube-proxy's minSyncPeriod (1 s by default); 0 syncs on every change */
  minSyncMs: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface ChurnResult {
  syncs: SyncReport[];
  /** per service: its first endpoint Ready → first answer through its ClusterIP */
  programmingLatencyMs: { service: string; ms: number }[];
  /** services whose endpoint never answered before the end */
  unreached: string[];
  /** services whose endpoints were deleted before they answered (not counted either way) */
  abandoned: string[];
  podsCreated: number;
  podsDeleted: number;
  servicesCreated: number;
  /** agent processes' CPU during the churn, µs, summed over nodes */
  agentCpuUs: number;
  durationMs: number;
}

const FIRST_CHURN_HOST = 100;
/** the lab's fixed services use the first ~1,000 + the filler count; churn services come after */
const CHURN_VIP_BASE = 200_000;

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`;

function selects(svc: V1Service, pod: V1Pod): boolean {
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0) return false;
  if ((svc.metadata?.namespace ?? 'default') !== (pod.metadata?.namespace ?? 'default')) return false;
  return Object.entries(sel).every(([k, v]) => pod.metadata?.labels?.[k] === v);
}

export async function runChurn(opts: ChurnOptions): Promise<ChurnResult> {
  const { member } = opts;
  const { plan, lab, agents } = member;
  let started = nowMs();
  /** creating: the pod's creation in flight, which a delete (or its namespace's) must wait for */
  const pods = new Map<string, { pod: V1Pod; lab: PodPlan; readyAt?: number; creating?: Promise<void> }>();
  const services = new Map<string, V1Service>();
  const syncs: SyncReport[] = [];
  const latencies: { service: string; ms: number }[] = [];
  const waiting = new Map<string, number>(); // service incarnation → time its first endpoint turned Ready
  const measured = new Set<string>();
  const incarnation = new Map<string, number>(); // service key → how many times it was created (churn recreates)
  const abandoned: string[] = [];
  let pending: StateEvent[] = [];
  let podSeq = 0;
  let vipSeq = 0;
  let podsCreated = 0;
  let podsDeleted = 0;
  let servicesCreated = 0;
  const freeHosts = new Map(plan.nodes.map((n) => [n.name, Array.from({ length: 150 }, (_, i) => FIRST_CHURN_HOST + i)]));
  const slices = new Map<string, V1EndpointSlice>();

  const usage = async (): Promise<number> => (await Promise.all(agents.map((a) => a.call('usage', {})))).reduce((t, u) => t + u.userUs + u.systemUs, 0);
  const cpuBefore = await usage();

  const flush = async (): Promise<void> => {
    const events = pending;
    pending = [];
    if (!events.length) return;
    syncs.push(...(await Promise.all(agents.map((a) => a.call('apply', { events })))));
  };
  const loop = new SyncLoop(opts.minSyncMs, flush);
  const emit = (e: StateEvent): void => {
    pending.push(e);
    loop.request();
  };

  /** the endpoint controller: one slice per service, its Ready selected pods */
  const reconcile = (svc: V1Service): void => {
    const key = keyOf(svc);
    const ready = [...pods.values()].filter((p) => p.readyAt !== undefined && selects(svc, p.pod));
    const slice: V1EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${svc.metadata!.name}-churn`, namespace: svc.metadata!.namespace ?? 'default', labels: { 'kubernetes.io/service-name': svc.metadata!.name! } },
      addressType: 'IPv4',
      endpoints: ready.map((p) => ({ addresses: [p.lab.ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: p.lab.node })),
      ports: (svc.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: Number(p.targetPort ?? p.port), protocol: p.protocol ?? 'TCP' })),
    };
    slices.set(key, slice);
    emit({ kind: 'endpointSlices', verb: 'update', object: slice });
    const id = `${key}#${incarnation.get(key) ?? 0}`;
    // its endpoints went away before it was ever reachable (churn deleted them): nothing to measure
    if (!ready.length && waiting.has(id)) {
      waiting.delete(id);
      abandoned.push(id);
    }
    if (ready.length && !waiting.has(id) && !measured.has(id)) {
      measured.add(id);
      waiting.set(id, Math.min(...ready.map((p) => p.readyAt!)));
      prober.watch(id, svc.spec!.clusterIP!, svc.spec!.ports![0]!.port);
      void prober.result(id).then((r) => {
        const readyAt = waiting.get(id);
        if (r.okAt !== undefined && readyAt !== undefined) latencies.push({ service: id, ms: r.okAt - readyAt });
        waiting.delete(id);
      });
    }
  };

  const createPod = async (pod: V1Pod): Promise<void> => {
    const node = plan.nodes[podSeq % plan.nodes.length]!;
    const host = freeHosts.get(node.name)!.shift();
    if (host === undefined) throw new Error(`node ${node.name} has no free churn address left (150 pods per node)`);
    const seq = podSeq++;
    const labPod: PodPlan = { name: pod.metadata!.name!, namespace: pod.metadata!.namespace ?? 'default', netns: `${plan.cluster}-${node.name}-c${seq}`, ip: cidrHost(node.podCIDR, host), node: node.name, hostVeth: `lxcc${seq}` };
    const entry: { pod: V1Pod; lab: PodPlan; readyAt?: number; creating?: Promise<void> } = {
      pod: { ...pod, spec: { ...pod.spec!, nodeName: node.name }, status: { phase: 'Pending', podIP: labPod.ip, podIPs: [{ ip: labPod.ip }] } },
      lab: labPod,
    };
    pods.set(keyOf(pod), entry);
    emit({ kind: 'pods', verb: 'add', object: entry.pod });
    entry.creating = (async () => {
      await lab.addPod(node.name, labPod);
      const ports = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort);
      for (const port of ports.length ? ports : [12865]) lab.spawn(labPod.netns, netserverArgv({ port }));
    })();
    await entry.creating;
    if (pods.get(keyOf(pod)) !== entry) return; // deleted while it was being created
    // netserver listens within milliseconds of its start; Ready is the kubelet's view of that
    entry.readyAt = nowMs();
    entry.pod = { ...entry.pod, status: { ...entry.pod.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } };
    podsCreated++;
    emit({ kind: 'pods', verb: 'update', object: entry.pod });
    for (const svc of services.values()) if (selects(svc, entry.pod)) reconcile(svc);
  };

  /**
   * The state side of a deletion happens at once (so a recreated object of the same name, whose add follows,
   * is never deleted by a late event); tearing the pod's namespace down follows, after its creation finished.
   */
  const deletePod = (key: string): Promise<void> => {
    const entry = pods.get(key);
    if (!entry) return Promise.resolve();
    pods.delete(key);
    emit({ kind: 'pods', verb: 'delete', object: entry.pod });
    for (const svc of services.values()) if (selects(svc, entry.pod)) reconcile(svc);
    return (async () => {
      await entry.creating?.catch(() => {});
      await lab.removePod(entry.lab);
      freeHosts.get(entry.lab.node)!.push(Number(entry.lab.ip.split('.')[3]));
      podsDeleted++;
    })();
  };

  const deleteService = (key: string): void => {
    const svc = services.get(key);
    services.delete(key);
    if (svc) emit({ kind: 'services', verb: 'delete', object: svc });
    const slice = slices.get(key);
    if (slice) emit({ kind: 'endpointSlices', verb: 'delete', object: slice });
    slices.delete(key);
  };

  const apply = async (a: ChurnAction): Promise<void> => {
    const key = keyOf(a.object);
    switch (a.object.kind) {
      case 'Pod':
        return a.op === 'create' ? await createPod(a.object as V1Pod) : await deletePod(key);
      case 'Service': {
        if (a.op === 'delete') return deleteService(key);
        const svc = a.object as V1Service;
        const vip = serviceVIP(plan, CHURN_VIP_BASE + vipSeq++);
        const withIP: V1Service = { ...svc, spec: { ...svc.spec, clusterIP: vip, clusterIPs: [vip], type: svc.spec?.type ?? 'ClusterIP' } };
        services.set(key, withIP);
        incarnation.set(key, (incarnation.get(key) ?? 0) + 1);
        servicesCreated++;
        emit({ kind: 'services', verb: 'add', object: withIP });
        return reconcile(withIP);
      }
      case 'NetworkPolicy':
        return emit({ kind: 'networkPolicies', verb: a.op === 'create' ? 'add' : 'delete', object: a.object as V1NetworkPolicy });
      case 'Namespace': {
        if (a.op === 'create') return emit({ kind: 'namespaces', verb: 'add', object: a.object });
        // the namespace controller: everything in it goes with it, in the state at once
        const ns = a.object.metadata?.name;
        for (const [k, svc] of [...services]) if ((svc.metadata?.namespace ?? 'default') === ns) deleteService(k);
        const teardowns = [...pods].filter(([, p]) => p.pod.metadata?.namespace === ns).map(([k]) => deletePod(k));
        emit({ kind: 'namespaces', verb: 'delete', object: a.object });
        await Promise.all(teardowns);
        return;
      }
      default:
        throw new Error(`the lab churn executor does not run ${a.object.kind} objects (${key})`);
    }
  };

  await using prober = new FirstOk(clientPod(plan).netns, { intervalMs: 1, timeoutMs: 100, maxMs: 30 * 60_000 });
  await prober.ready;
  started = nowMs();
  // actions on one object run in order (a delete waits for its create); different objects run concurrently
  const chains = new Map<string, Promise<void>>();
  const errors: Error[] = [];
  for (const a of [...opts.actions].sort((x, y) => x.at - y.at)) {
    if (opts.signal?.aborted || errors.length) break;
    const wait = started + a.at - nowMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const key = `${a.object.kind}/${keyOf(a.object)}`;
    chains.set(key, (chains.get(key) ?? Promise.resolve()).then(() => apply(a)).catch((e: Error) => void errors.push(e)));
  }
  await Promise.all(chains.values());
  if (errors.length) {
    await loop.stop();
    throw errors[0]!;
  }
  // let the last changes reach the datapath and the prober see them (bounded)
  const settleUntil = nowMs() + Math.max(5_000, opts.minSyncMs * 3);
  while (waiting.size && nowMs() < settleUntil) await new Promise((r) => setTimeout(r, 50));
  await loop.stop();
  await flush();
  // what the plan left running is not the next step's business: remove the pods (their state goes with the resync)
  for (const [k] of [...pods]) await deletePod(k);
  const agentCpuUs = (await usage()) - cpuBefore;
  return {
    syncs,
    programmingLatencyMs: latencies,
    unreached: [...waiting.keys()],
    abandoned,
    podsCreated,
    podsDeleted,
    servicesCreated,
    agentCpuUs,
    durationMs: nowMs() - started,
  };
}
