// SPDX-License-Identifier: Apache-2.0
// The iptables agent = kube-proxy's iptables mode plus NetworkPolicy as Calico / kube-router enforce it: ensure the
// hook jumps, then per sync build the policy ipsets, run one iptables-restore --noflush holding every kube-proxy
// chain and every policy chain (one transaction), and only then destroy the ipsets no rule references any more,
// timed like sync_proxy_rules_duration_seconds.
import type { ClusterState, NodeContext } from '../../cluster/state.ts';
import { PrereqError } from '../../errors.ts';
import { run, type RunOptions, type RunResult } from '../../util/exec.ts';
import { SYNC_TIMEOUT_MS, type AgentInit, type DatapathAgent, type SyncReport } from '../types.ts';
import { iptablesHooks, renderIptables } from './render.ts';
import { countReadyEndpoints } from '../kube/model.ts';
import { isPolicyIpset, renderIpsetDestroy, renderIpsetRestore } from './ipset.ts';
import { parseHostRoutes, policyHook, POLICY_CHAIN, POLICY_CHAIN_PREFIX, renderPolicy, spliceIntoFilter } from './policy.ts';

export function iptablesBinaries(backend: 'nft' | 'legacy'): { iptables: string; restore: string } {
  return backend === 'legacy'
    ? { iptables: 'iptables-legacy', restore: 'iptables-legacy-restore' }
    : { iptables: 'iptables-nft', restore: 'iptables-nft-restore' };
}

/** `ipset …`, with a missing binary reported as what to install */
async function ipset(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  try {
    return await run(['ipset', ...args], { timeoutMs: SYNC_TIMEOUT_MS, ...opts });
  } catch (e) {
    if (/ENOENT/.test(String((e as Error).message))) throw new PrereqError('the iptables datapath enforces NetworkPolicy with ipset, which is not installed; install the ipset package (apt-get install ipset)');
    throw e;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class IptablesAgent implements DatapathAgent {
  private node!: NodeContext;
  private bin = iptablesBinaries('nft');
  private previousChains = new Set<string>();
  private previousPolicyChains = new Set<string>();
  /** policy ipsets believed to exist in this namespace, and those of them this agent built (complete) */
  private ipsetsExisting = new Set<string>();
  private ipsetsTrusted = new Set<string>();

  async init(init: AgentInit): Promise<void> {
    this.node = init.node;
    this.bin = iptablesBinaries(init.options.iptablesBackend);
    await this.ensureHooks();
    await this.ensurePolicyHook();
    // what an earlier agent left (a crash, a restart): stale chains are deleted and stale sets destroyed by the
    // first sync; existing sets are rebuilt by swap before use, since they may be half-filled
    this.previousPolicyChains = await this.ownChains('filter', POLICY_CHAIN_PREFIX);
    this.ipsetsExisting = await this.listIpsets().catch(() => new Set<string>());
    this.ipsetsTrusted.clear();
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

  /**
   * FORWARD → DPB-POLICY as FORWARD's first rule, ahead of KUBE-FORWARD (which accepts masquerade-marked traffic
   * outright). A misplaced hook is re-inserted first, then the old copy removed: never a moment without one.
   */
  private async ensurePolicyHook(): Promise<void> {
    const ipt = [this.bin.iptables, '-w', '-t', 'filter'];
    await run([...ipt, '-N', POLICY_CHAIN], { allowFail: true });
    const rules = (await run([...ipt, '-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.startsWith('-A FORWARD '));
    const mine = rules.flatMap((l, i) => (l.endsWith(`-j ${POLICY_CHAIN}`) ? [i] : []));
    if (mine.length === 1 && mine[0] === 0) return;
    await run([...ipt, '-I', 'FORWARD', '1', ...policyHook().args]);
    for (const i of mine.reverse()) await run([...ipt, '-D', 'FORWARD', String(i + 2)]);
  }

  private async ownChains(table: string, prefix: string): Promise<Set<string>> {
    const out = (await run([this.bin.iptables, '-w', '-t', table, '-S'], { allowFail: true })).stdout;
    return new Set(out.split('\n').filter((l) => l.startsWith(`-N ${prefix}`)).map((l) => l.slice(3)));
  }

  private async listIpsets(): Promise<Set<string>> {
    return new Set((await ipset(['list', '-n'])).stdout.split('\n').filter(isPolicyIpset));
  }

  /** destroys sets no rule references; nft releases a rule's set reference after its commit, so retry briefly */
  private async destroyIpsets(names: string[]): Promise<number> {
    let left = names.filter((n) => this.ipsetsExisting.has(n));
    for (let attempt = 0; left.length && attempt < 3; attempt++) {
      if (attempt) await sleep(20 * attempt);
      const res = await ipset(['restore'], { input: renderIpsetDestroy(left), allowFail: true });
      if (res.code !== 0) left = [...(await this.listIpsets())].filter((n) => left.includes(n));
      else left = [];
    }
    for (const n of names) {
      if (left.includes(n)) continue; // still referenced somewhere: the next sync tries again
      this.ipsetsExisting.delete(n);
      this.ipsetsTrusted.delete(n);
    }
    return names.length - left.length;
  }

  async sync(state: ClusterState): Promise<SyncReport> {
    const started = performance.now();
    const out = renderIptables(state, this.node, { previousChains: this.previousChains });
    const proxyRendered = performance.now();
    const routes = await run(['ip', '-o', '-4', 'route', 'show']);
    const policy = renderPolicy({ state, node: this.node, interfaces: parseHostRoutes(routes.stdout), previousChains: this.previousPolicyChains });
    let sets = renderIpsetRestore(policy.ipsets, { trusted: this.ipsetsTrusted, existing: this.ipsetsExisting });
    const rendered = performance.now();
    // 1. every set the new rules need, complete, before any rule references it
    if (sets.text && (await ipset(['restore', '-exist'], { input: sets.text, allowFail: true })).code !== 0) {
      // our picture of the kernel's sets was wrong (a failed restore half-way?): look, then build again
      this.ipsetsExisting = await this.listIpsets();
      this.ipsetsTrusted = new Set([...this.ipsetsTrusted].filter((n) => this.ipsetsExisting.has(n)));
      sets = renderIpsetRestore(policy.ipsets, { existing: this.ipsetsExisting });
      await ipset(['restore', '-exist'], { input: sets.text });
    }
    for (const n of sets.built) (this.ipsetsExisting.add(n), this.ipsetsTrusted.add(n));
    for (const n of sets.temps) this.ipsetsExisting.delete(n);
    const setsBuilt = performance.now();
    // 2. one transaction: kube-proxy's chains and the policy chains switch together
    const input = spliceIntoFilter(out.filter, policy) + out.nat;
    await run([this.bin.restore, '-w', '--noflush', '--counters'], { input, timeoutMs: SYNC_TIMEOUT_MS });
    const restored = performance.now();
    this.previousChains = out.chains;
    this.previousPolicyChains = policy.chains;
    // 3. only now may the sets the old rules used go
    const wanted = new Set(policy.ipsets.map((s) => s.name));
    const destroyed = await this.destroyIpsets([...this.ipsetsExisting].filter((n) => !wanted.has(n)));
    const done = performance.now();
    // "ns/name:port@N": N is the position of the port's first rule among nat KUBE-SERVICES rules, i.e. how many
    // rules a new connection to it walks
    const target = out.serviceOrder.find((s) => s.startsWith('dpbench/netperf:'));
    return {
      datapath: 'iptables',
      node: this.node.nodeName,
      durationMs: done - started,
      renderMs: rendered - started,
      applyMs: done - rendered,
      rules: out.ruleCount + policy.ruleCount,
      servicePorts: state.services.reduce((n, s) => n + (s.spec?.ports?.length ?? 0), 0),
      endpoints: countReadyEndpoints(state),
      detail: {
        backend: this.bin.restore,
        chains: out.chains.size,
        ...(target ? { targetPosition: Number(target.split('@')[1]) } : {}),
        policyRules: policy.ruleCount,
        policyEndpoints: policy.endpoints.filter((e) => e.ingress || e.egress).length,
        // local pods without a host route yet: not enforced until a later sync sees their veth
        policyUnrouted: policy.unrouted.length,
        ipsets: wanted.size,
        ipsetsBuilt: sets.built.length,
        ipsetsDestroyed: destroyed,
        // the policy's own work: routes, render, set build and teardown (the shared iptables-restore is in applyMs)
        policyMs: rendered - proxyRendered + (setsBuilt - rendered) + (done - restored),
      },
    };
  }

  async cleanup(): Promise<void> {
    const ipt = [this.bin.iptables, '-w', '-t', 'filter'];
    while ((await run([...ipt, '-D', 'FORWARD', ...policyHook().args], { allowFail: true })).code === 0);
    for (const hook of iptablesHooks()) {
      await run([this.bin.iptables, '-w', '-t', hook.table, '-D', hook.chain, ...hook.args], { allowFail: true });
    }
    for (const table of ['nat', 'filter']) {
      const chains = [...(await this.ownChains(table, 'KUBE-')), ...(await this.ownChains(table, POLICY_CHAIN_PREFIX))];
      for (const c of chains) await run([this.bin.iptables, '-w', '-t', table, '-F', c], { allowFail: true });
      for (const c of chains) await run([this.bin.iptables, '-w', '-t', table, '-X', c], { allowFail: true });
    }
    // rules are gone, so every policy set can go
    this.ipsetsExisting = await this.listIpsets().catch(() => new Set<string>());
    await this.destroyIpsets([...this.ipsetsExisting]);
    this.previousChains.clear();
    this.previousPolicyChains.clear();
  }
}
