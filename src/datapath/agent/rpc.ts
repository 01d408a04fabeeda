// SPDX-License-Identifier: Apache-2.0
// The small typed RPC between the runner and an agent process: request/response over Node's IPC channel
// (advanced serialization, so 20,000 Service objects travel without JSON re-encoding by hand).
import type { ClusterState } from '../../cluster/state.ts';
import type { AgentInit, SyncReport } from '../types.ts';

export interface AgentApi {
  init: { params: AgentInit; result: { pid: number } };
  sync: { params: ClusterState; result: SyncReport };
  cleanup: { params: Record<string, never>; result: null };
  /** CPU time the agent process has used, µs (process.cpuUsage) */
  usage: { params: Record<string, never>; result: { userUs: number; systemUs: number; rssBytes: number } };
}
export type AgentMethod = keyof AgentApi;

export interface RpcRequest<M extends AgentMethod = AgentMethod> {
  id: number;
  method: M;
  params: AgentApi[M]['params'];
}

export type RpcResponse =
  | { id: number; result: unknown }
  | { id: number; error: { name: string; message: string } };

/** the agent announces itself once its process is up */
export interface RpcReady {
  ready: true;
  pid: number;
}
