// SPDX-License-Identifier: Apache-2.0
// The iptables agent = kube-proxy's iptables mode: ensure the hook jumps, then one full iptables-restore
// --noflush of every kube-proxy chain per sync, timed like sync_proxy_rules_duration_seconds.
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import { run } from '../../util/exec.ts';
import { SYNC_TIMEOUT_MS, type AgentInit, type DatapathAgent, type SyncReport } from '../types.ts';
import { iptablesHooks, renderIptables } from './render.ts';
import { countReadyEndpoints } from '../kube/model.ts';

export function iptablesBinaries(backend: 'nft' | 'legacy'): { iptables: string; restore: string } {
  return backend === 'legacy'
    ? { iptables: 'iptables-legacy', restore: 'iptables-legacy-restore' }
    : { iptables: 'iptables-nft', restore: 'iptables-nft-restore' };
}

export class IptablesAgent implements DatapathAgent {
  private node!: NodeContext;
  private bin = iptablesBinaries('nft');
  private previousChains = new Set<string>();

  async init(init: AgentInit): Promise<void> {
    this.node = init.node;
    this.bin = iptablesBinaries(init.options.iptablesBackend);
    await this.ensureHooks();
  }

  /** kube-proxy's ensureChain + ensureRule for the jumps from the built-in chains */
  private async ensureHooks(): Promise<void> {
    for (const hook of iptablesHooks()) {
      const target = hook.args[hook.args.indexOf('-j') + 1]!;
      await run([this.bin.iptables, '-w', '-t', hook.table, '-N', target], { allowFail: true });
      const exists = await run([this.bin.iptables, '-w', '-t', hook.table, '-C', hook.chain, ...hook.args], { allowFail: true });
      if (exists.code !== 0) await run([this.bin.iptables, '-w', '-t', hook.table, '-I', hook.chain, ...hook.args]);
    }
  }

  async sync(state: ClusterState): Promise<SyncReport> {
    const started = performance.now();
    const out = renderIptables(state, this.node, { previousChains: this.previousChains });
    const rendered = performance.now();
    await run([this.bin.restore, '-w', '--noflush', '--counters'], { input: out.filter + out.nat, timeoutMs: SYNC_TIMEOUT_MS });
    const done = performance.now();
    this.previousChains = out.chains;
    // "ns/name:port@N": N is the position of the port's first rule among nat KUBE-SERVICES rules, i.e. how many
    // rules a new connection to it walks
    const target = out.serviceOrder.find((s) => s.startsWith('dpbench/netperf:'));
    return {
      datapath: 'iptables',
      node: this.node.nodeName,
      durationMs: done - started,
      renderMs: rendered - started,
      applyMs: done - rendered,
      rules: out.ruleCount,
      servicePorts: state.services.reduce((n, s) => n + (s.spec?.ports?.length ?? 0), 0),
      endpoints: countReadyEndpoints(state),
      detail: {
        backend: this.bin.restore,
        chains: out.chains.size,
        ...(target ? { targetPosition: Number(target.split('@')[1]) } : {}),
      },
    };
  }

  async cleanup(): Promise<void> {
    for (const hook of iptablesHooks()) {
      await run([this.bin.iptables, '-w', '-t', hook.table, '-D', hook.chain, ...hook.args], { allowFail: true });
    }
    for (const table of ['nat', 'filter']) {
      const chains = (await run([this.bin.iptables, '-w', '-t', table, '-S'], { allowFail: true })).stdout
        .split('\n')
        .filter((l) => l.startsWith('-N KUBE-'))
        .map((l) => l.slice(3));
      for (const c of chains) await run([this.bin.iptables, '-w', '-t', table, '-F', c], { allowFail: true });
      for (const c of chains) await run([this.bin.iptables, '-w', '-t', table, '-X', c], { allowFail: true });
    }
    this.previousChains.clear();
  }
}
