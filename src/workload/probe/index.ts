// SPDX-License-Identifier: Apache-2.0
// Runner side of the prober: argv to start it in a namespace, and a call that runs it and parses its report.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../runner/scenario/load.ts';
import { run } from '../../util/exec.ts';
import type { ProbeReport } from './probe.ts';

export type { ProbeReport };

const PROBE = join(PROJECT_ROOT, 'src/workload/probe/probe.ts');

/** a prober server answering on the given TCP and UDP ports with "<name> <port> <peer address>" */
export function probeServerArgv(name: string, ports: { tcp?: number[]; udp?: number[] }): string[] {
  return [
    process.execPath, '--import', import.meta.resolve('tsx'), PROBE, 'serve', '--name', name,
    ...(ports.tcp?.length ? ['--tcp', ports.tcp.join(',')] : []),
    ...(ports.udp?.length ? ['--udp', ports.udp.join(',')] : []),
  ];
}

export async function probeConnect(netns: string, host: string, port: number, count: number, opts: { timeoutMs?: number; udp?: boolean } = {}): Promise<ProbeReport> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const argv = [process.execPath, '--import', import.meta.resolve('tsx'), PROBE, 'connect', '--host', host, '--port', String(port), '--count', String(count), '--timeout-ms', String(timeoutMs), ...(opts.udp ? ['--proto', 'udp'] : [])];
  const res = await run(argv, { netns, timeoutMs: count * (timeoutMs + 100) + 15_000 });
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as ProbeReport;
}

/** waits until a prober server answers (servers take a moment to start); throws with the last report if not */
export async function waitForServer(netns: string, host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: ProbeReport | undefined;
  while (Date.now() < deadline) {
    last = await probeConnect(netns, host, port, 1, { timeoutMs: 500 });
    if (Object.keys(last.replies).length) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no prober server answered on ${host}:${port} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}
