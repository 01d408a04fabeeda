// SPDX-License-Identifier: Apache-2.0
// The agent process: runs inside one node's network namespace (started with nsenter), receives cluster state
// over IPC and programs the node with one datapath. In kind/kubeconfig mode the same agent is fed by informers.
import { DATAPATH_AGENTS, type DatapathAgent } from '../types.ts';
import type { AgentApi, AgentMethod, RpcRequest, RpcResponse } from './rpc.ts';
import { StateStore } from './informer.ts';

if (!process.send) {
  console.error('dpbench agent: must be started by dpbench with an IPC channel');
  process.exit(2);
}

let agent: DatapathAgent | undefined;
/** the state the agent last programmed, kept so `apply` can take deltas */
let store = new StateStore();

async function handle(req: RpcRequest): Promise<unknown> {
  const method: AgentMethod = req.method;
  switch (method) {
    case 'init': {
      const params = req.params as AgentApi['init']['params'];
      const make = DATAPATH_AGENTS[params.datapath];
      if (!make) throw new Error(`datapath ${params.datapath} is not implemented by this agent`);
      agent = await make();
      await agent.init(params);
      return { pid: process.pid };
    }
    case 'sync': {
      if (!agent) throw new Error('sync before init');
      const state = req.params as AgentApi['sync']['params'];
      store = StateStore.from(state);
      return await agent.sync(state);
    }
    case 'apply': {
      if (!agent) throw new Error('apply before init');
      for (const e of (req.params as AgentApi['apply']['params']).events) store.apply(e.kind, e.verb, e.object as never);
      return await agent.sync(store.snapshot());
    }
    case 'cleanup':
      await agent?.cleanup();
      return null;
    case 'usage': {
      const u = process.cpuUsage();
      return { userUs: u.user, systemUs: u.system, rssBytes: process.memoryUsage().rss };
    }
  }
}

// one request at a time: a datapath's syncs must not interleave
let queue: Promise<void> = Promise.resolve();
process.on('message', (msg: RpcRequest) => {
  queue = queue.then(async () => {
    let res: RpcResponse;
    try {
      res = { id: msg.id, result: await handle(msg) };
    } catch (e) {
      const err = e as Error;
      res = { id: msg.id, error: { name: err.name, message: err.message } };
    }
    process.send!(res);
  });
});
// the runner going away (crash, kill) closes the channel: exit rather than linger in a namespace
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
// Ctrl-C reaches the whole process group: the runner handles it and stops its agents itself, after teardown
process.on('SIGINT', () => {});
process.send({ ready: true, pid: process.pid });
