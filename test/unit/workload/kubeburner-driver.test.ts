// SPDX-License-Identifier: Apache-2.0
// The kube-burner driver: the config it renders (golden files), how it runs the binary (a fake one on PATH; the
// real one when present), and the parsers of measurement files (test/fixtures/kubeburner/README.md says how
// those were made).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, PrereqError } from '../../../src/errors.ts';
import { findExecutable } from '../../../src/cluster/kind/kind.ts';
import { loadJobs } from '../../../src/workload/kubeburner/job.ts';
import {
  checkKubeBurner, collectLatencySamples, formatForVersion, kubeBurnerConfig, KubeBurnerOutputError, NOT_FOUND, parseKubeBurnerVersion,
  parseNetpolLatency, parsePodLatency, renderKubeBurnerConfig, runKubeBurner,
} from '../../../src/workload/kubeburner/driver.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/kubeburner/', import.meta.url));
const metrics = `${fixtures}metrics`;
const read = (name: string) => readFileSync(join(metrics, name), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'dpbench-kb-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function golden(name: string, actual: string): void {
  const file = `${fixtures}golden/${name}`;
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('kubeBurnerConfig', () => {
  const basic = loadJobs(`${fixtures}jobs/basic.yaml`);

  it('renders the v1 layout: flat churn keys, a local indexer, the effective rate, no image pre-loading', () => {
    const files = kubeBurnerConfig(basic, 'v1');
    expect(Object.keys(files).sort()).toEqual(['config.yml', 'dpbench-kube-burner.json', 'templates/netpol.yaml', 'templates/pod.yaml', 'templates/service.yaml']);
    golden('config-v1.yml', files['config.yml']!);
    expect(files['templates/netpol.yaml']).toBe(readFileSync(`${fixtures}jobs/templates/netpol.yaml`, 'utf8'));
  });

  it('renders churnConfig for kube-burner 2', () => {
    golden('config-v2.yml', kubeBurnerConfig(basic, 'v2')['config.yml']!);
  });

  it('renders delete jobs with their selectors, and qps/burst 0 as the rate they really get', () => {
    const config = kubeBurnerConfig(loadJobs({ jobs: [
      { name: 'mk', namespace: 'mk', objects: [{ objectTemplate: 'templates/pod.yaml', inputVars: { app: 'a' } }] },
      { name: 'rm', jobType: 'delete', objects: [{ kind: 'Pod', labelSelector: { 'kube-burner-job': 'mk' } }] },
    ] }, `${fixtures}jobs`))['config.yml']!;
    expect(config).toContain('  - name: rm\n    jobType: delete\n    qps: 5\n    burst: 10\n    jobIterationDelay: 0s\n    jobPause: 0s\n    waitForDeletion: true\n    objects:\n      - kind: Pod\n        labelSelector:\n          kube-burner-job: mk\n');
    expect(config).not.toMatch(/^ +churn/m);
  });

  it('numbers templates that share a file name', () => {
    const dir = join(scratch, 'twins');
    mkdirSync(join(dir, 'a'), { recursive: true });
    mkdirSync(join(dir, 'b'), { recursive: true });
    writeFileSync(join(dir, 'a/pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: a-{{.Iteration}} }\n');
    writeFileSync(join(dir, 'b/pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: { name: b-{{.Iteration}} }\n');
    const files = kubeBurnerConfig(loadJobs({ jobs: [{ name: 't', namespace: 't', objects: [{ objectTemplate: 'a/pod.yaml' }, { objectTemplate: 'b/pod.yaml' }] }] }, dir));
    expect(Object.keys(files).filter((f) => f.startsWith('templates/')).sort()).toEqual(['templates/2-pod.yaml', 'templates/pod.yaml']);
    expect(files['config.yml']).toMatch(/objectTemplate: templates\/pod\.yaml[^]*objectTemplate: templates\/2-pod\.yaml/);
  });

  it('renderKubeBurnerConfig writes the files into the directory', () => {
    const dir = join(scratch, 'render');
    const out = renderKubeBurnerConfig(basic, { dir });
    expect(out).toEqual({ configDir: dir, files: ['config.yml', 'dpbench-kube-burner.json', 'templates/netpol.yaml', 'templates/pod.yaml', 'templates/service.yaml'] });
    expect(readFileSync(join(dir, 'config.yml'), 'utf8')).toBe(readFileSync(`${fixtures}golden/config-v1.yml`, 'utf8'));
  });
});

describe('versions', () => {
  it.each([
    ['Version: 1.10.3\nGit Commit: 1a2b3c\nBuild Date: 2024-05-02', [1, 10, 3], 'v1'],
    ['kube-burner version v1.17.1', [1, 17, 1], 'v1'],
    ['Version: v2.0.0', [2, 0, 0], 'v2'],
  ])('%j', (text, version, format) => {
    expect(parseKubeBurnerVersion(text)).toEqual(version);
    expect(formatForVersion(version as [number, number, number])).toBe(format);
  });
  it('refuses kube-burner older than 1.10', () => {
    expect(() => formatForVersion([1, 9, 6])).toThrow(PrereqError);
    expect(() => formatForVersion([1, 9, 6])).toThrow('kube-burner 1.9.6 is older than 1.10.0');
  });
});

describe('running kube-burner', () => {
  it('is a prerequisite error (exit 3) with the fix when kube-burner is not on PATH', async () => {
    const empty = mkdtempSync(join(scratch, 'empty-'));
    await expect(checkKubeBurner({ path: empty })).rejects.toThrow(NOT_FOUND);
    const err = await runKubeBurner({ configDir: empty, kubeconfig: '/dev/null', uuid: 'u', timeoutMs: 1000, path: empty }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrereqError);
    expect((err as PrereqError).exitCode).toBe(3);
    expect(NOT_FOUND).toBe('kube-burner not found on PATH; install it from its releases page (https://github.com/kube-burner/kube-burner/releases) — this machine cannot download it');
  });

  // a stand-in that records how it was called and writes what kube-burner's local indexer would
  function fakeKubeBurner(version: string): string {
    const bin = mkdtempSync(join(scratch, 'bin-'));
    writeFileSync(join(bin, 'kube-burner'), [
      '#!/bin/sh',
      `if [ "$1" = version ]; then echo "Version: ${version}"; exit 0; fi`,
      'printf "%s\\n" "$PWD" "$KUBECONFIG" "$@" > called.txt',
      `mkdir -p metrics && cp '${metrics}/podLatencyQuantilesMeasurement-churn-jobs.json' metrics/podLatencyQuantilesMeasurement-basic.json`,
    ].join('\n'));
    chmodSync(join(bin, 'kube-burner'), 0o755);
    return bin;
  }

  it('runs `kube-burner init` in the config directory with the kubeconfig, and lists the metric files', async () => {
    const dir = join(scratch, 'run');
    renderKubeBurnerConfig(loadJobs(`${fixtures}jobs/basic.yaml`), { dir });
    const bin = fakeKubeBurner('1.10.3');
    const result = await runKubeBurner({ configDir: dir, kubeconfig: '/tmp/kind.kubeconfig', uuid: 'uuid-1', timeoutMs: 90_500, path: bin });
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, 'called.txt'), 'utf8').split('\n').slice(0, -1)).toEqual([
      dir, '/tmp/kind.kubeconfig', 'init', '-c', 'config.yml', '--uuid', 'uuid-1', '--timeout', '91s', '--log-level', 'info',
    ]);
    expect(result.metricFiles).toEqual(['podLatencyQuantilesMeasurement-basic.json']);
    expect(result.metricsDir).toBe(join(dir, 'metrics'));
  });

  it('refuses a config rendered for the other format than the installed kube-burner reads', async () => {
    const dir = join(scratch, 'mismatch');
    renderKubeBurnerConfig(loadJobs(`${fixtures}jobs/basic.yaml`), { dir, format: 'v1' });
    const run = runKubeBurner({ configDir: dir, kubeconfig: '/dev/null', uuid: 'u', timeoutMs: 1000, path: fakeKubeBurner('2.1.0') });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(runKubeBurner({ configDir: dir, kubeconfig: '/dev/null', uuid: 'u', timeoutMs: 1000, path: fakeKubeBurner('2.1.0') })).rejects.toThrow("render it with format 'v2'");
  });

  const realKubeBurner = findExecutable('kube-burner');
  const kubeconfig = process.env.DPBENCH_KUBECONFIG;
  const skipReason = !realKubeBurner ? 'kube-burner not on PATH' : !kubeconfig ? 'DPBENCH_KUBECONFIG names no cluster' : '';
  it.skipIf(skipReason !== '')(`runs the churn scenario's jobs on a real cluster${skipReason ? ` (skipped: ${skipReason})` : ''}`, async () => {
    const bin = await checkKubeBurner();
    const loaded = loadJobs(fileURLToPath(new URL('../../../scenarios/churn-jobs/jobs.yaml', import.meta.url)));
    const dir = join(scratch, 'real');
    renderKubeBurnerConfig(loaded, { dir, format: bin.format });
    const result = await runKubeBurner({ configDir: dir, kubeconfig: kubeconfig!, uuid: `dpbench-test-${Date.now()}`, timeoutMs: 600_000 });
    const { samples, missing } = collectLatencySamples(result.metricsDir, loaded);
    expect(missing).toEqual([]);
    expect(samples.map((s) => s.condition)).toContain('Ready');
  }, 900_000);
});

describe('parsePodLatency', () => {
  const quantiles = parsePodLatency(read('podLatencyQuantilesMeasurement-churn-jobs.json'), 'quantiles');

  it("reads kube-burner's summary per pod condition, in milliseconds", () => {
    expect(quantiles).toEqual([
      { measurement: 'podLatency', job: 'churn-jobs', condition: 'PodScheduled', p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0, avgMs: 0, source: 'quantiles' },
      { measurement: 'podLatency', job: 'churn-jobs', condition: 'Initialized', p50Ms: 0, p95Ms: 1000, p99Ms: 1000, maxMs: 1000, avgMs: 450, source: 'quantiles' },
      { measurement: 'podLatency', job: 'churn-jobs', condition: 'ContainersReady', p50Ms: 2000, p95Ms: 4000, p99Ms: 5000, maxMs: 6000, avgMs: 2250, source: 'quantiles' },
      { measurement: 'podLatency', job: 'churn-jobs', condition: 'Ready', p50Ms: 2000, p95Ms: 4000, p99Ms: 5000, maxMs: 6000, avgMs: 2250, source: 'quantiles' },
    ]);
  });

  it('computes the same figures from the per-pod documents, as kube-burner does', () => {
    const fromPods = parsePodLatency(read('podLatencyMeasurement-churn-jobs.json'));
    expect(fromPods.map(({ source, count, ...rest }) => [source, count, rest])).toEqual(quantiles.map(({ source: _s, ...rest }) => ['timeseries', 20, rest]));
  });

  it('accepts parsed JSON and a single document', () => {
    const doc = JSON.parse(read('podLatencyQuantilesMeasurement-churn-jobs.json'))[0];
    expect(parsePodLatency(doc)).toEqual([quantiles[3]]);
  });

  it.each([
    ['not json', 'pod.json: not JSON'],
    ['[1, 2]', 'pod.json: expected a list of measurement documents'],
    ['[{"metricName": "svcLatencyQuantilesMeasurement"}]', 'metricName "svcLatencyQuantilesMeasurement"; expected podLatencyMeasurement or podLatencyQuantilesMeasurement'],
    ['[{"metricName": "podLatencyQuantilesMeasurement", "quantileName": "Ready", "P50": "2s"}]', 'the Ready summary has no number "P50" (got "2s")'],
    ['[{"metricName": "podLatencyQuantilesMeasurement"}]', 'a podLatency summary has no quantileName'],
    ['[{"metricName": "podLatencyMeasurement", "podReadyLatency": 1}]', 'document 1 has no number "schedulingLatency"'],
  ])('rejects %s', (text, want) => {
    const err = (() => {
      try {
        parsePodLatency(text, 'pod.json');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KubeBurnerOutputError);
    expect((err as KubeBurnerOutputError).exitCode).toBe(2);
    expect((err as Error).message).toContain(want);
  });
});

describe('parseNetpolLatency', () => {
  it('reads Ready and minReady, and computes them from the per-policy documents alike', () => {
    const quantiles = parseNetpolLatency(read('netpolLatencyQuantilesMeasurement-network-policy-perf.json'));
    expect(quantiles).toEqual([
      { measurement: 'netpolLatency', job: 'network-policy-perf', condition: 'Ready', p50Ms: 1718, p95Ms: 3016, p99Ms: 3016, maxMs: 3132, avgMs: 1903, source: 'quantiles' },
      { measurement: 'netpolLatency', job: 'network-policy-perf', condition: 'minReady', p50Ms: 1139, p95Ms: 1858, p99Ms: 1858, maxMs: 1875, avgMs: 1185, source: 'quantiles' },
    ]);
    const fromPolicies = parseNetpolLatency(read('netpolLatencyMeasurement-network-policy-perf.json'));
    expect(fromPolicies.map(({ source, count, ...rest }) => [source, count, rest])).toEqual(quantiles.map(({ source: _s, ...rest }) => ['timeseries', 12, rest]));
  });
});

describe('collectLatencySamples', () => {
  it('reads each configured measurement of each create job, and lists the ones with no file', () => {
    const loaded = loadJobs({ measurements: [{ name: 'podLatency' }, { name: 'netpolLatency' }], jobs: [
      { name: 'churn-jobs', namespace: 'c', objects: [{ objectTemplate: 'templates/pod.yaml', inputVars: { app: 'a' } }] },
    ] }, `${fixtures}jobs`);
    const { samples, missing } = collectLatencySamples(metrics, loaded);
    expect(samples.map((s) => `${s.measurement} ${s.job} ${s.condition} ${s.source}`)).toEqual([
      'podLatency churn-jobs PodScheduled quantiles', 'podLatency churn-jobs Initialized quantiles',
      'podLatency churn-jobs ContainersReady quantiles', 'podLatency churn-jobs Ready quantiles',
    ]);
    expect(missing).toEqual([`netpolLatency of job churn-jobs: no netpolLatencyQuantilesMeasurement-churn-jobs.json in ${metrics}`]);
    expect(existsSync(join(metrics, 'netpolLatencyQuantilesMeasurement-churn-jobs.json'))).toBe(false);
  });
});
