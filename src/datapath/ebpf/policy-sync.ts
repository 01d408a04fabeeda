// SPDX-License-Identifier: Apache-2.0
// Writes PolicyEntries (policy.ts) into dp_ipcache, dp_endpoints and dp_policy without a wrong window: packets read
// one generation (dp_policy_gen); the agent brings the other one to the new state, incrementally against what that
// generation held, then flips dp_policy_gen with one write. A packet is judged wholly by the old state or wholly by
// the new one, never by a mix (bpf/policy.h). The generation left behind is what the next sync rewrites.
import {
  MAP_NAMES, decodeEndpointFlags, decodeIpcacheKey, decodeIpcacheValue, decodePolicyKey,
  encodeEndpointFlags, encodeEndpointKey, encodeIpcacheKey, encodeIpcacheValue, encodePolicyKey,
} from '../bpf/codec.ts';
import { ENOENT, bind, check, type BpfMap } from '../bpf/libbpf.ts';
import {
  identitiesOf, identityResolver, policyEntryKey, prefixText, parsePrefix, type IdentityAllocator, type PolicyEntries,
} from './policy.ts';

type Pair = [number, number];
const EMPTY: PolicyEntries = { ipcache: new Map(), endpoints: new Map(), policy: new Map() };
const POLICY_VALUE = Buffer.alloc(4);

export interface PolicySyncReport {
  /** a generation was written and flipped to */
  flipped: boolean;
  generation: number;
  updated: number;
  deleted: number;
}

interface PolicyMapSet {
  ipcache: BpfMap;
  policy: BpfMap;
  endpoints: BpfMap;
  gen: BpfMap;
}

export class PolicyMaps {
  private active = 0;
  /** what each generation holds; undefined = unknown (a sync failed while writing it) */
  private readonly gens: [PolicyEntries | undefined, PolicyEntries | undefined] = [EMPTY, EMPTY];
  /** dp_ipcache and dp_endpoints as written, both generations per key; undefined = read them back first */
  private ipcache?: Map<string, Pair>;
  private endpoints?: Map<string, Pair>;

  /** takes over whatever the maps hold: nothing for a freshly loaded object, a previous writer's state otherwise */
  constructor(private readonly maps: PolicyMapSet) {
    this.active = maps.gen.lookup(Buffer.alloc(4))?.readUInt32LE(0) ? 1 : 0;
    this.endpoints = readEndpoints(maps.endpoints);
    this.ipcache = readIpcache(maps.ipcache);
    const policy = dump(maps.policy).map(([k]) => decodePolicyKey(k));
    if (!this.endpoints.size && !this.ipcache.size && !policy.length) return;
    // the active generation as packets see it; the inactive one is rewritten from a read-back at the next sync
    const a = this.active;
    const half = (v: Pair): number => (a ? v[1] : v[0]);
    const current: PolicyEntries = {
      ipcache: new Map([...this.ipcache].map(([k, v]) => [k, half(v)])),
      endpoints: new Map([...this.endpoints].filter(([, v]) => half(v)).map(([k, v]) => [k, half(v)])),
      policy: new Map(policy.filter((k) => k.gen === a).map((k) => [policyEntryKey(k), k])),
    };
    this.gens[a] = current;
    this.gens[1 - a] = undefined;
  }

  static of(map: (name: string) => BpfMap): PolicyMaps {
    return new PolicyMaps({
      ipcache: map(MAP_NAMES.ipcache), policy: map(MAP_NAMES.policy), endpoints: map(MAP_NAMES.endpoints), gen: map(MAP_NAMES.policyGeneration),
    });
  }

  sync(target: PolicyEntries, ids?: IdentityAllocator): PolicySyncReport {
    try {
      return this.write(target, ids);
    } catch (e) {
      this.invalidate();
      throw e;
    }
  }

  private write(target: PolicyEntries, ids?: IdentityAllocator): PolicySyncReport {
    const current = this.gens[this.active]!;
    if (sameEntries(current, target)) return { flipped: false, generation: this.active, updated: 0, deleted: 0 };
    const g = 1 - this.active;
    const previous = this.gens[g];
    this.gens[g] = undefined; // until the flip below
    let updated = 0;
    let deleted = 0;

    // 1. the inactive generation's allow entries
    const { policy } = this.maps;
    const stale = previous
      ? [...previous.policy].filter(([k]) => !target.policy.has(k)).map(([, e]) => e)
      : dump(policy).map(([k]) => decodePolicyKey(k)).filter((k) => k.gen === g && !target.policy.has(policyEntryKey(k)));
    for (const [k, e] of target.policy) {
      if (previous?.policy.has(k)) continue;
      policy.update(encodePolicyKey({ ...e, gen: g }), POLICY_VALUE);
      updated++;
    }
    for (const e of stale) if (policy.delete(encodePolicyKey({ ...e, gen: g }))) deleted++;

    // 2. endpoints and ipcache: the inactive half rewritten, the active half written as it already is
    this.endpoints ??= readEndpoints(this.maps.endpoints);
    const epWanted = new Map<string, Pair>();
    for (const ip of new Set([...current.endpoints.keys(), ...target.endpoints.keys()])) {
      epWanted.set(ip, pair(g, target.endpoints.get(ip) ?? 0, current.endpoints.get(ip) ?? 0));
    }
    const ep = applyPairs(this.maps.endpoints, this.endpoints, epWanted, encodeEndpointKey, encodeEndpointFlags);

    this.ipcache ??= readIpcache(this.maps.ipcache);
    const inTarget = identityResolver(target.ipcache);
    const inCurrent = identityResolver(current.ipcache);
    const ipWanted = new Map<string, Pair>();
    for (const prefix of new Set([...current.ipcache.keys(), ...target.ipcache.keys()])) {
      ipWanted.set(prefix, pair(g, inTarget(prefix), inCurrent(prefix)));
    }
    const ip = applyPairs(this.maps.ipcache, this.ipcache, ipWanted, (p) => encodeIpcacheKey(splitPrefix(p)), encodeIpcacheValue);

    // 3. the flip: from here on packets read generation g
    this.maps.gen.update(Buffer.alloc(4), encodeU32(g));
    this.active = g;
    this.gens[g] = target;
    ids?.retain(identitiesOf(this.gens[0], this.gens[1]));
    return { flipped: true, generation: g, updated: updated + ep.updated + ip.updated, deleted: deleted + ep.deleted + ip.deleted };
  }

  /** a write failed: what the maps hold is re-read at the next sync */
  invalidate(): void {
    this.ipcache = undefined;
    this.endpoints = undefined;
  }

  get generation(): number {
    return this.active;
  }
}

const pair = (g: number, next: number, current: number): Pair => (g === 0 ? [next, current] : [current, next]);
const encodeU32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const splitPrefix = (text: string) => {
  const [addr, len] = text.split('/');
  return { addr: addr!, prefixlen: Number(len) };
};

/** writes the keys whose pair changed, then deletes the keys no generation has; `written` follows the map */
function applyPairs(
  map: BpfMap, written: Map<string, Pair>, wanted: Map<string, Pair>, key: (k: string) => Buffer, value: (v: Pair) => Buffer,
): { updated: number; deleted: number } {
  let updated = 0;
  let deleted = 0;
  for (const [k, v] of wanted) {
    const w = written.get(k);
    if (w && w[0] === v[0] && w[1] === v[1]) continue;
    map.update(key(k), value(v));
    written.set(k, v);
    updated++;
  }
  for (const k of [...written.keys()]) {
    if (wanted.has(k)) continue;
    map.delete(key(k));
    written.delete(k);
    deleted++;
  }
  return { updated, deleted };
}

/** every element, key by key: LPM tries have no batch lookup */
function dump(map: BpfMap): [Buffer, Buffer][] {
  const out: [Buffer, Buffer][] = [];
  let prev: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(map.keySize);
    const ret = bind().nextKey(map.fd, prev, next);
    if (ret === -ENOENT) return out;
    check(`walking map ${map.name}`, ret);
    const value = map.lookup(next);
    if (value) out.push([next, value]);
    prev = next;
  }
}

function readEndpoints(map: BpfMap): Map<string, Pair> {
  return new Map(dump(map).map(([k, v]) => [prefixText({ base: k.readUInt32BE(0), len: 32 }).slice(0, -3), decodeEndpointFlags(v)]));
}

function readIpcache(map: BpfMap): Map<string, Pair> {
  return new Map(dump(map).map(([k, v]) => {
    const d = decodeIpcacheKey(k);
    return [prefixText(parsePrefix(`${d.addr}/${d.prefixlen}`)!), decodeIpcacheValue(v)];
  }));
}

function sameEntries(a: PolicyEntries, b: PolicyEntries): boolean {
  const same = <V>(x: ReadonlyMap<string, V>, y: ReadonlyMap<string, V>, eq: (p: V, q: V) => boolean): boolean =>
    x.size === y.size && [...x].every(([k, v]) => y.has(k) && eq(v, y.get(k)!));
  return same(a.ipcache, b.ipcache, (p, q) => p === q) && same(a.endpoints, b.endpoints, (p, q) => p === q) && same(a.policy, b.policy, () => true);
}

