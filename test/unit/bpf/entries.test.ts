// SPDX-License-Identifier: Apache-2.0
// The ebpf agent's pure half: ClusterState → dp_lb4_services / dp_lb4_backends entries for one node (kube-proxy's
// endpoint semantics, cilium's slot layout), and the ordered diff an incremental sync writes.
import { describe, expect, it } from 'vitest';
import { serviceObjects, type ServiceSpecLite } from '../../../src/cluster/objects.ts';
import type { ClusterState, NodeContext } from '../../../src/cluster/state.ts';
import { BE_F_LOCAL, SVC_F_EXTERNAL, SVC_F_NO_LOCAL, SVC_F_TWO_SCOPES } from '../../../src/datapath/bpf/codec.ts';
import {
  IdAllocator, computeEntries, diffEntries, diffSize, entryCount, forgetDeleted, indexEntries, newEntryIds, peakCounts, retainIds, serviceEntries, type LbEntries,
} from '../../../src/datapath/ebpf/entries.ts';

const NODE: NodeContext = { nodeName: 'node0', nodeIPs: ['172.18.0.2'], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };
const local = (ip: string, extra = {}) => ({ ip, nodeName: 'node0', ...extra });
const remote = (ip: string, extra = {}) => ({ ip, nodeName: 'node1', ...extra });
const http = [{ name: 'http', port: 80, targetPort: 8080 }];

function state(...specs: ServiceSpecLite[]): ClusterState {
  const built = specs.map(serviceObjects);
  return { services: built.map((b) => b.service), endpointSlices: built.map((b) => b.slice), pods: [], namespaces: [] };
}

const svc = (name: string, clusterIP: string, backends: ServiceSpecLite['backends'], extra: Partial<ServiceSpecLite> = {}): ServiceSpecLite => ({
  namespace: 'ns', name, clusterIP, ports: http, backends, ...extra,
});

const FLAG_NAMES: [number, string][] = [[SVC_F_EXTERNAL, 'external'], [SVC_F_TWO_SCOPES, 'two-scopes'], [SVC_F_NO_LOCAL, 'no-local']];

/** one line per map entry: the golden form of a render */
function render(e: LbEntries): string {
  const backends = new Map(e.backends.map((b) => [b.id, b]));
  return e.frontends
    .flatMap(serviceEntries)
    .map((s) => {
      const front = `${s.address}:${s.port}/${s.proto === 6 ? 'tcp' : 'udp'}${s.scope ? ' int' : ''}`;
      if (s.slot === 0) {
        const flags = FLAG_NAMES.filter(([bit]) => s.flags & bit).map(([, n]) => n);
        return `${front} count=${s.count}${s.affinityTimeout ? ` affinity=${s.affinityTimeout}s` : ''}${flags.length ? ` [${flags.join(',')}]` : ''}`;
      }
      const b = backends.get(s.backendId)!;
      return `${front} #${s.slot} → ${b.address}:${b.port}${b.flags & BE_F_LOCAL ? ' local' : ''}`;
    })
    .join('\n');
}

describe('computeEntries', () => {
  it('renders frontends and slots with kube-proxy semantics', () => {
    const s = state(
      svc('web', '10.96.0.10', [remote('10.244.1.10'), local('10.244.0.11'), remote('10.244.1.11', { ready: false })]),
      svc('empty', '10.96.0.11', []),
      svc('sticky', '10.96.0.12', [remote('10.244.1.10')], { sessionAffinity: 'ClientIP' }),
      svc('draining', '10.96.0.13', [remote('10.244.1.12', { ready: false, terminating: true })]),
      svc('np', '10.96.0.20', [remote('10.244.1.10'), local('10.244.0.11')], { type: 'NodePort', ports: [{ ...http[0]!, nodePort: 30080 }] }),
      svc('np-local', '10.96.0.21', [remote('10.244.1.10'), local('10.244.0.11')], {
        type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ ...http[0]!, nodePort: 30081 }],
      }),
      svc('np-far', '10.96.0.22', [remote('10.244.1.10')], {
        type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ ...http[0]!, nodePort: 30082, protocol: 'UDP' }],
      }),
    );
    // draining's only endpoint is terminating but still serving
    s.endpointSlices[3]!.endpoints![0]!.conditions = { ready: false, serving: true, terminating: true };
    expect(render(computeEntries(s, NODE, newEntryIds()))).toBe(
      [
        '10.96.0.13:80/tcp count=1', // ns/draining: serving-terminating fallback, nothing ready anywhere
        '10.96.0.13:80/tcp #1 → 10.244.1.12:8080',
        '10.96.0.11:80/tcp count=0', // ns/empty: no endpoints, the program rejects
        '10.96.0.22:80/udp count=1', // ns/np-far
        '10.96.0.22:80/udp #1 → 10.244.1.10:8080',
        '172.18.0.2:30082/udp count=0 [external,two-scopes,no-local]', // Local, endpoints only elsewhere: dropped from outside
        '172.18.0.2:30082/udp int count=1', // … but pods reach the cluster-wide endpoints
        '172.18.0.2:30082/udp int #1 → 10.244.1.10:8080',
        '10.96.0.21:80/tcp count=2', // ns/np-local
        '10.96.0.21:80/tcp #1 → 10.244.0.11:8080 local',
        '10.96.0.21:80/tcp #2 → 10.244.1.10:8080',
        '172.18.0.2:30081/tcp count=1 [external,two-scopes]',
        '172.18.0.2:30081/tcp #1 → 10.244.0.11:8080 local',
        '172.18.0.2:30081/tcp int count=2',
        '172.18.0.2:30081/tcp int #1 → 10.244.0.11:8080 local',
        '172.18.0.2:30081/tcp int #2 → 10.244.1.10:8080',
        '10.96.0.20:80/tcp count=2', // ns/np
        '10.96.0.20:80/tcp #1 → 10.244.0.11:8080 local',
        '10.96.0.20:80/tcp #2 → 10.244.1.10:8080',
        '172.18.0.2:30080/tcp count=2 [external]',
        '172.18.0.2:30080/tcp #1 → 10.244.0.11:8080 local',
        '172.18.0.2:30080/tcp #2 → 10.244.1.10:8080',
        '10.96.0.12:80/tcp count=1 affinity=10800s', // ns/sticky
        '10.96.0.12:80/tcp #1 → 10.244.1.10:8080',
        '10.96.0.10:80/tcp count=2', // ns/web: the not-ready endpoint is left out
        '10.96.0.10:80/tcp #1 → 10.244.0.11:8080 local',
        '10.96.0.10:80/tcp #2 → 10.244.1.10:8080',
      ].join('\n'),
    );
  });

  it('programs internalTrafficPolicy Local with local endpoints only, dropping when there are none', () => {
    const s = state(svc('itp', '10.96.0.30', [remote('10.244.1.10')]), svc('itp2', '10.96.0.31', [local('10.244.0.11'), remote('10.244.1.10')]));
    for (const service of s.services) service.spec!.internalTrafficPolicy = 'Local';
    expect(render(computeEntries(s, NODE, newEntryIds()))).toBe(
      ['10.96.0.31:80/tcp count=1', '10.96.0.31:80/tcp #1 → 10.244.0.11:8080 local', '10.96.0.30:80/tcp count=0 [no-local]'].join('\n'),
    );
  });

  it('shares one backend id between frontends and keeps ids stable across syncs', () => {
    const ids = newEntryIds();
    const a = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')]), svc('b', '10.96.0.2', [remote('10.244.1.10')])), NODE, ids);
    expect(a.backends).toHaveLength(1);
    const again = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')]), svc('b', '10.96.0.2', [remote('10.244.1.10')])), NODE, ids);
    expect(again).toEqual(a);
  });

  it('never reuses the id of a backend that went away', () => {
    const ids = newEntryIds();
    const first = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')])), NODE, ids);
    retainIds(ids, indexEntries(first));
    retainIds(ids, indexEntries(computeEntries(state(svc('a', '10.96.0.1', [])), NODE, ids)));
    const back = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')])), NODE, ids);
    expect(back.backends[0]!.id).not.toBe(first.backends[0]!.id);
  });

  it('forgets exactly the ids an applied diff removed', () => {
    const ids = newEntryIds();
    const two = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10'), remote('10.244.1.11')]), svc('b', '10.96.0.2', [remote('10.244.1.12')])), NODE, ids);
    const one = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')])), NODE, ids);
    forgetDeleted(ids, diffEntries(indexEntries(two), indexEntries(one)));
    expect([ids.backends.size, ids.frontends.size]).toEqual([1, 1]);
    const back = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10'), remote('10.244.1.11')]), svc('b', '10.96.0.2', [remote('10.244.1.12')])), NODE, ids);
    expect(back.frontends[0]!.svcId).toBe(two.frontends[0]!.svcId);
    expect(back.frontends[0]!.backendIds[0]).toBe(two.frontends[0]!.backendIds[0]);
    expect(back.frontends[0]!.backendIds[1]).not.toBe(two.frontends[0]!.backendIds[1]);
    expect(back.frontends[1]!.svcId).not.toBe(two.frontends[1]!.svcId);
  });

  it('keeps every id until a state is programmed: a sync that fails renumbers nothing', () => {
    const ids = newEntryIds();
    const programmed = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')])), NODE, ids);
    retainIds(ids, indexEntries(programmed));
    computeEntries(state(svc('b', '10.96.0.2', [remote('10.244.1.11')])), NODE, ids); // never programmed
    const again = computeEntries(state(svc('a', '10.96.0.1', [remote('10.244.1.10')])), NODE, ids);
    expect(again.frontends.map((f) => [f.svcId, f.backendIds])).toEqual(programmed.frontends.map((f) => [f.svcId, f.backendIds]));
  });

  it('skips SCTP, headless and ExternalName services; counts what it programs', () => {
    const s = state(svc('sctp', '10.96.0.1', [remote('10.244.1.10')], { ports: [{ name: 'x', port: 9, targetPort: 9, protocol: 'SCTP' as 'TCP' }] }), svc('ok', '10.96.0.2', []));
    const headless = serviceObjects(svc('headless', '10.96.0.3', []));
    headless.service.spec!.clusterIP = 'None';
    headless.service.spec!.clusterIPs = ['None'];
    s.services.push(headless.service);
    const e = computeEntries(s, NODE, newEntryIds());
    expect(render(e)).toBe('10.96.0.2:80/tcp count=0');
    expect(e.servicePorts).toBe(1);
    expect(e.frontends).toHaveLength(1);
  });
});

describe('IdAllocator', () => {
  it('hands out increasing ids and forgets what is not retained', () => {
    const ids = new IdAllocator(5);
    expect([ids.idFor('10.0.0.1', 80), ids.idFor('10.0.0.1', 81), ids.idFor('10.0.0.1', 80), ids.idFor('255.0.0.1', 80)]).toEqual([5, 6, 5, 7]);
    ids.retain(new Set([6]));
    expect(ids.size).toBe(1);
    expect(ids.idFor('10.0.0.1', 80)).toBe(8);
  });
});

describe('diffEntries', () => {
  const web = (backends: ServiceSpecLite['backends']) => state(svc('web', '10.96.0.10', backends), svc('other', '10.96.0.11', [remote('10.244.1.20')]));
  const index = (e: LbEntries) => indexEntries(e);

  it('writes everything on the first sync and nothing when nothing changed', () => {
    const ids = newEntryIds();
    const first = computeEntries(web([remote('10.244.1.10')]), NODE, ids);
    const d = diffEntries(undefined, index(first));
    expect(diffSize(d)).toEqual({ updated: entryCount(first), deleted: 0 });
    const same = computeEntries(web([remote('10.244.1.10')]), NODE, ids);
    expect(diffSize(diffEntries(index(first), index(same)))).toEqual({ updated: 0, deleted: 0 });
  });

  it('grows a service: new backend and slot first, then the frontend with its new count', () => {
    const ids = newEntryIds();
    const before = computeEntries(web([remote('10.244.1.10')]), NODE, ids);
    const after = computeEntries(web([remote('10.244.1.10'), remote('10.244.1.11')]), NODE, ids);
    const d = diffEntries(index(before), index(after));
    expect(d.upsertBackends.map((b) => b.address)).toEqual(['10.244.1.11']);
    expect(d.upsertSlots.map((s) => [s.address, s.slot])).toEqual([['10.96.0.10', 2]]);
    expect(d.upsertFrontends.map((s) => [s.address, s.count])).toEqual([['10.96.0.10', 2]]);
    expect(diffSize(d).deleted).toBe(0);
  });

  it('shrinks a service: the frontend count first, then the slot, then the backend', () => {
    const ids = newEntryIds();
    const before = computeEntries(web([remote('10.244.1.10'), remote('10.244.1.11')]), NODE, ids);
    const after = computeEntries(web([remote('10.244.1.10')]), NODE, ids);
    const d = diffEntries(index(before), index(after));
    expect(d.upsertFrontends.map((s) => s.count)).toEqual([1]);
    expect(d.deleteSlots.map((s) => s.slot)).toEqual([2]);
    expect(d.deleteBackends.map((b) => b.address)).toEqual(['10.244.1.11']);
    expect(d.upsertSlots).toEqual([]);
  });

  it('removes a whole service: frontend, slots, and backends nobody else uses', () => {
    const ids = newEntryIds();
    const before = computeEntries(web([remote('10.244.1.10')]), NODE, ids);
    const after = computeEntries(state(svc('other', '10.96.0.11', [remote('10.244.1.20')])), NODE, ids);
    const d = diffEntries(index(before), index(after));
    expect(d.deleteFrontends.map((s) => s.address)).toEqual(['10.96.0.10']);
    expect(d.deleteSlots.map((s) => s.address)).toEqual(['10.96.0.10']);
    expect(d.deleteBackends.map((b) => b.address)).toEqual(['10.244.1.10']);
    expect(diffSize(d).updated).toBe(0);
  });

  it('counts what the maps would hold with old and new entries side by side', () => {
    const ids = newEntryIds();
    const before = computeEntries(web([remote('10.244.1.10')]), NODE, ids);
    // first sync: the maps start empty
    expect(peakCounts(undefined, diffEntries(undefined, index(before)))).toEqual({ services: 4, backends: 2 });
    // "web" moves to a new address with a new backend: old frontend, slot and backend linger until the deletes
    const moved = computeEntries(state(svc('web', '10.96.0.12', [remote('10.244.1.11')]), svc('other', '10.96.0.11', [remote('10.244.1.20')])), NODE, ids);
    expect(entryCount(moved)).toBe(entryCount(before));
    expect(peakCounts(index(before), diffEntries(index(before), index(moved)))).toEqual({ services: 6, backends: 3 });
    // a grown service adds its new slot; rewriting the frontend's count adds nothing
    const ids2 = newEntryIds();
    const small = computeEntries(web([remote('10.244.1.10')]), NODE, ids2);
    const grown = computeEntries(web([remote('10.244.1.10'), remote('10.244.1.11')]), NODE, ids2);
    expect(peakCounts(index(small), diffEntries(index(small), index(grown)))).toEqual({ services: 5, backends: 3 });
  });
});
