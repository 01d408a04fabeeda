// SPDX-License-Identifier: Apache-2.0
// Scenario parsing: the shipped scenarios load; every negative fixture fails naming file, key and expectation.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { applyOverrides, listScenarios, loadScenario, SCENARIO_DIR } from '../../../src/runner/scenario/load.ts';

const invalid = (f: string): string => join(SCENARIO_DIR, '_invalid', f);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('shipped scenarios', () => {
  it.each(listScenarios())('%s loads and validates', (name) => {
    const s = loadScenario(name);
    expect(s.name).toBe(name);
    expect(s.workloads.length).toBeGreaterThan(0);
    for (const w of s.workloads) expect(w.samples).toBeGreaterThan(0);
  });

  it('smoke: 2 nodes, iptables, services 1 and 1,000, all three tests', () => {
    const s = loadScenario('smoke');
    expect(s.cluster.nodes).toBe(2);
    expect(s.datapaths).toEqual(['iptables']);
    expect(s.scale.services).toEqual([1, 1000]);
    expect(new Set(s.workloads.map((w) => w.test))).toEqual(new Set(['TCP_RR', 'TCP_CRR', 'TCP_STREAM']));
  });

  it('service-scale: 1 to 20,000 services, TCP_RR and TCP_CRR pod-to-service, at least 5 samples', () => {
    const s = loadScenario('service-scale');
    expect(s.scale.services).toEqual([1, 1000, 5000, 10000, 20000]);
    expect(s.workloads.filter((w) => w.path === 'pod-to-service').map((w) => w.test).sort()).toEqual(['TCP_CRR', 'TCP_RR']);
    for (const w of s.workloads) expect(w.samples).toBeGreaterThanOrEqual(5);
  });

  it('workloads inherit the scenario duration and samples unless they set their own', () => {
    const s = loadScenario('smoke');
    for (const w of s.workloads) expect([w.duration, w.samples]).toEqual([2, 3]);
  });
});

describe('negative fixtures (scenarios/_invalid)', () => {
  const cases: Record<string, string[]> = {
    'unknown-key.yaml': ['unknown-key.yaml:workloads.0.tset (line 7)', 'unknown key "tset"', 'expected one of: test, path'],
    'wrong-type.yaml': ['wrong-type.yaml:samples (line 6)', 'expected number'],
    'unknown-test.yaml': ['unknown-test.yaml:workloads.0.test', '"TCP_RR"|"TCP_CRR"|"TCP_STREAM"'],
    'unknown-datapath.yaml': ['unknown-datapath.yaml:datapaths.1 (line 4)', '"iptables"'],
    'unknown-shape.yaml': ['unknown-shape.yaml:cluster.shape', 'no cluster shape "lab-9node"', 'lab-2node'],
    'cross-node-on-one-node.yaml': ['cross-node-on-one-node.yaml:workloads.0.path', 'needs at least 2 nodes'],
    'negative-services.yaml': ['negative-services.yaml:scale.services.1', 'negative-services.yaml:scale.services.2', 'expected int'],
    'missing-workloads.yaml': ['missing-workloads.yaml:workloads', 'missing; expected array'],
    'not-yaml.yaml': ['not-yaml.yaml: not valid YAML', 'not-yaml.yaml:4: Flow sequence'],
    'duplicate-datapath.yaml': ['duplicate-datapath.yaml:datapaths', 'each datapath may be listed once'],
  };

  it('every fixture in the folder has an expectation here', () => {
    expect(readdirSync(join(SCENARIO_DIR, '_invalid')).sort()).toEqual(Object.keys(cases).sort());
  });

  it.each(Object.entries(cases))('%s is rejected with file, key and expectation', (file, fragments) => {
    const err = configError(() => loadScenario(invalid(file)));
    for (const f of fragments) expect(err.message).toContain(f);
  });
});

describe('command-line overrides', () => {
  const base = loadScenario('smoke');

  it('replace datapaths, steps, samples and duration', () => {
    const s = applyOverrides(base, { datapaths: ['none', 'iptables'], services: [1, 50], samples: 7, duration: 4 });
    expect(s.datapaths).toEqual(['none', 'iptables']);
    expect(s.scale.services).toEqual([1, 50]);
    expect(s.workloads.every((w) => w.samples === 7 && w.duration === 4)).toBe(true);
    expect(base.workloads[0]!.samples).toBe(3); // the loaded scenario is not mutated
  });

  it.each([
    [{ datapaths: ['ipvs'] }, '--datapaths'],
    [{ services: [0] }, '--services'],
    [{ samples: 0 }, '--samples'],
    [{ duration: -1 }, '--duration'],
    [{ duration: 1.5 }, '--duration'],
  ])('rejects %j naming the flag', (o, flag) => {
    expect(configError(() => applyOverrides(base, o)).message).toContain(flag);
  });
});
