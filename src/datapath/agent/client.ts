// SPDX-License-Identifier: Apache-2.0
// Runner side of the agent RPC: starts the agent process in a node's namespace and calls it with types.
import { join } from 'node:path';
import { DpbenchError } from '../../errors.ts';
import type { LabCluster } from '../../cluster/lab/lab.ts';
import type { ManagedProcess } from '../../util/exec.ts';
import { PROJECT_ROOT } from '../../runner/scenario/load.ts';
import type { AgentApi, AgentMethod, RpcReady, RpcResponse } from './rpc.ts';
import { SYNC_TIMEOUT_MS } from '../types.ts';

export class AgentError extends DpbenchError {
  constructor(node: string, method: string, message: string) {
    super(`agent on ${node} failed in ${method}: ${message}`);
    this.name = 'AgentError';
  }
}

export class AgentClient {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; method: string }>();

  private constructor(
    readonly node: string,
    private readonly proc: ManagedProcess,
  ) {
    proc.child.on('message', (msg: RpcResponse | RpcReady) => {
      if ('ready' in msg) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if ('error' in msg) p.reject(new AgentError(node, p.method, msg.error.message));
      else p.resolve(msg.result);
    });
    proc.child.on('exit', (code, signal) => {
      for (const p of this.pending.values()) {
        p.reject(new AgentError(node, p.method, `agent exited (${signal ?? `code ${code}`}): ${proc.stderrTail.trim().slice(-800)}`));
      }
      this.pending.clear();
    });
  }

  /** starts `node src/datapath/agent/main.ts` inside the node's namespace and waits until it is ready */
  static async start(lab: LabCluster, nodeNetns: string, node: string, timeoutMs = 30_000): Promise<AgentClient> {
    const main = join(PROJECT_ROOT, 'src/datapath/agent/main.ts');
    const proc = lab.spawn(nodeNetns, [process.execPath, '--import', import.meta.resolve('tsx'), main], { ipc: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new AgentError(node, 'start', `not ready after ${timeoutMs} ms: ${proc.stderrTail}`)), timeoutMs);
      proc.child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new AgentError(node, 'start', `exited with code ${code}: ${proc.stderrTail.trim()}`));
      });
    });
    return new AgentClient(node, proc);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async call<M extends AgentMethod>(method: M, params: AgentApi[M]['params'], timeoutMs = SYNC_TIMEOUT_MS + 10_000): Promise<AgentApi[M]['result']> {
    if (!this.proc.running) throw new AgentError(this.node, method, 'agent is not running');
    const id = this.nextId++;
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new AgentError(this.node, method, `no answer after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as AgentApi[M]['result']);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.child.send({ id, method, params });
    });
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
