// SPDX-License-Identifier: Apache-2.0
// bpf/build/lb_tc.bpf.o through BPF_PROG_TEST_RUN, table-driven: each flow is a list of packets built here, the
// program each one enters, the tc verdict and dp_metrics reason expected, and the fields of the packet the program
// leaves behind, whose IPv4 and TCP/UDP/ICMP checksums are verified here too. Maps are filled by the agent's own
// computeEntries() from Kubernetes objects. Needs root (loading programs); nothing is attached anywhere.
//
//   client 10.244.0.10 ─eth0══lxc0─┐                               ┌─ node1 172.18.0.3
//   pod1   10.244.0.11 ─eth0══lxc1─┤  node0   eth0 172.18.0.2 ══ fabric ─┤    10.244.1.10, 10.244.1.11
//             tc_from_pod ⇣  ⇡ tc_to_pod     ⇣ tc_from_netdev          └─ external 172.18.0.250
//
//   echo      10.96.0.10:80/TCP   → 10.244.0.11, 10.244.1.10, 10.244.1.11 :8080
//   dns       10.96.0.11:53/UDP   → 10.244.1.10:5353
//   empty     10.96.0.12:80/TCP, 10.96.0.12:53/UDP — no endpoints
//   sticky    10.96.0.13:80/TCP   → the echo pods, sessionAffinity ClientIP
//   self      10.96.0.14:80/TCP   → 10.244.0.11:8080 only: pod1 calling it is a hairpin
//   np        NodePort 30080, externalTrafficPolicy Cluster → 10.244.1.10:8080 (remote)
//   np-local  NodePort 30081, externalTrafficPolicy Local   → 10.244.0.11:8080 (local), 10.244.1.10:8080
//   np-far    NodePort 30082, externalTrafficPolicy Local   → 10.244.1.11:8080 only (no local endpoint)
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceObjects, type ServiceSpecLite } from '../../../src/cluster/objects.ts';
import type { ClusterState, NodeContext } from '../../../src/cluster/state.ts';
import {
  CT_FORWARD, CT_F_EXTERNAL, CT_F_HAIRPIN, CT_F_SNAT, CT_REPLY, LB4_LOOPBACK, MAP_NAMES, decodeCt4Entry, encodeBackendId, encodeCt4Key,
  encodeLb4Backend, encodeLb4Key, encodeLb4Service, type Ct4Key,
} from '../../../src/datapath/bpf/codec.ts';
import { BpfDatapathObject, PROGRAMS } from '../../../src/datapath/bpf/object.ts';
import { METRICS_DIRS, REASONS, reasonLabel, type ReasonName } from '../../../src/datapath/bpf/reasons.ts';
import { computeEntries, newEntryIds, serviceEntries } from '../../../src/datapath/ebpf/entries.ts';
import { run } from '../../../src/util/exec.ts';
import {
  ETH_HLEN, HOST_MAC, POD_MAC, SYN_OPTIONS, buildPacket, internetChecksum, parsePacket, type PacketSpec, type Parsed, TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT, expectValidChecksums,
} from './packet.ts';

/** after a FIB lookup the verdict depends on the test machine's routes: redirect, or back to the stack */
const FORWARDED = [TC_ACT_OK, TC_ACT_REDIRECT] as const;

const CLIENT = '10.244.0.10';
const POD1 = '10.244.0.11';
const REMOTE_A = '10.244.1.10';
const REMOTE_B = '10.244.1.11';
const NODE_IP = '172.18.0.2';
const EXTERNAL = '172.18.0.250';
const ECHO_PODS = [POD1, REMOTE_A, REMOTE_B];

const NODE: NodeContext = { nodeName: 'node0', nodeIPs: [NODE_IP], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };
const pod = (ip: string) => ({ ip, nodeName: ip.startsWith('10.244.0.') ? 'node0' : 'node1' });
const http = [{ name: 'http', port: 80, targetPort: 8080 }];

const SERVICES: ServiceSpecLite[] = [
  { namespace: 't', name: 'echo', clusterIP: '10.96.0.10', ports: http, backends: ECHO_PODS.map(pod) },
  { namespace: 't', name: 'dns', clusterIP: '10.96.0.11', ports: [{ name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' }], backends: [pod(REMOTE_A)] },
  {
    namespace: 't', name: 'empty', clusterIP: '10.96.0.12', backends: [],
    ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' }],
  },
  { namespace: 't', name: 'sticky', clusterIP: '10.96.0.13', ports: http, backends: ECHO_PODS.map(pod), sessionAffinity: 'ClientIP' },
  { namespace: 't', name: 'self', clusterIP: '10.96.0.14', ports: http, backends: [pod(POD1)] },
  { namespace: 't', name: 'np', clusterIP: '10.96.0.20', type: 'NodePort', ports: [{ ...http[0]!, nodePort: 30080 }], backends: [pod(REMOTE_A)] },
  {
    namespace: 't', name: 'np-local', clusterIP: '10.96.0.21', type: 'NodePort', externalTrafficPolicy: 'Local',
    ports: [{ ...http[0]!, nodePort: 30081 }], backends: [pod(POD1), pod(REMOTE_A)],
  },
  {
    namespace: 't', name: 'np-far', clusterIP: '10.96.0.22', type: 'NodePort', externalTrafficPolicy: 'Local',
    ports: [{ ...http[0]!, nodePort: 30082 }], backends: [pod(REMOTE_B)],
  },
];

function clusterState(): ClusterState {
  const built = SERVICES.map(serviceObjects);
  return { services: built.map((b) => b.service), endpointSlices: built.map((b) => b.slice), pods: [], namespaces: [] };
}

type Prog = keyof typeof PROGRAMS;
const DIR_OF: Record<Prog, number> = {
  fromPod: METRICS_DIRS.METRICS_DIR_FROM_POD,
  toPod: METRICS_DIRS.METRICS_DIR_TO_POD,
  fromNetdev: METRICS_DIRS.METRICS_DIR_FROM_NETDEV,
  xdpFromNetdev: METRICS_DIRS.METRICS_DIR_XDP,
};

/** what earlier steps of a flow learned (the backend chosen at random) */
type Ctx = Record<string, string>;

interface Step {
  prog: Prog;
  packet: PacketSpec | ((ctx: Ctx) => PacketSpec | Buffer);
  verdict: number | readonly number[];
  reason: ReasonName;
  /** fields the output must have */
  out?: Partial<Parsed> | ((ctx: Ctx) => Partial<Parsed>);
  /** the output is the input, byte for byte */
  unchanged?: boolean;
  check?: (out: Parsed, ctx: Ctx, verdict: number) => void;
}

interface Flow {
  name: string;
  steps: Step[];
}

const tcp = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  saddr, sport, daddr, dport, proto: 'tcp', ...extra,
});
const syn = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}) =>
  tcp(saddr, sport, daddr, dport, { flags: { syn: true }, tcpOptions: SYN_OPTIONS, seq: 5000, ...extra });
const udp = (saddr: string, sport: number, daddr: string, dport: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  saddr, sport, daddr, dport, proto: 'udp', payload: Buffer.from('query'), ...extra,
});
const swappedMacs = { srcMac: HOST_MAC, dstMac: POD_MAC };
const remember = (name: string) => (out: Parsed, ctx: Ctx) => {
  ctx[name] = out.daddr;
};

const FLOWS: Flow[] = [
  {
    name: 'traffic to no service passes untouched',
    steps: [{ prog: 'fromPod', packet: tcp(CLIENT, 40000, REMOTE_A, 8080), verdict: TC_ACT_OK, reason: 'REASON_PASS', unchanged: true }],
  },
  {
    name: 'non-IPv4 frames pass untouched',
    steps: [{ prog: 'fromPod', packet: () => arpRequest(), verdict: TC_ACT_OK, reason: 'REASON_PASS', unchanged: true }],
  },
  {
    name: 'ClusterIP TCP: DNAT to a backend, the same one for every packet, replies reverse-NATed toward the pod',
    steps: [
      {
        prog: 'fromPod', packet: syn(CLIENT, 40001, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW',
        out: { saddr: CLIENT, sport: 40001, dport: 8080, ttl: 64 },
        check: (out, ctx) => {
          expect(ECHO_PODS).toContain(out.daddr);
          remember('backend')(out, ctx);
        },
      },
      { prog: 'fromPod', packet: tcp(CLIENT, 40001, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_ESTABLISHED', out: (c) => ({ daddr: c.backend, dport: 8080 }) },
      {
        prog: 'fromPod', packet: tcp(CLIENT, 40001, '10.96.0.10', 80, { flags: { ack: true, psh: true }, payload: randomBytes(301) }),
        verdict: TC_ACT_OK, reason: 'REASON_LB_ESTABLISHED', out: (c) => ({ daddr: c.backend, dport: 8080, totLen: 20 + 20 + 301 }),
      },
      {
        prog: 'toPod', packet: (c) => tcp(c.backend!, 8080, CLIENT, 40001, { flags: { syn: true, ack: true } }),
        verdict: TC_ACT_OK, reason: 'REASON_REV_NAT', out: { saddr: '10.96.0.10', sport: 80, daddr: CLIENT, dport: 40001 },
      },
      {
        prog: 'toPod', packet: (c) => tcp(c.backend!, 8080, CLIENT, 40001, { flags: { ack: true }, payload: randomBytes(1000) }),
        verdict: TC_ACT_OK, reason: 'REASON_REV_NAT', out: { saddr: '10.96.0.10', sport: 80 },
      },
    ],
  },
  {
    name: 'UDP: DNAT and reverse NAT, and a datagram without checksum keeps none',
    steps: [
      {
        prog: 'fromPod', packet: udp(CLIENT, 50001, '10.96.0.11', 53), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW',
        out: { saddr: CLIENT, daddr: REMOTE_A, sport: 50001, dport: 5353 },
        check: (out) => expect(out.udpChecksum).not.toBe(0),
      },
      {
        prog: 'toPod', packet: udp(REMOTE_A, 5353, CLIENT, 50001), verdict: TC_ACT_OK, reason: 'REASON_REV_NAT',
        out: { saddr: '10.96.0.11', sport: 53, daddr: CLIENT, dport: 50001 },
      },
      {
        prog: 'fromPod', packet: udp(CLIENT, 50002, '10.96.0.11', 53, { udpNoChecksum: true }), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW',
        out: { daddr: REMOTE_A, dport: 5353, udpChecksum: 0 },
      },
    ],
  },
  {
    name: 'no endpoints: a SYN is answered at once with RST+ACK, back out of the veth',
    steps: [
      {
        prog: 'fromPod', packet: syn(CLIENT, 40002, '10.96.0.12', 80, { seq: 5000 }), verdict: TC_ACT_REDIRECT, reason: 'REASON_REJECT_NO_BACKEND',
        out: {
          ...swappedMacs, saddr: '10.96.0.12', sport: 80, daddr: CLIENT, dport: 40002, totLen: 40, seq: 0, ackSeq: 5001,
          flags: { rst: true, ack: true, syn: false, fin: false, psh: false },
        },
      },
      {
        prog: 'fromPod', packet: tcp(CLIENT, 40003, '10.96.0.12', 80, { flags: { ack: true }, seq: 6000, ackSeq: 7777, payload: randomBytes(200) }),
        verdict: TC_ACT_REDIRECT, reason: 'REASON_REJECT_NO_BACKEND',
        out: { saddr: '10.96.0.12', daddr: CLIENT, totLen: 40, seq: 7777, flags: { rst: true, ack: false, syn: false, fin: false, psh: false } },
      },
    ],
  },
  {
    name: 'no endpoints: a UDP datagram is answered with ICMP port unreachable quoting it',
    steps: [
      {
        prog: 'fromPod', packet: udp(CLIENT, 50003, '10.96.0.12', 53), verdict: TC_ACT_REDIRECT, reason: 'REASON_REJECT_NO_BACKEND',
        out: { ...swappedMacs, proto: 1, saddr: '10.96.0.12', daddr: CLIENT, totLen: 56 },
        check: (out) => expect(out.icmp).toMatchObject({ type: 3, code: 3, quoted: { saddr: CLIENT, daddr: '10.96.0.12', sport: 50003, dport: 53, proto: 17 } }),
      },
    ],
  },
  {
    name: 'a mid-flow TCP packet to a service that conntrack does not know is dropped',
    steps: [{ prog: 'fromPod', packet: tcp(CLIENT, 40004, '10.96.0.10', 80), verdict: TC_ACT_SHOT, reason: 'REASON_DROP_NO_CT_ENTRY' }],
  },
  {
    name: 'ClientIP affinity: every new connection of a client reaches the same backend',
    steps: Array.from({ length: 8 }, (_, i): Step => ({
      prog: 'fromPod', packet: syn(CLIENT, 41000 + i, '10.96.0.13', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW',
      check: (out, ctx) => {
        ctx.sticky ??= out.daddr;
        expect(out.daddr).toBe(ctx.sticky);
      },
    })),
  },
  {
    name: 'without affinity, new connections spread over the backends',
    steps: Array.from({ length: 30 }, (_, i): Step => ({
      prog: 'fromPod', packet: syn(CLIENT, 42000 + i, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW',
      check: (out, ctx) => {
        ctx[out.daddr] = 'seen';
        if (i === 29) expect(ECHO_PODS.filter((p) => ctx[p]).length).toBeGreaterThan(1);
      },
    })),
  },
  {
    name: 'a connection closed with FIN starts over at the next SYN of its 5-tuple',
    steps: [
      { prog: 'fromPod', packet: syn(CLIENT, 40005, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW' },
      { prog: 'fromPod', packet: tcp(CLIENT, 40005, '10.96.0.10', 80, { flags: { fin: true, ack: true } }), verdict: TC_ACT_OK, reason: 'REASON_LB_ESTABLISHED' },
      { prog: 'fromPod', packet: syn(CLIENT, 40005, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW' },
    ],
  },
  {
    name: 'hairpin: a pod reaching itself through its service is SNATed to the loopback and sent straight back',
    steps: [
      {
        prog: 'fromPod', packet: syn(POD1, 43000, '10.96.0.14', 80), verdict: TC_ACT_REDIRECT, reason: 'REASON_HAIRPIN',
        out: { ...swappedMacs, saddr: LB4_LOOPBACK, sport: 43000, daddr: POD1, dport: 8080 },
      },
      {
        prog: 'fromPod', packet: tcp(POD1, 8080, LB4_LOOPBACK, 43000, { flags: { syn: true, ack: true } }), verdict: TC_ACT_REDIRECT, reason: 'REASON_REV_NAT',
        out: { ...swappedMacs, saddr: '10.96.0.14', sport: 80, daddr: POD1, dport: 43000 },
      },
      {
        prog: 'fromPod', packet: tcp(POD1, 43000, '10.96.0.14', 80), verdict: TC_ACT_REDIRECT, reason: 'REASON_HAIRPIN',
        out: { saddr: LB4_LOOPBACK, daddr: POD1, dport: 8080 },
      },
    ],
  },
  {
    name: 'NodePort from outside to a remote backend: SNAT to the node IP, replies restored',
    steps: [
      {
        prog: 'fromNetdev', packet: syn(EXTERNAL, 45000, NODE_IP, 30080), verdict: FORWARDED, reason: 'REASON_LB_NEW',
        out: { saddr: NODE_IP, sport: 45000, daddr: REMOTE_A, dport: 8080 },
        check: (out, _c, verdict) => expect(out.ttl).toBe(verdict === TC_ACT_REDIRECT ? 63 : 64),
      },
      {
        prog: 'fromNetdev', packet: tcp(REMOTE_A, 8080, NODE_IP, 45000, { flags: { syn: true, ack: true } }), verdict: FORWARDED, reason: 'REASON_REV_NAT',
        out: { saddr: NODE_IP, sport: 30080, daddr: EXTERNAL, dport: 45000 },
      },
      { prog: 'fromNetdev', packet: tcp(EXTERNAL, 45000, NODE_IP, 30080), verdict: FORWARDED, reason: 'REASON_LB_ESTABLISHED', out: { saddr: NODE_IP, daddr: REMOTE_A } },
    ],
  },
  {
    name: 'NodePort with externalTrafficPolicy Local: a local backend, the client address kept',
    steps: [
      {
        prog: 'fromNetdev', packet: syn(EXTERNAL, 45001, NODE_IP, 30081), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW',
        out: { saddr: EXTERNAL, sport: 45001, daddr: POD1, dport: 8080 },
      },
      {
        prog: 'fromPod', packet: tcp(POD1, 8080, EXTERNAL, 45001, { flags: { syn: true, ack: true } }), verdict: FORWARDED, reason: 'REASON_REV_NAT',
        out: { saddr: NODE_IP, sport: 30081, daddr: EXTERNAL, dport: 45001 },
      },
    ],
  },
  {
    name: 'externalTrafficPolicy Local without a local endpoint: dropped from outside, served to pods',
    steps: [
      { prog: 'fromNetdev', packet: syn(EXTERNAL, 45002, NODE_IP, 30082), verdict: TC_ACT_SHOT, reason: 'REASON_DROP_NO_LOCAL_BACKEND' },
      { prog: 'fromPod', packet: syn(CLIENT, 44000, NODE_IP, 30082), verdict: TC_ACT_OK, reason: 'REASON_LB_NEW', out: { daddr: REMOTE_B, dport: 8080 } },
    ],
  },
  {
    name: 'ClusterIPs are not served from outside',
    steps: [{ prog: 'fromNetdev', packet: syn(EXTERNAL, 45003, '10.96.0.10', 80), verdict: TC_ACT_OK, reason: 'REASON_PASS', unchanged: true }],
  },
  {
    name: 'IPv4 fragments pass untouched',
    steps: [{ prog: 'fromPod', packet: () => fragment(udp(CLIENT, 50004, '10.96.0.11', 53)), verdict: TC_ACT_OK, reason: 'REASON_PASS_FRAGMENT', unchanged: true }],
  },
  {
    name: 'a truncated TCP header is dropped',
    steps: [{ prog: 'fromPod', packet: () => buildPacket(syn(CLIENT, 40006, '10.96.0.10', 80)).subarray(0, ETH_HLEN + 20 + 10), verdict: TC_ACT_SHOT, reason: 'REASON_DROP_INVALID' }],
  },
];

function arpRequest(): Buffer {
  const f = Buffer.alloc(42);
  Buffer.from('ffffffffffff', 'hex').copy(f, 0);
  Buffer.from(POD_MAC.replaceAll(':', ''), 'hex').copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // htype ethernet
  f.writeUInt16BE(0x0800, 16);
  f.writeUInt8(6, 18);
  f.writeUInt8(4, 19);
  f.writeUInt16BE(1, 20); // request
  return f;
}

/** the first fragment of a datagram: more-fragments set, header checksum redone */
function fragment(spec: PacketSpec): Buffer {
  const p = buildPacket(spec);
  p.writeUInt16BE(0x2000, ETH_HLEN + 6);
  p.writeUInt16BE(0, ETH_HLEN + 10);
  p.writeUInt16BE(internetChecksum(p.subarray(ETH_HLEN, ETH_HLEN + 20)), ETH_HLEN + 10);
  return p;
}

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('lb_tc.bpf.o through BPF_PROG_TEST_RUN (root only)', () => {
  let dp: BpfDatapathObject;

  beforeAll(async () => {
    await run(['make', '-s', '-C', fileURLToPath(new URL('../../../bpf/', import.meta.url))], { timeoutMs: 120_000 });
    dp = await BpfDatapathObject.load({ pinDir: `dpb-unit-${randomBytes(3).toString('hex')}/lb-tc` });
    const entries = computeEntries(clusterState(), NODE, newEntryIds());
    const services = dp.map(MAP_NAMES.services);
    const backends = dp.map(MAP_NAMES.backends);
    for (const b of entries.backends) backends.update(encodeBackendId(b.id), encodeLb4Backend(b));
    for (const s of entries.frontends.flatMap(serviceEntries)) services.update(encodeLb4Key(s), encodeLb4Service(s));
  });

  afterAll(async () => {
    await dp?.[Symbol.asyncDispose]();
  });

  const counters = () => new Map(dp.metrics().map((m) => [`${m.reason}/${m.dir}`, m.packets]));

  it.each(FLOWS)('$name', ({ steps }) => {
    const ctx: Ctx = {};
    steps.forEach((step, i) => {
      const where = `step ${i + 1} (${step.prog})`;
      const given = typeof step.packet === 'function' ? step.packet(ctx) : step.packet;
      const input = Buffer.isBuffer(given) ? given : buildPacket(given);
      const before = counters();
      const result = dp.program(PROGRAMS[step.prog]).testRun(input);

      const verdicts = typeof step.verdict === 'number' ? [step.verdict] : step.verdict;
      expect(verdicts, `${where}: verdict ${result.retval}`).toContain(result.retval);
      // exactly one packet counted, with the expected reason and direction
      const after = counters();
      const counted = [...after].filter(([k, n]) => n !== (before.get(k) ?? 0)).map(([k, n]) => [k, n - (before.get(k) ?? 0)]);
      const key = `${REASONS[step.reason]}/${DIR_OF[step.prog]}`;
      expect(counted, `${where}: counted ${counted.map(([k]) => reasonLabel(Number(String(k).split('/')[0])))}`).toEqual([[key, 1]]);

      if (step.unchanged) expect(result.data.equals(input), `${where}: packet modified`).toBe(true);
      if (result.retval === TC_ACT_SHOT || result.data.readUInt16BE(12) !== 0x0800) return;
      const out = parsePacket(result.data);
      expectValidChecksums(out, where);
      const want = typeof step.out === 'function' ? step.out(ctx) : step.out;
      if (want) expect(out, where).toMatchObject(want);
      step.check?.(out, ctx, result.retval);
    });
  });

  it('keeps both conntrack entries of a flow, each with the rewrite its direction needs', () => {
    const ct = dp.map(MAP_NAMES.conntrack);
    const entry = (k: Ct4Key) => decodeCt4Entry(ct.lookup(encodeCt4Key(k))!);
    // the hairpin flow above: pod1:43000 → 10.96.0.14:80, served by pod1:8080
    expect(entry({ saddr: POD1, daddr: '10.96.0.14', sport: 43000, dport: 80, proto: 6, dir: CT_FORWARD })).toMatchObject({
      newSaddr: LB4_LOOPBACK, newDaddr: POD1, newSport: 0, newDport: 8080, flags: CT_F_HAIRPIN,
    });
    expect(entry({ saddr: POD1, daddr: LB4_LOOPBACK, sport: 8080, dport: 43000, proto: 6, dir: CT_REPLY })).toMatchObject({
      newSaddr: '10.96.0.14', newSport: 80, newDaddr: POD1, newDport: 0, flags: CT_F_HAIRPIN,
    });
    // the SNATed NodePort flow: external:45000 → node:30080, served by 10.244.1.10:8080
    expect(entry({ saddr: REMOTE_A, daddr: NODE_IP, sport: 8080, dport: 45000, proto: 6, dir: CT_REPLY })).toMatchObject({
      newSaddr: NODE_IP, newSport: 30080, newDaddr: EXTERNAL, newDport: 45000, flags: CT_F_EXTERNAL | CT_F_SNAT,
    });
  });
});
