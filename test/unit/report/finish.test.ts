// SPDX-License-Identifier: Apache-2.0
// The end of a run and the report/compare/index commands, on fixture copies in temp dirs: files written,
// thresholds found where the run recorded its scenario, exit codes through ThresholdError (99) and ConfigError (104).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compareCommand, parseFraction } from '../../../src/commands/compare.ts';
import { indexCommand } from '../../../src/commands/index.ts';
import { reportCommand } from '../../../src/commands/report.ts';
import { ConfigError, ThresholdError } from '../../../src/errors.ts';
import { assertFinished, finishLines, finishRun } from '../../../src/report/finish.ts';
import { thresholdsSchema } from '../../../src/runner/scenario/schema.ts';
import { scanRuns } from '../../../src/report/index-page.ts';
import { findThresholds } from '../../../src/report/threshold-source.ts';
import { loadResults } from '../../../src/report/load.ts';
import { copyFixture, fixture, shiftLatency, writeRun } from './fixtures.ts';

let out: string[];
beforeEach(() => {
  out = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (out.push(String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('finishRun', () => {
  it('writes report.html and returns the breached thresholds from the scenario the run recorded', async () => {
    const dir = copyFixture('synthetic-4x5');
    const r = await finishRun(dir, {});
    expect(r.reportFile).toBe(join(dir, 'report.html'));
    expect(existsSync(r.reportFile)).toBe(true);
    expect(r.breached).toHaveLength(1);
    expect(r.breached[0]).toMatch(/^threshold #1 .*@20000 services: latency_p99 \d+ us > max 600 us$/);
    expect(r.regressions).toEqual([]);
    expect(r.compareFile).toBeUndefined();
  });

  it('compares with a baseline: compare.html and one line per regression', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dpbench-finish-'));
    const base = fixture('synthetic-4x5');
    const baseline = writeRun(root, 'baseline', base);
    const cand = writeRun(root, 'candidate', shiftLatency(base, (s) => s.datapath === 'ebpf' && s.test === 'TCP_RR', 1.4));
    const r = await finishRun(cand, { baseline });
    expect(existsSync(join(cand, 'compare.html'))).toBe(true);
    expect(r.regressions.length).toBeGreaterThan(0);
    expect(r.regressions.every((l) => l.startsWith('ebpf TCP_RR '))).toBe(true);
    expect(r.thresholdNote).toMatch(/scenario file scenario.yaml not found/);
    const same = await finishRun(baseline, { baseline });
    expect(same.regressions).toEqual([]);
    expect(() => assertFinished(same)).not.toThrow();
    expect(finishLines(r).at(-1)).toMatch(/^compare: .*compare\.html \(against 20261130-020000-synthetic-4x5: \d+ regression\(s\)\)$/);
    const e = (() => { try { assertFinished(r); } catch (x) { return x as Error; } throw new Error('expected a throw'); })();
    expect(e).toBeInstanceOf(ThresholdError);
    expect(e.message).toMatch(/^\d+ regression\(s\) against 20261130-020000-synthetic-4x5:\n  ebpf TCP_RR /);
  });

  it('takes the thresholds the run loaded (scenario.thresholds) over the scenario file; [] means none', async () => {
    const dir = copyFixture('synthetic-4x5');
    const thresholds = thresholdsSchema.parse([{ metric: 'throughput', min: 1 }, { metric: 'latency_p50', datapath: 'xdp', max: 1 }]);
    const r = await finishRun(dir, { thresholds, thresholdSource: 'scenarios/x.yaml' });
    expect(r.breached).toEqual([]);
    expect(r.thresholdCount).toEqual({ total: 2, pass: 1, notEvaluated: 1 });
    expect(finishLines(r)).toEqual([expect.stringMatching(/^report: .*report\.html$/), 'thresholds: 1 pass, 0 breached, 1 not evaluated']);
    expect(readFileSync(r.reportFile, 'utf8').includes('From scenarios/x.yaml.')).toBe(true);
    const none = await finishRun(dir, { thresholds: [] });
    expect(none.thresholdCount.total).toBe(0);
    const breached = await finishRun(dir, {});
    expect(() => assertFinished(breached)).toThrow(/^1 threshold check\(s\) failed:\n  threshold #1 /);
  });
});

describe('findThresholds', () => {
  it('prefers thresholds embedded in results.json', () => {
    const root = mkdtempSync(join(tmpdir(), 'dpbench-thr-'));
    const res = fixture('single-step');
    const dir = writeRun(root, 'run', { ...res, run: { ...res.run, thresholds: [{ metric: 'latency_p50', max: 1 }] } } as typeof res);
    const found = findThresholds(loadResults(dir));
    expect(found.thresholds).toEqual([{ metric: 'latency_p50', max: 1, stat: 'median' }]);
    expect(found.source).toMatch(/\(embedded\)$/);
  });

  it('a broken recorded scenario costs the thresholds, not the report; a broken --scenario is a ConfigError', () => {
    const dir = copyFixture('synthetic-4x5');
    writeFileSync(join(dir, 'scenario.yaml'), 'thresholds:\n  - { metric: latency_p50, maximum: 3 }\n');
    const found = findThresholds(loadResults(dir));
    expect(found.thresholds).toBeNull();
    expect(found.note).toMatch(/unknown key "maximum"/);
    expect(() => findThresholds(loadResults(dir), join(dir, 'scenario.yaml'))).toThrow(ConfigError);
  });
});

describe('dpbench report', () => {
  it('breached threshold: report written, ThresholdError (exit 99) listing the breach', async () => {
    const dir = copyFixture('synthetic-4x5');
    const e = await rejection(reportCommand(dir, {}));
    expect(e).toBeInstanceOf(ThresholdError);
    expect((e as ThresholdError).exitCode).toBe(99);
    expect(e.message).toMatch(/1 threshold\(s\) breached:\n  threshold #1/);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    expect(out.join('')).toMatch(/3 pass, 1 breached, 1 not evaluated/);
  });

  it('no thresholds: exit 0; --out picks the file', async () => {
    const dir = copyFixture('single-step');
    const file = join(dir, 'elsewhere.html');
    await reportCommand(dir, { out: file });
    expect(readFileSync(file, 'utf8').startsWith('<!doctype html>')).toBe(true);
  });

  it('a directory without results.json is a ConfigError (exit 104) that says what was expected', async () => {
    const e = await rejection(reportCommand(mkdtempSync(join(tmpdir(), 'dpbench-empty-')), {}));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/no results.json in this directory; expected a run directory/);
  });
});

describe('dpbench compare', () => {
  const root = mkdtempSync(join(tmpdir(), 'dpbench-cmp-'));
  const base = fixture('synthetic-4x5');
  const baseline = writeRun(root, 'baseline', base);

  it('identical runs: exit 0, compare.html next to the candidate', async () => {
    const cand = writeRun(root, 'same', base);
    await compareCommand(baseline, join(cand, 'results.json'), {});
    expect(existsSync(join(cand, 'compare.html'))).toBe(true);
    expect(out.join('')).toContain(`${base.results.length} unchanged (tolerance ±10%, alpha 0.05)`);
  });

  it('a regression: ThresholdError (exit 99) naming each regressed record', async () => {
    const cand = writeRun(root, 'slow', shiftLatency(base, (s) => s.datapath === 'iptables' && s.test === 'TCP_CRR', 1.3));
    const e = await rejection(compareCommand(baseline, cand, {}));
    expect(e).toBeInstanceOf(ThresholdError);
    expect(e.message).toMatch(/^\d+ regression\(s\) against 20261130-020000-synthetic-4x5:\n  iptables TCP_CRR/);
    // a wider tolerance absorbs it
    await compareCommand(baseline, cand, { tolerance: '35%' });
  });

  it('flags: 10% and 0.1 mean the same; nonsense is a ConfigError', () => {
    expect(parseFraction('10%', '--tolerance', 0)).toBeCloseTo(0.1, 12);
    expect(parseFraction('0.1', '--tolerance', 0)).toBe(0.1);
    expect(parseFraction(undefined, '--tolerance', 0.1)).toBe(0.1);
    expect(() => parseFraction('ten', '--tolerance', 0)).toThrow(/--tolerance: expected a fraction such as 0.1/);
    expect(() => parseFraction('1.5', '--tolerance', 0)).toThrow(ConfigError);
  });
});

describe('dpbench index', () => {
  it('lists every run folder newest first, renders missing reports, skips unreadable ones', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dpbench-index-'));
    const base = fixture('synthetic-4x5');
    writeRun(root, 'a-older', { ...base, run: { ...base.run, id: 'a-older', startedAt: '2026-11-01T00:00:00.000Z' } });
    writeRun(root, 'b newer <x>', { ...base, run: { ...base.run, id: 'b', startedAt: '2026-11-02T00:00:00.000Z' } });
    writeRun(root, 'single', fixture('single-step'));
    writeRun(root, 'broken', {} as never);
    await indexCommand(root, {});
    const html = readFileSync(join(root, 'index.html'), 'utf8');
    expect(scanRuns(root).entries.map((e) => e.name)).toEqual(['single', 'b newer <x>', 'a-older']);
    expect(existsSync(join(root, 'a-older', 'report.html'))).toBe(true);
    // names are URL-encoded in links and escaped in text
    expect(html.includes('href="./b%20newer%20%3Cx%3E/report.html"')).toBe(true);
    expect(html.includes('<b>b newer &lt;x&gt;</b>')).toBe(true);
    expect(html.includes('<section id="trends">')).toBe(true);
    expect(html.includes('<b>broken</b>: ')).toBe(true);
    expect(out.join('')).toMatch(/index: .*index.html \(3 runs\)/);
  });

  it('--no-render leaves run folders alone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dpbench-index-'));
    writeRun(root, 'r', fixture('single-step'));
    await indexCommand(root, { render: false });
    expect(existsSync(join(root, 'r', 'report.html'))).toBe(false);
    expect(readFileSync(join(root, 'index.html'), 'utf8').includes('no report')).toBe(true);
  });
});
