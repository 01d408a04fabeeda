// SPDX-License-Identifier: Apache-2.0
// xdp_from_netdev (bpf/xdp.h) through BPF_PROG_TEST_RUN, table-driven like lb-tc.test.ts: each flow is a list of
// packets, the program each one enters (XDP, or one of the tc programs sharing its maps), the verdict and dp_metrics
// reason expected and the fields of the packet left behind, whose IPv4 and TCP/UDP checksums are verified here.
// Maps are filled by the agent's own computeEntries() / computePolicyEntries() from Kubernetes objects. Needs root
// (loading programs, a network namespace); no program is attached anywhere.
//
// The FIB lookups of forwarded packets (xdp_forward(), tc's fib_redirect()) use the network namespace of the thread
// running the test, whose loopback a test run also takes as ingress device. So every program run here happens in a
// namespace of this test's own (FibNetns below: the node's routes, permanent neighbours, forwarding on), where the
// FIB answers deterministically: a packet XDP forwards comes back XDP_REDIRECT, rewritten, TTL one less, the FIB's
// MACs; tc_from_netdev / tc_from_pod forward what they SNAT or reverse-NAT the same way (TC_ACT_REDIRECT, the same
// bytes). What the FIB cannot place (no neighbour, no route, forwarding off, over the MTU, TTL 1) XDP leaves to the
// stack untouched (XDP_PASS, REASON_XDP_PASS_TO_STACK) after lb4_flow made the flow's conntrack entries, and
// tc_from_netdev then continues the flow: see 'when the FIB has no answer'.
//
//   external 172.18.0.250, .251, 203.0.113.7/.8 ══ eth0 172.18.0.2 node0 ══ fabric ── node1 172.18.0.3
//                                    xdp_from_netdev ⇣ tc_from_netdev                 y/a 10.244.1.10
//   x/a 10.244.0.10 ─lxca─┐                                                            y/b 10.244.1.11
//   x/b 10.244.0.11 ─lxcb─┤ node0                                                      y/c 10.244.1.12
//   x/c 10.244.0.12 ─lxcc─┘                            node2 172.18.0.4 (no neighbour entry): z/a 10.244.2.10
//                                                      node3 (no route): w/a 10.244.3.10
//
//   np          NodePort 30080/TCP Cluster → y/a:8080 (remote: SNAT)
//   np-local    NodePort 30081/TCP Local   → x/b:8080 (local), y/a:8080
//   np-far      NodePort 30082/TCP Local   → y/b:8080 only (no local endpoint)
//   np-empty    NodePort 30083/TCP, 30084/UDP, no endpoints
//   np-sticky   NodePort 30085/TCP Cluster, sessionAffinity ClientIP → x/b, y/a, y/b, y/c :8080
//   np-multi    NodePort 30088/TCP Cluster → y/a, y/b, y/c :8080
//   np-udp      NodePort 30090/UDP Cluster → y/a:5353
//   np-pol-a    NodePort 30086/TCP Local → x/a:80   x/a ingress: from 203.0.113.7/32, TCP 80
//   np-pol-c    NodePort 30087/TCP Local → x/c:81   x/c ingress: from 0.0.0.0/0, TCP 81
//   np-pol-c80  NodePort 30089/TCP Local → x/c:80   (the same policy: port 80 is not allowed)
//   np-dup      NodePort 30092/TCP Cluster → y/a:8081 (its own reply tuples: a random SNAT port cannot meet other flows')
//   np-node2    NodePort 30091/TCP Cluster → z/a:8080 (the FIB has no neighbour entry for node2)
//   np-node3    NodePort 30093/TCP Cluster → w/a:8080 (the FIB has no route to node3's pods)
//   echo        ClusterIP 10.96.0.10:80 → y/a:8080
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceObjects, type ServiceSpecLite } from '../../../src/cluster/objects.ts';
import type { ClusterState, NodeContext } from '../../../src/cluster/state.ts';
import {
  CT_FORWARD, CT_F_CLOSING, CT_F_EXTERNAL, CT_F_SNAT, CT_REPLY, MAP_NAMES, decodeCt4Entry, encodeBackendId, encodeCt4Key, encodeLb4Backend, encodeLb4Key,
  encodeLb4Service, type Ct4Entry, type Ct4Key,
} from '../../../src/datapath/bpf/codec.ts';
import type { TestRunResult } from '../../../src/datapath/bpf/libbpf.ts';
import { BpfDatapathObject, PROGRAMS } from '../../../src/datapath/bpf/object.ts';
import { METRICS_DIRS, REASONS, reasonLabel, type ReasonName } from '../../../src/datapath/bpf/reasons.ts';
import { computeEntries, newEntryIds, serviceEntries } from '../../../src/datapath/ebpf/entries.ts';
import { IdentityAllocator, computePolicyEntries } from '../../../src/datapath/ebpf/policy.ts';
import { PolicyMaps } from '../../../src/datapath/ebpf/policy-sync.ts';
import { modelKubeObjects, standardModel } from '../../../src/netpol/model.ts';
import { run } from '../../../src/util/exec.ts';
import { ipToInt } from '../../../src/util/ip.ts';
import { mulberry32 } from '../../../src/util/random.ts';
import {
  ETH_HLEN, SYN_OPTIONS, buildPacket, internetChecksum, parsePacket, type PacketSpec, type Parsed, XDP_DROP, XDP_PASS, XDP_REDIRECT, TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT, expectValidChecksums,
} from './packet.ts';


const NODE_IP = '172.18.0.2';
const EXTERNAL = '172.18.0.250';
const EXTERNAL2 = '172.18.0.251';
/** a client on the node's own subnet that the FIB has no neighbour entry for */
const UNRESOLVED_CLIENT = '172.18.0.252';
const ALLOWED = '203.0.113.7';
const NOT_ALLOWED = '203.0.113.8';
const XA = '10.244.0.10';
const XB = '10.244.0.11';
const XC = '10.244.0.12';
const YA = '10.244.1.10';
const YB = '10.244.1.11';
const YC = '10.244.1.12';
const ZA = '10.244.2.10';
const WA = '10.244.3.10';
const REMOTES = [YA, YB, YC];
const STICKY_PODS = [XB, YA, YB, YC];

/*
 * The FIB of the test's network namespace (FibNetns):
 *
 *   eth0 02:00:00:00:00:02 172.18.0.2/24, MTU 1500 (a veth; its peer fab0 in the namespace too)
 *     default via 172.18.0.1, 10.244.1.0/24 via 172.18.0.3 (node1), 10.244.2.0/24 via 172.18.0.4 (node2),
 *     unreachable 10.244.0.0/16 (the rest of the cluster CIDR, node3's pods among it)
 *     permanent neighbours: the gateway, node1, the clients 172.18.0.250/.251; none for node2 and 172.18.0.252
 *   lxca/lxcb/lxcc (veths, peers poda/podb/podc): x/a, x/b, x/c /32 each, the pod's MAC a permanent neighbour
 *   net.ipv4.ip_forward = 1 (0 for one test: the machine's own namespace in CI)
 */
const ETH0 = { dev: 'eth0', peer: 'fab0', mac: '02:00:00:00:00:02' };
const GATEWAY = '172.18.0.1';
const NODE1_IP = '172.18.0.3';
const NODE2_IP = '172.18.0.4';
const ETH0_NEIGHBOURS: Record<string, string> = {
  [GATEWAY]: '02:00:00:00:00:fe',
  [NODE1_IP]: '02:00:00:00:00:03',
  [EXTERNAL]: '02:00:00:00:00:fa',
  [EXTERNAL2]: '02:00:00:00:00:fb',
};
const LXC: Record<string, { dev: string; peer: string; mac: string; podMac: string }> = {
  [XA]: { dev: 'lxca', peer: 'poda', mac: '02:00:00:00:0a:01', podMac: '02:00:00:00:0a:02' },
  [XB]: { dev: 'lxcb', peer: 'podb', mac: '02:00:00:00:0b:01', podMac: '02:00:00:00:0b:02' },
  [XC]: { dev: 'lxcc', peer: 'podc', mac: '02:00:00:00:0c:01', podMac: '02:00:00:00:0c:02' },
};

/** the MACs the namespace's FIB answers for a destination: its device's and its next hop's; undefined without neighbour */
function fibMacs(daddr: string): { srcMac: string; dstMac: string } | undefined {
  const lxc = LXC[daddr];
  if (lxc) return { srcMac: lxc.mac, dstMac: lxc.podMac };
  const nextHop = daddr.startsWith('10.244.1.') ? NODE1_IP : daddr.startsWith('10.244.2.') ? NODE2_IP : daddr.startsWith('172.18.0.') ? daddr : GATEWAY;
  const dstMac = ETH0_NEIGHBOURS[nextHop];
  return dstMac === undefined ? undefined : { srcMac: ETH0.mac, dstMac };
}

const model = standardModel();
const NODE: NodeContext = { nodeName: 'node0', nodeIPs: [NODE_IP], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };
const pod = (ip: string) => ({ ip, nodeName: ip.startsWith('10.244.0.') ? 'node0' : `node${ip.split('.')[2]}` });
const nodePort = (nodePort: number, targetPort = 8080) => [{ name: 'http', port: 80, targetPort, nodePort }];
const local = { type: 'NodePort', externalTrafficPolicy: 'Local' } as const;

const SERVICES: ServiceSpecLite[] = [
  { namespace: 't', name: 'echo', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }], backends: [pod(YA)] },
  { namespace: 't', name: 'np', clusterIP: '10.96.0.20', type: 'NodePort', ports: nodePort(30080), backends: [pod(YA)] },
  { namespace: 't', name: 'np-local', clusterIP: '10.96.0.21', ...local, ports: nodePort(30081), backends: [pod(XB), pod(YA)] },
  { namespace: 't', name: 'np-far', clusterIP: '10.96.0.22', ...local, ports: nodePort(30082), backends: [pod(YB)] },
  {
    namespace: 't', name: 'np-empty', clusterIP: '10.96.0.23', type: 'NodePort', backends: [],
    ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30083 }, { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP', nodePort: 30084 }],
  },
  { namespace: 't', name: 'np-sticky', clusterIP: '10.96.0.24', type: 'NodePort', sessionAffinity: 'ClientIP', ports: nodePort(30085), backends: STICKY_PODS.map(pod) },
  { namespace: 't', name: 'np-multi', clusterIP: '10.96.0.25', type: 'NodePort', ports: nodePort(30088), backends: REMOTES.map(pod) },
  {
    namespace: 't', name: 'np-udp', clusterIP: '10.96.0.26', type: 'NodePort',
    ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP', nodePort: 30090 }], backends: [pod(YA)],
  },
  { namespace: 'x', name: 'np-pol-a', clusterIP: '10.96.0.27', ...local, ports: nodePort(30086, 80), backends: [pod(XA)] },
  { namespace: 'x', name: 'np-pol-c', clusterIP: '10.96.0.28', ...local, ports: nodePort(30087, 81), backends: [pod(XC)] },
  { namespace: 'x', name: 'np-pol-c80', clusterIP: '10.96.0.29', ...local, ports: nodePort(30089, 80), backends: [pod(XC)] },
  { namespace: 't', name: 'np-dup', clusterIP: '10.96.0.31', type: 'NodePort', ports: nodePort(30092, 8081), backends: [pod(YA)] },
  { namespace: 't', name: 'np-node2', clusterIP: '10.96.0.30', type: 'NodePort', ports: nodePort(30091), backends: [pod(ZA)] },
  { namespace: 't', name: 'np-node3', clusterIP: '10.96.0.32', type: 'NodePort', ports: nodePort(30093), backends: [pod(WA)] },
];

const POLICIES: V1NetworkPolicy[] = [
  {
    metadata: { namespace: 'x', name: 'a-ingress' },
    spec: { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'], ingress: [{ _from: [{ ipBlock: { cidr: `${ALLOWED}/32` } }], ports: [{ protocol: 'TCP', port: 80 }] }] },
  },
  {
    metadata: { namespace: 'x', name: 'c-ingress' },
    spec: { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Ingress'], ingress: [{ _from: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 81 }] }] },
  },
];

function clusterState(): ClusterState {
  const built = SERVICES.map(serviceObjects);
  return { services: built.map((b) => b.service), endpointSlices: built.map((b) => b.slice), ...modelKubeObjects(model), networkPolicies: POLICIES };
}

type Prog = keyof typeof PROGRAMS;
const DIR_OF: Record<Prog, number> = {
  fromPod: METRICS_DIRS.METRICS_DIR_FROM_POD,
  toPod: METRICS_DIRS.METRICS_DIR_TO_POD,
  fromNetdev: METRICS_DIRS.METRICS_DIR_FROM_NETDEV,
  xdpFromNetdev: METRICS_DIRS.METRICS_DIR_XDP,
};
/** dp_metrics as delta() reports them: one packet of a reason in a program's direction */
const countedOnce = (reason: ReasonName, prog: Prog): [string, number][] => [[`${REASONS[reason]}/${DIR_OF[prog]}`, 1]];
/** reasons of packets the programs NAT and forward: XDP (and tc when its FIB answers) redirect them */
const FORWARD_REASONS: ReasonName[] = ['REASON_LB_NEW', 'REASON_LB_ESTABLISHED', 'REASON_REV_NAT', 'REASON_LB_NEW_NO_AFFINITY'];
/** a verdict that sends the packet on by the FIB's answer (bpf_redirect) */
const redirected = (r: TestRunResult) => r.retval === XDP_REDIRECT || r.retval === TC_ACT_REDIRECT;

/** what earlier steps of a flow learned (the backend chosen at random) */
type Ctx = Record<string, string>;

interface Step {
  prog: Prog;
  packet: PacketSpec | Buffer | ((ctx: Ctx, outs: Buffer[]) => PacketSpec | Buffer);
  /** exactly this verdict; a function of the output where it depends on a backend chosen at random */
  verdict: number | ((out: Parsed) => number);
  reason: ReasonName;
  /** fields the output must have */
  out?: Partial<Parsed> | ((ctx: Ctx) => Partial<Parsed>);
  /** the output is the input, byte for byte */
  unchanged?: boolean;
  /** the output equals that of this earlier step of the flow (see expectSameRewrite) */
  sameAs?: number;
  check?: (out: Parsed, ctx: Ctx, verdict: number) => void;
}

interface Flow {
  name: string;
  steps: Step[];
}

const XDP = 'xdpFromNetdev' as const;
const tcp = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  saddr, sport, daddr, dport, proto: 'tcp', ...extra,
});
const syn = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}) =>
  tcp(saddr, sport, daddr, dport, { flags: { syn: true }, tcpOptions: SYN_OPTIONS, seq: 5000, ...extra });
const synAck = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}) =>
  tcp(saddr, sport, daddr, dport, { flags: { syn: true, ack: true }, seq: 9000, ackSeq: 5001, ...extra });
const udp = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  saddr, sport, daddr, dport, proto: 'udp', payload: Buffer.from('query'), ...extra,
});
const remember = (name: string) => (out: Parsed, ctx: Ctx) => {
  ctx[name] = out.daddr;
};
const dropped = (reason: ReasonName) => reason.startsWith('REASON_DROP_');
/** XDP redirects what it forwards (the FIB answers every destination of these flows), drops, or passes untouched */
const xdpStep = (packet: Step['packet'], reason: ReasonName, more: Partial<Step> = {}): Step => ({
  prog: XDP, packet, reason, verdict: FORWARD_REASONS.includes(reason) ? XDP_REDIRECT : dropped(reason) ? XDP_DROP : XDP_PASS, ...more,
});
/** tc_from_netdev redirects by the FIB what it SNATs or reverse-NATs; a local backend's packet (TC_ACT_OK) is the stack's */
const tcStep = (packet: Step['packet'], reason: ReasonName, more: Partial<Step> = {}): Step => ({
  prog: 'fromNetdev', packet, reason, verdict: dropped(reason) ? TC_ACT_SHOT : TC_ACT_REDIRECT, ...more,
});

/** a flow to np-multi started by one program and continued by the other; same-input steps must rewrite alike */
function twoProgramFlow(first: 'xdp' | 'tc', sport: number): Flow {
  const [a, b] = first === 'xdp' ? [xdpStep, tcStep] : [tcStep, xdpStep];
  const fwd = (extra: Partial<PacketSpec> = {}) => tcp(EXTERNAL, sport, NODE_IP, 30088, { flags: { ack: true, psh: true }, payload: Buffer.from(`data ${sport}`), ...extra });
  const reply = (c: Ctx) => tcp(c.backend!, 8080, NODE_IP, sport, { flags: { ack: true }, payload: randomBytes(77) });
  const toBackend = (c: Ctx): Partial<Parsed> => ({ saddr: NODE_IP, sport, daddr: c.backend!, dport: 8080 });
  const toClient: Partial<Parsed> = { saddr: NODE_IP, sport: 30088, daddr: EXTERNAL, dport: sport };
  const replyPacket = (() => {
    let built: Buffer | undefined; // the same bytes for both programs
    return (c: Ctx) => (built ??= buildPacket(reply(c)));
  })();
  const fwdPacket = buildPacket(fwd());
  return {
    name: `one flow, two programs: ${first === 'xdp' ? 'xdp_from_netdev starts, tc_from_netdev continues' : 'tc_from_netdev starts, xdp_from_netdev continues'} (client port ${sport})`,
    steps: [
      a(syn(EXTERNAL, sport, NODE_IP, 30088), 'REASON_LB_NEW', {
        out: { saddr: NODE_IP, sport, dport: 8080 },
        check: (out, ctx) => {
          expect(REMOTES).toContain(out.daddr);
          remember('backend')(out, ctx);
        },
      }),
      b(fwd(), 'REASON_LB_ESTABLISHED', { out: toBackend }),
      // the same packet and map state through both programs: the same frame, MACs, TTL and checksums included
      a(fwdPacket, 'REASON_LB_ESTABLISHED', { out: toBackend }),
      b(fwdPacket, 'REASON_LB_ESTABLISHED', { out: toBackend, sameAs: 2 }),
      a(replyPacket, 'REASON_REV_NAT', { out: toClient }),
      b(replyPacket, 'REASON_REV_NAT', { out: toClient, sameAs: 4 }),
      b(fwd({ flags: { fin: true, ack: true }, payload: Buffer.alloc(0) }), 'REASON_LB_ESTABLISHED', { out: toBackend }),
    ],
  };
}

function stickyFlow(client: string, base: number): Flow {
  return {
    name: `ClientIP affinity: new connections of ${client} reach one backend, whichever program takes them`,
    steps: Array.from({ length: 12 }, (_, i): Step =>
      (i % 2 ? tcStep : xdpStep)(syn(client, base + i, NODE_IP, 30085), 'REASON_LB_NEW', {
        // tc_from_netdev leaves the local backend's packet to the stack, XDP redirects it into the lxc
        ...(i % 2 ? { verdict: (out: Parsed) => (out.daddr === XB ? TC_ACT_OK : TC_ACT_REDIRECT) } : {}),
        check: (out, ctx) => {
          expect(STICKY_PODS).toContain(out.daddr);
          ctx.sticky ??= out.daddr;
          expect(out.daddr).toBe(ctx.sticky);
          expect(out.saddr).toBe(out.daddr === XB ? client : NODE_IP); // a local backend is not SNATed
        },
      }),
    ),
  };
}

const FLOWS: Flow[] = [
  {
    name: 'traffic to no service passes untouched',
    steps: [
      xdpStep(tcp(EXTERNAL, 40000, NODE_IP, 22), 'REASON_PASS', { unchanged: true }),
      xdpStep(syn(EXTERNAL, 40000, YA, 8080), 'REASON_PASS', { unchanged: true }),
      xdpStep(udp(EXTERNAL, 40000, NODE_IP, 30080), 'REASON_PASS', { unchanged: true }), // the TCP NodePort's port, over UDP
    ],
  },
  {
    name: 'non-IPv4 frames and IPv4 other than TCP/UDP pass untouched',
    steps: [
      xdpStep(() => arpRequest(), 'REASON_PASS', { unchanged: true }),
      xdpStep(() => ipv6Frame(), 'REASON_PASS', { unchanged: true }),
      xdpStep(() => icmpEcho(EXTERNAL, NODE_IP), 'REASON_PASS', { unchanged: true }),
    ],
  },
  {
    name: 'NodePort, externalTrafficPolicy Cluster, remote backend: SNAT to the node IP, replies restored',
    steps: [
      xdpStep(syn(EXTERNAL, 46000, NODE_IP, 30080), 'REASON_LB_NEW', { out: { saddr: NODE_IP, sport: 46000, daddr: YA, dport: 8080, seq: 5000, ttl: 63 } }),
      xdpStep(synAck(YA, 8080, NODE_IP, 46000), 'REASON_REV_NAT', { out: { saddr: NODE_IP, sport: 30080, daddr: EXTERNAL, dport: 46000, seq: 9000, ackSeq: 5001, ttl: 63 } }),
      xdpStep(tcp(EXTERNAL, 46000, NODE_IP, 30080, { flags: { ack: true, psh: true }, payload: randomBytes(301) }), 'REASON_LB_ESTABLISHED', {
        out: { saddr: NODE_IP, sport: 46000, daddr: YA, dport: 8080, totLen: 20 + 20 + 301 },
      }),
      xdpStep(tcp(YA, 8080, NODE_IP, 46000, { flags: { ack: true }, payload: randomBytes(1000) }), 'REASON_REV_NAT', {
        out: { saddr: NODE_IP, sport: 30080, daddr: EXTERNAL, dport: 46000, totLen: 20 + 20 + 1000 },
      }),
    ],
  },
  {
    name: 'NodePort, externalTrafficPolicy Local: the local backend, the client address kept',
    steps: [
      xdpStep(syn(EXTERNAL, 46001, NODE_IP, 30081), 'REASON_LB_NEW', { out: { saddr: EXTERNAL, sport: 46001, daddr: XB, dport: 8080, ...fibMacs(XB) } }),
      // the pod's reply leaves through tc_from_pod, reverse-NATed by the entry XDP created, and redirected by the FIB
      { prog: 'fromPod', packet: synAck(XB, 8080, EXTERNAL, 46001), verdict: TC_ACT_REDIRECT, reason: 'REASON_REV_NAT', out: { saddr: NODE_IP, sport: 30081, daddr: EXTERNAL, dport: 46001 } },
      xdpStep(tcp(EXTERNAL, 46001, NODE_IP, 30081), 'REASON_LB_ESTABLISHED', { out: { saddr: EXTERNAL, daddr: XB, dport: 8080 } }),
      // tc_from_netdev, on the same flow, leaves the local backend's packet to the stack as it is but for the DNAT
      tcStep(tcp(EXTERNAL, 46001, NODE_IP, 30081), 'REASON_LB_ESTABLISHED', { verdict: TC_ACT_OK, out: { saddr: EXTERNAL, daddr: XB, dport: 8080, ttl: 64 } }),
    ],
  },
  {
    name: 'NodePort, externalTrafficPolicy Local without a local endpoint: dropped, as tc drops it',
    steps: [
      xdpStep(syn(EXTERNAL, 46002, NODE_IP, 30082), 'REASON_DROP_NO_LOCAL_BACKEND'),
      tcStep(syn(EXTERNAL, 46002, NODE_IP, 30082), 'REASON_DROP_NO_LOCAL_BACKEND'),
    ],
  },
  {
    name: 'NodePort without endpoints, TCP: left to the stack untouched, where tc_from_netdev answers with a RST',
    steps: [
      xdpStep(syn(EXTERNAL, 46003, NODE_IP, 30083), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      {
        prog: 'fromNetdev', packet: syn(EXTERNAL, 46003, NODE_IP, 30083), verdict: TC_ACT_REDIRECT, reason: 'REASON_REJECT_NO_BACKEND',
        out: { saddr: NODE_IP, sport: 30083, daddr: EXTERNAL, dport: 46003, totLen: 40, seq: 0, ackSeq: 5001, flags: { rst: true, ack: true, syn: false, fin: false, psh: false } },
      },
      // mid-flow too: the client learns its peer is gone
      xdpStep(tcp(EXTERNAL, 46004, NODE_IP, 30083, { payload: randomBytes(10) }), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
    ],
  },
  {
    name: 'NodePort without endpoints, UDP: left to the stack untouched, where tc_from_netdev answers with ICMP port unreachable',
    steps: [
      xdpStep(udp(EXTERNAL, 51000, NODE_IP, 30084), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      {
        prog: 'fromNetdev', packet: udp(EXTERNAL, 51000, NODE_IP, 30084), verdict: TC_ACT_REDIRECT, reason: 'REASON_REJECT_NO_BACKEND',
        out: { proto: 1, saddr: NODE_IP, daddr: EXTERNAL },
        check: (out) => expect(out.icmp).toMatchObject({ type: 3, code: 3, quoted: { saddr: EXTERNAL, daddr: NODE_IP, sport: 51000, dport: 30084, proto: 17 } }),
      },
    ],
  },
  {
    name: 'ClusterIPs are not served from outside',
    steps: [
      xdpStep(syn(EXTERNAL, 46005, '10.96.0.10', 80), 'REASON_PASS', { unchanged: true }),
      xdpStep(syn(EXTERNAL, 46005, '10.96.0.20', 80), 'REASON_PASS', { unchanged: true }), // a NodePort service's ClusterIP
    ],
  },
  {
    name: 'replies of a pod\'s own service flows are left to tc_to_pod (its ingress policy, its reverse NAT)',
    steps: [
      { prog: 'fromPod', packet: syn(XB, 43000, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW', out: { saddr: XB, daddr: YA, dport: 8080 } },
      xdpStep(synAck(YA, 8080, XB, 43000), 'REASON_PASS', { unchanged: true }),
      { prog: 'toPod', packet: synAck(YA, 8080, XB, 43000), verdict: TC_ACT_OK, reason: 'REASON_REV_NAT', out: { saddr: '10.96.0.10', sport: 80, daddr: XB, dport: 43000 } },
    ],
  },
  {
    name: 'a mid-flow TCP packet to a NodePort that conntrack does not know is dropped',
    steps: [
      xdpStep(tcp(EXTERNAL, 46006, NODE_IP, 30080), 'REASON_DROP_NO_CT_ENTRY'),
      xdpStep(synAck(EXTERNAL, 46006, NODE_IP, 30080), 'REASON_DROP_NO_CT_ENTRY'), // SYN+ACK opens nothing
      tcStep(tcp(EXTERNAL, 46006, NODE_IP, 30080), 'REASON_DROP_NO_CT_ENTRY'),
    ],
  },
  {
    name: 'UDP NodePort with a checksum: valid after DNAT, SNAT and reverse NAT',
    steps: [
      xdpStep(udp(EXTERNAL, 52000, NODE_IP, 30090), 'REASON_LB_NEW', {
        out: { saddr: NODE_IP, sport: 52000, daddr: YA, dport: 5353 }, check: (out) => expect(out.udpChecksum).not.toBe(0),
      }),
      xdpStep(udp(YA, 5353, NODE_IP, 52000, { payload: Buffer.from('answer!') }), 'REASON_REV_NAT', {
        out: { saddr: NODE_IP, sport: 30090, daddr: EXTERNAL, dport: 52000 }, check: (out) => expect(out.udpChecksum).not.toBe(0),
      }),
      xdpStep(udp(EXTERNAL, 52000, NODE_IP, 30090, { payload: randomBytes(333) }), 'REASON_LB_ESTABLISHED', {
        out: { saddr: NODE_IP, daddr: YA, dport: 5353 }, check: (out) => expect(out.udpChecksum).not.toBe(0),
      }),
    ],
  },
  {
    name: 'UDP NodePort without a checksum: none after the rewrites either',
    steps: [
      xdpStep(udp(EXTERNAL, 52001, NODE_IP, 30090, { udpNoChecksum: true }), 'REASON_LB_NEW', { out: { saddr: NODE_IP, daddr: YA, dport: 5353, udpChecksum: 0 } }),
      xdpStep(udp(YA, 5353, NODE_IP, 52001, { udpNoChecksum: true }), 'REASON_REV_NAT', { out: { saddr: NODE_IP, sport: 30090, daddr: EXTERNAL, udpChecksum: 0 } }),
    ],
  },
  ...[47000, 47001, 47002, 47003, 47004, 47005].map((p) => twoProgramFlow('xdp', p)),
  ...[47100, 47101, 47102, 47103, 47104, 47105].map((p) => twoProgramFlow('tc', p)),
  stickyFlow(EXTERNAL, 48000),
  stickyFlow(EXTERNAL2, 48100),
  {
    name: 'NetworkPolicy: an ingress-isolated local backend is judged in XDP, as tc_to_pod judges it',
    steps: [
      xdpStep(syn(EXTERNAL, 49000, NODE_IP, 30086), 'REASON_DROP_POLICY_INGRESS', { unchanged: true }),
      // what XDP would have sent on (it drops the frame as it came) is what tc_to_pod drops
      { prog: 'toPod', packet: syn(EXTERNAL, 49000, XA, 80), verdict: TC_ACT_SHOT, reason: 'REASON_DROP_POLICY_INGRESS' },
      xdpStep(syn(NOT_ALLOWED, 49001, NODE_IP, 30086), 'REASON_DROP_POLICY_INGRESS'),
      xdpStep(syn(ALLOWED, 49002, NODE_IP, 30086), 'REASON_LB_NEW', { out: { saddr: ALLOWED, sport: 49002, daddr: XA, dport: 80, ...fibMacs(XA) } }),
      { prog: 'toPod', packet: (_c, outs) => outs[3]!, verdict: TC_ACT_OK, reason: 'REASON_PASS', unchanged: true },
      xdpStep(tcp(ALLOWED, 49002, NODE_IP, 30086, { payload: randomBytes(20) }), 'REASON_LB_ESTABLISHED', { out: { saddr: ALLOWED, daddr: XA, dport: 80 } }),
      // the pod's reply leaves through tc_from_pod, reverse-NATed, to the client behind the gateway
      {
        prog: 'fromPod', packet: synAck(XA, 80, ALLOWED, 49002), verdict: TC_ACT_REDIRECT, reason: 'REASON_REV_NAT',
        out: { saddr: NODE_IP, sport: 30086, daddr: ALLOWED, dport: 49002, ...fibMacs(GATEWAY) },
      },
      // a flow XDP created but refused stays refused on its next packet
      xdpStep(tcp(EXTERNAL, 49000, NODE_IP, 30086), 'REASON_DROP_POLICY_INGRESS'),
      // ipBlock 0.0.0.0/0 on port 81: everyone reaches x/c:81, nobody x/c:80 (judged on the backend's port)
      xdpStep(syn(EXTERNAL, 49003, NODE_IP, 30087), 'REASON_LB_NEW', { out: { saddr: EXTERNAL, daddr: XC, dport: 81, ...fibMacs(XC) } }),
      xdpStep(syn(ALLOWED, 49004, NODE_IP, 30087), 'REASON_LB_NEW', { out: { saddr: ALLOWED, daddr: XC, dport: 81 } }),
      xdpStep(syn(EXTERNAL, 49005, NODE_IP, 30089), 'REASON_DROP_POLICY_INGRESS'),
      // remote backends are not judged here (their own node does): np from the same client is forwarded
      xdpStep(syn(NOT_ALLOWED, 49006, NODE_IP, 30080), 'REASON_LB_NEW', { out: { saddr: NODE_IP, daddr: YA } }),
    ],
  },
  {
    name: 'IPv4 fragments pass untouched',
    steps: [
      xdpStep(() => fragment(udp(EXTERNAL, 52002, NODE_IP, 30090), 0x2000), 'REASON_PASS_FRAGMENT', { unchanged: true }),
      xdpStep(() => fragment(udp(EXTERNAL, 52002, NODE_IP, 30090, { payload: randomBytes(64) }), 0x0005), 'REASON_PASS_FRAGMENT', { unchanged: true }),
      xdpStep(() => fragment(syn(EXTERNAL, 46007, NODE_IP, 30080), 0x2000), 'REASON_PASS_FRAGMENT', { unchanged: true }),
    ],
  },
  {
    name: 'malformed headers are left to the stack untouched (tc_from_netdev drops them)',
    steps: [
      xdpStep(() => truncated(syn(EXTERNAL, 46008, NODE_IP, 30080), 20 + 10), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      tcStep(() => truncated(syn(EXTERNAL, 46008, NODE_IP, 30080), 20 + 10), 'REASON_DROP_INVALID'),
      xdpStep(() => truncated(udp(EXTERNAL, 52003, NODE_IP, 30090), 20 + 6), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      xdpStep(() => truncated(syn(EXTERNAL, 46009, NODE_IP, 30080), 12), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      // the whole header is there, but the IPv4 total length leaves no room for it
      xdpStep(() => withIp(buildPacket(syn(EXTERNAL, 46010, NODE_IP, 30080)), (ip) => ip.writeUInt16BE(20 + 12, 2)), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      xdpStep(() => withIp(buildPacket(syn(EXTERNAL, 46011, NODE_IP, 30080)), (ip) => ip.writeUInt8(0x44, 0)), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      xdpStep(() => withIp(buildPacket(syn(EXTERNAL, 46012, NODE_IP, 30080)), (ip) => ip.writeUInt8(0x65, 0)), 'REASON_XDP_PASS_TO_STACK', { unchanged: true }),
      // no conntrack entry was made by any of them
      xdpStep(tcp(EXTERNAL, 46008, NODE_IP, 30080), 'REASON_DROP_NO_CT_ENTRY'),
    ],
  },
  {
    name: 'a connection closed with FIN starts over at the next SYN of its 5-tuple',
    steps: [
      xdpStep(syn(EXTERNAL, 46014, NODE_IP, 30088), 'REASON_LB_NEW'),
      xdpStep(tcp(EXTERNAL, 46014, NODE_IP, 30088, { flags: { fin: true, ack: true } }), 'REASON_LB_ESTABLISHED'),
      xdpStep(syn(EXTERNAL, 46014, NODE_IP, 30088), 'REASON_LB_NEW'),
    ],
  },
  {
    name: 'two clients with one source port: the second is SNATed to another port, and its replies find it',
    steps: [
      xdpStep(syn(EXTERNAL, 46015, NODE_IP, 30092), 'REASON_LB_NEW', { out: { saddr: NODE_IP, sport: 46015, daddr: YA } }),
      xdpStep(syn(EXTERNAL2, 46015, NODE_IP, 30092), 'REASON_LB_NEW', {
        out: { saddr: NODE_IP, daddr: YA },
        check: (out, ctx) => {
          expect(out.sport).not.toBe(46015);
          expect(out.sport).toBeGreaterThanOrEqual(32768);
          expect(out.sport).toBeLessThan(32768 + 28232);
          ctx.port = String(out.sport);
        },
      }),
      xdpStep((c) => synAck(YA, 8081, NODE_IP, Number(c.port)), 'REASON_REV_NAT', { out: { saddr: NODE_IP, sport: 30092, daddr: EXTERNAL2, dport: 46015, ...fibMacs(EXTERNAL2) } }),
      xdpStep(synAck(YA, 8081, NODE_IP, 46015), 'REASON_REV_NAT', { out: { saddr: NODE_IP, sport: 30092, daddr: EXTERNAL, dport: 46015, ...fibMacs(EXTERNAL) } }),
      xdpStep(tcp(EXTERNAL2, 46015, NODE_IP, 30092), 'REASON_LB_ESTABLISHED', { out: (c) => ({ saddr: NODE_IP, sport: Number(c.port), daddr: YA }) }),
    ],
  },
  {
    name: 'IPv4 options and Ethernet padding: the rewrite finds the ports and checksums all the same, as tc does',
    steps: [
      xdpStep(() => withIpOptions(syn(EXTERNAL, 46016, NODE_IP, 30080)), 'REASON_LB_NEW', { out: { saddr: NODE_IP, sport: 46016, daddr: YA, dport: 8080 } }),
      tcStep(() => withIpOptions(tcp(EXTERNAL, 46016, NODE_IP, 30080, { payload: Buffer.from('x') })), 'REASON_LB_ESTABLISHED', { out: { daddr: YA, dport: 8080 } }),
      xdpStep(() => withIpOptions(tcp(EXTERNAL, 46016, NODE_IP, 30080, { payload: Buffer.from('x') })), 'REASON_LB_ESTABLISHED', { sameAs: 1 }),
      // a bare ACK is 54 bytes: padded to the Ethernet minimum of 60, past the IPv4 total length
      xdpStep(() => padded(tcp(EXTERNAL, 46016, NODE_IP, 30080)), 'REASON_LB_ESTABLISHED', { out: { saddr: NODE_IP, daddr: YA, dport: 8080, totLen: 40 } }),
      tcStep(() => padded(tcp(EXTERNAL, 46016, NODE_IP, 30080)), 'REASON_LB_ESTABLISHED', { sameAs: 3 }),
      xdpStep(() => padded(udp(EXTERNAL, 52004, NODE_IP, 30090, { payload: Buffer.from('q') })), 'REASON_LB_NEW', { out: { saddr: NODE_IP, daddr: YA, dport: 5353, totLen: 29 } }),
    ],
  },
];

function arpRequest(): Buffer {
  const f = Buffer.alloc(42);
  Buffer.from('ffffffffffff', 'hex').copy(f, 0);
  Buffer.from('020000000099', 'hex').copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // htype ethernet
  f.writeUInt16BE(0x0800, 16);
  f.writeUInt8(6, 18);
  f.writeUInt8(4, 19);
  f.writeUInt16BE(1, 20); // request
  f.writeUInt32BE(ipToInt(EXTERNAL), 28);
  f.writeUInt32BE(ipToInt(NODE_IP), 38);
  return f;
}

/** an IPv6 frame (a UDP datagram's bytes behind an IPv6 ethertype: XDP must not look further) */
function ipv6Frame(): Buffer {
  const f = buildPacket(udp(EXTERNAL, 52005, NODE_IP, 30090));
  f.writeUInt16BE(0x86dd, 12);
  return f;
}

/** an ICMP echo request */
function icmpEcho(saddr: string, daddr: string): Buffer {
  const p = buildPacket(udp(saddr, 0, daddr, 0, { payload: Buffer.from('ping-ping') }));
  const l4 = p.subarray(ETH_HLEN + 20);
  l4.fill(0, 0, 8);
  l4.writeUInt8(8, 0);
  l4.writeUInt16BE(0x1234, 4);
  l4.writeUInt16BE(internetChecksum(l4), 2);
  return withIp(p, (ip) => ip.writeUInt8(1, 9));
}

/** the packet with its IPv4 header edited and its header checksum redone */
function withIp(p: Buffer, edit: (ip: Buffer) => void): Buffer {
  const ip = p.subarray(ETH_HLEN, ETH_HLEN + 20);
  edit(ip);
  ip.writeUInt16BE(0, 10);
  ip.writeUInt16BE(internetChecksum(p.subarray(ETH_HLEN, ETH_HLEN + (ip[0]! & 0xf) * 4)), 10);
  return p;
}

/** a fragment of a datagram: flags/offset as given (0x2000 = more fragments, first), header checksum redone */
function fragment(spec: PacketSpec, fragOff: number): Buffer {
  return withIp(buildPacket(spec), (ip) => ip.writeUInt16BE(fragOff, 6));
}

/** the frame cut `ipBytes` into its IPv4 packet, the headers left claiming more */
function truncated(spec: PacketSpec, ipBytes: number): Buffer {
  return buildPacket(spec).subarray(0, ETH_HLEN + ipBytes);
}

/** the packet with 8 bytes of IPv4 options (record route, empty, then end of options): IHL 7 */
function withIpOptions(spec: PacketSpec): Buffer {
  const p = buildPacket(spec);
  const opts = Buffer.from([7, 7, 4, 0, 0, 0, 0, 0]); // RR: type 7, length 7, pointer 4, one slot; then EOL
  const out = Buffer.concat([p.subarray(0, ETH_HLEN + 20), opts, p.subarray(ETH_HLEN + 20)]);
  return withIp(out, (ip) => {
    ip.writeUInt8(0x47, 0);
    ip.writeUInt16BE(ip.readUInt16BE(2) + opts.length, 2);
  });
}

/** the frame padded with zeros to Ethernet's 60-byte minimum */
function padded(spec: PacketSpec): Buffer {
  const p = buildPacket(spec);
  return p.length >= 60 ? p : Buffer.concat([p, Buffer.alloc(60 - p.length)]);
}


/** the packet without what only the FIB decides: MACs, TTL and the header checksum covering it (verified apart) */
function fibNeutral(pkt: Buffer): Buffer {
  const ip = Buffer.from(pkt.subarray(ETH_HLEN));
  ip[8] = 0;
  ip.writeUInt16BE(0, 10);
  return ip;
}

/** where the L4 checksum field of a packet without IPv4 options sits */
const l4CsumOff = (proto: 'tcp' | 'udp') => ETH_HLEN + 20 + (proto === 'tcp' ? 16 : 6);

type CsumCase = 'normal' | 'in-0000' | 'in-ffff' | 'out-zero' | 'none';

/** one's complement addition of two 16-bit words */
const onesAdd = (a: number, b: number) => {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
};

/**
 * The packet of `spec` with its first two payload bytes (at an even offset of the segment) chosen so that the L4
 * checksum `as` would compute (`spec` with the fields of `as`, e.g. rewritten) reads `field`: a correct checksum when
 * `as` is empty; the field of the packet built is then overwritten with exactly `field` (0 and 0xffff are the two
 * zeros of one's complement, which buildPacket would not both produce).
 */
function withL4Checksum(spec: PacketSpec, field: number, as: Partial<PacketSpec> = {}): Buffer {
  const payload = Buffer.from(spec.payload ?? Buffer.alloc(2));
  payload.writeUInt16BE(0, 0);
  const off = l4CsumOff(spec.proto);
  const c0 = buildPacket({ ...spec, ...as, payload }).readUInt16BE(off); // the one's complement of the rest's sum
  payload.writeUInt16BE(onesAdd(~field & 0xffff, c0) & 0xffff, 0); // the sum becomes ~field
  const p = buildPacket({ ...spec, payload });
  if (Object.keys(as).length) return p;
  expect(p.readUInt16BE(off) % 0xffff, 'the crafted checksum is one of the two zeros apart at most').toBe(field % 0xffff);
  p.writeUInt16BE(field, off);
  return p;
}

/**
 * A packet whose L4 checksum comes out as a case asks: 'in-0000' / 'in-ffff' a segment summing to 0xffff before the
 * rewrite, its checksum field written 0x0000 / 0xffff (UDP can only send 0xffff); 'out-zero' one that sums to 0xffff
 * after the rewrite to `rewritten`, so that its correct checksum is zero (UDP must send 0xffff); 'none' UDP without
 * checksum.
 */
function crafted(spec: PacketSpec, kind: CsumCase, rewritten: Partial<PacketSpec>): Buffer {
  switch (kind) {
    case 'normal':
      return buildPacket(spec);
    case 'none':
      return buildPacket({ ...spec, udpNoChecksum: true });
    case 'in-0000':
    case 'in-ffff':
      return withL4Checksum(spec, kind === 'in-0000' ? 0 : 0xffff);
    case 'out-zero':
      return withL4Checksum(spec, 0, rewritten);
  }
}

function leWords(value: string | number): number[] {
  const b = Buffer.alloc(typeof value === 'string' ? 4 : 2);
  if (typeof value === 'string') b.writeUInt32BE(ipToInt(value));
  else b.writeUInt16BE(value);
  return typeof value === 'string' ? [b.readUInt16LE(0), b.readUInt16LE(2)] : [b.readUInt16LE(0)];
}

/** one incremental update (RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m')): a field's words replaced */
type Replace = { from: string | number; to: string | number };
/** an update as the sum it adds: the replaced words' complements and the new words */
const addend = ({ from, to }: Replace) => leWords(from).reduce((a, w) => a + (~w & 0xffff), 0) + leWords(to).reduce((a, w) => a + w, 0);

/**
 * The updates of a chain, on a checksum as read in memory: whether each update's 32-bit sum needed folding twice (an
 * end-around carry out of the first fold), the rare case a checksum routine gets wrong. `addends` from addend().
 */
function simulate(hcMem: number, addends: readonly number[]): boolean[] {
  return simulateChain(hcMem, addends).carries;
}

/** simulate(), and the checksum (as read in memory) after each update */
function simulateChain(hcMem: number, addends: readonly number[]): { carries: boolean[]; after: number[] } {
  const carries: boolean[] = [];
  const after: number[] = [];
  let hc = hcMem;
  for (const a of addends) {
    const s = (~hc & 0xffff) + a;
    const once = (s & 0xffff) + (s >>> 16);
    carries.push(once > 0xffff);
    hc = ~((once & 0xffff) + (once >>> 16)) & 0xffff;
    after.push(hc);
  }
  return { carries, after };
}
const swap16 = (x: number) => ((x & 0xff) << 8) | (x >>> 8);

const isRoot = process.getuid?.() === 0;
const CLONE_NEWNET = 0x40000000;

/**
 * The network namespace whose FIB the program runs consult (see the topology above fibMacs()): created, entered by
 * this thread only around synchronous calls (setns: BPF_PROG_TEST_RUN takes the calling thread's namespace),
 * removed. Nothing is created in the machine's own namespace.
 */
class FibNetns {
  readonly name = `dpb-unit-${randomBytes(3).toString('hex')}-xdp-fib`;
  private created = false;
  private fds: { own: number; fib: number } | undefined;
  private setns: ((fd: number, nstype: number) => number) | undefined;

  async create(): Promise<void> {
    const ip = (...args: string[]) => run(['ip', '-n', this.name, ...args], { timeoutMs: 20_000 });
    await run(['ip', 'netns', 'add', this.name], { timeoutMs: 20_000 });
    this.created = true;
    await ip('link', 'set', 'lo', 'up');
    for (const { dev, peer, mac } of [ETH0, ...Object.values(LXC)]) {
      await ip('link', 'add', dev, 'address', mac, 'type', 'veth', 'peer', 'name', peer);
      for (const d of [dev, peer]) await ip('link', 'set', d, 'up');
    }
    await ip('addr', 'add', `${NODE_IP}/24`, 'dev', ETH0.dev);
    await ip('route', 'add', 'default', 'via', GATEWAY, 'dev', ETH0.dev);
    await ip('route', 'add', '10.244.1.0/24', 'via', NODE1_IP, 'dev', ETH0.dev);
    await ip('route', 'add', '10.244.2.0/24', 'via', NODE2_IP, 'dev', ETH0.dev);
    await ip('route', 'add', 'unreachable', NODE.clusterCIDR);
    for (const [addr, mac] of Object.entries(ETH0_NEIGHBOURS)) await ip('neigh', 'add', addr, 'lladdr', mac, 'dev', ETH0.dev, 'nud', 'permanent');
    for (const [podIp, { dev, podMac }] of Object.entries(LXC)) {
      await ip('route', 'add', `${podIp}/32`, 'dev', dev, 'scope', 'link');
      await ip('neigh', 'add', podIp, 'lladdr', podMac, 'dev', dev, 'nud', 'permanent');
    }
    await this.setForwarding(true);
    this.setns = koffi.load('libc.so.6').func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;
    this.fds = { own: openSync('/proc/thread-self/ns/net', 'r'), fib: openSync(`/run/netns/${this.name}`, 'r') };
  }

  /** net.ipv4.ip_forward (every device's forwarding, the ingress loopback's among them) */
  async setForwarding(on: boolean): Promise<void> {
    await run(['sysctl', '-q', '-w', `net.ipv4.ip_forward=${on ? 1 : 0}`], { netns: this.name, timeoutMs: 10_000 });
  }

  /** fn (synchronous) with this thread in the namespace; back in its own namespace whatever happens */
  inside<T>(fn: () => T): T {
    const { fds, setns } = this;
    if (!fds || !setns) throw new Error(`${this.name} is not set up`);
    if (setns(fds.fib, CLONE_NEWNET) !== 0) throw new Error(`setns into ${this.name} failed`);
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error('inside() runs synchronous code only: the namespace is left when it returns');
      return result;
    } finally {
      if (setns(fds.own, CLONE_NEWNET) !== 0) throw new Error('setns back into the test thread\'s own network namespace failed');
    }
  }

  async remove(): Promise<void> {
    try {
      if (this.fds) for (const fd of Object.values(this.fds)) closeSync(fd);
      this.fds = undefined;
    } finally {
      if (this.created) await run(['ip', 'netns', 'del', this.name], { timeoutMs: 20_000 });
      this.created = false;
    }
  }
}

describe.skipIf(!isRoot)('xdp_from_netdev through BPF_PROG_TEST_RUN (root only)', () => {
  let dp: BpfDatapathObject;
  const fibNs = new FibNetns();

  beforeAll(async () => {
    await fibNs.create();
    await run(['make', '-s', '-C', fileURLToPath(new URL('../../../bpf/', import.meta.url))], { timeoutMs: 120_000 });
    dp = await BpfDatapathObject.load({ pinDir: `dpb-unit-${randomBytes(3).toString('hex')}/xdp` });
    const state = clusterState();
    const entries = computeEntries(state, NODE, newEntryIds());
    const services = dp.map(MAP_NAMES.services);
    const backends = dp.map(MAP_NAMES.backends);
    for (const b of entries.backends) backends.update(encodeBackendId(b.id), encodeLb4Backend(b));
    for (const s of entries.frontends.flatMap(serviceEntries)) services.update(encodeLb4Key(s), encodeLb4Service(s));
    const ids = new IdentityAllocator();
    PolicyMaps.of((n) => dp.map(n)).sync(computePolicyEntries(state, { nodeName: NODE.nodeName, nodeIPs: [NODE_IP] }, ids), ids);
  });

  afterAll(async () => {
    try {
      await fibNs.remove();
    } finally {
      await dp?.[Symbol.asyncDispose]();
    }
  });

  /** one program run, in the namespace whose FIB answers */
  const testRun = (prog: Prog, input: Buffer): TestRunResult => fibNs.inside(() => dp.program(PROGRAMS[prog]).testRun(input));
  const counters = () => new Map(dp.metrics().map((m) => [`${m.reason}/${m.dir}`, m.packets]));
  const delta = (before: Map<string, number>) =>
    [...counters()].filter(([k, n]) => n !== (before.get(k) ?? 0)).map(([k, n]): [string, number] => [k, n - (before.get(k) ?? 0)]);
  const ct = () => dp.map(MAP_NAMES.conntrack);
  const ctEntry = (k: Ct4Key): Ct4Entry | undefined => {
    const v = ct().lookup(encodeCt4Key(k));
    return v && decodeCt4Entry(v);
  };

  /** a program run that dp_metrics must count as exactly one packet, of `reason` */
  function countedRun(prog: Prog, input: Buffer, reason: ReasonName, where: string): TestRunResult {
    const before = counters();
    const r = testRun(prog, input);
    const counted = delta(before);
    const labels = counted.map(([k]) => reasonLabel(Number(k.split('/')[0])));
    expect(counted, `${where}: verdict ${r.retval}, counted ${labels}`).toEqual(countedOnce(reason, prog));
    return r;
  }

  /**
   * What every output must satisfy beyond a step's own fields. XDP writes a frame only when it redirects it: what it
   * passes or drops is untouched. A packet forwarded on the FIB's answer (XDP_REDIRECT, tc's TC_ACT_REDIRECT) is aged
   * like a router's and carries the FIB's MACs (tc's bpf_redirect_neigh(), without a neighbour entry, leaves them to
   * the neighbour subsystem); a packet a tc program NATs and leaves to the stack keeps its TTL and MACs.
   */
  function checkHop(where: string, prog: Prog, input: Buffer, r: TestRunResult, reason: ReasonName): void {
    if (prog === XDP && r.retval !== XDP_REDIRECT) {
      expect(r.data.equals(input), `${where}: XDP leaves a packet it does not redirect untouched`).toBe(true);
      return;
    }
    if (!FORWARD_REASONS.includes(reason) || r.retval === TC_ACT_SHOT) return;
    const out = parsePacket(r.data);
    const inp = parsePacket(input);
    const macs = fibMacs(out.daddr);
    if (prog === XDP) expect(macs, `${where}: XDP redirected a packet to ${out.daddr}, which has no neighbour entry`).toBeDefined();
    const asCame = { srcMac: inp.srcMac, dstMac: inp.dstMac };
    const hop = redirected(r) ? { ttl: inp.ttl - 1, ...(macs ?? asCame) } : { ttl: inp.ttl, ...asCame };
    expect({ ttl: out.ttl, srcMac: out.srcMac, dstMac: out.dstMac }, `${where}: TTL and MACs`).toEqual(hop);
  }

  /** two programs' outputs for one packet: the same frame when both redirected it, else the same but for MACs and TTL */
  function expectSameRewrite(a: TestRunResult, b: TestRunResult, where: string): void {
    const both = redirected(a) && redirected(b);
    const view = (r: TestRunResult) => (both ? r.data : fibNeutral(r.data)).toString('hex');
    expect(view(a), `${where}: ${both ? 'the frames' : 'the packets (but TTL)'} differ`).toBe(view(b));
  }

  /** a packet XDP forwards: XDP_REDIRECT, counted with `reason`, the fields `want`, checksums valid, aged by the FIB */
  function forwardedByXdp(spec: PacketSpec, reason: ReasonName, want: Partial<Parsed>, where: string): Parsed {
    const input = buildPacket(spec);
    const r = countedRun(XDP, input, reason, where);
    expect(r.retval, `${where}: verdict`).toBe(XDP_REDIRECT);
    checkHop(where, XDP, input, r, reason);
    const out = parsePacket(r.data);
    expect(out, where).toMatchObject({ ...want, ipChecksumOk: true, l4ChecksumOk: true });
    return out;
  }

  /**
   * A new flow's first packet through xdp_from_netdev, then, its conntrack entries deleted again, through
   * tc_from_netdev: both start from the same map state (a service with one backend, so the same choice).
   */
  function newFlowInBoth(packet: Buffer, name: string) {
    const before = counters();
    const x = testRun(XDP, packet);
    expect(x.retval, `${name}: XDP verdict`).toBe(XDP_REDIRECT);
    const [inp, out] = [parsePacket(packet), parsePacket(x.data)];
    const proto = inp.proto;
    expect(ct().delete(encodeCt4Key({ saddr: inp.saddr, daddr: inp.daddr, sport: inp.sport!, dport: inp.dport!, proto, dir: CT_FORWARD })), `${name}: forward entry`).toBe(true);
    expect(ct().delete(encodeCt4Key({ saddr: out.daddr, daddr: out.saddr, sport: out.dport!, dport: out.sport!, proto, dir: CT_REPLY })), `${name}: reply entry`).toBe(true);
    const t = testRun('fromNetdev', packet);
    expect(delta(before).sort(), name).toEqual([...countedOnce('REASON_LB_NEW', 'fromNetdev'), ...countedOnce('REASON_LB_NEW', XDP)].sort());
    return { x, t };
  }

  /**
   * The same packet through xdp_from_netdev, then tc_from_netdev (its flow's next packet, or a reply): both redirect
   * it on the FIB's answer, the same frame, with the fields `want` and valid checksums. Returns XDP's output.
   */
  function throughBoth(input: Buffer, want: Partial<Parsed> & { daddr: string }, where: string): Parsed {
    const x = testRun(XDP, input);
    const t = testRun('fromNetdev', input);
    expect([x.retval, t.retval], `${where}: verdicts`).toEqual([XDP_REDIRECT, TC_ACT_REDIRECT]);
    const out = parsePacket(x.data);
    expect(out, where).toMatchObject({ ...want, ...fibMacs(want.daddr), ttl: input[ETH_HLEN + 8]! - 1, ipChecksumOk: true, l4ChecksumOk: true });
    if (out.proto === 17 && parsePacket(input).udpChecksum !== 0) expect(out.udpChecksum, `${where}: a UDP checksum never becomes 0`).not.toBe(0);
    expectSameRewrite(x, t, where);
    return out;
  }

  /** a flow opened through tc_from_netdev (SNATed, redirected on the FIB's answer), so that XDP sees its reply first */
  const openThroughTc = (spec: PacketSpec) => expect(testRun('fromNetdev', buildPacket(spec)).retval, 'tc_from_netdev opening the flow').toBe(TC_ACT_REDIRECT);

  it.each(FLOWS)('$name', ({ steps }) => {
    const ctx: Ctx = {};
    const results: TestRunResult[] = [];
    steps.forEach((step, i) => {
      const where = `step ${i + 1} (${step.prog})`;
      const given = typeof step.packet === 'function' ? step.packet(ctx, results.map((r) => r.data)) : step.packet;
      const input = Buffer.isBuffer(given) ? given : buildPacket(given);
      const result = countedRun(step.prog, input, step.reason, where);
      results.push(result);
      const isIpv4 = result.data.length >= ETH_HLEN + 20 && result.data.readUInt16BE(12) === 0x0800;
      const verdict = typeof step.verdict === 'function' ? step.verdict(parsePacket(result.data)) : step.verdict;
      expect(result.retval, `${where}: verdict`).toBe(verdict);

      if (step.unchanged) expect(result.data.equals(input), `${where}: packet modified`).toBe(true);
      checkHop(where, step.prog, input, result, step.reason);
      if (step.sameAs !== undefined) expectSameRewrite(result, results[step.sameAs]!, `${where} and step ${step.sameAs + 1}`);
      const shot = step.prog === XDP ? result.retval === XDP_DROP : result.retval === TC_ACT_SHOT;
      // an input left as it was is not parsed again: some are malformed on purpose
      if (shot || (step.unchanged && !step.out && !step.check) || !isIpv4) return;
      const out = parsePacket(result.data);
      expectValidChecksums(out, where);
      const want = typeof step.out === 'function' ? step.out(ctx) : step.out;
      if (want) expect(out, where).toMatchObject(want);
      step.check?.(out, ctx, result.retval);
    });
  });

  it('creates the conntrack entries tc_from_netdev creates for the same flow', () => {
    const send = (prog: Prog, spec: PacketSpec) => testRun(prog, buildPacket(spec)).retval;
    const flows = { xdp: 46100, tc: 46101 };
    expect(send(XDP, syn(EXTERNAL, flows.xdp, NODE_IP, 30080))).toBe(XDP_REDIRECT);
    expect(send('fromNetdev', syn(EXTERNAL, flows.tc, NODE_IP, 30080))).toBe(TC_ACT_REDIRECT);
    const entries = (sport: number) => ({
      fwd: ctEntry({ saddr: EXTERNAL, daddr: NODE_IP, sport, dport: 30080, proto: 6, dir: CT_FORWARD }),
      rev: ctEntry({ saddr: YA, daddr: NODE_IP, sport: 8080, dport: sport, proto: 6, dir: CT_REPLY }),
    });
    const x = entries(flows.xdp);
    const t = entries(flows.tc);
    expect(x.fwd).toMatchObject({ newSaddr: NODE_IP, newSport: flows.xdp, newDaddr: YA, newDport: 8080, flags: CT_F_EXTERNAL | CT_F_SNAT });
    expect(x.rev).toMatchObject({ newSaddr: NODE_IP, newSport: 30080, newDaddr: EXTERNAL, newDport: flows.xdp, flags: CT_F_EXTERNAL | CT_F_SNAT });
    // field for field what tc made, but for the client port and the clock
    const norm = (e: Ct4Entry | undefined, sport: number) => ({
      ...e!, expires: 0, newSport: e!.newSport === sport ? 'client' : e!.newSport, newDport: e!.newDport === sport ? 'client' : e!.newDport,
    });
    expect(norm(x.fwd, flows.xdp)).toEqual(norm(t.fwd, flows.tc));
    expect(norm(x.rev, flows.xdp)).toEqual(norm(t.rev, flows.tc));
    expect(Math.abs(x.fwd!.expires - t.fwd!.expires)).toBeLessThanOrEqual(1);
    // a RST from the backend, reverse-NATed by XDP, marks the flow closing as tc would
    expect(send(XDP, tcp(YA, 8080, NODE_IP, flows.xdp, { flags: { rst: true, ack: true } }))).toBe(XDP_REDIRECT);
    expect(entries(flows.xdp).rev!.flags).toBe(CT_F_EXTERNAL | CT_F_SNAT | CT_F_CLOSING);
    expect(entries(flows.xdp).rev!.expires).toBeLessThan(x.rev!.expires);
    // ETP Local, local backend: no SNAT, so the reply entry is keyed by the client
    expect(send(XDP, syn(EXTERNAL, 46102, NODE_IP, 30081))).toBe(XDP_REDIRECT);
    expect(ctEntry({ saddr: EXTERNAL, daddr: NODE_IP, sport: 46102, dport: 30081, proto: 6, dir: CT_FORWARD })).toMatchObject({
      newSaddr: '0.0.0.0', newSport: 0, newDaddr: XB, newDport: 8080, flags: CT_F_EXTERNAL,
    });
    expect(ctEntry({ saddr: XB, daddr: EXTERNAL, sport: 8080, dport: 46102, proto: 6, dir: CT_REPLY })).toMatchObject({
      newSaddr: NODE_IP, newSport: 30081, newDaddr: '0.0.0.0', newDport: 0, flags: CT_F_EXTERNAL,
    });
  });

  it('rewrites a new flow as tc_from_netdev does, from the same packet and map state', () => {
    const cases: { name: string; packet: Buffer; local?: true }[] = [
      { name: 'TCP SYN, remote backend (SNAT)', packet: buildPacket(syn(EXTERNAL, 46200, NODE_IP, 30080, { payload: randomBytes(33) })) },
      { name: 'TCP SYN, local backend', packet: buildPacket(syn(EXTERNAL, 46201, NODE_IP, 30081)), local: true },
      { name: 'UDP with checksum', packet: buildPacket(udp(EXTERNAL, 46202, NODE_IP, 30090, { payload: randomBytes(101) })) },
      { name: 'UDP without checksum', packet: buildPacket(udp(EXTERNAL, 46203, NODE_IP, 30090, { udpNoChecksum: true })) },
      { name: 'TCP SYN with IPv4 options', packet: withIpOptions(syn(EXTERNAL, 46204, NODE_IP, 30080)) },
      { name: 'UDP whose checksum becomes 0', packet: crafted(udp(EXTERNAL, 46205, NODE_IP, 30090, { payload: randomBytes(40) }), 'out-zero', { saddr: NODE_IP, daddr: YA, dport: 5353 }) },
    ];
    for (const { name, packet, local } of cases) {
      const { x, t } = newFlowInBoth(packet, name);
      // tc_from_netdev leaves a local backend's packet to the stack; XDP redirects it into the pod's lxc
      expect(t.retval, name).toBe(local ? TC_ACT_OK : TC_ACT_REDIRECT);
      checkHop(`${name}, XDP`, XDP, packet, x, 'REASON_LB_NEW');
      checkHop(`${name}, tc`, 'fromNetdev', packet, t, 'REASON_LB_NEW');
      expectSameRewrite(x, t, name);
      expect(parsePacket(x.data), name).toMatchObject({ ipChecksumOk: true, l4ChecksumOk: true });
    }
  });

  it('keeps IPv4 and L4 checksums valid over a few hundred random NodePort packets, rewriting each as tc does', () => {
    const SEED = 0x5eed_0dd;
    const rand = mulberry32(SEED);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const usedPorts = new Set<number>();
    // unique client ports below the SNAT range: the SNAT port is then the client's own, and known in advance
    const freshPort = () => {
      let p: number;
      do p = 20000 + int(12000);
      while (usedPorts.has(p));
      usedPorts.add(p);
      return p;
    };
    const clientIp = () => `${pick([11, 45, 100, 198, 203])}.${int(256)}.${int(256)}.${1 + int(254)}`;
    const payloadOf = () => randomBytesFrom(rand, pick([2, 3, 7, 64, 255, 256, 511, 1000, 1399, 2 + int(1400)]));
    const KINDS = [
      { name: 'np', proto: 'tcp', nodePort: 30080, backends: [YA], port: 8080, snat: true },
      { name: 'np-local', proto: 'tcp', nodePort: 30081, backends: [XB], port: 8080, snat: false },
      { name: 'np-multi', proto: 'tcp', nodePort: 30088, backends: REMOTES, port: 8080, snat: true },
      { name: 'np-udp', proto: 'udp', nodePort: 30090, backends: [YA], port: 5353, snat: true },
    ] as const;
    const CASES: Record<'tcp' | 'udp', CsumCase[]> = { tcp: ['normal', 'in-0000', 'in-ffff', 'out-zero'], udp: ['normal', 'in-ffff', 'out-zero', 'none'] };
    const seen = new Map<string, number>();
    const before = counters();
    const expected = new Map<string, number>();
    const count = (reason: ReasonName, prog: Prog) => {
      const k = countedOnce(reason, prog)[0]![0];
      expected.set(k, (expected.get(k) ?? 0) + 1);
    };
    /** a program's output is rewritten: tc always rewrites a flow's packet, XDP only what it redirects */
    const rewritten = (prog: Prog, r: TestRunResult) => prog !== XDP || r.retval === XDP_REDIRECT;

    /**
     * One packet of a flow through one program (`viaFib`: tc asks the FIB, as for what it SNATs or reverse-NATs): the
     * exact verdict, and for a rewritten packet its checksums, fields, the bytes beyond the NAT; returns the result.
     * Every destination here has a FIB answer and the largest packet (1461 bytes) fits eth0's MTU of 1500: only an
     * expiring TTL makes XDP leave a packet to the stack.
     */
    const through = (prog: Prog, input: Buffer, reason: ReasonName, viaFib: boolean, want: Partial<Parsed>, where: string, csum: CsumCase, zeroAfter: boolean): TestRunResult => {
      const r = testRun(prog, input);
      const forwards = input[ETH_HLEN + 8]! > 1;
      expect(r.retval, `${where}: verdict`).toBe(prog === XDP ? (forwards ? XDP_REDIRECT : XDP_PASS) : viaFib && forwards ? TC_ACT_REDIRECT : TC_ACT_OK);
      count(prog === XDP && !forwards ? 'REASON_XDP_PASS_TO_STACK' : reason, prog);
      seen.set(`${prog}/${r.retval}/${csum}`, (seen.get(`${prog}/${r.retval}/${csum}`) ?? 0) + 1);
      checkHop(where, prog, input, r, reason);
      if (!rewritten(prog, r)) return r;
      const out = parsePacket(r.data);
      const inp = parsePacket(input);
      expect(out.ipChecksumOk, `${where}: IPv4 checksum`).toBe(true);
      expect(out.l4ChecksumOk, `${where}: L4 checksum`).toBe(true);
      expect(out, where).toMatchObject(want);
      // the rest of the packet is the input's: compare with the input, rewritten here, outside what NAT and the FIB touch
      const model = Buffer.from(input);
      const ip = model.subarray(ETH_HLEN);
      ip.writeUInt32BE(ipToInt(out.saddr), 12);
      ip.writeUInt32BE(ipToInt(out.daddr), 16);
      ip.writeUInt16BE(out.sport!, 20);
      ip.writeUInt16BE(out.dport!, 22);
      const csumAt = (p: Buffer) => p.readUInt16BE(l4CsumOff(out.proto === 6 ? 'tcp' : 'udp') - ETH_HLEN);
      const noL4Csum = (p: Buffer) => {
        const c = Buffer.from(p);
        c.writeUInt16BE(0, l4CsumOff(out.proto === 6 ? 'tcp' : 'udp') - ETH_HLEN);
        return c.toString('hex');
      };
      expect(noL4Csum(fibNeutral(r.data)), `${where}: bytes beyond the NAT`).toBe(noL4Csum(fibNeutral(model)));
      if (out.proto === 17) {
        if (inp.udpChecksum === 0) expect(out.udpChecksum, `${where}: a datagram without checksum keeps none`).toBe(0);
        else expect(out.udpChecksum, `${where}: a UDP checksum never becomes 0`).not.toBe(0);
      }
      if (zeroAfter) {
        // the correct checksum is zero: UDP must send it as 0xffff, TCP either zero of one's complement
        expect(out.proto === 17 ? [0xffff] : [0, 0xffff], `${where}: checksum that sums to zero`).toContain(csumAt(fibNeutral(r.data)));
      }
      return r;
    };
    /** the outputs of one packet through both programs agree where both rewrote it */
    const alike = (a: [Prog, TestRunResult], b: [Prog, TestRunResult], where: string) => {
      if (rewritten(...a) && rewritten(...b)) expectSameRewrite(a[1], b[1], where);
    };

    const N = 320;
    for (let i = 0; i < N; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const client = clientIp();
      const cport = freshPort();
      const csum = pick(CASES[kind.proto]);
      const ttl = pick([64, 64, 128, 255, 2, 1]);
      const xdpFirst = int(2) === 0;
      const where = `#${i} ${kind.name} ${client}:${cport} ${csum} ttl ${ttl} (seed ${SEED})`;
      const spec: PacketSpec = kind.proto === 'tcp'
        ? syn(client, cport, NODE_IP, kind.nodePort, { payload: payloadOf(), ttl, seq: int(2 ** 32), tcpOptions: int(2) ? SYN_OPTIONS : Buffer.alloc(0) })
        : udp(client, cport, NODE_IP, kind.nodePort, { payload: payloadOf(), ttl });
      const backend = kind.backends.length === 1 ? kind.backends[0]! : undefined;
      const saddr = kind.snat ? NODE_IP : client;
      // np-multi's backend is random: its 'out-zero' case aims at y/a and is an ordinary packet for the others
      const input = crafted(spec, csum, { saddr, daddr: backend ?? YA, dport: kind.port });
      const want: Partial<Parsed> = { saddr, sport: cport, dport: kind.port, ...(backend ? { daddr: backend } : {}) };

      // the new flow in one program, its next copy (established) in the other: the same rewrite
      const [p1, p2] = xdpFirst ? ([XDP, 'fromNetdev'] as const) : (['fromNetdev', XDP] as const);
      const zeroAfter = (b: string | undefined) => csum === 'out-zero' && b === (backend ?? YA);
      const o1 = through(p1, input, 'REASON_LB_NEW', kind.snat, want, `${where} new in ${p1}`, csum, zeroAfter(backend));
      // the backend chosen, as conntrack recorded it (also when XDP left the packet to the stack untouched)
      const chosen = ctEntry({ saddr: client, daddr: NODE_IP, sport: cport, dport: kind.nodePort, proto: kind.proto === 'tcp' ? 6 : 17, dir: CT_FORWARD })?.newDaddr;
      expect(kind.backends as readonly string[], where).toContain(chosen);
      if (rewritten(p1, o1)) expect(parsePacket(o1.data).daddr, where).toBe(chosen);
      const o2 = through(p2, input, 'REASON_LB_ESTABLISHED', kind.snat, { ...want, daddr: chosen! }, `${where} established in ${p2}`, csum, zeroAfter(chosen));
      alike([p1, o1], [p2, o2], `${where}: XDP and tc rewrite alike`);

      // the backend's reply through both (the replies of SNATed flows come back to this node)
      if (!kind.snat) continue;
      const rcase = pick(CASES[kind.proto]);
      const rspec: PacketSpec = kind.proto === 'tcp'
        ? tcp(chosen!, kind.port, NODE_IP, cport, { flags: { ack: true, ...(int(4) ? {} : { syn: true }) }, payload: payloadOf(), ttl, seq: int(2 ** 32), ackSeq: int(2 ** 32) })
        : udp(chosen!, kind.port, NODE_IP, cport, { payload: payloadOf(), ttl });
      const reply = crafted(rspec, rcase, { saddr: NODE_IP, sport: kind.nodePort, daddr: client });
      const rwant: Partial<Parsed> = { saddr: NODE_IP, sport: kind.nodePort, daddr: client, dport: cport };
      const r1 = through(XDP, reply, 'REASON_REV_NAT', true, rwant, `${where} reply (${rcase}) in XDP`, rcase, rcase === 'out-zero');
      const r2 = through('fromNetdev', reply, 'REASON_REV_NAT', true, rwant, `${where} reply (${rcase}) in tc`, rcase, rcase === 'out-zero');
      alike([XDP, r1], ['fromNetdev', r2], `${where}: XDP and tc reverse-NAT alike`);
    }
    expect(new Map(delta(before))).toEqual(expected);
    // every crafted case went through XDP's rewrite, and some packets with an expiring TTL went to the stack untouched
    for (const c of ['in-0000', 'in-ffff', 'out-zero', 'none'] as const) {
      expect(seen.get(`${XDP}/${XDP_REDIRECT}/${c}`) ?? 0, `no XDP-redirected packet of case ${c}`).toBeGreaterThan(0);
    }
    expect([...seen].filter(([k]) => k.startsWith(`${XDP}/${XDP_PASS}/`)).length, 'no XDP packet left to the stack').toBeGreaterThan(0);
  });

  it('handles end-around carries: packets whose checksum updates need a second fold, each update of each rewrite', () => {
    const rand = mulberry32(0xca77);
    const int = (n: number) => Math.floor(rand() * n);
    const KINDS = [
      { proto: 'tcp', nodePort: 30080, port: 8080 },
      { proto: 'udp', nodePort: 30090, port: 5353 },
    ] as const;
    let sport = 32000; // below the SNAT range, apart from the random test's ports
    let cases = 0;
    const skipped: string[] = [];
    for (const kind of KINDS) {
      for (const dir of ['forward', 'reply'] as const) {
        // the updates each checksum goes through, in the order bpf/xdp.h applies them
        const chains = (client: string): { l4: Replace[]; ip: Replace[] } => {
          const ip: Replace[] = dir === 'forward'
            ? [{ from: client, to: NODE_IP }, { from: NODE_IP, to: YA }]
            : [{ from: YA, to: NODE_IP }, { from: NODE_IP, to: client }];
          const port: Replace = dir === 'forward' ? { from: kind.nodePort, to: kind.port } : { from: kind.port, to: kind.nodePort };
          return { ip, l4: [...ip, port] };
        };
        for (const [which, steps] of [['l4', 3], ['ip', 2]] as const) {
          for (let k = 0; k < steps; k++) {
            // a client and a checksum (L4: the field, crafted; IPv4: through the identification field) that carry at
            // update k; some updates cannot carry at all (a port pair whose words sum too low): those are skipped
            let input: Buffer | undefined;
            let client = '';
            const cport = sport++;
            for (let attempt = 0; !input && attempt < 20; attempt++) {
              client = `${11 + int(200)}.${int(256)}.${int(256)}.${1 + int(254)}`;
              const chain = chains(client)[which].map(addend);
              let feasible = false;
              for (let hc = 0; hc < 0xffff && !feasible; hc++) feasible = simulate(hc, [chain[k]!])[0]!;
              if (!feasible && which === 'l4' && k === 2) break; // a port update: the same for every client
              if (!feasible) continue;
              const spec: PacketSpec = dir === 'forward'
                ? { saddr: client, sport: cport, daddr: NODE_IP, dport: kind.nodePort, proto: kind.proto, payload: randomBytesFrom(rand, 2 + int(300)), flags: { syn: true } }
                : { saddr: YA, sport: kind.port, daddr: NODE_IP, dport: cport, proto: kind.proto, payload: randomBytesFrom(rand, 2 + int(300)), flags: { ack: true } };
              // the IPv4 header checksum with identification v, from the one built with identification 0
              const c0 = withIp(buildPacket(spec), (h) => h.writeUInt16BE(0, 4)).readUInt16BE(ETH_HLEN + 10);
              const ipCsum = (v: number) => ~onesAdd(~c0 & 0xffff, v) & 0xffff;
              const start = int(0x10000);
              for (let j = 0; j < 0x10000 && !input; j++) {
                const v = (start + j) & 0xffff;
                if (which === 'l4') {
                  if (kind.proto === 'udp' && v === 0) continue; // 0: no checksum
                  if (simulate(swap16(v), chain)[k]) input = withL4Checksum(spec, v);
                } else if (simulate(swap16(ipCsum(v)), chain)[k]) {
                  input = withIp(buildPacket(spec), (h) => h.writeUInt16BE(v, 4));
                  expect(input.readUInt16BE(ETH_HLEN + 10)).toBe(ipCsum(v));
                }
              }
            }
            if (!input) {
              skipped.push(`${kind.proto} ${dir} ${which} update ${k + 1}`);
              continue;
            }
            const where = `${kind.proto} ${dir} ${which} update ${k + 1}, ${client}:${cport}`;
            // a reply's flow opened through tc, so that XDP sees the reply first
            if (dir === 'reply') openThroughTc(kind.proto === 'tcp' ? syn(client, cport, NODE_IP, kind.nodePort) : udp(client, cport, NODE_IP, kind.nodePort));
            throughBoth(input, dir === 'forward' ? { saddr: NODE_IP, sport: cport, daddr: YA, dport: kind.port } : { saddr: NODE_IP, sport: kind.nodePort, daddr: client, dport: cport }, where);
            cases++;
          }
        }
      }
    }
    // only the port updates, where the two ports' words cannot reach a carry, may be missing
    expect(skipped.every((c) => c.endsWith('l4 update 3')), `no carrying input for ${skipped}`).toBe(true);
    expect(cases + skipped.length).toBe(2 * 2 * 5);
    expect(cases).toBeGreaterThanOrEqual(16);
  });

  it('does not take a UDP checksum that passes through 0 between two updates for a datagram without one', () => {
    const rand = mulberry32(0x2e80);
    let cport = 32100;
    for (const dir of ['forward', 'reply'] as const) {
      for (const k of [0, 1]) {
        const client = `198.51.100.${1 + Math.floor(rand() * 254)}`;
        const port = cport++;
        const chain: Replace[] = dir === 'forward'
          ? [{ from: client, to: NODE_IP }, { from: NODE_IP, to: YA }, { from: 30090, to: 5353 }]
          : [{ from: YA, to: NODE_IP }, { from: NODE_IP, to: client }, { from: 5353, to: 30090 }];
        const addends = chain.map(addend);
        // the input checksum whose k-th update comes out 0 (a correct interim value, which must be sent on as 0xffff)
        let field = -1;
        for (let v = 1; v <= 0xffff && field < 0; v++) if (simulateChain(swap16(v), addends).after[k] === 0) field = v;
        expect(field, `${dir} update ${k + 1}: no input found`).toBeGreaterThan(0);
        const payload = randomBytesFrom(rand, 2 + Math.floor(rand() * 100));
        if (dir === 'reply') openThroughTc(udp(client, port, NODE_IP, 30090));
        const input = dir === 'forward'
          ? withL4Checksum(udp(client, port, NODE_IP, 30090, { payload }), field)
          : withL4Checksum(udp(YA, 5353, NODE_IP, port, { payload }), field);
        const where = `${dir}, 0 after update ${k + 1}, ${client}:${port}`;
        throughBoth(input, dir === 'forward' ? { saddr: NODE_IP, daddr: YA, dport: 5353 } : { saddr: NODE_IP, sport: 30090, daddr: client, dport: port }, where);
      }
    }
  });


  describe('the FIB answers: XDP redirects', () => {
    it('redirects with the FIB\'s MACs and one less TTL, exactly as tc_from_netdev does', () => {
      // a new flow from the same map state: the whole frames are equal, MACs and TTL included
      const { x, t } = newFlowInBoth(buildPacket(syn(EXTERNAL, 46300, NODE_IP, 30080, { payload: randomBytes(11) })), 'SYN');
      expect(t.retval).toBe(TC_ACT_REDIRECT);
      expect(parsePacket(x.data)).toMatchObject({ ...fibMacs(YA), ttl: 63, saddr: NODE_IP, sport: 46300, daddr: YA, dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
      expect(x.data.toString('hex')).toBe(t.data.toString('hex'));

      // the flow's next packets: TTL 2 still goes (1 left), the reply back out toward the client
      forwardedByXdp(tcp(EXTERNAL, 46300, NODE_IP, 30080, { ttl: 2 }), 'REASON_LB_ESTABLISHED', { ttl: 1, daddr: YA }, 'TTL 2');
      const reply = buildPacket(synAck(YA, 8080, NODE_IP, 46300, { ttl: 61, srcMac: fibMacs(YA)!.dstMac, dstMac: ETH0.mac }));
      expect(throughBoth(reply, { saddr: NODE_IP, sport: 30080, daddr: EXTERNAL, dport: 46300 }, 'reply')).toMatchObject({ ...fibMacs(EXTERNAL), ttl: 60 });
    });

    it('redirects a local backend\'s packet to its lxc with the pod\'s MAC, after the policy check', () => {
      forwardedByXdp(syn(EXTERNAL, 46301, NODE_IP, 30081), 'REASON_LB_NEW', { ...fibMacs(XB), ttl: 63, saddr: EXTERNAL, daddr: XB, dport: 8080 }, 'x/b');
      forwardedByXdp(syn(ALLOWED, 46302, NODE_IP, 30086), 'REASON_LB_NEW', { ...fibMacs(XA), ttl: 63, saddr: ALLOWED, daddr: XA, dport: 80 }, 'x/a, allowed');
      const refused = buildPacket(syn(EXTERNAL, 46303, NODE_IP, 30086));
      const r = countedRun(XDP, refused, 'REASON_DROP_POLICY_INGRESS', 'x/a, refused');
      expect(r.retval).toBe(XDP_DROP);
      expect(r.data.equals(refused)).toBe(true);
    });
  });

  /*
   * What the FIB cannot place, xdp_forward() leaves to the stack untouched, after lb4_flow made or refreshed the
   * flow's conntrack entries; tc_from_netdev, next on the packet's way, then continues the flow from them.
   */
  describe('when the FIB has no answer: XDP leaves the packet to the stack untouched, tc_from_netdev continues the flow', () => {
    interface ExternalFlow {
      client: string;
      sport: number;
      nodePort: number;
      proto?: 'tcp' | 'udp';
      backend: string;
    }

    /** the conntrack entries of an external client's flow: the forward one names the backend, the reply one leads back */
    function expectFlowEntries(f: ExternalFlow, where: string): void {
      const proto = f.proto === 'udp' ? 17 : 6;
      const fwd = ctEntry({ saddr: f.client, daddr: NODE_IP, sport: f.sport, dport: f.nodePort, proto, dir: CT_FORWARD });
      expect(fwd, `${where}: forward conntrack entry`).toMatchObject({ newDaddr: f.backend });
      const snat = (fwd!.flags & CT_F_SNAT) !== 0;
      const rev = ctEntry({ saddr: f.backend, daddr: snat ? NODE_IP : f.client, sport: fwd!.newDport, dport: snat ? fwd!.newSport : f.sport, proto, dir: CT_REPLY });
      expect(rev, `${where}: reply conntrack entry`).toMatchObject(snat ? { newSaddr: NODE_IP, newDaddr: f.client, newDport: f.sport } : { newSaddr: NODE_IP, newSport: f.nodePort });
    }

    /**
     * A packet of `flow` the FIB cannot place: XDP_PASS, counted REASON_XDP_PASS_TO_STACK, byte for byte as it came,
     * the flow's conntrack entries there; then the same packet through tc_from_netdev: the flow's (`tc.reason`, the
     * backend XDP chose), with `tc.verdict`: TC_ACT_REDIRECT where its FIB answers (bpf_redirect_neigh() without a
     * neighbour entry), TC_ACT_OK where the stack must forward it (no route, forwarding off, over the MTU, TTL 1).
     */
    function leftToStack(spec: PacketSpec | Buffer, flow: ExternalFlow, tc: { reason: ReasonName; verdict: number; out: Partial<Parsed> }, where: string): void {
      const input = Buffer.isBuffer(spec) ? spec : buildPacket(spec);
      const x = countedRun(XDP, input, 'REASON_XDP_PASS_TO_STACK', `${where}, XDP`);
      expect(x.retval, `${where}: XDP verdict`).toBe(XDP_PASS);
      expect(x.data.toString('hex'), `${where}: XDP leaves the frame untouched`).toBe(input.toString('hex'));
      expectFlowEntries(flow, where);
      const t = countedRun('fromNetdev', input, tc.reason, `${where}, then tc_from_netdev`);
      expect(t.retval, `${where}: tc verdict`).toBe(tc.verdict);
      checkHop(`${where}, tc`, 'fromNetdev', input, t, tc.reason);
      expect(parsePacket(t.data), `${where}, tc`).toMatchObject({ ...tc.out, ipChecksumOk: true, l4ChecksumOk: true });
    }

    /** a packet XDP drops before it asks the FIB (the local backend's ingress policy), untouched */
    function droppedByPolicy(spec: PacketSpec, where: string): void {
      const input = buildPacket(spec);
      const r = countedRun(XDP, input, 'REASON_DROP_POLICY_INGRESS', where);
      expect(r.retval, `${where}: verdict`).toBe(XDP_DROP);
      expect(r.data.equals(input), `${where}: untouched`).toBe(true);
    }

    const toYa = (sport: number, extra: Partial<Parsed> = {}): Partial<Parsed> => ({ saddr: NODE_IP, sport, daddr: YA, dport: 8080, ...extra });
    const toClient = (client: string, sport: number, extra: Partial<Parsed> = {}): Partial<Parsed> => ({ saddr: NODE_IP, sport: 30080, daddr: client, dport: sport, ...extra });

    it('no neighbour entry for the next hop: node2 for its pod, a client on the node\'s subnet for a reply', () => {
      // tc_from_netdev hands the packet to bpf_redirect_neigh(): aged, MACs left to the neighbour subsystem
      const toNode2: ExternalFlow = { client: EXTERNAL, sport: 46400, nodePort: 30091, backend: ZA };
      leftToStack(syn(EXTERNAL, 46400, NODE_IP, 30091, { payload: randomBytes(11) }), toNode2, {
        reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_REDIRECT, out: { saddr: NODE_IP, sport: 46400, daddr: ZA, dport: 8080, ttl: 63 },
      }, 'node2 SYN');
      leftToStack(tcp(EXTERNAL, 46400, NODE_IP, 30091), toNode2, {
        reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_REDIRECT, out: { saddr: NODE_IP, daddr: ZA, ttl: 63 },
      }, 'node2 ACK');
      // node2's reply goes back to a client the FIB knows: XDP's
      forwardedByXdp(synAck(ZA, 8080, NODE_IP, 46400), 'REASON_REV_NAT', { saddr: NODE_IP, sport: 30091, daddr: EXTERNAL, dport: 46400 }, 'node2 reply');

      const unresolved: ExternalFlow = { client: UNRESOLVED_CLIENT, sport: 46401, nodePort: 30080, backend: YA };
      forwardedByXdp(syn(UNRESOLVED_CLIENT, 46401, NODE_IP, 30080), 'REASON_LB_NEW', toYa(46401), 'SYN of a client without neighbour entry');
      leftToStack(synAck(YA, 8080, NODE_IP, 46401), unresolved, { reason: 'REASON_REV_NAT', verdict: TC_ACT_REDIRECT, out: toClient(UNRESOLVED_CLIENT, 46401, { ttl: 63 }) }, 'reply');
    });

    it('no route: node3\'s pods (an unreachable route)', () => {
      const flow: ExternalFlow = { client: EXTERNAL, sport: 46402, nodePort: 30093, backend: WA };
      const out = { saddr: NODE_IP, sport: 46402, daddr: WA, dport: 8080, ttl: 64 };
      leftToStack(syn(EXTERNAL, 46402, NODE_IP, 30093), flow, { reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out }, 'SYN');
      leftToStack(tcp(EXTERNAL, 46402, NODE_IP, 30093, { payload: randomBytes(100) }), flow, { reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out }, 'data');
    });

    it('forwarding off (net.ipv4.ip_forward 0, as in a machine\'s own namespace): new flows, replies, the local backend', async () => {
      const flow: ExternalFlow = { client: EXTERNAL, sport: 46403, nodePort: 30080, backend: YA };
      await fibNs.setForwarding(false);
      try {
        leftToStack(syn(EXTERNAL, 46403, NODE_IP, 30080), flow, { reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: toYa(46403, { ttl: 64 }) }, 'SYN');
        leftToStack(synAck(YA, 8080, NODE_IP, 46403), flow, { reason: 'REASON_REV_NAT', verdict: TC_ACT_OK, out: toClient(EXTERNAL, 46403, { ttl: 64 }) }, 'reply');
        leftToStack(syn(EXTERNAL, 46404, NODE_IP, 30081), { client: EXTERNAL, sport: 46404, nodePort: 30081, backend: XB }, {
          reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: { saddr: EXTERNAL, sport: 46404, daddr: XB, dport: 8080, ttl: 64 },
        }, 'local backend');
        leftToStack(udp(EXTERNAL, 52010, NODE_IP, 30090), { client: EXTERNAL, sport: 52010, nodePort: 30090, proto: 'udp', backend: YA }, {
          reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: { saddr: NODE_IP, sport: 52010, daddr: YA, dport: 5353, ttl: 64 },
        }, 'UDP');
        // the ingress policy is judged before the FIB is asked
        droppedByPolicy(syn(EXTERNAL, 46405, NODE_IP, 30086), 'refused by x/a\'s policy');
      } finally {
        await fibNs.setForwarding(true);
      }
      // forwarding on again: the flow's next packets are XDP's
      forwardedByXdp(tcp(EXTERNAL, 46403, NODE_IP, 30080), 'REASON_LB_ESTABLISHED', toYa(46403, { ttl: 63 }), 'after');
      forwardedByXdp(tcp(YA, 8080, NODE_IP, 46403), 'REASON_REV_NAT', toClient(EXTERNAL, 46403, { ttl: 63 }), 'reply after');
    });

    it('over the MTU of the route: the stack fragments or answers "fragmentation needed"', () => {
      const flow: ExternalFlow = { client: EXTERNAL, sport: 46406, nodePort: 30080, backend: YA };
      const sized = (ipBytes: number) => ({ payload: randomBytes(ipBytes - 40) }); // TCP without options
      forwardedByXdp(syn(EXTERNAL, 46406, NODE_IP, 30080), 'REASON_LB_NEW', toYa(46406), 'SYN');
      leftToStack(tcp(EXTERNAL, 46406, NODE_IP, 30080, sized(1501)), flow, { reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: toYa(46406, { totLen: 1501, ttl: 64 }) }, '1501 bytes');
      forwardedByXdp(tcp(EXTERNAL, 46406, NODE_IP, 30080, sized(1500)), 'REASON_LB_ESTABLISHED', toYa(46406, { totLen: 1500 }), '1500 bytes');
      leftToStack(tcp(YA, 8080, NODE_IP, 46406, sized(1501)), flow, { reason: 'REASON_REV_NAT', verdict: TC_ACT_OK, out: toClient(EXTERNAL, 46406, { totLen: 1501, ttl: 64 }) }, 'reply of 1501 bytes');
      forwardedByXdp(tcp(YA, 8080, NODE_IP, 46406, sized(1500)), 'REASON_REV_NAT', toClient(EXTERNAL, 46406, { totLen: 1500 }), 'reply of 1500 bytes');
      // a new flow's first datagram
      leftToStack(udp(EXTERNAL, 52011, NODE_IP, 30090, { payload: randomBytes(1501 - 28) }), { client: EXTERNAL, sport: 52011, nodePort: 30090, proto: 'udp', backend: YA }, {
        reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: { saddr: NODE_IP, daddr: YA, dport: 5353, totLen: 1501, ttl: 64 },
      }, 'UDP, 1501 bytes');
    });

    it('TTL 1: the stack sends the time exceeded; the policy is judged first', () => {
      const flow: ExternalFlow = { client: EXTERNAL, sport: 46407, nodePort: 30080, backend: YA };
      leftToStack(syn(EXTERNAL, 46407, NODE_IP, 30080, { ttl: 1 }), flow, { reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: toYa(46407, { ttl: 1 }) }, 'SYN');
      forwardedByXdp(tcp(EXTERNAL, 46407, NODE_IP, 30080, { ttl: 2 }), 'REASON_LB_ESTABLISHED', toYa(46407, { ttl: 1 }), 'TTL 2');
      leftToStack(tcp(YA, 8080, NODE_IP, 46407, { ttl: 1 }), flow, { reason: 'REASON_REV_NAT', verdict: TC_ACT_OK, out: toClient(EXTERNAL, 46407, { ttl: 1 }) }, 'reply');
      leftToStack(syn(EXTERNAL, 46408, NODE_IP, 30081, { ttl: 1 }), { client: EXTERNAL, sport: 46408, nodePort: 30081, backend: XB }, {
        reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: { saddr: EXTERNAL, daddr: XB, dport: 8080, ttl: 1 },
      }, 'local backend');
      droppedByPolicy(syn(NOT_ALLOWED, 46409, NODE_IP, 30086, { ttl: 1 }), 'refused by x/a\'s policy');
      leftToStack(syn(ALLOWED, 46410, NODE_IP, 30086, { ttl: 1 }), { client: ALLOWED, sport: 46410, nodePort: 30086, backend: XA }, {
        reason: 'REASON_LB_ESTABLISHED', verdict: TC_ACT_OK, out: { saddr: ALLOWED, daddr: XA, dport: 80, ttl: 1 },
      }, 'allowed by x/a\'s policy');
    });
  });
});

/** n bytes from a seeded generator: the property test replays from its seed */
function randomBytesFrom(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}
