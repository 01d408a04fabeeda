// SPDX-License-Identifier: Apache-2.0
// `dpbench lab up|down|status`: a lab cluster left running to explore by hand.
import {
  buildClusterState, ECHO_PORT, ECHO_VIP_INDEX, EMPTY_VIP_INDEX, serviceVIP, TARGET_VIP_INDEX, NETPERF_DATA_PORT, NODEPORT_CONTROL, NODEPORT_DATA, targetServer,
} from '../cluster/objects.ts';
import { XDP_MODE_REQUESTS, type XdpModeRequest } from '../runner/scenario/schema.ts';
import { cleanLeftovers } from '../cluster/lab/clean.ts';
import { allPods, type LabPlan } from '../cluster/lab/plan.ts';
import { readRecords, isAlive } from '../cluster/lab/registry.ts';
import { listNetns } from '../cluster/lab/netns.ts';
import { ConfigError } from '../errors.ts';
import { LabSet } from '../runner/lab-set.ts';
import { newPrefix } from '../runner/run.ts';
import { requirePrereqs } from '../runner/prereqs.ts';
import { checkDatapaths, loadClusterShape } from '../runner/scenario/load.ts';

export interface LabUpFlags {
  datapath: string;
  services: number;
  shape: string;
  backends: number;
  iptablesBackend: string;
  xdpMode: string;
}

export async function labUp(flags: LabUpFlags): Promise<void> {
  const [datapath] = checkDatapaths([flags.datapath], '--datapath');
  if (!['nft', 'legacy'].includes(flags.iptablesBackend)) throw new ConfigError(`--iptables-backend: expected nft or legacy, got "${flags.iptablesBackend}"`);
  if (!(XDP_MODE_REQUESTS as readonly string[]).includes(flags.xdpMode)) throw new ConfigError(`--xdp-mode: expected one of ${XDP_MODE_REQUESTS.join(', ')}, got "${flags.xdpMode}"`);
  const shape = loadClusterShape(flags.shape, '--shape');
  await requirePrereqs();
  const prefix = newPrefix();
  const labs = await LabSet.create({
    prefix,
    datapaths: [datapath!],
    shape,
    iptablesBackend: flags.iptablesBackend as 'nft' | 'legacy',
    xdpMode: flags.xdpMode as XdpModeRequest,
    echoServers: true,
    persistent: true,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  try {
    const reports = await labs.syncAll((plan) => buildClusterState(plan, { services: Math.max(2, flags.services), backendsPerService: flags.backends, extras: true, external: true }));
    for (const r of reports) {
      const xdp = r.detail.xdpMode ? `; XDP ${r.detail.xdpMode}${r.detail.xdpFallback ? ` (native refused: ${r.detail.xdpFallback})` : ''}` : '';
      process.stdout.write(`${r.node}: ${r.datapath} programmed ${r.rules} rules for ${r.servicePorts} service ports in ${r.durationMs.toFixed(1)} ms${xdp}\n`);
    }
    await labs.detach();
  } catch (e) {
    await labs[Symbol.asyncDispose]();
    throw e;
  }
  process.stdout.write(`\n${describePlan(labs.members[0]!.plan)}\nRemove it with: dpbench lab down ${prefix}\n`);
}

export function describePlan(plan: LabPlan): string {
  const client = plan.nodes[0]!.pods[0]!;
  const lines = [`lab cluster ${plan.cluster}`, '  nodes:'];
  for (const n of plan.nodes) lines.push(`    ${n.name}  ${n.ip}  pod CIDR ${n.podCIDR}  netns ${n.netns}`);
  lines.push('  pods (prober on TCP 8080 + 9090 and UDP 8080 everywhere; netserver on 12865 in every pod but the client):');
  for (const p of allPods(plan)) lines.push(`    ${p.name.padEnd(12)} ${p.ip.padEnd(14)} netns ${p.netns}${p === client ? '  (client)' : ''}`);
  lines.push(
    '  services:',
    `    dpbench/netperf       ${serviceVIP(plan, TARGET_VIP_INDEX)}:12865,${NETPERF_DATA_PORT}`,
    `    dpbench/echo          ${serviceVIP(plan, ECHO_VIP_INDEX)}:80 -> every server pod:${ECHO_PORT}`,
    `    dpbench/no-endpoints  ${serviceVIP(plan, EMPTY_VIP_INDEX)}:80 (refused)`,
    `    dpbench/netperf-external  NodePort ${NODEPORT_CONTROL},${NODEPORT_DATA} on every node -> ${targetServer(plan).name}`,
    `  external client: netns ${plan.externalNetns} (${plan.externalIP})`,
    '',
    'Try:',
    `  nsenter --net=/run/netns/${client.netns} bash        # a shell in the client pod`,
    `  ip netns exec ${client.netns} netperf -H ${serviceVIP(plan, TARGET_VIP_INDEX)} -t TCP_CRR -l 2 -- -P ,${NETPERF_DATA_PORT}`,
    `  ip netns exec ${client.netns} bash -c 'for i in 1 2 3 4 5 6; do head -1 < /dev/tcp/${serviceVIP(plan, ECHO_VIP_INDEX)}/80; done'`,
    `  ip netns exec ${plan.externalNetns} netperf -H ${plan.nodes[0]!.ip} -p ${NODEPORT_CONTROL} -t TCP_CRR -l 2 -- -P ,${NODEPORT_DATA}   # external → NodePort`,
    `  ip netns exec ${plan.nodes[0]!.netns} iptables-save -t nat | less   # the node's kube-proxy rules`,
  );
  return lines.join('\n');
}

export async function labDown(prefix?: string): Promise<void> {
  if (prefix && !readRecords().some((r) => r.prefix === prefix) && listNetns(`${prefix}-`).length === 0) {
    throw new ConfigError(`no lab cluster with prefix "${prefix}"; \`dpbench lab status\` lists them`);
  }
  const r = await cleanLeftovers({ ...(prefix ? { prefix } : {}), includePersistent: true });
  process.stdout.write(`removed ${r.netns.length} namespace(s) and ${r.killed.length} process(es) of ${r.runs.length ? r.runs.join(', ') : 'leftover runs'}\n`);
}

export async function labStatus(): Promise<void> {
  const records = readRecords();
  if (!records.length && !listNetns('dpb-').length) {
    process.stdout.write('no lab clusters (create one with `dpbench lab up`)\n');
    return;
  }
  for (const rec of records) {
    const state = rec.persistent ? 'left up by `lab up`' : isAlive(rec.ownerPid) ? `in use by run pid ${rec.ownerPid}` : 'left behind by a crashed run (`dpbench clean`)';
    process.stdout.write(`${rec.prefix}: ${state}, created ${rec.createdAt}\n`);
    for (const c of rec.clusters) {
      const alive = c.netns.filter((n) => listNetns(n).includes(n)).length;
      process.stdout.write(`  ${c.cluster} (${c.datapath}): ${alive}/${c.netns.length} namespaces present\n`);
      if (c.summary) process.stdout.write(`${describePlan(c.summary as LabPlan).replace(/^/gm, '    ')}\n`);
    }
  }
  const known = new Set(records.flatMap((r) => r.clusters.flatMap((c) => c.netns)));
  const orphans = listNetns('dpb-').filter((n) => !known.has(n));
  if (orphans.length) process.stdout.write(`namespaces without a run record (remove with \`dpbench clean\`): ${orphans.join(', ')}\n`);
}
