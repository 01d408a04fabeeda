// SPDX-License-Identifier: Apache-2.0
// The one way dpbench runs external commands: argv arrays (never shell strings), optional network
// namespace, timeout, stdin, and a CommandError with command, exit code, signal, stderr and duration.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { CommandError } from '../errors.ts';

export const NETNS_DIR = '/run/netns';

export interface RunOptions {
  /** run inside this network namespace (via nsenter, which keeps /sys and bpffs visible) */
  netns?: string;
  /** kill the command after this long; default 60 s */
  timeoutMs?: number;
  /** written to the command's stdin */
  input?: string;
  /** resolve with the result instead of throwing on a non-zero exit */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
  /** kill the command when this aborts (SIGINT/SIGTERM of the run) */
  signal?: AbortSignal;
}

export interface RunResult {
  argv: string[];
  stdout: string;
  stderr: string;
  code: number | null;
  signal: string | null;
  durationMs: number;
}

/** argv prefixed so it runs inside a network namespace. */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns ? ['nsenter', `--net=${NETNS_DIR}/${netns}`, '--', ...argv] : [...argv];
}

export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = inNetns(opts.netns, argv);
  const started = performance.now();
  const [cmd, ...args] = full;
  return await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    const onAbort = (): void => void child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new CommandError(full, null, null, String(e.message), performance.now() - started, opts.netns));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const result: RunResult = {
        argv: [...argv],
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code,
        signal,
        durationMs: performance.now() - started,
      };
      if ((code === 0 && !signal) || opts.allowFail) resolve(result);
      else reject(new CommandError(argv, code, signal, result.stderr, result.durationMs, opts.netns));
    });
    child.stdin!.on('error', () => {}); // a command that exits before reading stdin is not our error
    child.stdin!.end(opts.input ?? '');
  });
}

/** A long-running process we started (netserver, an agent): killed by pid on dispose, never by name. */
export class ManagedProcess implements AsyncDisposable {
  readonly child: ChildProcess;
  private exited: Promise<void>;
  stderrTail = '';

  /**
   * detached: the process outlives dpbench (`dpbench lab up`); its pid is recorded so `lab down` can stop it.
   */
  constructor(argv: readonly string[], opts: { netns?: string; ipc?: boolean; detached?: boolean; env?: NodeJS.ProcessEnv } = {}) {
    const full = inNetns(opts.netns, argv);
    const spawnOpts: SpawnOptions = {
      stdio: opts.detached ? 'ignore' : opts.ipc ? ['ignore', 'ignore', 'pipe', 'ipc'] : ['ignore', 'ignore', 'pipe'],
      env: opts.env ?? process.env,
      serialization: opts.ipc ? 'advanced' : undefined,
      detached: opts.detached ?? false,
    };
    this.child = spawn(full[0]!, full.slice(1), spawnOpts);
    if (opts.detached) this.child.unref();
    this.child.stderr?.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString()).slice(-4000);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.once('error', () => resolve());
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after graceMs. Only this pid. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
