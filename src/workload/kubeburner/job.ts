// SPDX-License-Identifier: Apache-2.0
// kube-burner's job file as users write it (the v1 layout: flat churn keys), validated with kube-burner's defaults.
// Unknown keys are errors; kube-burner features dpbench cannot plan or measure are errors that say why. Loading
// also reads every objectTemplate (relative to the job file), compiles it and renders it once, so a typo in a
// template fails here, naming the file and placeholder, before any object exists.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.ts';
import { displayPath, keyPath, parseYamlConfig, type ConfigIssue } from '../../runner/scenario/yaml-config.ts';
import { compileTemplate, renderObjects, type CompiledTemplate } from './template.ts';

const GO_DURATION = /^([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$|^0$/;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration for the units kube-burner users write, in milliseconds. */
export function durationMs(text: string): number {
  if (!GO_DURATION.test(text)) throw new RangeError(`"${text}" is not a Go duration such as 30s, 5m or 1h30m`);
  let ms = 0;
  for (const m of text.matchAll(/([0-9]*\.?[0-9]*)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

// a custom check, not z.string(): a wrong type must get this message rather than a generic "expected string"
const goDuration = z.custom<string>((v) => typeof v === 'string' && GO_DURATION.test(v), {
  error: 'expected a Go duration such as 30s, 5m or 1h30m (kube-burner reads a bare number as nanoseconds)',
});
const dns1123Subdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'expected a DNS-1123 name: lower-case letters, digits, "-" and "."');
// kube-burner decodes label maps into map[string]string, so YAML's `false` arrives as "false"
const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

/**
 * A strict object whose known-but-unsupported keys get their own reason. Checked even when other fields fail, so
 * one run of the loader reports everything; a plain unknown key still lists the supported keys.
 */
function objectWithReasons<S extends z.ZodRawShape>(shape: S, reasons: Record<string, string>) {
  return z.looseObject(shape).check(
    z.superRefine((value: unknown, ctx) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      for (const key of Object.keys(value)) {
        if (Object.hasOwn(shape, key)) continue;
        if (Object.hasOwn(reasons, key)) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" is not supported by dpbench: ${reasons[key]}` });
        else ctx.addIssue({ code: 'unrecognized_keys', keys: [key], path: [], input: value as Record<string, unknown> });
      }
    }, { when: () => true }),
  );
}

const PATCH_ONLY = 'it applies to patch jobs, which dpbench does not support';
const JOB_UNSUPPORTED: Record<string, string> = {
  churnConfig: "this is kube-burner v2's churn block; write the v1 keys churn: true, churnCycles, churnPercent, churnDuration, churnDelay, churnDeletionStrategy (dpbench renders churnConfig itself for kube-burner v2)",
  beforeCleanup: 'it runs a shell script named in the job file; dpbench runs no scripts from workload files',
  gc: 'dpbench deletes what a run created itself (every namespace carries the run labels)',
  preLoadImages: 'pre-loading creates a DaemonSet dpbench does not plan; load images into the cluster beforehand (kind load docker-image). dpbench renders preLoadImages: false',
  preLoadPeriod: 'pre-loading is not supported (see preLoadImages)',
  preLoadNodeLabels: 'pre-loading is not supported (see preLoadImages)',
  preloadNodeLabels: 'pre-loading is not supported (see preLoadImages)',
  verifyObjects: 'dpbench renders verifyObjects: true and errorOnVerify: true itself',
  errorOnVerify: 'dpbench renders verifyObjects: true and errorOnVerify: true itself',
  skipIndexing: 'dpbench indexes every job locally and reads its measurement files',
  metricsAggregate: 'dpbench reads measurements per job and does not aggregate jobs',
  metricsClosing: 'dpbench reads measurements per job when the job ends',
  watchers: 'watchers load the API server, not the datapath under test',
  executionMode: PATCH_ONLY,
  objectDelay: PATCH_ONLY,
  objectWait: PATCH_ONLY,
  namespaceDelay: "dpbench's planner does not model it; use jobIterationDelay",
  defaultMissingKeysWithZero: "dpbench renders with missing keys as errors (kube-burner's default), so a typo cannot become an empty name",
  measurements: 'put measurements at the top level of the job file',
};
const OBJECT_UNSUPPORTED: Record<string, string> = {
  patchType: PATCH_ONLY,
  churn: "per-object churn belongs to kube-burner v2's object churning; dpbench churns whole iterations",
  kubeVirtOp: 'KubeVirt operations are not supported',
};
const FILE_UNSUPPORTED: Record<string, string> = {
  global: "dpbench writes kube-burner's global section itself; put measurements at the top level of this file",
  metricsEndpoints: 'dpbench configures a local indexer itself and reads the measurement files it writes',
  indexers: 'dpbench configures a local indexer itself and reads the measurement files it writes',
  indexerConfig: 'dpbench configures a local indexer itself and reads the measurement files it writes',
};

export const SUPPORTED_MEASUREMENTS = ['podLatency', 'netpolLatency'] as const;
const OTHER_MEASUREMENTS = ['serviceLatency', 'nodeLatency', 'pvcLatency', 'jobLatency', 'vmiLatency', 'vmLatency', 'pprof', 'dataVolumeLatency', 'volumeSnapshotLatency'];

const jobObjectSchema = objectWithReasons(
  {
    objectTemplate: z.string().min(1).optional(),
    /** per job iteration; kube-burner skips objects with replicas < 1 with only a warning, dpbench refuses them */
    replicas: z.number().int().positive().default(1),
    inputVars: z.record(z.string(), z.unknown()).default({}),
    wait: z.boolean().default(true),
    /** passed to kube-burner unchanged; dpbench's own executor waits for its default readiness */
    waitOptions: z
      .strictObject({
        kind: z.string().optional(),
        apiVersion: z.string().optional(),
        labelSelector: stringMap.optional(),
        forCondition: z.string().optional(),
        customStatusPaths: z.array(z.strictObject({ key: z.string(), value: z.string() })).optional(),
      })
      .optional(),
    runOnce: z.boolean().default(false),
    // delete jobs: which objects to delete
    kind: z.string().min(1).optional(),
    apiVersion: z.string().min(1).optional(),
    labelSelector: stringMap.optional(),
  },
  OBJECT_UNSUPPORTED,
);

const jobSchema = objectWithReasons(
  {
    name: dns1123Subdomain,
    jobType: z.enum(['create', 'delete'], {
      error: (iss) =>
        ['patch', 'read', 'kubevirt'].includes(String(iss.input))
          ? `${String(iss.input)} jobs are not supported: dpbench plans create and delete jobs only, which are what change the datapath's Services, endpoints and policies`
          : 'expected create or delete',
    }).default('create'),
    jobIterations: z.number().int().positive().default(1),
    /** 0 means client-go's defaults (5 qps, burst 10) in kube-burner; plan.ts does the same */
    qps: z.number().min(0).default(0),
    burst: z.number().int().min(0).default(0),
    namespace: z.string().default(''),
    namespacedIterations: z.boolean().default(true),
    iterationsPerNamespace: z.number().int().positive().default(1),
    podWait: z.boolean().default(false),
    waitWhenFinished: z.boolean().default(true),
    maxWaitTimeout: goDuration.default('4h'),
    jobIterationDelay: goDuration.default('0s'),
    jobPause: goDuration.default('0s'),
    cleanup: z.boolean().default(true),
    waitForDeletion: z.boolean().default(true),
    namespaceLabels: stringMap.default({}),
    namespaceAnnotations: stringMap.default({}),
    churn: z.boolean().default(false),
    churnCycles: z.number().int().min(0).default(100),
    churnPercent: z.number().int().min(1).max(100).default(10),
    churnDuration: goDuration.default('1h'),
    churnDelay: goDuration.default('5m'),
    /** default: churn whole namespaces; gvr: churn the objects inside them */
    churnDeletionStrategy: z.enum(['default', 'gvr']).default('default'),
    objects: z.array(jobObjectSchema).min(1),
  },
  JOB_UNSUPPORTED,
);

const measurementSchema = objectWithReasons(
  {
    name: z.enum(SUPPORTED_MEASUREMENTS, {
      error: (iss) =>
        OTHER_MEASUREMENTS.includes(String(iss.input))
          ? `${String(iss.input)} is not supported: dpbench parses only ${SUPPORTED_MEASUREMENTS.join(' and ')} results, so its numbers would not reach results.json`
          : `expected one of: ${SUPPORTED_MEASUREMENTS.join(', ')}`,
    }),
    /** podLatency: kube-burner exits 1 when one is breached */
    thresholds: z
      .array(
        z.strictObject({
          conditionType: z.enum(['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']),
          metric: z.enum(['P99', 'P95', 'P50', 'Avg', 'Max']),
          threshold: goDuration,
        }),
      )
      .optional(),
    /** netpolLatency */
    config: z.strictObject({ netpolTimeout: goDuration.optional(), skipPodWait: z.boolean().optional(), proxyRoute: z.string().optional() }).optional(),
  },
  {},
);

export const jobFileSchema = objectWithReasons(
  {
    measurements: z.array(measurementSchema).default([]),
    jobs: z.array(jobSchema).min(1),
  },
  FILE_UNSUPPORTED,
);

export interface JobObject {
  objectTemplate?: string;
  replicas: number;
  inputVars: Record<string, unknown>;
  wait: boolean;
  waitOptions?: { kind?: string; apiVersion?: string; labelSelector?: Record<string, string>; forCondition?: string; customStatusPaths?: { key: string; value: string }[] };
  runOnce: boolean;
  kind?: string;
  apiVersion?: string;
  labelSelector?: Record<string, string>;
}
export interface JobSpec {
  name: string;
  jobType: 'create' | 'delete';
  jobIterations: number;
  qps: number;
  burst: number;
  namespace: string;
  namespacedIterations: boolean;
  iterationsPerNamespace: number;
  podWait: boolean;
  waitWhenFinished: boolean;
  maxWaitTimeout: string;
  jobIterationDelay: string;
  jobPause: string;
  cleanup: boolean;
  waitForDeletion: boolean;
  namespaceLabels: Record<string, string>;
  namespaceAnnotations: Record<string, string>;
  churn: boolean;
  churnCycles: number;
  churnPercent: number;
  churnDuration: string;
  churnDelay: string;
  churnDeletionStrategy: 'default' | 'gvr';
  objects: JobObject[];
}
// the interfaces above must stay what the schemas produce
const _jobSpecMatches = (v: z.output<typeof jobSchema>): JobSpec => v;
void _jobSpecMatches;
export type MeasurementSpec = { name: (typeof SUPPORTED_MEASUREMENTS)[number]; thresholds?: { conditionType: string; metric: string; threshold: string }[]; config?: { netpolTimeout?: string; skipPodWait?: boolean; proxyRoute?: string } };

/** An object with its template read, compiled and checked. */
export interface LoadedObject extends JobObject {
  /** absolute path */
  templatePath: string;
  templateText: string;
  template: CompiledTemplate;
  /** kinds the template renders (Iteration 0, Replica 1) */
  kinds: string[];
}
export interface LoadedJob extends Omit<JobSpec, 'objects'> {
  objects: (LoadedObject | JobObject)[];
  /** some object is namespaced and names no namespace, so kube-burner creates `<namespace>-<n>` namespaces */
  nsRequired: boolean;
}
export interface LoadedJobs {
  /** the job file, or the label of an inline object */
  source: string;
  baseDir: string;
  jobs: LoadedJob[];
  measurements: MeasurementSpec[];
}

/** Kinds that live outside namespaces; anything else (CRDs included) is assumed namespaced. */
export const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'StorageClass', 'CustomResourceDefinition',
  'PriorityClass', 'IngressClass', 'RuntimeClass', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'APIService',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  'CertificateSigningRequest', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy', 'ClusterNetworkPolicy',
]);

export function isLoadedObject(o: LoadedObject | JobObject): o is LoadedObject {
  return 'template' in o;
}

/** Reads templates and applies the rules zod cannot express; fills `loaded` as it goes. */
function jobRules(value: { jobs: JobSpec[]; measurements: MeasurementSpec[] }, baseDir: string, loaded: LoadedJob[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  value.measurements.forEach((m, i) => {
    if (m.thresholds && m.name !== 'podLatency') issues.push({ path: ['measurements', i, 'thresholds'], message: 'only podLatency has thresholds' });
    if (m.config && m.name !== 'netpolLatency') issues.push({ path: ['measurements', i, 'config'], message: 'only netpolLatency takes config' });
  });
  value.jobs.forEach((job, j) => {
    const at = (...p: (string | number)[]) => ['jobs', j, ...p];
    if (seen.has(job.name)) issues.push({ path: at('name'), message: `job names must be unique; "${job.name}" is used twice` });
    seen.add(job.name);
    if (job.jobType === 'delete' && job.churn) issues.push({ path: at('churn'), message: 'churn applies to create jobs only' });
    if (job.churn && job.churnCycles === 0 && durationMs(job.churnDuration) === 0) {
      issues.push({ path: at('churn'), message: 'churnCycles 0 and churnDuration 0s churn nothing; set one of them' });
    }
    const objects: (LoadedObject | JobObject)[] = [];
    let nsRequired = false;
    job.objects.forEach((o, k) => {
      if (job.jobType === 'delete') {
        if (!o.kind) issues.push({ path: at('objects', k, 'kind'), message: 'missing; a delete job names the kind (and labelSelector) of what it deletes' });
        if (o.objectTemplate) issues.push({ path: at('objects', k, 'objectTemplate'), message: 'delete jobs select objects by kind and labelSelector, not by template' });
        objects.push(o);
        return;
      }
      if (o.kind || o.labelSelector) issues.push({ path: at('objects', k, o.kind ? 'kind' : 'labelSelector'), message: 'only delete jobs select objects by kind/labelSelector' });
      if (!o.objectTemplate) return void issues.push({ path: at('objects', k, 'objectTemplate'), message: 'missing; expected a template file relative to the job file' });
      if (/^[a-z]+:\/\//i.test(o.objectTemplate)) return void issues.push({ path: at('objects', k, 'objectTemplate'), message: 'templates by URL are not supported (nothing is downloaded); put the file next to the job file' });
      const templatePath = isAbsolute(o.objectTemplate) ? o.objectTemplate : resolve(baseDir, o.objectTemplate);
      try {
        const templateText = readFileSync(templatePath, 'utf8');
        const template = compileTemplate(templateText, displayPath(templatePath));
        const data = { Iteration: 0, Replica: 1, JobName: job.name, UUID: 'dpbench-check', RunID: 'dpbench-check', ...o.inputVars };
        const rendered = renderObjects(template, data, () => 0.5);
        if (!rendered.length) throw new Error(`${displayPath(templatePath)} renders no object`);
        if (rendered.some((r) => !CLUSTER_SCOPED_KINDS.has(r.kind) && !r.metadata.namespace)) nsRequired = true;
        objects.push({ ...o, templatePath, templateText, template, kinds: rendered.map((r) => r.kind) });
      } catch (e) {
        issues.push({ path: at('objects', k, 'objectTemplate'), message: (e as Error).message.replace(/^ENOENT: no such file or directory, open /, 'no such file: ') });
      }
    });
    if (nsRequired) {
      const lastNs = job.namespacedIterations ? Math.floor((job.jobIterations - 1) / job.iterationsPerNamespace) : -1;
      const longest = lastNs >= 0 ? `${job.namespace}-${lastNs}` : job.namespace;
      if (!job.namespace) issues.push({ path: at('namespace'), message: 'missing; the job creates namespaced objects without metadata.namespace, so it needs a namespace base name' });
      else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(longest) || longest.length > 63) {
        issues.push({ path: at('namespace'), message: `namespace "${longest}" is not a DNS-1123 label of at most 63 characters` });
      }
    }
    loaded.push({ ...job, objects, nsRequired });
  });
  return issues;
}

function inlineIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown key "${i.keys.join('", "')}"`;
  if (i.code === 'invalid_type' && i.input === undefined) return `missing; expected ${i.expected}`;
  return i.message.replace(/^Invalid input: /, '');
}

/**
 * Loads a kube-burner job file (a path), or an already-parsed object (e.g. the `churn` section of a scenario) whose
 * templates are relative to baseDir. Throws ConfigError listing every problem, each naming file, key and line.
 */
export function loadJobs(source: string | object, baseDir?: string, opts: { label?: string } = {}): LoadedJobs {
  const loaded: LoadedJob[] = [];
  if (typeof source === 'string') {
    const file = resolve(source);
    const dir = baseDir ?? dirname(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`${displayPath(file)}: cannot read the kube-burner job file: ${(e as Error).message}`);
    }
    const value = parseYamlConfig(text, displayPath(file), jobFileSchema, 'kube-burner job file', (v) => jobRules(v, dir, loaded));
    return { source: displayPath(file), baseDir: dir, jobs: loaded, measurements: value.measurements as MeasurementSpec[] };
  }
  const label = opts.label ?? '(inline kube-burner jobs)';
  const dir = baseDir ?? process.cwd();
  const parsed = jobFileSchema.safeParse(source);
  if (!parsed.success) throw new ConfigError(`${label}: invalid kube-burner jobs`, parsed.error.issues.map((i) => `${label}:${keyPath(i.path)}: ${inlineIssue(i)}`));
  const problems = jobRules(parsed.data, dir, loaded);
  if (problems.length) throw new ConfigError(`${label}: invalid kube-burner jobs`, problems.map((p) => `${label}:${keyPath(p.path)}: ${p.message}`));
  return { source: label, baseDir: dir, jobs: loaded, measurements: parsed.data.measurements as MeasurementSpec[] };
}
