// SPDX-License-Identifier: Apache-2.0
// The environment written next to every result: kernel, CPU, tool versions, sysctls, git revision.
import { cpus, release, totalmem, hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { run } from '../util/exec.ts';
import { PROJECT_ROOT } from '../runner/scenario/load.ts';

export interface Environment {
  kernel: string;
  os: string;
  cpu: { model: string; count: number; governor?: string };
  memoryBytes: number;
  hostname: string;
  node: string;
  tools: Record<string, string>;
  /** sysctls of the machine's own namespace that shape results (read only) */
  sysctls: Record<string, string>;
  /** sysctls dpbench sets inside each lab pod namespace */
  podSysctls: Record<string, string | number>;
  git: { revision: string; dirty: boolean } | null;
}

async function firstLine(argv: string[]): Promise<string> {
  const r = await run(argv, { allowFail: true, timeoutMs: 5000 }).catch(() => undefined);
  return r ? `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '' : 'not found';
}

function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

const SYSCTLS = [
  'net/core/somaxconn',
  'net/core/netdev_max_backlog',
  'net/ipv4/tcp_congestion_control',
  'net/netfilter/nf_conntrack_max',
  'kernel/numa_balancing',
];

export async function captureEnvironment(podSysctls: Record<string, string | number>): Promise<Environment> {
  const tools: Record<string, string> = {};
  const versions: [string, string[]][] = [
    ['netperf', ['netperf', '-V']],
    ['iptables-nft', ['iptables-nft', '--version']],
    ['iptables-legacy', ['iptables-legacy', '--version']],
    ['nft', ['nft', '--version']],
    ['iproute2', ['ip', '-V']],
    ['conntrack', ['conntrack', '--version']],
    ['clang', ['clang', '--version']],
  ];
  await Promise.all(versions.map(async ([name, argv]) => (tools[name] = await firstLine(argv))));
  const rev = await run(['git', '-C', PROJECT_ROOT, 'rev-parse', 'HEAD'], { allowFail: true }).catch(() => undefined);
  const dirty = await run(['git', '-C', PROJECT_ROOT, 'status', '--porcelain'], { allowFail: true }).catch(() => undefined);
  const osRelease = readOr('/etc/os-release');
  return {
    kernel: release(),
    os: /PRETTY_NAME="([^"]+)"/.exec(osRelease)?.[1] ?? 'unknown',
    cpu: {
      model: cpus()[0]?.model ?? 'unknown',
      count: cpus().length,
      governor: readOr('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor') || undefined,
    },
    memoryBytes: totalmem(),
    hostname: hostname(),
    node: process.version,
    tools,
    sysctls: Object.fromEntries(SYSCTLS.map((k) => [k.replaceAll('/', '.'), readOr(`/proc/sys/${k}`, 'n/a')])),
    podSysctls,
    git: rev && rev.code === 0 ? { revision: rev.stdout.trim(), dirty: (dirty?.stdout.trim().length ?? 0) > 0 } : null,
  };
}
