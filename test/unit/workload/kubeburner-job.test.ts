// SPDX-License-Identifier: Apache-2.0
// Loading kube-burner job files: kube-burner's defaults, templates read relative to the job file, and every
// negative fixture (test/fixtures/kubeburner/invalid/) failing with file, key, line and the reason.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { durationMs, isLoadedObject, loadJobs } from '../../../src/workload/kubeburner/job.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/kubeburner/', import.meta.url));
const templates = `${fixtures}jobs`;

function loadError(file: string): ConfigError {
  try {
    loadJobs(`${fixtures}invalid/${file}`);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`${file} loaded`);
}

describe('durationMs', () => {
  it.each([
    ['0', 0], ['0s', 0], ['500ms', 500], ['30s', 30_000], ['5m', 300_000], ['4h', 14_400_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['250us', 0.25],
  ])('%s = %d ms', (text, ms) => expect(durationMs(text)).toBe(ms));
  it.each(['5', '5 minutes', '', '1d'])('rejects %j', (text) => expect(() => durationMs(text)).toThrow(RangeError));
});

describe('loadJobs', () => {
  it("fills kube-burner's job and object defaults", () => {
    const loaded = loadJobs({ jobs: [{ name: 'min', namespace: 'ns', objects: [{ objectTemplate: 'templates/pod.yaml', inputVars: { app: 'a' } }] }] }, templates);
    const { objects, ...job } = loaded.jobs[0]!;
    expect(job).toEqual({
      name: 'min', jobType: 'create', jobIterations: 1, qps: 0, burst: 0, namespace: 'ns', namespacedIterations: true, iterationsPerNamespace: 1,
      podWait: false, waitWhenFinished: true, maxWaitTimeout: '4h', jobIterationDelay: '0s', jobPause: '0s', cleanup: true, waitForDeletion: true,
      namespaceLabels: {}, namespaceAnnotations: {}, churn: false, churnCycles: 100, churnPercent: 10, churnDuration: '1h', churnDelay: '5m',
      churnDeletionStrategy: 'default', nsRequired: true,
    });
    expect(objects[0]).toMatchObject({ objectTemplate: 'templates/pod.yaml', replicas: 1, wait: true, runOnce: false, kinds: ['Pod'] });
    expect(loaded.measurements).toEqual([]);
    expect(loaded.source).toBe('(inline kube-burner jobs)');
  });

  it('reads templates relative to the job file, not the working directory', () => {
    const loaded = loadJobs(`${fixtures}jobs/basic.yaml`);
    expect(loaded.baseDir).toBe(templates);
    const [pod, svc, netpol] = loaded.jobs[0]!.objects;
    expect(isLoadedObject(pod!) && pod.templatePath).toBe(`${templates}/templates/pod.yaml`);
    expect(isLoadedObject(svc!) && svc.kinds).toEqual(['Service']);
    expect(isLoadedObject(netpol!) && netpol.kinds).toEqual(['NetworkPolicy', 'ConfigMap']);
    expect(loaded.jobs[0]!.namespaceLabels).toEqual({ 'dpbench.io/test': 'true' });
    expect(loaded.measurements).toEqual([
      { name: 'podLatency', thresholds: [{ conditionType: 'Ready', metric: 'P99', threshold: '30s' }] },
      { name: 'netpolLatency', config: { netpolTimeout: '10s' } },
    ]);
  });

  it('loads delete jobs with their selectors and needs no templates for them', () => {
    const loaded = loadJobs(`${fixtures}jobs/delete.yaml`);
    expect(loaded.jobs.map((j) => [j.name, j.jobType, j.nsRequired])).toEqual([['make', 'create', true], ['remove', 'delete', false]]);
    expect(loaded.jobs[1]!.objects).toEqual([
      { kind: 'Service', labelSelector: { 'kube-burner-job': 'make' }, replicas: 1, inputVars: {}, wait: true, runOnce: false },
      { kind: 'Namespace', apiVersion: 'v1', labelSelector: { 'kube-burner-job': 'make' }, replicas: 1, inputVars: {}, wait: true, runOnce: false },
    ]);
  });

  it("loads the churn scenario's job file", () => {
    const loaded = loadJobs(fileURLToPath(new URL('../../../scenarios/churn-jobs/jobs.yaml', import.meta.url)));
    expect(loaded.jobs.map((j) => [j.name, j.qps, j.churn, j.objects.map((o) => isLoadedObject(o) && o.kinds)])).toEqual([['churn-jobs', 20, true, [['Pod'], ['Service']]]]);
  });

  it('names the label and key of an inline object that is wrong', () => {
    expect(() => loadJobs({ jobs: [{ name: 'x', objects: [], jobIteration: 2 }] }, templates, { label: 'smoke.yaml:churn' })).toThrow(
      /smoke\.yaml:churn:jobs\.0\.objects: .*\n[^]*smoke\.yaml:churn:jobs\.0: unknown key "jobIteration"/,
    );
    expect(() => loadJobs({ jobs: [{ name: 'x', objects: [{ objectTemplate: 'templates/none.yaml' }] }] }, templates, { label: 'inline' })).toThrow(
      'inline:jobs.0.objects.0.objectTemplate: no such file',
    );
  });

  // file → fragments every one of which must appear in the error
  it.each([
    ['unknown-key.yaml', ['unknown-key.yaml:jobs.0.jobIteration (line 5): unknown key "jobIteration"; expected one of: name, jobType, jobIterations']],
    ['unsupported.yaml', [
      'unsupported.yaml:global (line 3): "global" is not supported by dpbench: dpbench writes kube-burner\'s global section itself',
      'unsupported.yaml:measurements.0.name (line 5): serviceLatency is not supported: dpbench parses only podLatency and netpolLatency',
      'unsupported.yaml:jobs.0.beforeCleanup (line 9): "beforeCleanup" is not supported by dpbench: it runs a shell script',
      "unsupported.yaml:jobs.0.churnConfig (line 11): \"churnConfig\" is not supported by dpbench: this is kube-burner v2's churn block; write the v1 keys churn: true, churnCycles",
      'unsupported.yaml:jobs.0.objects.0.patchType (line 15): "patchType" is not supported by dpbench: it applies to patch jobs',
    ]],
    ['patch-job.yaml', ['patch-job.yaml:jobs.0.jobType (line 3): patch jobs are not supported: dpbench plans create and delete jobs only']],
    ['bad-duration.yaml', [
      'bad-duration.yaml:jobs.0.churnDelay (line 5): expected a Go duration such as 30s, 5m or 1h30m (kube-burner reads a bare number as nanoseconds)',
      'bad-duration.yaml:jobs.0.jobPause (line 6): expected a Go duration',
    ]],
    ['missing-template.yaml', ['missing-template.yaml:jobs.0.objects.1.objectTemplate (line 6): no such file', 'invalid/templates/nope.yaml']],
    ['unknown-function.yaml', ['unknown-function.yaml:jobs.0.objects.0.objectTemplate (line 5): ', 'templates/unknown-function.yaml:6: {{ GetSubnet24 .Iteration }}: function "GetSubnet24" is not supported']],
    ['missing-var.yaml', ['missing-var.yaml:jobs.0.objects.0.objectTemplate (line 5): ', 'templates/missing-var.yaml:7: {{ .port }}: map has no entry for key "port"', 'add it to inputVars']],
    ['no-namespace.yaml', ['no-namespace.yaml:jobs.0.namespace (line 3): missing; the job creates namespaced objects without metadata.namespace']],
    ['duplicate-job.yaml', ['duplicate-job.yaml:jobs.1.name (line 5): job names must be unique; "twice" is used twice']],
    ['url-template.yaml', ['url-template.yaml:jobs.0.objects.0.objectTemplate (line 5): templates by URL are not supported (nothing is downloaded)']],
  ])('%s', (file, fragments) => {
    const e = loadError(file);
    expect(e.exitCode).toBe(104);
    for (const f of fragments) expect(e.message).toContain(f);
  });

  it('rejects a namespace base name that cannot hold the iteration suffix', () => {
    const long = 'n'.repeat(61);
    expect(() => loadJobs({ jobs: [{ name: 'x', namespace: long, jobIterations: 100, objects: [{ objectTemplate: 'templates/pod.yaml', inputVars: { app: 'a' } }] }] }, templates)).toThrow(
      `namespace "${long}-99" is not a DNS-1123 label of at most 63 characters`,
    );
  });

  it('rejects churn that can never run and thresholds on the wrong measurement', () => {
    const job = { name: 'x', namespace: 'n', churn: true, churnCycles: 0, churnDuration: '0s', objects: [{ objectTemplate: 'templates/pod.yaml', inputVars: { app: 'a' } }] };
    expect(() => loadJobs({ jobs: [job] }, templates)).toThrow('jobs.0.churn: churnCycles 0 and churnDuration 0s churn nothing');
    expect(() => loadJobs({ measurements: [{ name: 'netpolLatency', thresholds: [] }], jobs: [{ ...job, churn: false }] }, templates)).toThrow(
      'measurements.0.thresholds: only podLatency has thresholds',
    );
  });
});
