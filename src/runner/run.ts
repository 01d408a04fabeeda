// SPDX-License-Identifier: Apache-2.0
// One run of a scenario: a lab cluster per datapath side by side; per scale step, every agent syncs, then every
// workload's samples rotate between the datapaths; results.json, samples.csv and environment.json at the end.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { buildClusterState } from '../cluster/objects.ts';
import { NAME_PREFIX } from '../cluster/lab/registry.ts';
import { cleanLeftovers } from '../cluster/lab/clean.ts';
import { POD_SYSCTLS } from '../cluster/lab/lab.ts';
import { captureEnvironment } from '../measure/environment.ts';
import { LabSet } from './lab-set.ts';
import { rotation } from './interleave.ts';
import { Progress } from './progress.ts';
import { aggregate, RESULTS_SCHEMA_VERSION, writeResults, type ChurnRecord, type Results, type SampleRecord, type SyncRecord } from './results.ts';
import { runPropagationSample, runSample } from './sampler.ts';
import { loadJobs } from '../workload/kubeburner/job.ts';
import { planJobs } from '../workload/kubeburner/plan.ts';
import { runChurn } from '../workload/churn/executor.ts';
import { summarize } from '../measure/stats.ts';
import type { LabPlan } from '../cluster/lab/plan.ts';
import { Interrupts } from './signals.ts';
import { requirePrereqs } from './prereqs.ts';
import { PROJECT_ROOT, SCENARIO_DIR } from './scenario/load.ts';
import type { Scenario } from './scenario/schema.ts';

export interface RunOptions {
  /** output directory; default reports/<run-id> */
  out?: string;
  quiet?: boolean;
  argv?: string[];
}

export interface RunOutcome {
  results: Results;
  dir: string;
  files: { json: string; csv: string; environment: string };
}

export function newRunId(scenario: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${scenario}`;
}

export function newPrefix(): string {
  return `${NAME_PREFIX}${randomBytes(3).toString('hex')}`;
}

/** netserver answers a TCP_CRR test's results ~4 s after the test ends (seen with netperf 2.7.0 here) */
const CRR_TAIL_S = 4;

/** the scale steps: every service count crossed with every policy count (when the scenario has policies) */
export function scaleSteps(s: Scenario): { services: number; policies?: number }[] {
  return s.scale.services.flatMap((services) => (s.scale.policies ? s.scale.policies.map((policies) => ({ services, policies })) : [{ services }]));
}

/** seconds the run's netperf invocations (and propagation samples, ~1 s each) will take: the progress estimate */
export function plannedSeconds(s: Scenario): number {
  const perStep = s.workloads.reduce((t, w) => {
    if (w.test === 'NETPOL_PROPAGATION') return t + s.datapaths.length * w.samples;
    const tail = w.test === 'TCP_CRR' ? CRR_TAIL_S : 0;
    return t + s.datapaths.length * (w.samples * (w.duration + tail) + (s.warmup > 0 ? s.warmup + tail : 0));
  }, 0);
  return perStep * scaleSteps(s).length;
}

export function sampleSeconds(w: Scenario['workloads'][number], duration = w.duration): number {
  return duration + (w.test === 'TCP_CRR' ? CRR_TAIL_S : 0);
}

export async function runScenario(scenario: Scenario, opts: RunOptions = {}): Promise<RunOutcome> {
  // the kube-burner jobs are validated and their templates rendered before anything is created
  const churnJobs = scenario.churn ? loadJobs(resolve(SCENARIO_DIR, scenario.churn.jobs)) : undefined;
  await requirePrereqs();
  const startedAt = new Date();
  const runId = newRunId(scenario.name, startedAt);
  const dir = opts.out ?? join(PROJECT_ROOT, 'reports', runId);
  const prefix = newPrefix();
  const progress = new Progress(plannedSeconds(scenario), !opts.quiet);
  using interrupts = new Interrupts(async () => void (await cleanLeftovers({ prefix, includePersistent: true })));
  const environment = await captureEnvironment(POD_SYSCTLS);
  const samples: SampleRecord[] = [];
  const syncs: SyncRecord[] = [];
  const churns: ChurnRecord[] = [];
  let complete = false;
  let outcome: RunOutcome | undefined;

  progress.log(`dpbench run ${runId}: ${scenario.datapaths.join(', ')} × services ${scenario.scale.services.join(', ')} (lab prefix ${prefix})`);
  try {
    await using labs = await LabSet.create({
      prefix,
      datapaths: scenario.datapaths,
      shape: scenario.cluster,
      iptablesBackend: scenario.datapathOptions.iptables.backend,
      xdpMode: scenario.datapathOptions.xdp.mode,
      // the propagation watcher probes the target pod's prober server
      echoServers: scenario.workloads.some((w) => w.test === 'NETPOL_PROPAGATION'),
      log: (l) => progress.log(l),
    });
    labs.record();
    const steps = scaleSteps(scenario);
    const externalPaths = scenario.workloads.some((w) => w.path.startsWith('external-'));
    // `none` programs no NodePort: the external paths have nothing to reach there
    const runsOn = (w: Scenario['workloads'][number], dp: string): boolean => !(dp === 'none' && w.path.startsWith('external-'));
    if (externalPaths && scenario.datapaths.includes('none')) progress.log('  note: the none datapath has no NodePorts; its external paths are skipped');
    for (const [stepIndex, { services, policies }] of steps.entries()) {
      interrupts.check();
      const stepLabel = `step ${stepIndex + 1}/${steps.length} services=${services}${policies !== undefined ? ` policies=${policies}` : ''}`;
      const stateFor = (allowClient: boolean) => (plan: LabPlan) =>
        buildClusterState(plan, {
          services,
          backendsPerService: scenario.scale.backendsPerService,
          external: externalPaths,
          ...(policies !== undefined ? { policies, allowClient } : {}),
        });
      progress.update(`${stepLabel}: syncing agents`);
      const reports = await labs.syncAll(stateFor(true));
      syncs.push(...reports.map((r) => ({ ...r, services, ...(policies !== undefined ? { policies } : {}) })));
      for (const r of reports) {
        if (r.datapath !== 'none') progress.log(`  ${stepLabel}: ${r.datapath} ${r.node} synced ${r.rules} rules in ${r.durationMs.toFixed(1)} ms`);
      }
      const lookupPosition = (dp: string): number | undefined => {
        const pos = reports.find((r) => r.datapath === dp)?.detail.targetPosition;
        return typeof pos === 'number' ? pos : undefined;
      };
      for (const w of scenario.workloads) {
        const common = { services, workload: w, ...(policies !== undefined ? { policies } : {}) };
        if (w.test === 'NETPOL_PROPAGATION') {
          // samples alternate allow→deny, deny→allow; every datapath's turn starts from the allowed state
          const states = new Map(scenario.datapaths.map((dp) => [dp, { allow: stateFor(true)(labs.member(dp).plan), deny: stateFor(false)(labs.member(dp).plan) }]));
          for (let i = 0; i < w.samples; i++) {
            const direction = i % 2 === 0 ? 'allow-to-deny' : 'deny-to-allow';
            for (const [order, dp] of rotation(scenario.datapaths, i).entries()) {
              interrupts.check();
              progress.update(`${stepLabel}: ${w.test} ${dp} ${direction} sample ${i + 1}/${w.samples}`);
              const next = direction === 'allow-to-deny' ? states.get(dp)!.deny : states.get(dp)!.allow;
              const rec = await runPropagationSample({ ...common, datapath: dp, plan: labs.member(dp).plan, sample: i + 1, order, direction, submit: () => labs.syncMember(dp, next) });
              samples.push(rec);
              progress.advance(1);
              if (!rec.valid) progress.log(`  invalid sample (${dp} ${w.test} #${i + 1}): ${rec.reasons.join('; ')}`);
            }
          }
          // leave the client allowed for the workloads that follow
          if (w.samples % 2 === 1) for (const dp of scenario.datapaths) await labs.syncMember(dp, states.get(dp)!.allow);
          continue;
        }
        // warm-up: unrecorded traffic on every datapath (ARP, caches, CPU frequency)
        if (scenario.warmup > 0) {
          for (const dp of scenario.datapaths.filter((d) => runsOn(w, d))) {
            interrupts.check();
            progress.update(`${stepLabel}: ${w.test} ${w.path} ${dp} warm-up`);
            await runSample({ ...common, datapath: dp, plan: labs.member(dp).plan, sample: 0, order: 0, durationS: scenario.warmup });
            progress.advance(sampleSeconds(w, scenario.warmup));
          }
        }
        for (let i = 0; i < w.samples; i++) {
          for (const [order, dp] of rotation(scenario.datapaths.filter((d) => runsOn(w, d)), i).entries()) {
            interrupts.check();
            progress.update(`${stepLabel}: ${w.test} ${w.path} ${dp} sample ${i + 1}/${w.samples}`);
            const rec = await runSample({ ...common, datapath: dp, plan: labs.member(dp).plan, sample: i + 1, order, lookupPosition: lookupPosition(dp) });
            samples.push(rec);
            progress.advance(sampleSeconds(w));
            if (!rec.valid) progress.log(`  invalid sample (${dp} ${w.test} ${w.path} #${i + 1}): ${rec.reasons.join('; ')}`);
          }
        }
      }
      if (churnJobs && scenario.churn) {
        for (const dp of rotation(scenario.datapaths, stepIndex)) {
          if (dp === 'none') continue; // no services to program: nothing to churn
          interrupts.check();
          const member = labs.member(dp);
          const minSyncMs = scenario.churn.minSyncPeriodMs[dp] ?? (dp === 'ebpf' || dp === 'xdp' ? 0 : 1000);
          const plan = planJobs(churnJobs, { uuid: `${runId}-${dp}-${services}`, seed: stepIndex + 1 });
          progress.update(`${stepLabel}: churn on ${dp} (${plan.actions.length} changes over ~${Math.round(plan.durationMs / 1000)} s)`);
          const t0 = performance.now();
          let churnDone = false;
          const churning = runChurn({ member, actions: plan.actions, minSyncMs, signal: interrupts.signal }).finally(() => (churnDone = true));
          churning.catch(() => {});
          // does churn hurt traffic? the pod-to-service workloads keep measuring the (unrelated) netperf service
          const during = scenario.workloads.filter((w) => w.path === 'pod-to-service' && w.test !== 'NETPOL_PROPAGATION');
          for (let i = 0; during.length && !churnDone; i++) {
            for (const w of during) {
              if (churnDone) break;
              const rec = await runSample({ services, workload: w, datapath: dp, plan: member.plan, sample: i + 1, order: 0, lookupPosition: lookupPosition(dp), phase: 'churn' });
              samples.push(rec);
            }
          }
          const r = await churning;
          const latencies = r.programmingLatencyMs.map((l) => l.ms);
          churns.push({
            datapath: dp, services, jobs: scenario.churn.jobs, minSyncPeriodMs: minSyncMs,
            programmingLatencyMs: latencies, syncDurationsMs: r.syncs.map((y) => y.durationMs), agentCpuMs: r.agentCpuUs / 1000,
            podsCreated: r.podsCreated, podsDeleted: r.podsDeleted, servicesCreated: r.servicesCreated,
            unreached: r.unreached, abandoned: r.abandoned.length, durationS: (performance.now() - t0) / 1000,
          });
          const p99 = latencies.length ? summarize(latencies).p99 : NaN;
          progress.log(`  ${stepLabel}: churn on ${dp}: ${latencies.length} services programmed, latency p99 ${p99.toFixed(1)} ms, ${r.syncs.length} syncs, ${r.unreached.length} never reached`);
          // back to the step's own state for the next datapath and step
          await labs.syncMember(dp, stateFor(true)(member.plan));
        }
      }
    }
    complete = true;
  } catch (e) {
    // a failure caused by the interruption (a child killed by the same Ctrl-C) is the interruption
    if (interrupts.signal.aborted) throw interrupts.signal.reason as Error;
    throw e;
  } finally {
    progress.finish();
    // whatever was measured is written, also when the run stops early
    const finishedAt = new Date();
    const results: Results = {
      schemaVersion: RESULTS_SCHEMA_VERSION,
      run: {
        id: runId,
        scenario: scenario.name,
        description: scenario.description,
        scenarioFile: scenario.file,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
        argv: opts.argv ?? process.argv.slice(2),
        datapaths: scenario.datapaths,
        serviceSteps: scenario.scale.services,
        ...(scenario.scale.policies ? { policySteps: scenario.scale.policies } : {}),
        backendsPerService: scenario.scale.backendsPerService,
        cluster: { provider: scenario.cluster.provider, shape: scenario.cluster.name, nodes: scenario.cluster.nodes, podsPerNode: scenario.cluster.podsPerNode },
        workloads: scenario.workloads.map((w) => ({ test: w.test, path: w.path, duration: w.duration, samples: w.samples })),
        complete,
        ...(scenario.thresholds ? { thresholds: scenario.thresholds } : {}),
      },
      environment,
      syncs,
      ...(churns.length ? { churn: churns } : {}),
      results: aggregate(samples, syncs, churns),
      samples,
    };
    if (samples.length || syncs.length) {
      outcome = { results, dir, files: writeResults(dir, results) };
      if (!complete) progress.log(`partial results of the stopped run: ${outcome.files.json}`);
    }
  }
  return outcome!;
}
