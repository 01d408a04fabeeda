// SPDX-License-Identifier: Apache-2.0
// Pure: kube-burner jobs → a timed plan of API writes, for an executor that has no kube-burner binary (the lab).
// Times are milliseconds from the start on a nominal clock where waits take no time: a barrier says "wait until
// these namespaces are ready (or gone) before action N", and an executor shifts everything after it by however
// long the wait took. Jobs run one after another, as in kube-burner; within a job the order is kube-burner's:
// per iteration its namespace, then each object's replicas; then the wait, then churn, then jobPause.
import { ConfigError } from '../../errors.ts';
import { CLUSTER_SCOPED_KINDS, durationMs, isLoadedObject, type LoadedJob, type LoadedJobs, type LoadedObject } from './job.ts';
import { renderObjects, type KubeObject } from './template.ts';
import { mulberry32 } from '../../util/random.ts';

/** kube-burner v1's labels on what it creates; delete jobs select by them */
export const LABEL_UUID = 'kube-burner-uuid';
export const LABEL_JOB = 'kube-burner-job';
export const LABEL_INDEX = 'kube-burner-index';
export const LABEL_RUNID = 'kube-burner-runid';
export const MAX_ACTIONS = 200_000;
export const MAX_DURATION_MS = 3_600_000;
/** client-go's rate when a job leaves qps/burst at 0: kube-burner's own limiter then never blocks */
const CLIENT_GO_QPS = 5;
const CLIENT_GO_BURST = 10;

export interface PlanAction {
  at: number;
  op: 'create' | 'delete';
  object: KubeObject;
  job: string;
  phase: 'create' | 'churn' | 'delete';
  iteration?: number;
  cycle?: number;
}
export interface PlanBarrier {
  /** the first action that must wait (actions.length when the barrier ends the plan) */
  beforeAction: number;
  at: number;
  job: string;
  until: 'ready' | 'gone';
  namespaces: string[];
  timeoutMs: number;
  reason: 'podWait' | 'waitWhenFinished' | 'churn' | 'waitForDeletion';
}
export interface ChurnCycle {
  cycle: number;
  at: number;
  /** the contiguous iterations [first, first + count) deleted and recreated */
  firstIteration: number;
  iterations: number;
  namespaces: string[];
  deletes: number;
  creates: number;
}
export interface JobPlan {
  name: string;
  startMs: number;
  endMs: number;
  /** the effective rate: 0 in the job file means client-go's defaults */
  qps: number;
  burst: number;
  creates: number;
  deletes: number;
  churn: ChurnCycle[];
  /** why churn was asked for but not planned */
  churnSkipped?: string;
  /** delete what earlier runs of this job left behind (namespaces with this label) before starting */
  cleanup?: Record<string, string>;
}
export interface Plan {
  uuid: string;
  runId: string;
  actions: PlanAction[];
  barriers: PlanBarrier[];
  jobs: JobPlan[];
  durationMs: number;
}
export interface PlanOptions {
  uuid: string;
  runId?: string;
  /** seeds churn's choice of iterations and random template functions; default: derived from uuid */
  seed?: number;
  maxActions?: number;
  maxDurationMs?: number;
}

/** golang.org/x/time/rate's token bucket: starts full; a request at `now` gets the earliest time a token is there. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(readonly qps: number, readonly burst: number, start = 0) {
    this.tokens = burst;
    this.last = start;
  }
  take(now: number): number {
    const t = Math.max(now, this.last);
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.qps) / 1000) - 1;
    this.last = t;
    if (this.tokens >= 0) return t;
    // the bucket is in debt: this request is served when the debt is paid back
    const at = t + (-this.tokens * 1000) / this.qps;
    this.tokens = 0;
    this.last = at;
    return at;
  }
}

export function effectiveRate(job: Pick<LoadedJob, 'qps' | 'burst'>): { qps: number; burst: number } {
  return { qps: job.qps > 0 ? job.qps : CLIENT_GO_QPS, burst: job.burst > 0 ? job.burst : CLIENT_GO_BURST };
}

function hashSeed(text: string): number {
  let h = 0x811c9dc5;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h >>> 0;
}

const objectKey = (o: KubeObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
interface LiveObject { object: KubeObject; job: string; iteration: number }

class Planner {
  readonly actions: PlanAction[] = [];
  readonly barriers: PlanBarrier[] = [];
  readonly jobs: JobPlan[] = [];
  /** what exists, in creation order: delete jobs and churn pick from here */
  readonly live = new Map<string, LiveObject>();
  cursor = 0;
  private readonly churnRandom: () => number;
  private readonly templateRandom: () => number;

  constructor(readonly source: string, readonly opts: Required<PlanOptions>) {
    this.churnRandom = mulberry32(opts.seed);
    this.templateRandom = mulberry32(opts.seed ^ 0x9e3779b9);
  }

  private emit(bucket: TokenBucket, job: JobPlan, a: Omit<PlanAction, 'at' | 'job'>): void {
    const at = bucket.take(this.cursor);
    this.cursor = at;
    this.checkTime(job.name);
    if (this.actions.length >= this.opts.maxActions) {
      throw new ConfigError(`${this.source}: the kube-burner plan exceeds ${this.opts.maxActions.toLocaleString('en')} API writes (job ${job.name}); lower jobIterations, replicas or churnCycles`);
    }
    this.actions.push({ at, job: job.name, ...a });
    if (a.op === 'create') job.creates++;
    else job.deletes++;
  }

  checkTime(job: string): void {
    if (this.cursor > this.opts.maxDurationMs) {
      throw new ConfigError(`${this.source}: the kube-burner plan runs past ${this.opts.maxDurationMs / 60_000} minutes (job ${job}, before any waits); raise qps or lower jobIterations, churnDuration, churnDelay or jobPause`);
    }
  }

  barrier(job: string, until: PlanBarrier['until'], namespaces: string[], timeoutMs: number, reason: PlanBarrier['reason']): void {
    if (namespaces.length) this.barriers.push({ beforeAction: this.actions.length, at: this.cursor, job, until, namespaces, timeoutMs, reason });
  }

  private labels(job: LoadedJob, extra: Record<string, string> = {}): Record<string, string> {
    return { [LABEL_JOB]: job.name, [LABEL_UUID]: this.opts.uuid, [LABEL_RUNID]: this.opts.runId, ...extra };
  }

  namespaceOf(job: LoadedJob, iteration: number): string {
    return job.namespacedIterations ? `${job.namespace}-${Math.floor(iteration / job.iterationsPerNamespace)}` : job.namespace;
  }

  private createNamespace(job: LoadedJob, plan: JobPlan, bucket: TokenBucket, name: string, phase: PlanAction['phase'], iteration: number, cycle?: number): void {
    const object: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...this.labels(job), ...job.namespaceLabels } } };
    if (Object.keys(job.namespaceAnnotations).length) object.metadata.annotations = { ...job.namespaceAnnotations };
    if (this.live.has(objectKey(object))) return;
    this.live.set(objectKey(object), { object, job: job.name, iteration });
    this.emit(bucket, plan, { op: 'create', object, phase, iteration, ...(cycle === undefined ? {} : { cycle }) });
  }

  private renderObject(job: LoadedJob, o: LoadedObject, index: number, iteration: number, replica: number, ns: string): KubeObject[] {
    const data = { Iteration: iteration, Replica: replica, JobName: job.name, UUID: this.opts.uuid, RunID: this.opts.runId, ...o.inputVars };
    return renderObjects(o.template, data, this.templateRandom).map((obj) => {
      const labels = { ...this.labels(job, { [LABEL_INDEX]: String(index) }), ...obj.metadata.labels };
      const metadata = { ...obj.metadata, labels };
      if (!CLUSTER_SCOPED_KINDS.has(obj.kind) && !metadata.namespace && job.nsRequired) metadata.namespace = ns;
      const out: KubeObject = { ...obj, metadata };
      // kube-burner labels pod templates too, so its watchers see the pods a Deployment makes
      const tmpl = (obj.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template;
      if (tmpl?.metadata) out.spec = { ...(obj.spec as object), template: { ...tmpl, metadata: { ...tmpl.metadata, labels: { ...this.labels(job, { [LABEL_INDEX]: String(index) }), ...tmpl.metadata.labels } } } };
      return out;
    });
  }

  /** kube-burner's RunCreateJob over iterations [from, to) */
  createIterations(job: LoadedJob, plan: JobPlan, bucket: TokenBucket, from: number, to: number, phase: 'create' | 'churn', cycle?: number): number {
    const before = plan.creates;
    const waited = new Set<string>();
    const tag = cycle === undefined ? {} : { cycle };
    if (job.nsRequired && !job.namespacedIterations) this.createNamespace(job, plan, bucket, job.namespace, phase, from, cycle);
    for (let i = from; i < to; i++) {
      const ns = this.namespaceOf(job, i);
      if (job.nsRequired && job.namespacedIterations) this.createNamespace(job, plan, bucket, ns, phase, i, cycle);
      job.objects.forEach((o, index) => {
        if (!isLoadedObject(o) || (o.runOnce && i !== 0)) return;
        for (let r = 1; r <= o.replicas; r++) {
          for (const object of this.renderObject(job, o, index, i, r, ns)) {
            const key = objectKey(object);
            if (this.live.has(key)) {
              // churn leaves cluster-scoped objects in place; kube-burner's create gets AlreadyExists and moves on
              if (phase === 'churn') continue;
              throw new ConfigError(`${this.source}: job ${job.name}: ${o.objectTemplate} renders ${object.kind} ${key.split('/').slice(1).filter(Boolean).join('/')} twice (iteration ${i}, replica ${r}); put {{.Iteration}} and {{.Replica}} in metadata.name`);
            }
            this.live.set(key, { object, job: job.name, iteration: i });
            this.emit(bucket, plan, { op: 'create', object, phase, iteration: i, ...tag });
          }
        }
      });
      if (job.podWait && !job.waitWhenFinished && job.nsRequired && !waited.has(ns)) {
        waited.add(ns);
        this.barrier(job.name, 'ready', [ns], durationMs(job.maxWaitTimeout), 'podWait');
      }
      this.cursor += durationMs(job.jobIterationDelay);
    }
    if (job.waitWhenFinished && job.nsRequired) {
      const namespaces = [...new Set(Array.from({ length: to - from }, (_, k) => this.namespaceOf(job, from + k)))];
      this.barrier(job.name, 'ready', namespaces, durationMs(job.maxWaitTimeout), phase === 'churn' ? 'churn' : 'waitWhenFinished');
    }
    return plan.creates - before;
  }

  /** kube-burner's RunCreateJobWithChurn: contiguous runs of iterations, deleted and recreated each cycle */
  churn(job: LoadedJob, plan: JobPlan, bucket: TokenBucket): void {
    const n = job.jobIterations;
    const count = Math.min(n, Math.max(Math.floor((job.churnPercent * n) / 100), 1));
    const start = this.cursor;
    const limitMs = durationMs(job.churnDuration);
    for (let cycle = 0; this.cursor - start < limitMs && (job.churnCycles === 0 || cycle < job.churnCycles); cycle++) {
      let first = Math.floor(this.churnRandom() * (n - count + 1));
      let last = first + count;
      // a shared namespace goes whole, so all of its iterations come back (kube-burner v1 recreated only the chosen ones)
      first -= first % job.iterationsPerNamespace;
      last = Math.min(n, Math.ceil(last / job.iterationsPerNamespace) * job.iterationsPerNamespace);
      const namespaces = [...new Set(Array.from({ length: last - first }, (_, k) => this.namespaceOf(job, first + k)))];
      const at = this.cursor;
      const deletesBefore = plan.deletes;
      if (job.churnDeletionStrategy === 'default') {
        // deleting a namespace takes everything in it along
        for (const ns of namespaces) {
          const nsKey = `Namespace//${ns}`;
          const entry = this.live.get(nsKey);
          if (!entry) continue;
          for (const [key, l] of this.live) if (l.object.metadata.namespace === ns) this.live.delete(key);
          this.live.delete(nsKey);
          this.emit(bucket, plan, { op: 'delete', object: entry.object, phase: 'churn', iteration: entry.iteration, cycle });
        }
      } else {
        const doomed = [...this.live.entries()].filter(([, l]) => l.job === job.name && l.iteration >= first && l.iteration < last);
        for (const [key, l] of doomed.reverse()) {
          if (l.object.kind === 'Namespace' || CLUSTER_SCOPED_KINDS.has(l.object.kind)) continue;
          this.live.delete(key);
          this.emit(bucket, plan, { op: 'delete', object: l.object, phase: 'churn', iteration: l.iteration, cycle });
        }
      }
      this.barrier(job.name, 'gone', namespaces, durationMs(job.maxWaitTimeout), 'churn');
      const creates = this.createIterations(job, plan, bucket, first, last, 'churn', cycle);
      plan.churn.push({ cycle, at, firstIteration: first, iterations: last - first, namespaces, deletes: plan.deletes - deletesBefore, creates });
      this.cursor += durationMs(job.churnDelay);
      this.checkTime(job.name);
    }
  }

  /** a delete job: every live object of the kinds and labels it names, newest first */
  deleteJob(job: LoadedJob, plan: JobPlan, bucket: TokenBucket): void {
    const namespaces = new Set<string>();
    for (const sel of job.objects) {
      if (isLoadedObject(sel)) continue;
      const match = [...this.live.entries()].filter(([, l]) => {
        const o = l.object;
        if (o.kind !== sel.kind || (sel.apiVersion && o.apiVersion !== sel.apiVersion)) return false;
        return Object.entries(sel.labelSelector ?? {}).every(([k, v]) => o.metadata.labels?.[k] === v);
      });
      for (const [key, l] of match.reverse()) {
        if (!this.live.has(key)) continue;
        this.live.delete(key);
        if (l.object.kind === 'Namespace') {
          for (const [k2, l2] of this.live) if (l2.object.metadata.namespace === l.object.metadata.name) this.live.delete(k2);
          namespaces.add(l.object.metadata.name);
        } else if (l.object.metadata.namespace) namespaces.add(l.object.metadata.namespace);
        this.emit(bucket, plan, { op: 'delete', object: l.object, phase: 'delete', iteration: l.iteration });
        this.cursor += durationMs(job.jobIterationDelay);
      }
    }
    if (job.waitForDeletion) this.barrier(job.name, 'gone', [...namespaces], durationMs(job.maxWaitTimeout), 'waitForDeletion');
  }

  run(jobs: LoadedJob[]): void {
    for (const job of jobs) {
      const rate = effectiveRate(job);
      const bucket = new TokenBucket(rate.qps, rate.burst, this.cursor);
      const plan: JobPlan = { name: job.name, startMs: this.cursor, endMs: 0, ...rate, creates: 0, deletes: 0, churn: [] };
      this.jobs.push(plan);
      if (job.jobType === 'delete') {
        this.deleteJob(job, plan, bucket);
      } else {
        if (job.cleanup) plan.cleanup = { [LABEL_JOB]: job.name };
        this.createIterations(job, plan, bucket, 0, job.jobIterations, 'create');
        if (job.churn && !job.nsRequired) plan.churnSkipped = 'the job creates no namespaces, and kube-burner churns namespaces';
        else if (job.churn && !job.namespacedIterations) plan.churnSkipped = 'churn deletes per-iteration namespaces, and namespacedIterations is false';
        else if (job.churn) this.churn(job, plan, bucket);
      }
      this.cursor += durationMs(job.jobPause);
      this.checkTime(job.name);
      plan.endMs = this.cursor;
    }
  }
}

/** The plan for loaded jobs; throws ConfigError when it is over the action or time bound. */
export function planJobs(loaded: LoadedJobs, opts: PlanOptions): Plan {
  const full: Required<PlanOptions> = {
    uuid: opts.uuid,
    runId: opts.runId ?? opts.uuid,
    seed: opts.seed ?? hashSeed(opts.uuid),
    maxActions: opts.maxActions ?? MAX_ACTIONS,
    maxDurationMs: opts.maxDurationMs ?? MAX_DURATION_MS,
  };
  const planner = new Planner(loaded.source, full);
  planner.run(loaded.jobs);
  return { uuid: full.uuid, runId: full.runId, actions: planner.actions, barriers: planner.barriers, jobs: planner.jobs, durationMs: planner.cursor };
}
