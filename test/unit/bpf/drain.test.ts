// SPDX-License-Identifier: Apache-2.0
// Endpoints that stop taking new connections, through BPF_PROG_TEST_RUN with the maps the agent's diff writes:
// a terminating endpoint leaves its slot but keeps its backend entry, so its established flows drain (kube-proxy
// leaves their conntrack alone) while new flows go elsewhere; an endpoint gone from the slice ends its flows.
//
//   client 10.244.0.10 ─lxc0─▶ tc_from_pod ─▶ web 10.96.0.30:80 → A 10.244.1.10 | B 10.244.1.11 :8080
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceObjects, type ServiceSpecLite } from '../../../src/cluster/objects.ts';
import type { ClusterState } from '../../../src/cluster/state.ts';
import { MAP_NAMES, encodeBackendId, encodeLb4Backend, encodeLb4Key, encodeLb4Service } from '../../../src/datapath/bpf/codec.ts';
import { BpfDatapathObject, PROGRAMS } from '../../../src/datapath/bpf/object.ts';
import { REASONS } from '../../../src/datapath/bpf/reasons.ts';
import { computeEntries, diffEntries, indexEntries, newEntryIds, type EntryDiff, type EntryIndex } from '../../../src/datapath/ebpf/entries.ts';
import { SYN_OPTIONS, buildPacket, parsePacket, TC_ACT_OK, TC_ACT_SHOT } from './packet.ts';

const isRoot = process.getuid?.() === 0;
const CLIENT = '10.244.0.10';
const VIP = '10.96.0.30';
const A = '10.244.1.10';
const B = '10.244.1.11';
const NODE = { nodeName: 'node0', nodeIPs: ['172.18.0.2'], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };

function web(backends: ServiceSpecLite['backends']): ClusterState {
  const { service, slice } = serviceObjects({ namespace: 't', name: 'web', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 8080 }], backends });
  return { services: [service], endpointSlices: [slice], pods: [], namespaces: [] };
}

describe.skipIf(!isRoot)('draining endpoints (root only)', () => {
  let dp: BpfDatapathObject;
  const ids = newEntryIds();
  let programmed: EntryIndex | undefined;

  /** what the agent does, minus batching: upserts, then deletes */
  function sync(state: ClusterState): EntryDiff {
    const next = indexEntries(computeEntries(state, NODE, ids));
    const d = diffEntries(programmed, next);
    const services = dp.map(MAP_NAMES.services);
    const backends = dp.map(MAP_NAMES.backends);
    for (const b of d.upsertBackends) backends.update(encodeBackendId(b.id), encodeLb4Backend(b));
    for (const e of [...d.upsertSlots, ...d.upsertFrontends]) services.update(encodeLb4Key(e), encodeLb4Service(e));
    for (const e of [...d.deleteFrontends, ...d.deleteSlots]) services.delete(encodeLb4Key(e));
    for (const b of d.deleteBackends) backends.delete(encodeBackendId(b.id));
    programmed = next;
    return d;
  }

  const send = (sport: number, syn: boolean) =>
    dp.program(PROGRAMS.fromPod).testRun(
      buildPacket({ saddr: CLIENT, daddr: VIP, proto: 'tcp', sport, dport: 80, ...(syn ? { flags: { syn: true }, tcpOptions: SYN_OPTIONS } : { flags: { ack: true } }) }),
    );
  const dropsNoCt = () => dp.metrics().filter((m) => m.reason === REASONS.REASON_DROP_NO_CT_ENTRY).reduce((n, m) => n + m.packets, 0);

  beforeAll(async () => {
    dp = await BpfDatapathObject.load({ pinDir: `dpb-unit-${randomBytes(3).toString('hex')}/drain` });
  });

  afterAll(async () => {
    await dp?.[Symbol.asyncDispose]();
  });

  it('a terminating endpoint keeps its established flows and gets no new ones; gone, its flows end', () => {
    sync(web([{ ip: A, nodeName: 'node1' }, { ip: B, nodeName: 'node1' }]));
    // open flows until one lands on B
    let onB: number | undefined;
    for (let sport = 30000; sport < 30064 && onB === undefined; sport++) {
      const r = send(sport, true);
      expect(r.retval).toBe(TC_ACT_OK);
      if (parsePacket(r.data).daddr === B) onB = sport;
    }
    expect(onB).toBeDefined();

    // B terminates: out of the slots, still a backend
    const d = sync(web([{ ip: A, nodeName: 'node1' }, { ip: B, nodeName: 'node1', ready: false, serving: true, terminating: true }]));
    expect(d.deleteSlots.map((s) => s.slot)).toEqual([2]);
    expect(d.deleteBackends).toEqual([]);
    const established = send(onB!, false);
    expect(established.retval).toBe(TC_ACT_OK);
    expect(parsePacket(established.data)).toMatchObject({ daddr: B, dport: 8080 });
    for (let sport = 31000; sport < 31020; sport++) expect(parsePacket(send(sport, true).data).daddr).toBe(A);

    // B leaves the slice: its backend goes, and so does its flow
    expect(sync(web([{ ip: A, nodeName: 'node1' }])).deleteBackends.map((b) => b.address)).toEqual([B]);
    const before = dropsNoCt();
    expect(send(onB!, false).retval).toBe(TC_ACT_SHOT);
    expect(dropsNoCt()).toBe(before + 1);
  });
});
