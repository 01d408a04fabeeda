// SPDX-License-Identifier: Apache-2.0
// Every prerequisite of a run, each with pass/fail, what was found and how to fix it. `dpbench doctor` prints them
// all; `dpbench run` and `lab up` check the ones they need before creating anything.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { run } from '../util/exec.ts';
import { PrereqError } from '../errors.ts';

export interface Check {
  name: string;
  ok: boolean;
  /** what was found: a version, a path, a reason */
  detail: string;
  fix: string;
  /** false: only some datapaths or features need it */
  required: boolean;
}

const SETUP_FIX = 'sudo bash scripts/setup.sh (installs Debian packages, npm packages, mounts bpffs)';

/** binaries, the flag that prints their version, and whether every run needs them */
const BINARIES: [bin: string, versionArgs: string[], required: boolean][] = [
  ['ip', ['-V'], true],
  ['nsenter', ['--version'], true],
  ['sysctl', ['--version'], true],
  ['ethtool', ['--version'], true],
  ['iptables-nft', ['--version'], true],
  ['iptables-nft-restore', ['--version'], true],
  ['iptables-legacy', ['--version'], false],
  ['iptables-legacy-restore', ['--version'], false],
  ['conntrack', ['--version'], true],
  ['netperf', ['-V'], true],
  ['netserver', ['-V'], true],
  ['nft', ['--version'], false],
  ['ipset', ['--version'], false],
  ['tc', ['-V'], false],
  ['clang', ['--version'], false],
  ['bpftool', ['version'], false],
];

async function binaryCheck(bin: string, args: string[], required: boolean): Promise<Check> {
  const res = await run([bin, ...args], { allowFail: true, timeoutMs: 5000 }).catch(() => undefined);
  const found = res !== undefined && (res.code === 0 || `${res.stdout}${res.stderr}`.length > 0);
  const version = found ? `${res!.stdout}${res!.stderr}`.trim().split('\n')[0]!.slice(0, 100) : 'not found on PATH';
  return { name: `binary ${bin}`, ok: found, detail: version, fix: SETUP_FIX, required };
}

function fileCheck(name: string, path: string, fix: string, required: boolean): Check {
  const ok = existsSync(path);
  return { name, ok, detail: ok ? path : `${path} missing`, fix, required };
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split(/[.-]/).map(Number);
  return a > major || (a === major && b >= minor);
}

export async function collectChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  const uid = process.getuid?.() ?? -1;
  checks.push({ name: 'running as root', ok: uid === 0, detail: `uid ${uid}`, fix: 'run as root: sudo npm run bench -- <scenario>, or sudo npx dpbench …', required: true });
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  checks.push({ name: 'Node.js >= 20', ok: nodeMajor >= 20, detail: process.version, fix: 'install Node.js 20 or newer', required: true });
  checks.push(fileCheck('npm packages installed', new URL('../../node_modules/zod/package.json', import.meta.url).pathname, SETUP_FIX, true));
  checks.push(...(await Promise.all(BINARIES.map(([b, a, r]) => binaryCheck(b, a, r)))));
  checks.push(fileCheck('kernel: network namespaces', '/proc/self/ns/net', 'a kernel built with CONFIG_NET_NS', true));
  checks.push(fileCheck('kernel: netfilter conntrack', '/proc/sys/net/netfilter', 'modprobe nf_conntrack', false));
  checks.push(fileCheck('kernel: BTF (/sys/kernel/btf/vmlinux)', '/sys/kernel/btf/vmlinux', 'a kernel built with CONFIG_DEBUG_INFO_BTF (needed by the ebpf datapaths)', false));
  const bpffs = readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf');
  checks.push({ name: 'bpffs mounted at /sys/fs/bpf', ok: bpffs, detail: bpffs ? 'mounted' : 'not mounted', fix: 'mount -t bpf bpf /sys/fs/bpf', required: false });
  checks.push({ name: 'kernel >= 6.6 (tcx links)', ok: kernelAtLeast(6, 6), detail: release(), fix: 'older kernels fall back to legacy tc attachment', required: false });
  return checks;
}

/** throws a PrereqError naming every failed required check and its fix */
export async function requirePrereqs(): Promise<void> {
  const failed = (await collectChecks()).filter((c) => c.required && !c.ok);
  if (failed.length) {
    throw new PrereqError(
      `missing prerequisites (nothing was created):\n${failed.map((c) => `  - ${c.name}: ${c.detail}\n    fix: ${c.fix}`).join('\n')}\n` +
        'Run `dpbench doctor` for the full list.',
    );
  }
}
