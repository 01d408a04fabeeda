// SPDX-License-Identifier: Apache-2.0
// Scenario pipeline: read → schema (unknown keys rejected) → defaults → rules → CLI overrides → Scenario.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { displayPath, loadYamlConfig, type ConfigIssue } from './yaml-config.ts';
import {
  clusterShapeSchema,
  DATAPATHS,
  IMPLEMENTED_DATAPATHS,
  scenarioSchema,
  type ClusterShape,
  type Datapath,
  type Scenario,
  type ScenarioFile,
} from './schema.ts';

export const PROJECT_ROOT = resolve(import.meta.dirname, '../../..');
export const SCENARIO_DIR = join(PROJECT_ROOT, 'scenarios');
export const CLUSTER_DIR = join(PROJECT_ROOT, 'clusters');

export interface Overrides {
  datapaths?: string[];
  services?: number[];
  policies?: number[];
  samples?: number;
  duration?: number;
}

/** `smoke` → scenarios/smoke.yaml; a path is used as it is. */
export function resolveScenarioFile(nameOrPath: string): string {
  if (nameOrPath.endsWith('.yaml') || nameOrPath.endsWith('.yml') || nameOrPath.includes('/')) return resolve(nameOrPath);
  const file = join(SCENARIO_DIR, `${nameOrPath}.yaml`);
  if (!existsSync(file)) {
    throw new ConfigError(`no scenario named "${nameOrPath}"; expected one of: ${listScenarios().join(', ')} or a path to a .yaml file`);
  }
  return file;
}

export function listScenarios(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

export function scenarioRules(s: ScenarioFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  s.datapaths.forEach((d, i) => {
    if (!IMPLEMENTED_DATAPATHS.includes(d)) {
      issues.push({ path: ['datapaths', i], message: `datapath "${d}" is not implemented in this version; expected one of: ${IMPLEMENTED_DATAPATHS.join(', ')}` });
    }
  });
  if (new Set(s.datapaths).size !== s.datapaths.length) issues.push({ path: ['datapaths'], message: 'each datapath may be listed once' });
  if (new Set(s.scale.services).size !== s.scale.services.length) {
    issues.push({ path: ['scale', 'services'], message: 'each service count may be listed once' });
  }
  s.workloads.forEach((w, i) => {
    if (w.test === 'NETPOL_PROPAGATION' && w.path === 'pod-to-service') {
      issues.push({ path: ['workloads', i, 'path'], message: 'NETPOL_PROPAGATION is measured pod to pod; expected pod-to-pod-cross-node or pod-to-pod-same-node' });
    }
    if (w.test === 'NETPOL_PROPAGATION' && !s.scale.policies) {
      issues.push({ path: ['workloads', i, 'test'], message: 'NETPOL_PROPAGATION needs scale.policies (e.g. [0, 100, 1000])' });
    }
  });
  if (s.cluster.provider !== 'lab') {
    issues.push({ path: ['cluster', 'provider'], message: `provider "${s.cluster.provider}" cannot run benchmarks in this version; expected "lab"` });
  }
  return issues;
}

function shapeRules(shape: ClusterShape, scenario: ScenarioFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const nodes = scenario.cluster.nodes ?? shape.nodes;
  const pods = scenario.cluster.podsPerNode ?? shape.podsPerNode;
  scenario.workloads.forEach((w, i) => {
    if (w.path.startsWith('external-') && nodes < 2) {
      issues.push({ path: ['workloads', i, 'path'], message: `${w.path} needs at least 2 nodes (a local and a remote NodePort); the cluster has ${nodes}` });
    }
    if (w.path === 'pod-to-pod-cross-node' && nodes < 2) {
      issues.push({ path: ['workloads', i, 'path'], message: `pod-to-pod-cross-node needs at least 2 nodes; the cluster has ${nodes}` });
    }
    if (w.path !== 'pod-to-pod-cross-node' && pods < 2 && nodes < 2) {
      issues.push({ path: ['workloads', i, 'path'], message: `${w.path} needs a second pod; the cluster has 1 node with ${pods} pod` });
    }
    if (w.path === 'pod-to-pod-same-node' && pods < 2) {
      issues.push({ path: ['workloads', i, 'path'], message: `pod-to-pod-same-node needs at least 2 pods per node; the cluster has ${pods}` });
    }
  });
  return issues;
}

export function loadClusterShape(name: string, referencedFrom: string): ClusterShape & { shapeFile: string } {
  const file = join(CLUSTER_DIR, `${name}.yaml`);
  if (!existsSync(file)) {
    const known = readdirSync(CLUSTER_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''));
    throw new ConfigError(`${referencedFrom}:cluster.shape: no cluster shape "${name}" in clusters/; expected one of: ${known.join(', ')}`);
  }
  return { ...loadYamlConfig(file, clusterShapeSchema, 'cluster shape'), shapeFile: file };
}

export function loadScenario(nameOrPath: string, overrides: Overrides = {}): Scenario {
  const file = resolveScenarioFile(nameOrPath);
  const raw = loadYamlConfig(file, scenarioSchema, 'scenario', scenarioRules);
  const shape = loadClusterShape(raw.cluster.shape, displayPath(file));
  const shapeIssues = shapeRules(shape, raw);
  if (shapeIssues.length) {
    throw new ConfigError(`${displayPath(file)}: invalid scenario`, shapeIssues.map((p) => `${displayPath(file)}:${p.path.join('.')}: ${p.message}`));
  }
  const scenario: Scenario = {
    ...raw,
    file,
    cluster: {
      ...shape,
      provider: raw.cluster.provider,
      nodes: raw.cluster.nodes ?? shape.nodes,
      podsPerNode: raw.cluster.podsPerNode ?? shape.podsPerNode,
    },
    workloads: raw.workloads.map((w) => ({ ...w, duration: w.duration ?? raw.duration, samples: w.samples ?? raw.samples })),
  };
  return applyOverrides(scenario, overrides);
}

/** validates datapath names given on the command line */
export function checkDatapaths(names: string[], flag: string): Datapath[] {
  const bad = names.filter((d) => !(DATAPATHS as readonly string[]).includes(d) || !IMPLEMENTED_DATAPATHS.includes(d as Datapath));
  if (bad.length || !names.length) {
    throw new ConfigError(`${flag}: unknown or unimplemented datapath "${bad.join(',')}"; expected a comma-separated list of: ${IMPLEMENTED_DATAPATHS.join(', ')}`);
  }
  return [...new Set(names)] as Datapath[];
}

export function applyOverrides(s: Scenario, o: Overrides): Scenario {
  const out: Scenario = { ...s, workloads: s.workloads.map((w) => ({ ...w })) };
  if (o.datapaths) out.datapaths = checkDatapaths(o.datapaths, '--datapaths');
  if (o.services) {
    if (!o.services.length || o.services.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) {
      throw new ConfigError(`--services: expected a comma-separated list of integers between 1 and 100000, got "${o.services.join(',')}"`);
    }
    out.scale = { ...s.scale, services: [...new Set(o.services)] };
  }
  if (o.policies) {
    if (!o.policies.length || o.policies.some((n) => !Number.isInteger(n) || n < 0 || n > 50_000)) {
      throw new ConfigError(`--policies: expected a comma-separated list of integers between 0 and 50000, got "${o.policies.join(',')}"`);
    }
    out.scale = { ...out.scale, policies: [...new Set(o.policies)] };
  }
  if (o.samples !== undefined) {
    if (!Number.isInteger(o.samples) || o.samples < 1 || o.samples > 100) throw new ConfigError(`--samples: expected an integer between 1 and 100, got ${o.samples}`);
    for (const w of out.workloads) w.samples = o.samples;
  }
  if (o.duration !== undefined) {
    if (!Number.isInteger(o.duration) || o.duration < 1 || o.duration > 600) {
      throw new ConfigError(`--duration: expected whole seconds between 1 and 600, got ${o.duration}`);
    }
    for (const w of out.workloads) w.duration = o.duration;
  }
  return out;
}
