// SPDX-License-Identifier: Apache-2.0
// Test builds of BPF objects in temporary directories: lb_tc.bpf.c with other map sizes (through bpf/Makefile, so
// the flags cannot drift), and a program the verifier must refuse.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../../src/util/exec.ts';

export const BPF_DIR = fileURLToPath(new URL('../../../bpf/', import.meta.url));

/** a tc program that reads packet data without checking data_end: it compiles, and the verifier must say no */
const UNCHECKED_READ = `// SPDX-License-Identifier: GPL-2.0-only
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int tc_from_pod(struct __sk_buff *skb)
{
	return *(volatile __u32 *)(long)skb->data;
}

char _license[] SEC("license") = "GPL";
`;

export class TestBuilds {
  private readonly dirs: string[] = [];

  private tmp(): string {
    const dir = mkdtempSync(join(tmpdir(), 'dpb-bpf-'));
    this.dirs.push(dir);
    return dir;
  }

  /** bpf/build/lb_tc.bpf.o as bpf/Makefile builds it, with e.g. ['-DMAX_CT_ENTRIES=64'] */
  async lbTc(defines: string[]): Promise<string> {
    const dir = this.tmp();
    await run(['make', '-s', '-C', BPF_DIR, `BUILD=${dir}`, `EXTRA_CFLAGS=${defines.join(' ')}`], { timeoutMs: 120_000 });
    return join(dir, 'lb_tc.bpf.o');
  }

  /** an object whose tc_from_pod the verifier rejects (unchecked packet access) */
  async rejectedByVerifier(): Promise<string> {
    const dir = this.tmp();
    writeFileSync(join(dir, 'bad.bpf.c'), UNCHECKED_READ);
    const multiarch = (await run(['clang', '-print-multiarch'], { allowFail: true })).stdout.trim() || 'x86_64-linux-gnu';
    await run(['clang', '-O2', '-g', '-target', 'bpf', `-I/usr/include/${multiarch}`, '-c', join(dir, 'bad.bpf.c'), '-o', join(dir, 'bad.bpf.o')], {
      timeoutMs: 60_000,
    });
    return join(dir, 'bad.bpf.o');
  }

  remove(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
