// SPDX-License-Identifier: Apache-2.0
// The bench end to end through the CLI, as a user runs it: the smoke scenario (shortened) writes results with
// medians for every test and step and leaves nothing behind; SIGINT tears down; an invalid scenario creates nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Results } from '../../src/runner/results.ts';
import { PROJECT_ROOT } from '../../src/runner/scenario/load.ts';
import { hostSnapshot, isRoot, labNetns, rootReason } from '../helpers/host.ts';

interface CliRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function dpbench(args: string[], opts: { interruptWhen?: RegExp } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli.ts'), ...args], { cwd: PROJECT_ROOT });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (opts.interruptWhen && !sent && opts.interruptWhen.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('dpbench run: bad input', () => {
  it('an invalid scenario exits 104, names file and key, and creates nothing', async () => {
    const before = labNetns();
    const res = await dpbench(['run', 'scenarios/_invalid/unknown-key.yaml']);
    expect(res.code).toBe(104);
    expect(res.stderr).toContain('unknown-key.yaml:workloads.0.tset');
    expect(labNetns()).toEqual(before);
  });

  it('an unknown scenario name lists the known ones', async () => {
    const res = await dpbench(['run', 'no-such-scenario']);
    expect(res.code).toBe(104);
    expect(res.stderr).toMatch(/no scenario named "no-such-scenario".*smoke/);
  });

  it('a malformed flag exits 104 with usage', async () => {
    const res = await dpbench(['run', 'smoke', '--services', '1,lots']);
    expect(res.code).toBe(104);
    expect(res.stderr).toContain('expected comma-separated integers');
  });
});

describe.skipIf(!isRoot)(`dpbench run smoke (${rootReason})`, () => {
  it('writes TCP_RR, TCP_CRR and TCP_STREAM medians for iptables at 1 and 1,000 services and leaves nothing behind', async () => {
    const before = await hostSnapshot();
    const out = mkdtempSync(join(tmpdir(), 'dpbench-smoke-'));
    const res = await dpbench(['run', 'smoke', '--samples', '2', '--duration', '1', '--out', out, '--quiet']);
    expect(res.stderr).not.toContain('unexpected error');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`results: `);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
    expect(results.run.complete).toBe(true);
    for (const services of [1, 1000]) {
      for (const [test, metric] of [['TCP_RR', 'latency_p50'], ['TCP_CRR', 'latency_p50'], ['TCP_STREAM', 'throughput']]) {
        const rec = results.results.find((r) => r.datapath === 'iptables' && r.services === services && r.test === test && r.path === 'pod-to-service' && r.metric === metric);
        expect(rec, `${test} at ${services}`).toBeDefined();
        // a median exists when at least one sample was valid; every sample is kept either way
        expect(rec!.samples.length + rec!.invalid.length).toBe(2);
        expect(rec!.summary?.median ?? 0).toBeGreaterThan(0);
      }
    }
    // the sync at 1,000 services programmed kube-proxy's rules and the target sat behind the fillers
    const sync = results.syncs.find((s) => s.services === 1000 && s.node === 'node0')!;
    expect(sync.rules).toBeGreaterThan(1000 * 3);
    const svc = results.samples.find((s) => s.services === 1000 && s.path === 'pod-to-service')!;
    expect(svc.target.lookupPosition).toBeGreaterThan(999);
    expect(results.environment.kernel).toBeTruthy();
    expect(readFileSync(join(out, 'samples.csv'), 'utf8').split('\n')[0]).toContain('datapath,services,policies,phase,test,path,sample');
    expect(labNetns()).toEqual([]);
    expect(await hostSnapshot()).toEqual(before);
  }, 180_000);

  it('SIGINT mid-run tears the lab down and exits 130', async () => {
    const res = await dpbench(['run', 'smoke', '--samples', '5', '--duration', '2', '--out', mkdtempSync(join(tmpdir(), 'dpbench-int-'))], {
      interruptWhen: /sample 1\/5/,
    });
    expect(res.code).toBe(130);
    expect(res.stderr).toContain('SIGINT: stopping');
    expect(labNetns()).toEqual([]);
  }, 120_000);
});
