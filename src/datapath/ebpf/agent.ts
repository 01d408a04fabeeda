// SPDX-License-Identifier: Apache-2.0
// The ebpf agent = cilium's kube-proxy replacement, reduced: loads bpf/build/lb_tc.bpf.o once, pins its maps per
// run and node, keeps its programs on every pod veth (lxc*) and eth0 of the node namespace it runs in (checked at
// every sync, so pods created later are covered), and turns each ClusterState into map writes: a batch write of
// everything on the first sync, then only the keys that changed.
import { readdirSync, statSync } from 'node:fs';
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import { DpbenchError } from '../../errors.ts';
import { NETNS_DIR } from '../../util/exec.ts';
import {
  BACKEND_ID_SIZE, LB4_BACKEND_SIZE, LB4_KEY_SIZE, LB4_SERVICE_SIZE, MAP_NAMES, decodeLb4Backend, decodeLb4Key,
  decodeLb4Service, encodeBackendId, encodeLb4Backend, encodeLb4Key, encodeLb4Service,
} from '../bpf/codec.ts';
import type { TcDirection, XdpModeRequest } from '../bpf/attach.ts';
import { LibbpfError, listInterfaces, type BpfMap } from '../bpf/libbpf.ts';
import { BpfDatapathObject, PROGRAMS, type ProgramName } from '../bpf/object.ts';
import { readRecords } from '../../cluster/lab/registry.ts';
import { countReadyEndpoints, isIPv4 } from '../kube/model.ts';
import type { AgentInit, DatapathAgent, SyncReport } from '../types.ts';
import {
  computeEntries, diffEntries, diffSize, entryCount, forgetDeleted, frontendKeyOf, indexEntries, newEntryIds, peakCounts, retainIds, type BackendEntry, type EntryDiff,
  type EntryIndex, type Frontend, type ServiceEntry,
} from './entries.ts';
import { IdentityAllocator, computePolicyEntries } from './policy.ts';
import { PolicyMaps } from './policy-sync.ts';
import { cidrHost } from '../../util/ip.ts';

export const UPLINK = 'eth0';
const POD_VETH = /^lxc/;
const UPLINK_HOOKS: [TcDirection, ProgramName][] = [['ingress', PROGRAMS.fromNetdev]];
const POD_HOOKS: [TcDirection, ProgramName][] = [['ingress', PROGRAMS.fromPod], ['egress', PROGRAMS.toPod]];
/** ENXIO, ENODEV: the device went away between listing and attaching */
const DEVICE_GONE = new Set([6, 19]);
/** below this many writes one syscall per element costs no more than packing a batch */
const BATCH_MIN = 8;

export interface EbpfAgentOptions {
  /** under /sys/fs/bpf; default `<run prefix>/<node netns name>`, found from the namespace the agent runs in */
  pinDir?: string;
  /** default: $DPBENCH_BPF_OBJECT (a custom build, e.g. with larger maps), else bpf/build/lb_tc.bpf.o */
  objectPath?: string;
  /** xdp mode: xdp_from_netdev on eth0 as well, in front of tc_from_netdev */
  xdp?: boolean;
}

/** environment variable naming the BPF object the agent loads instead of bpf/build/lb_tc.bpf.o */
export const BPF_OBJECT_ENV = 'DPBENCH_BPF_OBJECT';

export class EbpfAgent implements DatapathAgent {
  private dp?: BpfDatapathObject;
  private node!: NodeContext;
  private ids = newEntryIds();
  private identities = new IdentityAllocator();
  private policy?: PolicyMaps;
  /** what the maps hold, as of the last successful sync; undefined = unknown (first sync, or after a failure) */
  private programmed?: EntryIndex;
  private dirty = false;
  /** a sync is between handing out ids and programming them; still set at the next sync = that one failed */
  private idsPending = false;
  /** the allocators hold ids of a failed sync, which name nothing in the maps */
  private idsStale = false;
  /** the first part of the pin directory: the lab run's prefix */
  private runPrefix?: string;
  private datapathName: AgentInit['datapath'] = 'ebpf';
  private xdpMode: XdpModeRequest = 'auto';
  private readonly onExit = (): void => {
    // `dpbench lab up` stops its agents and leaves the datapath running, as kube-proxy's rules stay when it stops
    if (this.runPrefix && isPersistentRun(this.runPrefix)) this.dp?.abandon();
    else this.dp?.disposeSync();
  };

  constructor(private readonly opts: EbpfAgentOptions = {}) {}

  async init(init: AgentInit): Promise<void> {
    this.node = init.node;
    this.datapathName = init.datapath;
    this.xdpMode = init.options.xdpMode ?? 'auto';
    const pinDir = this.opts.pinDir ?? defaultPinDir(init.datapath, init.node.nodeName);
    this.runPrefix = pinDir.split('/')[0];
    // a load or verifier failure throws from here, before anything is attached
    const objectPath = this.opts.objectPath ?? process.env[BPF_OBJECT_ENV];
    this.dp = await BpfDatapathObject.load({ pinDir, ...(objectPath ? { objectPath } : {}) });
    // the agent is stopped with SIGTERM → process.exit: pins and legacy tc filters must not outlive it
    process.once('exit', this.onExit);
    try {
      this.reconcileInterfaces();
    } catch (e) {
      await this.cleanup();
      throw e;
    }
  }

  /**
   * eth0 and every lxc* of this namespace, matched by ifindex: pods created after init (churn) are attached at
   * the next sync, gone ones detached, and a veth recreated under the same name is a new device to attach to.
   */
  private reconcileInterfaces(): { attached: number; detached: number } {
    const dp = this.datapath();
    const present = new Map(listInterfaces().map((i) => [i.name, i.index]));
    let attached = 0;
    let detached = 0;
    for (const a of [...dp.attachments]) {
      if (present.get(a.ifname) === a.ifindex || !dp.attachments.includes(a)) continue;
      dp.detach(a.ifname);
      detached++;
    }
    const have = new Set(dp.attachments.map((a) => a.ifname));
    for (const [name, index] of present) {
      if (have.has(name)) continue;
      const hooks = name === UPLINK ? UPLINK_HOOKS : POD_VETH.test(name) ? POD_HOOKS : [];
      if (!hooks.length) continue;
      try {
        for (const [direction, program] of hooks) dp.attach(name, direction, program, index);
        if (name === UPLINK && this.opts.xdp) dp.attachXdp(name, this.xdpMode, index);
        attached++;
      } catch (e) {
        dp.detach(name); // never half a pod: both hooks or neither
        if (e instanceof LibbpfError && DEVICE_GONE.has(e.errno)) continue; // deleted since it was listed
        throw e;
      }
    }
    return { attached, detached };
  }

  async sync(state: ClusterState): Promise<SyncReport> {
    const dp = this.datapath();
    const links = this.reconcileInterfaces();
    const services = dp.map(MAP_NAMES.services);
    const backends = dp.map(MAP_NAMES.backends);
    if (this.dirty) this.programmed = readProgrammed(services, backends);

    const started = performance.now();
    if (this.idsPending) this.idsStale = true;
    this.idsPending = true;
    const entries = computeEntries(state, this.node, this.ids);
    const next = indexEntries(entries);
    const diff = diffEntries(this.programmed, next);
    const rendered = performance.now();
    const total = entryCount(entries);
    checkCapacity(services, total - entries.backends.length, backends, entries.backends.length);
    // old and new entries side by side would not fit: remove first (a moment of drop_no_backend_slot, not a failed sync)
    const peak = peakCounts(this.programmed, diff);
    const deletesFirst = peak.services > services.maxEntries || peak.backends > backends.maxEntries;
    this.dirty = true;
    applyDiff(diff, services, backends, deletesFirst);
    this.programmed = next;
    this.dirty = false;
    const { updated, deleted } = diffSize(diff);
    // what went away gives up its ids; after a failed sync, so does whatever that sync handed out
    if (this.idsStale) retainIds(this.ids, next);
    else forgetDeleted(this.ids, diff);
    this.idsStale = this.idsPending = false;
    // NetworkPolicy after the services: its own maps, written generation by generation (policy-sync.ts)
    const policyEntries = computePolicyEntries(state, { nodeName: this.node.nodeName, nodeIPs: this.hostAddresses() }, this.identities);
    this.policy ??= PolicyMaps.of((name) => dp.map(name));
    const policy = this.policy.sync(policyEntries, this.identities);
    const done = performance.now();

    const xdp = dp.xdpAttachments.find((a) => a.ifname === UPLINK);
    return {
      datapath: this.datapathName,
      node: this.node.nodeName,
      durationMs: done - started,
      renderMs: rendered - started,
      applyMs: done - rendered,
      rules: total,
      servicePorts: state.services.reduce((n, s) => n + (s.spec?.ports?.length ?? 0), 0),
      endpoints: countReadyEndpoints(state),
      detail: {
        services: entries.frontends.length,
        backends: entries.backends.length,
        updated,
        deleted,
        attached: dp.attachments.length,
        attach: dp.attachments[0]?.kind ?? 'none',
        ...(this.opts.xdp ? { xdpMode: xdp?.mode ?? 'none', ...(xdp?.fallbackReason ? { xdpFallback: xdp.fallbackReason } : {}) } : {}),
        interfacesAttached: links.attached,
        interfacesDetached: links.detached,
        policyEndpoints: policyEntries.endpoints.size,
        policyEntries: policyEntries.policy.size,
        ipcache: policyEntries.ipcache.size,
        policyGeneration: policy.generation,
        policyUpdated: policy.updated,
        policyDeleted: policy.deleted,
      },
    };
  }

  async cleanup(): Promise<void> {
    process.off('exit', this.onExit);
    this.dp?.disposeSync();
    this.dp = undefined;
    this.programmed = undefined;
    this.ids = newEntryIds();
    this.identities = new IdentityAllocator();
    this.policy = undefined;
  }

  /** traffic between the node and its pods is always allowed: its addresses and its pods' gateway (IDENTITY_HOST) */
  private hostAddresses(): string[] {
    const out = this.node.nodeIPs.filter(isIPv4);
    try {
      out.push(cidrHost(this.node.podCIDR, 1));
    } catch {
      /* no usable pod CIDR */
    }
    return out;
  }

  /** the loaded object, for tests and counters */
  get object(): BpfDatapathObject | undefined {
    return this.dp;
  }

  private datapath(): BpfDatapathObject {
    if (!this.dp) throw new DpbenchError('ebpf agent: sync before init (or after cleanup)');
    return this.dp;
  }
}

/** in the diff's order (upserts, then deletes), unless the maps are too full to hold both states for a moment */
function applyDiff(d: EntryDiff, services: BpfMap, backends: BpfMap, deletesFirst = false): void {
  const deletes = (): void => {
    deleteKeys(services, d.deleteFrontends.map((e) => encodeLb4Key(e)));
    deleteKeys(services, d.deleteSlots.map((e) => encodeLb4Key(e)));
    deleteKeys(backends, d.deleteBackends.map((e) => encodeBackendId(e.id)));
  };
  if (deletesFirst) deletes();
  writeBackends(backends, d.upsertBackends);
  writeServices(services, d.upsertSlots);
  writeServices(services, d.upsertFrontends);
  if (!deletesFirst) deletes();
}

function writeServices(map: BpfMap, entries: readonly ServiceEntry[]): void {
  if (entries.length < BATCH_MIN) {
    for (const e of entries) map.update(encodeLb4Key(e), encodeLb4Service(e));
    return;
  }
  const keys = Buffer.alloc(entries.length * LB4_KEY_SIZE);
  const values = Buffer.alloc(entries.length * LB4_SERVICE_SIZE);
  entries.forEach((e, i) => {
    encodeLb4Key(e, keys, i * LB4_KEY_SIZE);
    encodeLb4Service(e, values, i * LB4_SERVICE_SIZE);
  });
  map.updateBatch(keys, values, entries.length);
}

function writeBackends(map: BpfMap, entries: readonly BackendEntry[]): void {
  if (entries.length < BATCH_MIN) {
    for (const e of entries) map.update(encodeBackendId(e.id), encodeLb4Backend(e));
    return;
  }
  const keys = Buffer.alloc(entries.length * BACKEND_ID_SIZE);
  const values = Buffer.alloc(entries.length * LB4_BACKEND_SIZE);
  entries.forEach((e, i) => {
    encodeBackendId(e.id, keys, i * BACKEND_ID_SIZE);
    encodeLb4Backend(e, values, i * LB4_BACKEND_SIZE);
  });
  map.updateBatch(keys, values, entries.length);
}

function deleteKeys(map: BpfMap, keys: Buffer[]): void {
  if (keys.length < BATCH_MIN) {
    for (const k of keys) map.delete(k);
    return;
  }
  map.deleteBatch(Buffer.concat(keys), keys.length);
}

function checkCapacity(services: BpfMap, nServices: number, backends: BpfMap, nBackends: number): void {
  for (const [map, n, constant] of [[services, nServices, 'MAX_SERVICES/MAX_BACKENDS'], [backends, nBackends, 'MAX_BACKENDS']] as const) {
    if (n > map.maxEntries) {
      throw new DpbenchError(
        `ebpf agent: ${n} entries do not fit ${map.name} (${map.maxEntries}); rebuild with larger maps: ` +
          `make -C bpf clean all EXTRA_CFLAGS='-D${constant.split('/')[0]}=…'`,
      );
    }
  }
}

/**
 * After a failed sync the maps hold some mix of two states: read back what is really there. Every frontend read
 * gets svcId -1, so the next diff rewrites all slot-0 entries once (their counts may not match their slots);
 * missing slots read as backend -1, so they are rewritten if still wanted.
 */
function readProgrammed(services: BpfMap, backends: BpfMap): EntryIndex {
  const frontends = new Map<number, Frontend>();
  for (const [k, v] of services.entries()) {
    const e: ServiceEntry = { ...decodeLb4Key(k), ...decodeLb4Service(v) };
    const key = frontendKeyOf(e.address, e.port, e.proto, e.scope);
    let f = frontends.get(key);
    if (!f) {
      f = { key, address: e.address, port: e.port, proto: e.proto, scope: e.scope, svcId: -1, affinityTimeout: 0, flags: 0, backendIds: [] };
      frontends.set(key, f);
    }
    if (e.slot === 0) {
      f.affinityTimeout = e.affinityTimeout;
      f.flags = e.flags;
    } else {
      f.backendIds[e.slot - 1] = e.backendId;
    }
  }
  for (const f of frontends.values()) f.backendIds = Array.from(f.backendIds, (id) => id ?? -1);
  const b = backends.entries().map(([k, v]): BackendEntry => ({ id: k.readUInt32LE(0), ...decodeLb4Backend(v) }));
  return { frontends, backends: new Map(b.map((x) => [x.id, x])) };
}

/** a run left up on purpose (`dpbench lab up`): its datapath outlives the agent */
function isPersistentRun(prefix: string): boolean {
  try {
    return readRecords().some((r) => r.prefix === prefix && r.persistent);
  } catch {
    return false;
  }
}

/**
 * `<prefix>/<netns>`: the agent runs in the node namespace `<prefix>-<datapath>-<node>` (nsenter keeps /sys, so
 * bpffs is the host's); the namespace is found by its inode among /run/netns. Outside a named namespace the
 * pins go under dpb-local/.
 */
export function defaultPinDir(datapath: string, nodeName: string): string {
  const self = statSync('/proc/self/ns/net').ino;
  let netns: string | undefined;
  try {
    netns = readdirSync(NETNS_DIR).find((n) => {
      try {
        return statSync(`${NETNS_DIR}/${n}`).ino === self;
      } catch {
        return false;
      }
    });
  } catch {
    /* no named namespaces at all */
  }
  const suffix = `-${datapath}-${nodeName}`;
  if (netns?.startsWith('dpb-') && netns.endsWith(suffix) && netns.length > suffix.length) {
    return `${netns.slice(0, -suffix.length)}/${netns}`;
  }
  return `dpb-local/${nodeName}-${process.pid}`;
}
