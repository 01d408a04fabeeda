// SPDX-License-Identifier: Apache-2.0
// Runner side of the prober: argv to start it in a namespace, and a call that runs it and parses its report.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../runner/scenario/load.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { inNetns, run } from '../../util/exec.ts';
import type { ProbeReport } from './probe.ts';
import type { WatchReport } from './watch.ts';
import type { BatchOutcome, BatchTarget } from './batch.ts';

export type { BatchOutcome, BatchTarget, ProbeReport, WatchReport };

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

const WATCH = join(PROJECT_ROOT, 'src/workload/probe/watch.ts');

/** a running propagation watcher (watch.ts) inside a namespace; stop() returns its transitions */
export class Watcher implements AsyncDisposable {
  private readonly child: ChildProcess;
  private out = '';
  readonly ready: Promise<void>;
  private readonly done: Promise<WatchReport>;

  constructor(netns: string | undefined, host: string, port: number, opts: { intervalUs?: number; timeoutMs?: number; maxMs?: number } = {}) {
    const argv = inNetns(netns, [
      process.execPath, '--import', import.meta.resolve('tsx'), WATCH, '--host', host, '--port', String(port),
      '--interval-us', String(opts.intervalUs ?? 500), '--timeout-ms', String(opts.timeoutMs ?? 200), '--max-ms', String(opts.maxMs ?? 60_000),
    ]);
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.ready = new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.out.includes('"ready":true')) resolve();
      };
      this.child.stdout!.on('data', check);
      this.child.once('exit', (code) => reject(new Error(`watcher exited with code ${code} before it was ready`)));
    });
    this.done = new Promise((resolve, reject) => {
      this.child.once('exit', () => {
        const last = this.out.trim().split('\n').pop() ?? '';
        try {
          const report = JSON.parse(last) as WatchReport;
          if ('transitions' in report) resolve(report);
          else reject(new Error(`watcher printed no report: ${last}`));
        } catch {
          reject(new Error(`watcher printed no report: ${last}`));
        }
      });
    });
    this.done.catch(() => {});
  }

  /** ends the watch (closing stdin) and returns its report */
  async stop(): Promise<WatchReport> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

const BATCH = join(PROJECT_ROOT, 'src/workload/probe/batch.ts');

/** tries every target once from inside `netns`, concurrently; outcomes in target order */
export async function probeBatch(netns: string, targets: BatchTarget[], timeoutMs = 500): Promise<BatchOutcome[]> {
  const argv = [process.execPath, '--import', import.meta.resolve('tsx'), BATCH, '--targets', JSON.stringify(targets), '--timeout-ms', String(timeoutMs)];
  const res = await run(argv, { netns, timeoutMs: timeoutMs * (Math.ceil(targets.length / 64) + 1) + 15_000 });
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as BatchOutcome[];
}

const FIRSTOK = join(PROJECT_ROOT, 'src/workload/probe/firstok.ts');

/** a running firstok.ts: add targets, get the send time of each target's first successful connection */
export class FirstOk implements AsyncDisposable {
  private readonly child: ChildProcess;
  private buffer = '';
  private readonly results = new Map<string, { okAt?: number; attempts: number }>();
  private readonly waiters = new Map<string, (r: { okAt?: number; attempts: number }) => void>();
  readonly ready: Promise<void>;

  constructor(netns: string | undefined, opts: { intervalMs?: number; timeoutMs?: number; maxMs?: number } = {}) {
    const argv = inNetns(netns, [
      process.execPath, '--import', import.meta.resolve('tsx'), FIRSTOK,
      '--interval-ms', String(opts.intervalMs ?? 2), '--timeout-ms', String(opts.timeoutMs ?? 100), '--max-ms', String(opts.maxMs ?? 600_000),
    ]);
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
    let readyResolve!: () => void;
    this.ready = new Promise((resolve, reject) => {
      readyResolve = resolve;
      this.child.once('exit', (code) => reject(new Error(`firstok exited with code ${code}`)));
    });
    this.ready.catch(() => {});
    this.child.stdout!.on('data', (d: Buffer) => {
      this.buffer += d.toString();
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop()!;
      for (const line of lines) {
        const o = JSON.parse(line) as { ready?: boolean; id?: string; okAt?: number; attempts?: number };
        if (o.ready) readyResolve();
        if (!o.id) continue;
        const r = { ...(o.okAt !== undefined ? { okAt: o.okAt } : {}), attempts: o.attempts ?? 0 };
        this.results.set(o.id, r);
        this.waiters.get(o.id)?.(r);
      }
    });
  }

  watch(id: string, host: string, port: number): void {
    this.child.stdin!.write(`${JSON.stringify({ id, host, port })}\n`);
  }

  /** resolves with the target's result (okAt undefined when it gave up) */
  result(id: string): Promise<{ okAt?: number; attempts: number }> {
    const known = this.results.get(id);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
