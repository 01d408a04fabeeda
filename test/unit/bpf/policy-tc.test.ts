// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy in bpf/build/lb_tc.bpf.o through BPF_PROG_TEST_RUN, table-driven: packets, the program each enters,
// the tc verdict and the dp_metrics reason expected. The maps are written by the agent's own path: policies as
// Kubernetes objects → computePolicyEntries() → PolicyMaps.sync() (generations and all). Needs root; nothing is
// attached anywhere.
//
//   x/a 10.244.0.10 ─lxc─┐                          ┌─ y/a 10.244.1.10 (node1)
//   x/b 10.244.0.11 ─lxc─┤ node0 172.18.0.2 ══ fabric ┤
//   x/c 10.244.0.12 ─lxc─┘  tc_from_pod ⇣ ⇡ tc_to_pod  └─ 192.0.2.0/24, 203.0.113.0/24, world
//
//   a-ingress  x/a ingress: from pod=b, TCP 80
//   b-both     x/b egress:  to its namespace TCP 80; to namespace y TCP 8000-8100 (endPort);
//                           to 192.0.2.0/24 except 192.0.2.128/25, every port and protocol
//              x/b ingress: from 203.0.113.0/24 TCP 443 only
//   svc-in     10.96.0.50:80 → y/a:8050 (allowed for x/b)   svc-out 10.96.0.51:80 → y/a:9000 (denied for x/b)
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceObjects } from '../../../src/cluster/objects.ts';
import type { ClusterState, NodeContext } from '../../../src/cluster/state.ts';
import { MAP_NAMES, encodeBackendId, encodeLb4Backend, encodeLb4Key, encodeLb4Service } from '../../../src/datapath/bpf/codec.ts';
import { BpfDatapathObject, PROGRAMS } from '../../../src/datapath/bpf/object.ts';
import { METRICS_DIRS, REASONS, reasonLabel, type ReasonName } from '../../../src/datapath/bpf/reasons.ts';
import { computeEntries, newEntryIds, serviceEntries } from '../../../src/datapath/ebpf/entries.ts';
import { IdentityAllocator, computePolicyEntries } from '../../../src/datapath/ebpf/policy.ts';
import { PolicyMaps } from '../../../src/datapath/ebpf/policy-sync.ts';
import { modelKubeObjects, standardModel } from '../../../src/netpol/model.ts';
import { run } from '../../../src/util/exec.ts';
import { SYN_OPTIONS, buildPacket, parsePacket, type PacketSpec, TC_ACT_OK, TC_ACT_SHOT } from './packet.ts';

const XA = '10.244.0.10';
const XB = '10.244.0.11';
const XC = '10.244.0.12';
const YA = '10.244.1.10';
const NODE_IP = '172.18.0.2';

const model = standardModel();
const NODE: NodeContext = { nodeName: model.pods[0]!.node, nodeIPs: [NODE_IP], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };

const tcpPort = (port: number, endPort?: number) => ({ protocol: 'TCP', port, ...(endPort ? { endPort } : {}) });
const POLICIES: V1NetworkPolicy[] = [
  {
    metadata: { namespace: 'x', name: 'a-ingress' },
    spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'], ingress: [{ _from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [tcpPort(80)] }] },
  },
  {
    metadata: { namespace: 'x', name: 'b-both' },
    spec: {
      podSelector: { matchLabels: { pod: 'b' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ _from: [{ ipBlock: { cidr: '203.0.113.0/24' } }], ports: [tcpPort(443)] }],
      egress: [
        { to: [{ podSelector: {} }], ports: [tcpPort(80)] },
        { to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [tcpPort(8000, 8100)] },
        { to: [{ ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }] },
      ],
    },
  },
];

function clusterState(policies: V1NetworkPolicy[]): ClusterState {
  const objects = modelKubeObjects(model);
  const svc = [
    { namespace: 'y', name: 'svc-in', clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80, targetPort: 8050 }], backends: [{ ip: YA, nodeName: 'node1' }] },
    { namespace: 'y', name: 'svc-out', clusterIP: '10.96.0.51', ports: [{ name: 'http', port: 80, targetPort: 9000 }], backends: [{ ip: YA, nodeName: 'node1' }] },
  ].map(serviceObjects);
  return { services: svc.map((s) => s.service), endpointSlices: svc.map((s) => s.slice), ...objects, networkPolicies: policies };
}

const syn = (saddr: string, sport: number, daddr: string, dport: number): PacketSpec =>
  ({ saddr, sport, daddr, dport, proto: 'tcp', flags: { syn: true }, tcpOptions: SYN_OPTIONS, seq: 1 });
const synAck = (saddr: string, sport: number, daddr: string, dport: number): PacketSpec =>
  ({ saddr, sport, daddr, dport, proto: 'tcp', flags: { syn: true, ack: true }, seq: 9 });
const udp = (saddr: string, sport: number, daddr: string, dport: number): PacketSpec =>
  ({ saddr, sport, daddr, dport, proto: 'udp', payload: Buffer.from('q') });

type Prog = 'fromPod' | 'toPod';
interface Step {
  name: string;
  prog: Prog;
  packet: PacketSpec;
  reason: ReasonName;
  /** fields of the packet after the program */
  out?: Partial<ReturnType<typeof parsePacket>>;
}

const allow = (name: string, prog: Prog, packet: PacketSpec, reason: ReasonName = 'REASON_PASS', out?: Step['out']): Step => ({ name, prog, packet, reason, ...(out ? { out } : {}) });
const deny = (name: string, prog: Prog, packet: PacketSpec): Step =>
  ({ name, prog, packet, reason: prog === 'fromPod' ? 'REASON_DROP_POLICY_EGRESS' : 'REASON_DROP_POLICY_INGRESS' });

// in order: replies rely on the flows before them
const STEPS: Step[] = [
  allow('ingress: x/b → x/a:80 is allowed', 'toPod', syn(XB, 40000, XA, 80)),
  deny('ingress: x/c → x/a:80 (peer not selected)', 'toPod', syn(XC, 40000, XA, 80)),
  deny('ingress: x/b → x/a:81 (port not listed)', 'toPod', syn(XB, 40000, XA, 81)),
  deny('ingress: UDP x/b → x/a:80 (protocol not listed)', 'toPod', udp(XB, 40000, XA, 80)),
  allow('ingress: not isolated, x/c → x/b... is isolated; x/a → x/c passes untouched', 'toPod', syn(XA, 40000, XC, 80)),
  allow('egress: x/b → x/a:80 allowed (same namespace)', 'fromPod', syn(XB, 40010, XA, 80)),
  allow('ingress: the reply x/a:80 → x/b:40010 passes x/b\'s deny-all ingress (conntrack)', 'toPod', synAck(XA, 80, XB, 40010)),
  deny('ingress: the same packet without the flow is dropped', 'toPod', synAck(XA, 80, XB, 40011)),
  deny('egress: x/b → x/a:81 denied', 'fromPod', syn(XB, 40012, XA, 81)),
  allow('egress: port range, x/b → y/a:8000 (first)', 'fromPod', syn(XB, 40013, YA, 8000)),
  allow('egress: port range, x/b → y/a:8100 (last)', 'fromPod', syn(XB, 40014, YA, 8100)),
  deny('egress: port range, x/b → y/a:7999 (just below)', 'fromPod', syn(XB, 40015, YA, 7999)),
  deny('egress: port range, x/b → y/a:8101 (just above)', 'fromPod', syn(XB, 40016, YA, 8101)),
  allow('egress: ipBlock without ports = every protocol, UDP x/b → 192.0.2.5:53', 'fromPod', udp(XB, 40017, '192.0.2.5', 53)),
  allow('egress: ipBlock without ports, TCP x/b → 192.0.2.127:5', 'fromPod', syn(XB, 40018, '192.0.2.127', 5)),
  deny('egress: the except, x/b → 192.0.2.200:53', 'fromPod', udp(XB, 40019, '192.0.2.200', 53)),
  deny('egress: the world, x/b → 198.51.100.1:53', 'fromPod', udp(XB, 40020, '198.51.100.1', 53)),
  allow('ingress: x/b from 203.0.113.7 TCP 443', 'toPod', syn('203.0.113.7', 50000, XB, 443)),
  allow('egress: its reply to the world passes x/b\'s egress (conntrack)', 'fromPod', synAck(XB, 443, '203.0.113.7', 50000)),
  deny('egress: the same reply to another client is dropped', 'fromPod', synAck(XB, 443, '203.0.113.8', 50000)),
  deny('ingress: 203.0.113.7 → x/b:444 denied', 'toPod', syn('203.0.113.7', 50001, XB, 444)),
  allow('the node itself reaches an isolated pod', 'toPod', syn(NODE_IP, 50002, XB, 22)),
  allow('the pod gateway too', 'toPod', syn('10.244.0.1', 50003, XA, 9999)),
  allow('after service DNAT: x/b → svc-in 10.96.0.50:80 = y/a:8050, allowed', 'fromPod', syn(XB, 40030, '10.96.0.50', 80), 'REASON_LB_NEW', { daddr: YA, dport: 8050 }),
  deny('after service DNAT: x/b → svc-out 10.96.0.51:80 = y/a:9000, denied', 'fromPod', syn(XB, 40031, '10.96.0.51', 80)),
  allow('the service reply is reverse-NATed at x/b\'s ingress (conntrack)', 'toPod', synAck(YA, 8050, XB, 40030), 'REASON_REV_NAT', { saddr: '10.96.0.50', sport: 80 }),
];

describe('NetworkPolicy in tc_from_pod / tc_to_pod', () => {
  let dp: BpfDatapathObject;
  let policy: PolicyMaps;
  const ids = new IdentityAllocator();

  beforeAll(async () => {
    await run(['make', '-s', '-C', fileURLToPath(new URL('../../../bpf/', import.meta.url))], { timeoutMs: 120_000 });
    dp = await BpfDatapathObject.load({ pinDir: `dpb-unit-${randomBytes(3).toString('hex')}/policy-tc` });
    const state = clusterState(POLICIES);
    const entries = computeEntries(state, NODE, newEntryIds());
    for (const b of entries.backends) dp.map(MAP_NAMES.backends).update(encodeBackendId(b.id), encodeLb4Backend(b));
    for (const s of entries.frontends.flatMap(serviceEntries)) dp.map(MAP_NAMES.services).update(encodeLb4Key(s), encodeLb4Service(s));
    policy = PolicyMaps.of((n) => dp.map(n));
    policy.sync(computePolicyEntries(state, { nodeName: NODE.nodeName, nodeIPs: [NODE_IP, '10.244.0.1'] }, ids), ids);
  });

  afterAll(async () => {
    await dp?.[Symbol.asyncDispose]();
  });

  const counters = () => new Map(dp.metrics().map((m) => [`${m.reason}/${m.dir}`, m.packets]));
  const send = (prog: Prog, packet: PacketSpec) => {
    const before = counters();
    const result = dp.program(PROGRAMS[prog]).testRun(buildPacket(packet));
    const after = counters();
    const counted = [...after].filter(([k, n]) => n !== (before.get(k) ?? 0)).map(([k]) => k);
    return { result, counted };
  };
  const dirOf = (prog: Prog) => (prog === 'fromPod' ? METRICS_DIRS.METRICS_DIR_FROM_POD : METRICS_DIRS.METRICS_DIR_TO_POD);

  it.each(STEPS.map((s, i) => ({ ...s, i })))('$i $name', (step) => {
    const { result, counted } = send(step.prog, step.packet);
    const drop = step.reason.startsWith('REASON_DROP_');
    expect(result.retval, `verdict; counted ${counted.map((k) => reasonLabel(Number(k.split('/')[0])))}`).toBe(drop ? TC_ACT_SHOT : TC_ACT_OK);
    expect(counted).toEqual([`${REASONS[step.reason]}/${dirOf(step.prog)}`]);
    if (step.out) expect(parsePacket(result.data)).toMatchObject(step.out);
  });

  it('switches policies by generation: a new state takes effect at once, the old one is what the next sync rewrites', () => {
    const gen0 = policy.generation;
    // a-ingress gone: x/a is no longer isolated
    const state = clusterState(POLICIES.slice(1));
    const report = policy.sync(computePolicyEntries(state, { nodeName: NODE.nodeName, nodeIPs: [NODE_IP] }, ids), ids);
    expect(report.flipped).toBe(true);
    expect(policy.generation).toBe(1 - gen0);
    expect(send('toPod', syn(XC, 41000, XA, 80)).result.retval).toBe(TC_ACT_OK);
    expect(send('fromPod', syn(XB, 41001, XA, 81)).result.retval).toBe(TC_ACT_SHOT);
    // unchanged state: nothing written, no flip
    expect(policy.sync(computePolicyEntries(state, { nodeName: NODE.nodeName, nodeIPs: [NODE_IP] }, ids), ids).flipped).toBe(false);
    // back again, from a fresh writer that must read the maps back
    const fresh = PolicyMaps.of((n) => dp.map(n));
    expect(() => fresh.sync(computePolicyEntries(clusterState([]), NODE, ids))).not.toThrow();
    expect(send('fromPod', syn(XB, 41002, XA, 81)).result.retval).toBe(TC_ACT_OK);
  });
});
