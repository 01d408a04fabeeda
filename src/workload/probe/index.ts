// SPDX-License-Identifier: Apache-2.0
// Runner side of the prober: argv to start it in a namespace, and a call that runs it and parses its report.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../runner/scenario/load.ts';
import { run } from '../../util/exec.ts';
import type { ProbeReport } from './probe.ts';

export type { ProbeReport };

const PROBE = join(PROJECT_ROOT, 'src/workload/probe/probe.ts');

export function probeServerArgv(port: number, name: string, udp = false): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), PROBE, 'serve', '--port', String(port), '--name', name, ...(udp ? ['--udp'] : [])];
}

export async function probeConnect(netns: string, host: string, port: number, count: number, opts: { timeoutMs?: number; udp?: boolean } = {}): Promise<ProbeReport> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const argv = [process.execPath, '--import', import.meta.resolve('tsx'), PROBE, 'connect', '--host', host, '--port', String(port), '--count', String(count), '--timeout-ms', String(timeoutMs), ...(opts.udp ? ['--udp'] : [])];
  const res = await run(argv, { netns, timeoutMs: count * (timeoutMs + 100) + 15_000 });
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as ProbeReport;
}
