// SPDX-License-Identifier: Apache-2.0
// Report sections made of charts: latency, transaction rate and throughput, control plane.
import { churnCharts, controlPlaneCharts, cpuCharts, latencyCharts, propagationCharts, rateCharts, type ChartDef } from './charts.ts';
import { chartGrid, table } from './html.ts';
import type { ReportSection, SectionOutput } from './sections.ts';

function charts(intro: string, defs: ChartDef[]): SectionOutput | null {
  return defs.length ? { html: `<p class="muted">${intro}</p>${chartGrid(defs)}`, charts: defs } : null;
}

export const latencySection: ReportSection = {
  id: 'latency',
  title: 'Latency',
  render: ({ results }) =>
    charts(
      'netperf request/response latency per transaction: the median over samples of each sample’s p50 or p99. ' +
        'TCP_CRR opens a new connection per transaction, so it pays the service lookup every time; TCP_RR reuses one connection.',
      latencyCharts(results),
    ),
};

export const ratesSection: ReportSection = {
  id: 'rates',
  title: 'Throughput and transaction rate',
  render: ({ results }) => charts('Median over samples; one netperf client, pinned to one CPU.', rateCharts(results)),
};

export const controlPlaneSection: ReportSection = {
  id: 'control-plane',
  title: 'Control plane',
  render: ({ results }) =>
    charts(
      'How long each datapath takes to program all services on a node, and how much it programs. ' +
        'The band spans the nodes (each node syncs once per step).',
      controlPlaneCharts(results),
    ),
};

export const cpuSection: ReportSection = {
  id: 'cpu',
  title: 'CPU cost',
  render: ({ results }) =>
    charts(
      'CPU time of the whole machine during each sample (/proc/stat), divided by the transactions or bytes it moved. ' +
        'Softirq is where packets are processed: the datapath’s own cost shows there first.',
      cpuCharts(results),
    ),
};

export const propagationSection: ReportSection = {
  id: 'propagation',
  title: 'Policy propagation',
  render: ({ results }) =>
    charts(
      'How long a NetworkPolicy change takes to change what a prober sees: from the API change to the first probe ' +
        'that gets the new verdict (allow → deny: blocked; deny → allow: let through). It includes the datapath’s sync.',
      propagationCharts(results),
    ),
};

export const churnSection: ReportSection = {
  id: 'churn',
  title: 'Churn',
  render: ({ results }) => {
    const out = charts(
      'A kube-burner job creates, deletes and recreates pods and Services while the datapath keeps up, one datapath at a time. ' +
        'Programming latency is what a client waits for a new endpoint; workloads measured meanwhile are charted above as “during churn”.',
      churnCharts(results),
    );
    const runs = results.churn ?? [];
    if (!out || !runs.length) return out;
    const rows = runs.map((c) => [
      { text: c.datapath, cls: 'mono' }, c.services, c.jobs, c.minSyncPeriodMs, c.podsCreated, c.podsDeleted, c.servicesCreated,
      c.syncDurationsMs.length, Math.round(c.agentCpuMs), Math.round(c.durationS), c.abandoned,
      { text: c.unreached.length, num: true, cls: c.unreached.length ? 'bad' : '' },
    ]);
    const n = (text: string): { text: string; num: true } => ({ text, num: true });
    const facts = table(['datapath', n('services'), 'job', n('min sync period (ms)'), n('pods created'), n('pods deleted'), n('services created'),
      n('syncs'), n('agent CPU (ms)'), n('seconds'), { text: 'deleted before reachable', num: true, title: 'services whose endpoints were deleted before they answered: not measured' },
      { text: 'never reached', num: true, title: 'services whose endpoint never answered through its ClusterIP' }], rows);
    return { ...out, html: `${out.html}<h3>Churn runs</h3>${facts}` };
  },
};
