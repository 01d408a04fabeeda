// SPDX-License-Identifier: Apache-2.0
// The small typed RPC between the runner and an agent process: request/response over Node's IPC channel
// (advanced serialization, so 20,000 Service objects travel without JSON re-encoding by hand).
import type { ClusterState } from '../../cluster/state.ts';
import type { AgentInit, SyncReport } from '../types.ts';

/** one informer-style change to the agent's state */
export interface StateEvent {
  kind: keyof ClusterState;
  verb: 'add' | 'update' | 'delete';
  object: ClusterState[keyof ClusterState] extends (infer T)[] | undefined ? T : never;
}

export interface AgentApi {
  init: { params: AgentInit; result: { pid: number } };
  /** program the node with this whole state (it becomes the agent's state) */
  sync: { params: ClusterState; result: SyncReport };
  /** change the agent's state by watch-style events, then program the node (churn: deltas, not 10 MB states) */
  apply: { params: { events: StateEvent[] }; result: SyncReport };
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
