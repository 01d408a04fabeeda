// SPDX-License-Identifier: Apache-2.0
// Faults at the object level, root only (programs are loaded, nothing is attached): an object that is missing or
// that the verifier refuses throws with libbpf's and the verifier's words and leaves no pin behind; a conntrack
// table that fills up evicts its least recently used flow and every outcome is counted under its own reason.
//
//   client 10.244.0.10 ─eth0══lxc0─▶ tc_from_pod ─▶ 10.96.0.10:80 → 10.244.1.10:8080   (dp_ct4: 64 entries)
import { existsSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceObjects } from '../../../src/cluster/objects.ts';
import { MAP_NAMES, encodeBackendId, encodeLb4Backend, encodeLb4Key, encodeLb4Service } from '../../../src/datapath/bpf/codec.ts';
import { LibbpfError } from '../../../src/datapath/bpf/libbpf.ts';
import { BpfDatapathObject, PROGRAMS } from '../../../src/datapath/bpf/object.ts';
import { REASONS, type ReasonName } from '../../../src/datapath/bpf/reasons.ts';
import { computeEntries, newEntryIds, serviceEntries } from '../../../src/datapath/ebpf/entries.ts';
import { SYN_OPTIONS, buildPacket, TC_ACT_OK, TC_ACT_SHOT } from './packet.ts';
import { TestBuilds } from './build.ts';

const isRoot = process.getuid?.() === 0;
const CT_SIZE = 64;

describe.skipIf(!isRoot)('BPF object faults (root only)', () => {
  const builds = new TestBuilds();
  const run = `dpb-unit-${randomBytes(3).toString('hex')}`;

  afterAll(() => builds.remove());

  it('a missing object throws with what to do, and pins nothing', async () => {
    const err = await BpfDatapathObject.load({ pinDir: `${run}/missing`, objectPath: '/nonexistent/lb_tc.bpf.o' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibbpfError);
    expect((err as Error).message).toMatch(/opening BPF object \/nonexistent\/lb_tc\.bpf\.o: .*\(errno 2\)/);
    expect((err as Error).message).toContain('make -C bpf');
    expect(existsSync(`/sys/fs/bpf/${run}`)).toBe(false);
  });

  it('a program the verifier refuses throws with the verifier log, and pins nothing', async () => {
    const bad = await builds.rejectedByVerifier();
    const err = await BpfDatapathObject.load({ pinDir: `${run}/rejected`, objectPath: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LibbpfError);
    const message = (err as Error).message;
    expect(message).toMatch(/^loading BPF object .*bad\.bpf\.o: /);
    expect(message).toContain('verifier log');
    expect(message).toMatch(/invalid access to packet/);
    expect(existsSync(`/sys/fs/bpf/${run}`)).toBe(false);
  });

  it('a refused object leaves the pins of a live datapath in the same directory alone', async () => {
    await using live = await BpfDatapathObject.load({ pinDir: `${run}/shared` });
    const pins = readdirSync(live.pinPath).sort();
    await expect(BpfDatapathObject.load({ pinDir: `${run}/shared`, objectPath: await builds.rejectedByVerifier() })).rejects.toThrow(/invalid access to packet/);
    expect(readdirSync(live.pinPath).sort()).toEqual(pins);
  });

  describe('a full conntrack table', () => {
    let dp: BpfDatapathObject;

    beforeAll(async () => {
      dp = await BpfDatapathObject.load({ pinDir: `${run}/small-ct`, objectPath: await builds.lbTc([`-DMAX_CT_ENTRIES=${CT_SIZE}`]) });
      const { service, slice } = serviceObjects({
        namespace: 't', name: 'echo', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }], backends: [{ ip: '10.244.1.10', nodeName: 'node1' }],
      });
      const node = { nodeName: 'node0', nodeIPs: ['172.18.0.2'], clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.0.0/24' };
      const entries = computeEntries({ services: [service], endpointSlices: [slice], pods: [], namespaces: [] }, node, newEntryIds());
      for (const b of entries.backends) dp.map(MAP_NAMES.backends).update(encodeBackendId(b.id), encodeLb4Backend(b));
      for (const s of entries.frontends.flatMap(serviceEntries)) dp.map(MAP_NAMES.services).update(encodeLb4Key(s), encodeLb4Service(s));
    }, 120_000);

    afterAll(async () => {
      await dp?.[Symbol.asyncDispose]();
      expect(existsSync(`/sys/fs/bpf/${run}`)).toBe(false);
    });

    const counted = (): Partial<Record<ReasonName, number>> => {
      const names = new Map<number, ReasonName>(Object.entries(REASONS).map(([k, v]) => [v, k as ReasonName]));
      const out: Partial<Record<ReasonName, number>> = {};
      for (const m of dp.metrics()) out[names.get(m.reason)!] = (out[names.get(m.reason)!] ?? 0) + m.packets;
      return out;
    };
    const packet = (sport: number, syn: boolean) =>
      buildPacket({ saddr: '10.244.0.10', daddr: '10.96.0.10', proto: 'tcp', sport, dport: 80, ...(syn ? { flags: { syn: true }, tcpOptions: SYN_OPTIONS } : { flags: { ack: true } }) });

    it('serves new flows by evicting old ones; the evicted flow is dropped as drop_no_ct_entry, never passed', () => {
      const flows = 4 * CT_SIZE; // two entries per flow: eight times what fits
      const created: number[] = [];
      for (let i = 0; i < flows; i++) {
        const { retval } = dp.program(PROGRAMS.fromPod).testRun(packet(20000 + i, true));
        expect([TC_ACT_OK, TC_ACT_SHOT]).toContain(retval);
        if (retval === TC_ACT_OK) created.push(20000 + i);
      }
      const afterSyns = counted();
      // every SYN is counted once: forwarded with a new flow, or (an LRU that found nothing to evict on this CPU)
      // dropped as drop_ct_map_full; nothing goes uncounted or out unrewritten
      expect((afterSyns.REASON_LB_NEW ?? 0) + (afterSyns.REASON_DROP_CT_MAP_FULL ?? 0)).toBe(flows);
      expect(afterSyns.REASON_LB_NEW).toBeGreaterThanOrEqual(flows / 2);
      expect(Object.keys(afterSyns).every((k) => k === 'REASON_LB_NEW' || k === 'REASON_DROP_CT_MAP_FULL')).toBe(true);
      expect(dp.map(MAP_NAMES.conntrack).entries().length).toBeLessThanOrEqual(CT_SIZE);

      // the first flow's entries were the least recently used: its next packet cannot be rewritten
      expect(created[0]).toBe(20000);
      const { retval } = dp.program(PROGRAMS.fromPod).testRun(packet(20000, false));
      expect(retval).toBe(TC_ACT_SHOT);
      expect(counted().REASON_DROP_NO_CT_ENTRY).toBe(1);
      // the newest flow is still known
      expect(dp.program(PROGRAMS.fromPod).testRun(packet(created.at(-1)!, false)).retval).toBe(TC_ACT_OK);
      expect(counted().REASON_LB_ESTABLISHED).toBe(1);
    });
  });
});
