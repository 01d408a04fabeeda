// SPDX-License-Identifier: Apache-2.0
// planJobs: exact action counts, kube-burner's order and labels, the token bucket's bound on every window of
// time, churn's share and contiguity, and the bounds that stop a plan from running away.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { loadJobs } from '../../../src/workload/kubeburner/job.ts';
import { effectiveRate, MAX_ACTIONS, planJobs, TokenBucket, type Plan } from '../../../src/workload/kubeburner/plan.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/kubeburner/', import.meta.url));
const jobsDir = `${fixtures}jobs`;
const pod = { objectTemplate: 'templates/pod.yaml', inputVars: { app: 'web' } };
const svc = { objectTemplate: 'templates/service.yaml', inputVars: { app: 'web', port: 80 } };
const inline = (job: Record<string, unknown>) => loadJobs({ jobs: [{ name: 'j', namespace: 'ns', ...job }] }, jobsDir);
const opts = { uuid: 'plan-test' };

/** every window [t1, t2] holds at most burst + qps·(t2 − t1) actions, or the bucket leaked */
function expectRateRespected(plan: Plan, qps: number, burst: number, job?: string): void {
  const times = plan.actions.filter((a) => !job || a.job === job).map((a) => a.at);
  for (let i = 0; i < times.length; i++) {
    expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1] ?? 0);
    for (let j = i; j < times.length; j++) expect(j - i + 1).toBeLessThanOrEqual(burst + (qps * (times[j]! - times[i]!)) / 1000 + 1e-9);
  }
}

/** what exists after applying actions[0, n) (a deleted namespace takes its contents) */
function replay(plan: Plan, n = plan.actions.length): Set<string> {
  const live = new Map<string, string | undefined>();
  for (const a of plan.actions.slice(0, n)) {
    const key = `${a.object.kind}/${a.object.metadata.namespace ?? ''}/${a.object.metadata.name}`;
    if (a.op === 'create') {
      expect(live.has(key), `created twice: ${key}`).toBe(false);
      live.set(key, a.object.metadata.namespace);
    } else {
      expect(live.has(key), `deleted but absent: ${key}`).toBe(true);
      live.delete(key);
      if (a.object.kind === 'Namespace') for (const [k, ns] of live) if (ns === a.object.metadata.name) live.delete(k);
    }
  }
  return new Set(live.keys());
}

describe('TokenBucket', () => {
  it('serves a full burst at once, then one request per 1/qps', () => {
    const b = new TokenBucket(10, 3);
    expect(Array.from({ length: 6 }, () => b.take(0))).toEqual([0, 0, 0, 100, 200, 300]);
    // idle time refills it, never beyond burst
    expect([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000)]).toEqual([10_000, 10_000, 10_000, 10_100]);
  });

  it('uses client-go\'s 5 qps / burst 10 when a job leaves them at 0, as kube-burner ends up doing', () => {
    expect(effectiveRate({ qps: 0, burst: 0 })).toEqual({ qps: 5, burst: 10 });
    expect(effectiveRate({ qps: 20, burst: 0 })).toEqual({ qps: 20, burst: 10 });
    expect(effectiveRate({ qps: 2.5, burst: 1 })).toEqual({ qps: 2.5, burst: 1 });
  });
});

describe('planJobs on jobs/basic.yaml', () => {
  const loaded = loadJobs(`${fixtures}jobs/basic.yaml`);
  const plan = planJobs(loaded, opts);
  const job = plan.jobs[0]!;

  it('creates jobIterations × (namespace + replicas × documents), then churns 40% of 5 = 2 iterations × 3 cycles', () => {
    const creation = plan.actions.filter((a) => a.phase === 'create');
    expect(creation).toHaveLength(5 * (1 + 3 + 1 + 2));
    expect(creation.filter((a) => a.object.kind === 'Pod')).toHaveLength(15);
    expect(job.churn.map((c) => [c.iterations, c.namespaces.length, c.deletes, c.creates])).toEqual([[2, 2, 2, 14], [2, 2, 2, 14], [2, 2, 2, 14]]);
    expect([plan.actions.length, job.creates, job.deletes]).toEqual([35 + 3 * 16, 35 + 3 * 14, 6]);
  });

  it("follows kube-burner's order: the iteration's namespace, then each object's replicas, then its documents", () => {
    expect(plan.actions.slice(0, 8).map((a) => `${a.op} ${a.object.kind} ${a.object.metadata.namespace ?? ''}/${a.object.metadata.name}`)).toEqual([
      'create Namespace /kb-basic-0',
      'create Pod kb-basic-0/web-0-1',
      'create Pod kb-basic-0/web-0-2',
      'create Pod kb-basic-0/web-0-3',
      'create Service kb-basic-0/web-0',
      'create NetworkPolicy kb-basic-0/allow-web-0',
      'create ConfigMap kb-basic-0/netpol-0',
      'create Namespace /kb-basic-1',
    ]);
  });

  it("labels objects and namespaces as kube-burner does, keeping the template's own labels", () => {
    const [ns, firstPod] = plan.actions;
    expect(ns!.object.metadata.labels).toEqual({ 'kube-burner-job': 'basic', 'kube-burner-uuid': 'plan-test', 'kube-burner-runid': 'plan-test', 'dpbench.io/test': 'true' });
    expect(firstPod!.object.metadata.labels).toEqual({
      'kube-burner-job': 'basic', 'kube-burner-uuid': 'plan-test', 'kube-burner-runid': 'plan-test', 'kube-burner-index': '0', app: 'web-0', replica: '1',
    });
    expect(plan.actions[5]!.object).toMatchObject({ kind: 'NetworkPolicy', spec: { ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kb-basic-1' } } }] }] } });
  });

  it('spaces actions by the token bucket: burst 5 at t=0, then one per 100 ms at qps 10', () => {
    expect(plan.actions.slice(0, 7).map((a) => a.at)).toEqual([0, 0, 0, 0, 0, 100, 200]);
    expect(plan.actions[34]!.at).toBeCloseTo(3000, 6);
    expectRateRespected(plan, 10, 5);
  });

  it('waits for the namespaces after creating, and around every churn deletion and recreation', () => {
    expect(plan.barriers.map((b) => [b.beforeAction, b.until, b.reason, b.namespaces.length])).toEqual([
      [35, 'ready', 'waitWhenFinished', 5],
      [37, 'gone', 'churn', 2], [51, 'ready', 'churn', 2],
      [53, 'gone', 'churn', 2], [67, 'ready', 'churn', 2],
      [69, 'gone', 'churn', 2], [83, 'ready', 'churn', 2],
    ]);
    expect(plan.barriers[0]!.timeoutMs).toBe(4 * 3_600_000);
  });

  it('adds churnDelay after each cycle and jobPause at the end', () => {
    expect(job.churn.map((c) => c.at)).toEqual([3000, 6600, 9700].map((t) => expect.closeTo(t, 6)));
    expect(plan.durationMs).toBeCloseTo(10_800 + 2000 + 1000, 6);
    expect([job.startMs, job.endMs]).toEqual([0, plan.durationMs]);
    expect(job.cleanup).toEqual({ 'kube-burner-job': 'basic' });
  });

  it('ends every churn cycle with the same objects it started from', () => {
    const initial = replay(plan, 35);
    expect(initial.size).toBe(35);
    expect(replay(plan)).toEqual(initial);
  });

  it('is the same plan for the same uuid, and another churn choice for another seed', () => {
    expect(planJobs(loaded, opts)).toEqual(plan);
    const firsts = (p: Plan) => p.jobs[0]!.churn.map((c) => c.firstIteration);
    const others = [1, 2, 3, 4, 5].map((seed) => firsts(planJobs(loaded, { ...opts, seed })).join());
    expect(new Set([firsts(plan).join(), ...others]).size).toBeGreaterThan(1);
  });
});

describe('churn', () => {
  it('deletes and recreates a contiguous run of churnPercent% of the iterations, at random places', () => {
    const plan = planJobs(inline({ jobIterations: 50, qps: 50, burst: 50, churn: true, churnCycles: 20, churnPercent: 10, churnDelay: '1s', objects: [pod, svc] }), opts);
    const cycles = plan.jobs[0]!.churn;
    expect(cycles).toHaveLength(20);
    for (const c of cycles) {
      expect(c.iterations).toBe(5);
      expect(c.firstIteration).toBeGreaterThanOrEqual(0);
      expect(c.firstIteration + c.iterations).toBeLessThanOrEqual(50);
      expect(c.namespaces).toEqual([0, 1, 2, 3, 4].map((k) => `ns-${c.firstIteration + k}`));
      expect([c.deletes, c.creates]).toEqual([5, 5 * 3]);
      const deleted = plan.actions.filter((a) => a.cycle === c.cycle && a.op === 'delete');
      expect(deleted.map((a) => a.object.metadata.name)).toEqual(c.namespaces);
    }
    expect(new Set(cycles.map((c) => c.firstIteration)).size).toBeGreaterThan(5);
    expect(replay(plan)).toEqual(replay(plan, 150));
    expectRateRespected(plan, 50, 50);
  });

  it.each([
    [10, 15, 1], // 1.5 rounds down
    [1, 5, 1], // never less than one
    [100, 4, 4],
    [34, 10, 3],
  ])('churns max(floor(%d%% of %d), 1) = %d iterations', (percent, iterations, want) => {
    const plan = planJobs(inline({ jobIterations: iterations, qps: 100, burst: 100, churn: true, churnCycles: 2, churnPercent: percent, churnDelay: '0s', objects: [pod] }), opts);
    expect(plan.jobs[0]!.churn.map((c) => c.iterations)).toEqual([want, want]);
  });

  it('stops when churnDuration has passed, with churnCycles 0 meaning no cycle limit', () => {
    const plan = planJobs(inline({ jobIterations: 2, qps: 100, burst: 100, churn: true, churnCycles: 0, churnDuration: '5s', churnDelay: '2s', objects: [pod] }), opts);
    expect(plan.jobs[0]!.churn.map((c) => Math.round(c.at / 100) * 100)).toEqual([0, 2000, 4000]);
  });

  it('gvr deletes the objects of the chosen iterations and keeps their namespaces', () => {
    const plan = planJobs(inline({ jobIterations: 4, qps: 100, burst: 100, churn: true, churnCycles: 1, churnPercent: 50, churnDeletionStrategy: 'gvr', churnDelay: '0s', objects: [pod, svc] }), opts);
    const c = plan.jobs[0]!.churn[0]!;
    const churned = plan.actions.filter((a) => a.phase === 'churn');
    expect(churned.filter((a) => a.op === 'delete').map((a) => a.object.kind)).toEqual(['Service', 'Pod', 'Service', 'Pod']);
    expect(churned.filter((a) => a.op === 'create').map((a) => a.object.kind)).toEqual(['Pod', 'Service', 'Pod', 'Service']);
    expect([c.deletes, c.creates]).toEqual([4, 4]);
    expect(replay(plan)).toEqual(replay(plan, 12));
  });

  it('takes whole namespaces when iterations share them, and recreates all of their iterations', () => {
    const plan = planJobs(inline({ jobIterations: 6, iterationsPerNamespace: 3, qps: 100, burst: 100, churn: true, churnCycles: 3, churnPercent: 10, churnDelay: '0s', objects: [pod] }), opts);
    const created = plan.actions.filter((a) => a.phase === 'create');
    expect(created.filter((a) => a.object.kind === 'Namespace').map((a) => a.object.metadata.name)).toEqual(['ns-0', 'ns-1']);
    expect(created.filter((a) => a.object.kind === 'Pod').map((a) => a.object.metadata.namespace)).toEqual(['ns-0', 'ns-0', 'ns-0', 'ns-1', 'ns-1', 'ns-1']);
    for (const c of plan.jobs[0]!.churn) {
      expect(c.firstIteration % 3).toBe(0);
      expect([c.iterations, c.namespaces.length, c.deletes, c.creates]).toEqual([3, 1, 1, 4]);
    }
    expect(replay(plan)).toEqual(replay(plan, 8));
  });

  it('is skipped, with the reason, when there are no per-iteration namespaces', () => {
    const plan = planJobs(inline({ jobIterations: 3, namespacedIterations: false, churn: true, churnCycles: 2, objects: [pod] }), opts);
    expect(plan.actions.map((a) => `${a.object.kind} ${a.object.metadata.namespace ?? ''}/${a.object.metadata.name}`)).toEqual([
      'Namespace /ns', 'Pod ns/web-0-1', 'Pod ns/web-1-1', 'Pod ns/web-2-1',
    ]);
    expect(plan.jobs[0]!.churnSkipped).toBe('churn deletes per-iteration namespaces, and namespacedIterations is false');
  });
});

describe('waits, delays and other jobs', () => {
  it('podWait waits per namespace when waitWhenFinished is off', () => {
    const plan = planJobs(inline({ jobIterations: 3, podWait: true, waitWhenFinished: false, maxWaitTimeout: '90s', objects: [pod] }), opts);
    expect(plan.barriers.map((b) => [b.beforeAction, b.reason, b.namespaces, b.timeoutMs])).toEqual([
      [2, 'podWait', ['ns-0'], 90_000], [4, 'podWait', ['ns-1'], 90_000], [6, 'podWait', ['ns-2'], 90_000],
    ]);
  });

  it('jobIterationDelay separates iterations; the next job starts after jobPause', () => {
    const loaded = loadJobs({ jobs: [
      { name: 'a', namespace: 'a', jobIterations: 3, qps: 100, burst: 100, jobIterationDelay: '1s', jobPause: '500ms', objects: [pod] },
      { name: 'b', namespace: 'b', qps: 100, burst: 100, objects: [pod] },
    ] }, jobsDir);
    const plan = planJobs(loaded, opts);
    expect(plan.actions.map((a) => [a.job, a.at])).toEqual([['a', 0], ['a', 0], ['a', 1000], ['a', 1000], ['a', 2000], ['a', 2000], ['b', 3500], ['b', 3500]]);
    expect(plan.jobs.map((j) => [j.name, j.startMs, j.endMs])).toEqual([['a', 0, 3500], ['b', 3500, 3500]]);
  });

  it('runOnce objects are created at iteration 0 only', () => {
    const plan = planJobs(inline({ jobIterations: 3, qps: 100, burst: 100, objects: [pod, { ...pod, runOnce: true, inputVars: { app: 'once' } }] }), opts);
    expect(plan.actions.filter((a) => a.object.metadata.name.startsWith('once')).map((a) => a.object.metadata.name)).toEqual(['once-0-1']);
  });

  it('a delete job deletes, newest first, what earlier jobs created that matches kind and labels', () => {
    const plan = planJobs(loadJobs(`${fixtures}jobs/delete.yaml`), opts);
    const deletes = plan.actions.filter((a) => a.job === 'remove');
    expect(deletes.map((a) => `${a.op} ${a.object.kind} ${a.object.metadata.name}`)).toEqual([
      'delete Service web-2', 'delete Service web-1', 'delete Service web-0',
      'delete Namespace kb-del-2', 'delete Namespace kb-del-1', 'delete Namespace kb-del-0',
    ]);
    expect(deletes.map((a) => a.at)).toEqual([0, 100, 200, 300, 400, 500]);
    expect(plan.jobs.map((j) => [j.name, j.creates, j.deletes])).toEqual([['make', 12, 0], ['remove', 0, 6]]);
    expect(plan.barriers).toEqual([{ beforeAction: 18, at: 500, job: 'remove', until: 'gone', namespaces: ['kb-del-2', 'kb-del-1', 'kb-del-0'], timeoutMs: 4 * 3_600_000, reason: 'waitForDeletion' }]);
    expect(replay(plan).size).toBe(0);
  });
});

describe('bounds', () => {
  it(`refuses more than ${MAX_ACTIONS.toLocaleString('en')} actions (here, a lower bound)`, () => {
    expect(MAX_ACTIONS).toBe(200_000);
    const loaded = loadJobs(`${fixtures}jobs/basic.yaml`);
    expect(() => planJobs(loaded, { ...opts, maxActions: 40 })).toThrow(ConfigError);
    expect(() => planJobs(loaded, { ...opts, maxActions: 40 })).toThrow('exceeds 40 API writes (job basic); lower jobIterations, replicas or churnCycles');
  });

  it('refuses plans longer than an hour, from the rate or from delays', () => {
    expect(() => planJobs(inline({ jobIterations: 4000, qps: 1, burst: 1, objects: [pod] }), opts)).toThrow(
      'runs past 60 minutes (job j, before any waits); raise qps or lower jobIterations, churnDuration, churnDelay or jobPause',
    );
    expect(() => planJobs(inline({ churn: true, churnCycles: 3, churnDelay: '2h', objects: [pod] }), opts)).toThrow('runs past 60 minutes');
    expect(() => planJobs(inline({ jobPause: '61m', objects: [pod] }), opts)).toThrow('runs past 60 minutes');
  });

  it("refuses a template that renders one object twice, kube-burner's AlreadyExists", () => {
    expect(() => planJobs(loadJobs(`${fixtures}invalid/same-name.yaml`), opts)).toThrow(
      'job same: templates/same-name.yaml renders Pod kb-same-0/pod-0 twice (iteration 0, replica 2); put {{.Iteration}} and {{.Replica}} in metadata.name',
    );
  });
});

describe('the churn scenario (scenarios/churn-jobs)', () => {
  it('is 20 namespaces of 2 pods and a service, then 5 cycles churning 4 of them, in about a minute at qps 20', () => {
    const plan = planJobs(loadJobs(fileURLToPath(new URL('../../../scenarios/churn-jobs/jobs.yaml', import.meta.url))), opts);
    const job = plan.jobs[0]!;
    expect([job.creates - job.churn.reduce((s, c) => s + c.creates, 0), job.churn.length]).toEqual([80, 5]);
    expect(job.churn.every((c) => c.iterations === 4 && c.deletes === 4 && c.creates === 16)).toBe(true);
    expect(plan.actions).toHaveLength(180);
    expect(plan.durationMs).toBeLessThan(120_000);
    expectRateRespected(plan, 20, 20);
    const svc0 = plan.actions.find((a) => a.object.kind === 'Service')!.object;
    const pods0 = plan.actions.filter((a) => a.object.kind === 'Pod' && a.iteration === 0).map((a) => a.object);
    expect(pods0).toHaveLength(2);
    for (const p of pods0) expect(p.metadata.labels).toMatchObject((svc0.spec as { selector: Record<string, string> }).selector);
  });
});
