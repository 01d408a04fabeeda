// SPDX-License-Identifier: Apache-2.0
// The NetworkPolicy reference evaluator, one semantic rule at a time, and the per-pod resolution datapaths build on.
//
//   namespaces x, y, z (labels ns=<name>, kubernetes.io/metadata.name=<name>)
//   pods a, b, c in each (label pod=<name>), serving 80/81 on TCP, UDP, SCTP as serve-<port>-<proto>
//   x on 10.244.0.0/24, y on 10.244.1.0/24, z on 10.244.2.0/24; a/b/c = .10/.11/.12
import type { V1NetworkPolicy, V1NetworkPolicySpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  allowed,
  netpolNamespaceFromKube,
  netpolPodFromKube,
  policyDirections,
  selectorMatches,
  type NetpolPod,
  type Peer,
  type Protocol,
} from '../../../src/netpol/evaluator.ts';
import { findModelPod, modelKubeObjects, standardModel } from '../../../src/netpol/model.ts';
import { resolveDirection, resolvedAllowed } from '../../../src/netpol/resolve.ts';

const model = standardModel();
const pod = (key: string): NetpolPod => findModelPod(model, key);
const external: Peer = { ip: '172.18.0.250' };
const np = (namespace: string, name: string, spec: V1NetworkPolicySpec): V1NetworkPolicy => ({ metadata: { namespace, name }, spec });
const peer = (p: string | Peer): Peer => (typeof p === 'string' ? pod(p) : p);
const ok = (policies: V1NetworkPolicy[], from: string | Peer, to: string | Peer, port = 80, protocol: Protocol = 'TCP'): boolean =>
  allowed(policies, model.namespaces, peer(from), peer(to), port, protocol).allowed;
const podA = { matchLabels: { pod: 'a' } };

describe('selectorMatches', () => {
  const labels = { pod: 'a', role: 'web' };
  it('an absent selector selects nothing, an empty one everything', () => {
    expect(selectorMatches(undefined, labels)).toBe(false);
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: {} }, {})).toBe(true);
  });
  it('matchLabels must all match', () => {
    expect(selectorMatches({ matchLabels: { pod: 'a', role: 'web' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { pod: 'a', role: 'db' } }, labels)).toBe(false);
  });
  it.each([
    ['In', ['a', 'b'], true],
    ['In', ['b'], false],
    ['NotIn', ['b'], true],
    ['NotIn', ['a'], false],
  ])('%s %j on pod=a → %s', (operator, values, want) => {
    expect(selectorMatches({ matchExpressions: [{ key: 'pod', operator, values }] }, labels)).toBe(want);
  });
  it('NotIn and DoesNotExist match a missing key; In and Exists do not', () => {
    const req = (operator: string, values?: string[]) => ({ matchExpressions: [{ key: 'tier', operator, ...(values ? { values } : {}) }] });
    expect(selectorMatches(req('NotIn', ['x']), labels)).toBe(true);
    expect(selectorMatches(req('DoesNotExist'), labels)).toBe(true);
    expect(selectorMatches(req('In', ['x']), labels)).toBe(false);
    expect(selectorMatches(req('Exists'), labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'role', operator: 'Exists' }] }, labels)).toBe(true);
  });
  it('ANDs matchLabels with matchExpressions; an unknown operator matches nothing', () => {
    expect(selectorMatches({ matchLabels: { pod: 'a' }, matchExpressions: [{ key: 'role', operator: 'In', values: ['db'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'pod', operator: 'Gt', values: ['0'] }] }, labels)).toBe(false);
  });
});

describe('policyTypes defaulting and isolation per direction', () => {
  it('defaults to Ingress, adding Egress only when there are egress rules', () => {
    expect(policyDirections(np('x', 'p', { podSelector: {} }))).toEqual(['ingress']);
    expect(policyDirections(np('x', 'p', { podSelector: {}, egress: [] }))).toEqual(['ingress']);
    expect(policyDirections(np('x', 'p', { podSelector: {}, egress: [{}] }))).toEqual(['ingress', 'egress']);
    expect(policyDirections(np('x', 'p', { podSelector: {}, policyTypes: [], egress: [{}] }))).toEqual(['ingress', 'egress']);
    expect(policyDirections(np('x', 'p', { podSelector: {}, policyTypes: ['Egress'], ingress: [{}] }))).toEqual(['egress']);
  });
  it('an egress-only policy leaves ingress open and ignores its ingress rules', () => {
    const p = np('x', 'p', { podSelector: podA, policyTypes: ['Egress'], ingress: [{ _from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
    expect(ok([p], 'x/c', 'x/a')).toBe(true);
    expect(ok([p], 'x/a', 'x/b')).toBe(false);
    const v = allowed([p], model.namespaces, pod('x/c'), pod('x/a'), 80, 'TCP');
    expect(v.ingress).toEqual({ isolated: false, allowedBy: [] });
  });
  it('a policy with no rules and no types isolates ingress (deny all in)', () => {
    const p = np('x', 'bare', { podSelector: {} });
    expect(ok([p], 'y/a', 'x/b')).toBe(false);
    expect(ok([p], 'x/b', 'y/a')).toBe(true);
  });
  it('ingress: [] allows nothing; ingress: [{}] allows everything', () => {
    expect(ok([np('x', 'p', { podSelector: {}, ingress: [] })], 'y/a', 'x/a')).toBe(false);
    expect(ok([np('x', 'p', { podSelector: {}, ingress: [{}] })], 'y/a', 'x/a', 12345, 'SCTP')).toBe(true);
  });
  it('egress and ingress are both required', () => {
    const out = np('x', 'out', { podSelector: podA, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] });
    const closed = np('y', 'closed', { podSelector: podA, policyTypes: ['Ingress'] });
    const v = allowed([out, closed], model.namespaces, pod('x/a'), pod('y/a'), 80, 'TCP');
    expect(v).toEqual({ allowed: false, egress: { isolated: true, allowedBy: ['x/out'] }, ingress: { isolated: true, allowedBy: [] } });
  });
});

describe('podSelector of the policy', () => {
  it('an empty podSelector selects every pod of the policy namespace only', () => {
    const p = np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] });
    for (const to of ['x/a', 'x/b', 'x/c']) expect(ok([p], 'y/a', to)).toBe(false);
    expect(ok([p], 'x/a', 'y/a')).toBe(true);
    expect(ok([p], 'x/a', 'z/c')).toBe(true);
  });
  it('a missing podSelector reads as the empty one', () => {
    expect(ok([{ metadata: { namespace: 'x', name: 'p' }, spec: { policyTypes: ['Ingress'] } }], 'y/a', 'x/c')).toBe(false);
  });
});

describe('peers', () => {
  const from = (peers: NonNullable<V1NetworkPolicySpec['ingress']>[number]['_from']) => np('x', 'p', { podSelector: podA, ingress: [{ _from: peers }] });
  it('podSelector alone selects pods of the policy namespace', () => {
    const p = from([{ podSelector: { matchLabels: { pod: 'b' } } }]);
    expect(ok([p], 'x/b', 'x/a')).toBe(true);
    expect(ok([p], 'y/b', 'x/a')).toBe(false);
  });
  it('namespaceSelector alone selects every pod of matching namespaces', () => {
    const p = from([{ namespaceSelector: { matchLabels: { ns: 'y' } } }]);
    expect(['x/b', 'y/a', 'y/b', 'y/c', 'z/a'].map((f) => ok([p], f, 'x/a'))).toEqual([false, true, true, true, false]);
  });
  it('kubernetes.io/metadata.name is always there, even on a namespace listed without it', () => {
    const p = from([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }]);
    expect(allowed([p], [{ name: 'z', labels: {} }], pod('z/c'), pod('x/a'), 80, 'TCP').allowed).toBe(true);
  });
  it('both selectors in one peer AND; in two peers OR', () => {
    const and = from([{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }]);
    const or = from([{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }]);
    expect(['y/b', 'y/a', 'x/b', 'z/b'].map((f) => ok([and], f, 'x/a'))).toEqual([true, false, false, false]);
    expect(['y/b', 'y/a', 'x/b', 'z/b'].map((f) => ok([or], f, 'x/a'))).toEqual([true, true, true, false]);
  });
  it('empty from and missing from both match every source, external ones too', () => {
    for (const p of [from([]), np('x', 'p', { podSelector: podA, ingress: [{ ports: [{ port: 80 }] }] })]) {
      expect(ok([p], 'z/c', 'x/a')).toBe(true);
      expect(ok([p], external, 'x/a')).toBe(true);
    }
  });
  it('selectors never match external addresses; an empty peer matches nothing', () => {
    expect(ok([from([{ namespaceSelector: {} }])], external, 'x/a')).toBe(false);
    expect(ok([from([{}])], 'x/b', 'x/a')).toBe(false);
  });
  it('reads wire-form objects (`from`) as well as client-node ones (`_from`)', () => {
    const wire = { metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: podA, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] } };
    expect(ok([wire as V1NetworkPolicy], 'x/b', 'x/a')).toBe(true);
    expect(ok([wire as V1NetworkPolicy], 'x/c', 'x/a')).toBe(false);
  });
});

describe('ipBlock', () => {
  const block = np('x', 'p', { podSelector: podA, ingress: [{ _from: [{ ipBlock: { cidr: '10.244.1.0/24', except: ['10.244.1.12/32'] } }] }] });
  it('matches pod IPs by address, minus the excepts', () => {
    expect(['y/a', 'y/b', 'y/c', 'z/a', 'x/b'].map((f) => ok([block], f, 'x/a'))).toEqual([true, true, false, false, false]);
  });
  it('matches external addresses; egress to an external block', () => {
    const ext = np('x', 'ext', { podSelector: {}, ingress: [{ _from: [{ ipBlock: { cidr: '172.18.0.0/16' } }] }] });
    expect(ok([ext], external, 'x/b')).toBe(true);
    expect(ok([ext], 'y/a', 'x/b')).toBe(false);
    const out = np('x', 'out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '172.18.0.0/24', except: ['172.18.0.128/25'] } }] }] });
    expect(ok([out], 'x/a', { ip: '172.18.0.5' })).toBe(true);
    expect(ok([out], 'x/a', external)).toBe(false);
  });
  it('policies never isolate external addresses', () => {
    const all = np('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(allowed([all], model.namespaces, external, { ip: '8.8.8.8' }, 53, 'UDP')).toEqual({
      allowed: true,
      egress: { isolated: false, allowedBy: [] },
      ingress: { isolated: false, allowedBy: [] },
    });
  });
});

describe('ports', () => {
  const ports = (p: NonNullable<V1NetworkPolicySpec['ingress']>[number]['ports']) => np('x', 'p', { podSelector: podA, ingress: [{ ports: p }] });
  it('a port without protocol is TCP; a protocol without port is every port of it', () => {
    expect([ok([ports([{ port: 80 }])], 'y/a', 'x/a', 80, 'TCP'), ok([ports([{ port: 80 }])], 'y/a', 'x/a', 80, 'UDP')]).toEqual([true, false]);
    const udp = ports([{ protocol: 'UDP' }]);
    expect([ok([udp], 'y/a', 'x/a', 81, 'UDP'), ok([udp], 'y/a', 'x/a', 9999, 'UDP'), ok([udp], 'y/a', 'x/a', 81, 'TCP')]).toEqual([true, true, false]);
  });
  it('SCTP is its own protocol', () => {
    const sctp = ports([{ port: 81, protocol: 'SCTP' }]);
    expect([ok([sctp], 'y/a', 'x/a', 81, 'SCTP'), ok([sctp], 'y/a', 'x/a', 81, 'TCP'), ok([sctp], 'y/a', 'x/a', 81, 'UDP')]).toEqual([true, false, false]);
  });
  it('endPort is an inclusive range', () => {
    const range = ports([{ port: 80, endPort: 90 }]);
    expect([79, 80, 85, 90, 91].map((p) => ok([range], 'y/a', 'x/a', p))).toEqual([false, true, true, true, false]);
  });
  it('a named port resolves on the destination pod, with its protocol', () => {
    expect([80, 81].map((p) => ok([ports([{ port: 'serve-81-tcp' }])], 'y/a', 'x/a', p))).toEqual([false, true]);
    expect(ok([ports([{ port: 'serve-81-udp', protocol: 'UDP' }])], 'y/a', 'x/a', 81, 'UDP')).toBe(true);
    // the name exists only as UDP: a TCP entry (the default) cannot use it
    expect(ok([ports([{ port: 'serve-81-udp' }])], 'y/a', 'x/a', 81, 'TCP')).toBe(false);
    expect(ok([ports([{ port: 'no-such-port' }])], 'y/a', 'x/a', 81, 'TCP')).toBe(false);
  });
  it('egress named ports resolve on the destination, never the source, and never match an external address', () => {
    const src: NetpolPod = { namespace: 'x', name: 'src', labels: { app: 'src' }, ip: '10.244.0.50', ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] };
    const dst: NetpolPod = { namespace: 'y', name: 'dst', labels: { app: 'dst' }, ip: '10.244.1.50', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] };
    const p = np('x', 'out', { podSelector: { matchLabels: { app: 'src' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }] }] });
    const check = (to: Peer, port: number) => allowed([p], model.namespaces, src, to, port, 'TCP').allowed;
    expect([check(dst, 8080), check(dst, 9090), check({ ip: '1.1.1.1' }, 8080)]).toEqual([true, false, false]);
  });
  it('a rule with no ports allows all ports and protocols', () => {
    const any = np('x', 'p', { podSelector: podA, ingress: [{ _from: [{ podSelector: {} }] }] });
    expect([ok([any], 'x/b', 'x/a', 81, 'UDP'), ok([any], 'x/b', 'x/a', 6000, 'SCTP')]).toEqual([true, true]);
  });
});

describe('additive policies', () => {
  it('the union of all policies selecting a pod applies; allowedBy names each', () => {
    const b = np('x', 'from-b', { podSelector: podA, ingress: [{ _from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] });
    const y = np('x', 'from-y', { podSelector: {}, ingress: [{ _from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] });
    const all = np('x', 'all-80', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] });
    expect(allowed([b, y, all], model.namespaces, pod('x/b'), pod('x/a'), 80, 'TCP').ingress).toEqual({ isolated: true, allowedBy: ['x/from-b', 'x/all-80'] });
    expect([ok([b, y], 'x/b', 'x/a'), ok([b, y], 'y/c', 'x/a'), ok([b, y], 'x/c', 'x/a')]).toEqual([true, true, false]);
  });
});

describe('Kubernetes objects', () => {
  it('the model survives the trip through V1Pod / V1Namespace', () => {
    const objects = modelKubeObjects(model);
    const pods = objects.pods.map(netpolPodFromKube);
    expect(pods).toEqual(model.pods.map(({ node: _n, labPod: _l, ...p }) => p));
    expect(objects.namespaces.map(netpolNamespaceFromKube)).toEqual(model.namespaces);
  });
  it('a pod without an IP is not a peer yet', () => {
    expect(netpolPodFromKube({ metadata: { name: 'p', namespace: 'x' }, status: {} })).toBeUndefined();
  });
});

describe('resolveDirection', () => {
  const pods = model.pods;
  it('a pod no policy selects is not isolated and has no rules', () => {
    const r = resolveDirection([np('x', 'p', { podSelector: podA })], model.namespaces, pods, pod('x/b'), 'ingress');
    expect(r).toMatchObject({ isolated: false, policies: [], rules: [] });
  });
  it('resolves selector peers to pods, keeps ipBlocks as CIDRs, and an empty peer list to any', () => {
    const p = np('x', 'p', {
      podSelector: podA,
      ingress: [
        { _from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.244.2.0/24'] } }], ports: [{ port: 80 }, { protocol: 'UDP' }] },
        {},
      ],
    });
    const r = resolveDirection([p], model.namespaces, pods, pod('x/a'), 'ingress');
    expect(r.isolated).toBe(true);
    expect(r.rules).toHaveLength(2);
    expect(r.rules[0]!.peers.pods.map((q) => q.ip)).toEqual(['10.244.1.11']);
    expect(r.rules[0]!.peers.cidrs).toEqual([{ cidr: '10.0.0.0/8', except: ['10.244.2.0/24'] }]);
    expect(r.rules[0]!.ports).toEqual([{ protocol: 'TCP', port: 80 }, { protocol: 'UDP' }]);
    expect(r.rules[1]).toEqual({ policy: 'x/p', rule: 1, peers: { any: true, pods: [], cidrs: [] }, ports: 'all' });
  });
  it('ingress named ports become numbers from the pod itself; unresolvable ones drop the rule, not the isolation', () => {
    const p = np('x', 'p', { podSelector: podA, ingress: [{ ports: [{ port: 'serve-81-tcp' }, { port: 70, endPort: 75 }] }, { ports: [{ port: 'nope' }] }] });
    const r = resolveDirection([p], model.namespaces, pods, pod('x/a'), 'ingress');
    expect(r.isolated).toBe(true);
    expect(r.rules.map((x) => x.ports)).toEqual([[{ protocol: 'TCP', port: 70, endPort: 75 }, { protocol: 'TCP', port: 81 }]]);
  });
  it('egress named ports split the rule by what each destination pod calls that name', () => {
    const web = (name: string, ip: string, port: number): NetpolPod => ({ namespace: 'y', name, labels: { app: 'web' }, ip, ports: [{ name: 'http', port, protocol: 'TCP' }] });
    const all = [...pods, web('w1', '10.244.1.50', 8080), web('w2', '10.244.1.51', 8080), web('w3', '10.244.1.52', 9000)];
    const p = np('x', 'out', { podSelector: podA, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ port: 'http' }, { port: 53, protocol: 'UDP' }] }] });
    const r = resolveDirection([p], model.namespaces, all, pod('x/a'), 'egress');
    expect(r.rules.map((x) => [x.peers.pods.map((q) => q.name), x.ports])).toEqual([
      [all.map((q) => q.name), [{ protocol: 'UDP', port: 53 }]],
      [['w1', 'w2'], [{ protocol: 'TCP', port: 8080 }]],
      [['w3'], [{ protocol: 'TCP', port: 9000 }]],
    ]);
    expect(resolvedAllowed([p], model.namespaces, all, pod('x/a'), all.at(-1)!, 9000, 'TCP')).toBe(true);
    expect(resolvedAllowed([p], model.namespaces, all, pod('x/a'), all.at(-1)!, 8080, 'TCP')).toBe(false);
  });
});
