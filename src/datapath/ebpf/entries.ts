// SPDX-License-Identifier: Apache-2.0
// ClusterState → the entries of dp_lb4_services and dp_lb4_backends for one node, and the diff between two such
// sets that an incremental sync writes. Endpoint semantics are kube-proxy's (src/datapath/kube/model.ts: ready,
// serving-terminating fallback, internal/external traffic policy Local); the layout is cilium's: a frontend
// entry (slot 0) with `count`, then slots 1..count naming backends by id. Pure, apart from the id allocators
// passed in, which keep ids stable across syncs so an unchanged service rewrites nothing.
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import { categorize, endpointsByPort, isIPv4, servicePorts, type Endpoint, type ServicePort } from '../kube/model.ts';
import {
  BE_F_LOCAL, IPPROTO_TCP, IPPROTO_UDP, ipv4ToU32, LB_SCOPE_EXT, LB_SCOPE_INT, SVC_F_EXTERNAL, SVC_F_NO_LOCAL, SVC_F_TWO_SCOPES,
  type Lb4Backend, type Lb4Key, type Lb4Service,
} from '../bpf/codec.ts';

export interface ServiceEntry extends Lb4Key, Lb4Service {}
export interface BackendEntry extends Lb4Backend {
  id: number;
}

/** one frontend (address, port, protocol, scope) and the backends of its slots 1..n, in slot order */
export interface Frontend {
  /** frontendKeyOf(address, port, proto, scope) */
  key: number;
  address: string;
  port: number;
  proto: number;
  scope: number;
  svcId: number;
  affinityTimeout: number;
  flags: number;
  backendIds: number[];
}

export interface LbEntries {
  frontends: Frontend[];
  backends: BackendEntry[];
  /** service ports that got at least one frontend */
  servicePorts: number;
}

/**
 * Stable small integers for (address, port/protocol/scope) keys; ids are never reused, so a stale id can never name
 * a new thing. Keyed by two small integers, not "ip:port" strings: each sync's strings are new objects, and
 * comparing one with a stored key flattens it (allocation, GC), which cost more than the rest of the render.
 */
export class IdAllocator {
  /** address as an int32 (a V8 small integer) → low key → id */
  private readonly ids = new Map<number, Map<number, number>>();
  private next: number;

  constructor(first = 1) {
    this.next = first;
  }

  idFor(address: string, low: number): number {
    const high = ipv4ToU32(address) | 0;
    let byLow = this.ids.get(high);
    if (!byLow) this.ids.set(high, (byLow = new Map()));
    let id = byLow.get(low);
    if (id === undefined) {
      id = this.next++;
      if (id > 0xffffffff) throw new RangeError('BPF id space (u32) exhausted; restart the agent');
      byLow.set(low, id);
    }
    return id;
  }

  /** forget one key: the next idFor() of it hands out a new id */
  forget(address: string, low: number): void {
    const high = ipv4ToU32(address) | 0;
    const byLow = this.ids.get(high);
    if (byLow?.delete(low) && !byLow.size) this.ids.delete(high);
  }

  /** forget every key whose id is not in `used` */
  retain(used: { has(id: number): boolean }): void {
    for (const [high, byLow] of this.ids) {
      for (const [low, id] of byLow) if (!used.has(id)) byLow.delete(low);
      if (!byLow.size) this.ids.delete(high);
    }
  }

  get size(): number {
    let n = 0;
    for (const byLow of this.ids.values()) n += byLow.size;
    return n;
  }
}

export interface EntryIds {
  backends: IdAllocator;
  frontends: IdAllocator;
}

export function newEntryIds(): EntryIds {
  return { backends: new IdAllocator(), frontends: new IdAllocator() };
}

/**
 * Forget the ids of everything `programmed` no longer uses. Only once the entries are in the maps: a sync that
 * fails must not renumber what the maps still hold (a new svc_id would cut its clients' session affinity).
 * Walks every id; forgetDeleted() does the same for one applied diff in proportion to what it removed.
 */
export function retainIds(ids: EntryIds, programmed: EntryIndex): void {
  ids.backends.retain(programmed.backends);
  const svcIds = new Set<number>();
  for (const f of programmed.frontends.values()) svcIds.add(f.svcId);
  ids.frontends.retain(svcIds);
}

/** forget the ids of the frontends and backends an applied diff removed */
export function forgetDeleted(ids: EntryIds, d: EntryDiff): void {
  for (const f of d.deleteFrontends) ids.frontends.forget(f.address, frontendLow(f.port, f.proto, f.scope));
  for (const b of d.deleteBackends) ids.backends.forget(b.address, backendLow(b.port, b.proto));
}

const PROTOCOLS: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };

/** port, protocol and scope of a frontend as one small integer */
const frontendLow = (port: number, proto: number, scope: number): number => port * 4 + (proto === IPPROTO_UDP ? 2 : 0) + scope;

/** port and protocol of a backend as one small integer */
const backendLow = (port: number, proto: number): number => port * 2 + (proto === IPPROTO_UDP ? 1 : 0);

/** (address, port, protocol, scope) as one exact number (32 + 18 bits, below 2^53): the frontends' index key */
export function frontendKeyOf(address: string, port: number, proto: number, scope: number): number {
  return ipv4ToU32(address) * 2 ** 18 + frontendLow(port, proto, scope);
}

/** what one computeEntries() call builds up; plain functions over it keep the per-service loop free of closures */
interface Build {
  ids: EntryIds;
  frontends: Frontend[];
  backends: Map<number, BackendEntry>;
  seenFrontends: Set<number>;
}

/** the id of an endpoint's backend entry, which is created on first use */
function backendId(b: Build, e: Endpoint, proto: number): number {
  const port = Number(e.str.slice(e.str.lastIndexOf(':') + 1)); // the model keeps "ip:port" only
  const id = b.ids.backends.idFor(e.ip, backendLow(port, proto));
  if (!b.backends.has(id)) b.backends.set(id, { id, address: e.ip, port, proto, flags: e.local ? BE_F_LOCAL : 0 });
  return id;
}

function backendIds(b: Build, eps: readonly Endpoint[], proto: number): number[] {
  const out = new Array<number>(eps.length);
  for (let i = 0; i < eps.length; i++) out[i] = backendId(b, eps[i]!, proto);
  return out;
}

/** false when not programmed: no port, or two services claiming one frontend (the first wins) */
function addFrontend(
  b: Build, sp: ServicePort, proto: number, address: string, port: number, scope: number, eps: readonly Endpoint[], flags: number,
): boolean {
  const key = frontendKeyOf(address, port, proto, scope);
  if (!port || b.seenFrontends.has(key)) return false;
  b.seenFrontends.add(key);
  const svcId = b.ids.frontends.idFor(address, frontendLow(port, proto, scope));
  b.frontends.push({ key, address, port, proto, scope, svcId, affinityTimeout: sp.affinitySeconds ?? 0, flags, backendIds: backendIds(b, eps, proto) });
  return true;
}

export function computeEntries(state: ClusterState, node: NodeContext, ids: EntryIds): LbEntries {
  const b: Build = { ids, frontends: [], backends: new Map(), seenFrontends: new Set() };
  const nodeIPs = node.nodeIPs.filter(isIPv4); // NodePorts of this IPv4-only datapath
  const endpoints = endpointsByPort(state.endpointSlices, node.nodeName);
  const none: Endpoint[] = [];
  let portsProgrammed = 0;

  for (const sp of servicePorts(state.services)) {
    const proto = PROTOCOLS[sp.protocol];
    if (proto === undefined) continue; // SCTP: not handled by this datapath
    const eps = endpoints.get(sp.key) ?? none;
    const c = categorize(eps, sp);

    // endpoints exist but none is local where a Local policy needs one: drop (kube-proxy's DROP), not reject
    const internal = c.hasAny ? (sp.internalPolicyLocal ? c.local : c.cluster) : none;
    const internalFlags = c.hasAny && internal.length === 0 ? SVC_F_NO_LOCAL : 0;
    let programmed = addFrontend(b, sp, proto, sp.clusterIP, sp.port, LB_SCOPE_EXT, internal, internalFlags);

    if (sp.nodePort || sp.externalIPs.length || sp.lbVIPs.length) {
      const external = c.hasAny ? (sp.externalPolicyLocal ? c.local : c.cluster) : none;
      const flags = SVC_F_EXTERNAL | (c.hasAny && external.length === 0 ? SVC_F_NO_LOCAL : 0) | (sp.externalPolicyLocal ? SVC_F_TWO_SCOPES : 0);
      const externalFrontends: [string, number][] = [
        ...(sp.nodePort ? nodeIPs.map((ip): [string, number] => [ip, sp.nodePort]) : []),
        ...sp.externalIPs.map((ip): [string, number] => [ip, sp.port]),
        ...sp.lbVIPs.map((ip): [string, number] => [ip, sp.port]),
      ];
      for (const [address, port] of externalFrontends) {
        programmed = addFrontend(b, sp, proto, address, port, LB_SCOPE_EXT, external, flags) || programmed;
        // pods reaching an external address go to the cluster-wide endpoints, as kube-proxy's EXT chain sends them
        if (sp.externalPolicyLocal) addFrontend(b, sp, proto, address, port, LB_SCOPE_INT, c.hasAny ? c.cluster : none, 0);
      }
    }
    if (!programmed) continue;
    portsProgrammed++;
    // every endpoint the slice still lists keeps a backend entry, in no slot: conntrack checks it on each packet,
    // so flows to a pod that turned terminating or unready drain, as kube-proxy leaves their conntrack alone
    for (const e of eps) backendId(b, e, proto);
  }
  return { frontends: b.frontends, backends: [...b.backends.values()], servicePorts: portsProgrammed };
}

/** entries of dp_lb4_services and dp_lb4_backends in total */
export function entryCount(e: Pick<LbEntries, 'frontends' | 'backends'>): number {
  return e.frontends.reduce((n, f) => n + 1 + f.backendIds.length, 0) + e.backends.length;
}

/** the dp_lb4_services entry of a frontend's slot (0: the frontend itself) */
export function serviceEntry(f: Frontend, slot: number): ServiceEntry {
  const { address, port, proto, scope } = f;
  return slot === 0
    ? { address, port, proto, scope, slot, backendId: 0, svcId: f.svcId, affinityTimeout: f.affinityTimeout, count: f.backendIds.length, flags: f.flags }
    : { address, port, proto, scope, slot, backendId: f.backendIds[slot - 1]!, svcId: 0, affinityTimeout: 0, count: 0, flags: 0 };
}

/** every dp_lb4_services entry of a frontend, slot 0 first */
export function serviceEntries(f: Frontend): ServiceEntry[] {
  return Array.from({ length: f.backendIds.length + 1 }, (_, slot) => serviceEntry(f, slot));
}

/** what the maps hold, by key */
export interface EntryIndex {
  frontends: Map<number, Frontend>;
  backends: Map<number, BackendEntry>;
}

export function indexEntries(e: Pick<LbEntries, 'frontends' | 'backends'>): EntryIndex {
  return { frontends: new Map(e.frontends.map((f) => [f.key, f])), backends: new Map(e.backends.map((b) => [b.id, b])) };
}

/**
 * What to write to go from `prev` to `next`, in the order that keeps every lookup a packet makes meaningful:
 * backends before the slots naming them, slots before a frontend's grown count; a shrunk count before the slots
 * it no longer covers are deleted, and slots before the backends they named.
 */
export interface EntryDiff {
  upsertBackends: BackendEntry[];
  upsertSlots: ServiceEntry[];
  upsertFrontends: ServiceEntry[];
  deleteFrontends: ServiceEntry[];
  deleteSlots: ServiceEntry[];
  deleteBackends: BackendEntry[];
}

const sameFrontend = (a: Frontend, b: Frontend): boolean =>
  a.svcId === b.svcId && a.affinityTimeout === b.affinityTimeout && a.flags === b.flags && a.backendIds.length === b.backendIds.length;
const sameBackend = (a: BackendEntry, b: BackendEntry): boolean =>
  a.address === b.address && a.port === b.port && a.proto === b.proto && a.flags === b.flags;

/** compares frontend by frontend and slot by slot: an unchanged service costs a few comparisons, no strings */
export function diffEntries(prev: EntryIndex | undefined, next: EntryIndex): EntryDiff {
  const d: EntryDiff = { upsertBackends: [], upsertSlots: [], upsertFrontends: [], deleteFrontends: [], deleteSlots: [], deleteBackends: [] };
  for (const [id, b] of next.backends) {
    const p = prev?.backends.get(id);
    if (!p || !sameBackend(p, b)) d.upsertBackends.push(b);
  }
  for (const [key, f] of next.frontends) {
    const p = prev?.frontends.get(key);
    if (!p || !sameFrontend(p, f)) d.upsertFrontends.push(serviceEntry(f, 0));
    for (let i = 0; i < f.backendIds.length; i++) if (p?.backendIds[i] !== f.backendIds[i]) d.upsertSlots.push(serviceEntry(f, i + 1));
    for (let i = f.backendIds.length; i < (p?.backendIds.length ?? 0); i++) d.deleteSlots.push(serviceEntry(p!, i + 1));
  }
  if (!prev) return d;
  for (const [key, p] of prev.frontends) {
    if (next.frontends.has(key)) continue;
    d.deleteFrontends.push(serviceEntry(p, 0));
    for (let i = 1; i <= p.backendIds.length; i++) d.deleteSlots.push(serviceEntry(p, i));
  }
  for (const [id, p] of prev.backends) if (!next.backends.has(id)) d.deleteBackends.push(p);
  return d;
}

export function diffSize(d: EntryDiff): { updated: number; deleted: number } {
  return {
    updated: d.upsertBackends.length + d.upsertSlots.length + d.upsertFrontends.length,
    deleted: d.deleteFrontends.length + d.deleteSlots.length + d.deleteBackends.length,
  };
}

/** entries the maps hold at the peak of an upserts-first apply of `d`: what `prev` left plus every new key */
export function peakCounts(prev: EntryIndex | undefined, d: EntryDiff): { services: number; backends: number } {
  let services = 0;
  for (const f of prev?.frontends.values() ?? []) services += 1 + f.backendIds.length;
  for (const e of [...d.upsertFrontends, ...d.upsertSlots]) {
    const p = prev?.frontends.get(frontendKeyOf(e.address, e.port, e.proto, e.scope));
    if (!p || e.slot > p.backendIds.length) services++;
  }
  let backends = prev?.backends.size ?? 0;
  for (const b of d.upsertBackends) if (!prev?.backends.has(b.id)) backends++;
  return { services, backends };
}
