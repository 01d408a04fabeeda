// SPDX-License-Identifier: Apache-2.0
// The codec against the compiled object's BTF: every struct's size and every field's offset and byte order.
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as codec from '../../../src/datapath/bpf/codec.ts';
import { run } from '../../../src/util/exec.ts';
import { ipToInt } from '../../../src/util/ip.ts';

const BPF_DIR = fileURLToPath(new URL('../../../bpf/', import.meta.url));
const OBJECT = `${BPF_DIR}build/lb_tc.bpf.o`;

interface BtfStruct {
  size: number;
  /** field name → byte offset */
  fields: Record<string, number>;
}

/** STRUCT blocks of `bpftool btf dump file X` (raw format) */
function parseBtf(dump: string): Map<string, BtfStruct> {
  const out = new Map<string, BtfStruct>();
  let current: BtfStruct | undefined;
  for (const line of dump.split('\n')) {
    const head = /^\[\d+\] STRUCT '(\w+)' size=(\d+)/.exec(line);
    if (head) {
      current = { size: Number(head[2]), fields: {} };
      out.set(head[1]!, current);
      continue;
    }
    const field = /^\s+'(\w+)' type_id=\d+ bits_offset=(\d+)/.exec(line);
    if (field && current) current.fields[field[1]!] = Number(field[2]) / 8;
    else if (!line.startsWith('\t')) current = undefined;
  }
  return out;
}

/** what each C field must hold after encoding the sample value: its bytes at the field's BTF offset */
const CASES: { struct: string; size: number; encoded: Buffer; fields: Record<string, number[]> }[] = [
  {
    struct: 'lb4_key',
    size: codec.LB4_KEY_SIZE,
    encoded: codec.encodeLb4Key({ address: '10.96.0.10', port: 0x1f90, slot: 0x0102, proto: 6, scope: 1 }),
    fields: { address: [10, 96, 0, 10], dport: [0x1f, 0x90], slot: [0x02, 0x01], proto: [6], scope: [1], pad: [0, 0] },
  },
  {
    struct: 'lb4_service',
    size: codec.LB4_SERVICE_SIZE,
    encoded: codec.encodeLb4Service({ backendId: 0x01020304, svcId: 5, affinityTimeout: 10800, count: 3, flags: 6 }),
    fields: { backend_id: [4, 3, 2, 1], svc_id: [5, 0, 0, 0], affinity_timeout: [0x30, 0x2a, 0, 0], count: [3, 0], flags: [6, 0] },
  },
  {
    struct: 'lb4_backend',
    size: codec.LB4_BACKEND_SIZE,
    encoded: codec.encodeLb4Backend({ address: '10.244.1.10', port: 8080, proto: 17, flags: codec.BE_F_LOCAL }),
    fields: { address: [10, 244, 1, 10], port: [0x1f, 0x90], proto: [17], flags: [1] },
  },
  {
    struct: 'ct4_key',
    size: codec.CT4_KEY_SIZE,
    encoded: codec.encodeCt4Key({ saddr: '10.244.0.10', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 6, dir: codec.CT_REPLY }),
    fields: { saddr: [10, 244, 0, 10], daddr: [10, 96, 0, 10], sport: [0x9c, 0x40], dport: [0, 80], proto: [6], dir: [1] },
  },
  {
    struct: 'lb4_affinity_key',
    size: codec.AFFINITY_KEY_SIZE,
    encoded: codec.encodeAffinityKey({ client: '10.244.0.10', svcId: 7 }),
    fields: { client: [10, 244, 0, 10], svc_id: [7, 0, 0, 0] },
  },
  {
    struct: 'metrics_key',
    size: codec.METRICS_KEY_SIZE,
    encoded: codec.encodeMetricsKey({ reason: 129, dir: 2 }),
    fields: { reason: [129], dir: [2] },
  },
];

describe('codec ⇄ BTF of bpf/build/lb_tc.bpf.o', () => {
  let btf: Map<string, BtfStruct>;

  beforeAll(async () => {
    await run(['make', '-s', '-C', BPF_DIR], { timeoutMs: 120_000 });
    btf = parseBtf((await run(['bpftool', 'btf', 'dump', 'file', OBJECT])).stdout);
  });

  it.each(CASES)('$struct: size and every field where C expects it', ({ struct, size, encoded, fields }) => {
    const s = btf.get(struct);
    expect(s, `struct ${struct} in the object's BTF`).toBeDefined();
    expect(size).toBe(s!.size);
    expect(encoded.length).toBe(s!.size);
    expect(Object.keys(s!.fields).filter((f) => f !== 'pad').sort()).toEqual(Object.keys(fields).filter((f) => f !== 'pad').sort());
    for (const [field, bytes] of Object.entries(fields)) {
      const off = s!.fields[field]!;
      expect([...encoded.subarray(off, off + bytes.length)], `${struct}.${field}`).toEqual(bytes);
    }
  });

  it('decodes the value structs the programs write', () => {
    expect(btf.get('ct4_entry')!.size).toBe(codec.CT4_ENTRY_SIZE);
    expect(btf.get('lb4_affinity')!.size).toBe(codec.AFFINITY_SIZE);
    expect(btf.get('metrics_value')!.size).toBe(codec.METRICS_VALUE_SIZE);
    const e = Buffer.alloc(codec.CT4_ENTRY_SIZE);
    const f = btf.get('ct4_entry')!.fields;
    Buffer.from([169, 254, 42, 1]).copy(e, f.new_saddr);
    e.writeUInt16BE(8080, f.new_dport!);
    e.writeUInt32LE(42, f.backend_id!);
    e.writeUInt32LE(1234, f.expires!);
    e.writeUInt16LE(codec.CT_F_HAIRPIN | codec.CT_F_CLOSING, f.flags!);
    expect(codec.decodeCt4Entry(e)).toEqual({
      newSaddr: codec.LB4_LOOPBACK, newDaddr: '0.0.0.0', newSport: 0, newDport: 8080, backendId: 42, svcId: 0, expires: 1234, flags: 9,
    });
    const a = Buffer.alloc(codec.AFFINITY_SIZE);
    const af = btf.get('lb4_affinity')!.fields;
    a.writeUInt32LE(3, af.backend_id!);
    a.writeUInt32LE(99, af.last_used!);
    a.writeUInt16LE(2, af.slot!);
    expect(codec.decodeAffinity(a)).toEqual({ backendId: 3, lastUsed: 99, slot: 2 });
  });

  it('round-trips keys and values', () => {
    const key = { address: '172.18.0.2', port: 30080, slot: 0, proto: 6, scope: codec.LB_SCOPE_INT };
    expect(codec.decodeLb4Key(codec.encodeLb4Key(key))).toEqual(key);
    const svc = { backendId: 0, svcId: 9, affinityTimeout: 0, count: 2, flags: codec.SVC_F_EXTERNAL | codec.SVC_F_TWO_SCOPES };
    expect(codec.decodeLb4Service(codec.encodeLb4Service(svc))).toEqual(svc);
    const ct = { saddr: '1.2.3.4', daddr: '5.6.7.8', sport: 1, dport: 65535, proto: 17, dir: 0 };
    expect(codec.decodeCt4Key(codec.encodeCt4Key(ct))).toEqual(ct);
    // packed at an offset, as batch updates write them
    const packed = Buffer.alloc(3 * codec.LB4_KEY_SIZE);
    codec.encodeLb4Key(key, packed, codec.LB4_KEY_SIZE);
    expect(codec.decodeLb4Key(packed, codec.LB4_KEY_SIZE)).toEqual(key);
  });

  it('parses IPv4 addresses as ipToInt does, and refuses what it refuses', () => {
    const outcome = (f: () => number) => {
      try {
        return f();
      } catch (e) {
        return (e as Error).message;
      }
    };
    const inputs = ['0.0.0.0', '10.96.0.1', '172.18.0.250', '255.255.255.255', '1.2.3.04', '', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..3.4', '1.2.3.1000', 'a.b.c.d', '::1'];
    for (const ip of inputs) expect(outcome(() => codec.ipv4ToU32(ip)), ip).toBe(outcome(() => ipToInt(ip)));
    expect(() => codec.ipv4ToU32('1.2.3.256')).toThrow(/is not an IPv4 address/);
  });

  it('sums per-CPU metrics values', () => {
    const v = Buffer.alloc(3 * codec.METRICS_VALUE_SIZE);
    [1, 2, 3].forEach((n, cpu) => {
      v.writeBigUInt64LE(BigInt(n), cpu * 16);
      v.writeBigUInt64LE(BigInt(n * 100), cpu * 16 + 8);
    });
    expect(codec.sumPerCpuMetrics(v)).toEqual({ packets: 6, bytes: 600 });
  });
});

