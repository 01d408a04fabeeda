// SPDX-License-Identifier: Apache-2.0
// NetworkPolicy conformance cases: YAML files holding one case (name, policies, …) or many (`cases: [...]`), read
// with the scenario pipeline so every mistake is reported as file:path.to.key (line N). Policies are checked against
// the API's own validation rules, so a case cannot test a policy the API server would refuse.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { displayPath, parseYamlConfig, type ConfigIssue } from '../runner/scenario/yaml-config.ts';
import { parseCidr } from '../util/ip.ts';
import { PROTOCOLS } from './evaluator.ts';
import { MODEL_NAMESPACES, MODEL_POD_KEYS, standardModel, type NetpolModel } from './model.ts';
import { parseMatrix, MatrixError, probeLabel, type Probe, type TruthTable } from './truth-table.ts';

export const NETPOL_CASE_DIR = resolve(import.meta.dirname, '../../netpol-cases');

/** what a datapath must implement to be judged on a case; derived from the policies and probes, or declared */
export const NETPOL_FEATURES = ['egress', 'ipblock', 'named-ports', 'end-port', 'sctp'] as const;
export type NetpolFeature = (typeof NETPOL_FEATURES)[number];

/** probed when a case names none: upstream's two ports, TCP and UDP */
export const DEFAULT_PROBES: readonly Probe[] = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'TCP' },
  { port: 80, protocol: 'UDP' },
  { port: 81, protocol: 'UDP' },
];

const labels = z.record(z.string().min(1), z.string());
const cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'expected an IPv4 CIDR such as 10.244.1.0/24');
const portNumber = z.number().int().min(1).max(65535);
const protocol = z.enum(PROTOCOLS);

const selector = z.strictObject({
  matchLabels: labels.optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string().min(1),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const peer = z.strictObject({
  podSelector: selector.optional(),
  namespaceSelector: selector.optional(),
  ipBlock: z.strictObject({ cidr, except: z.array(cidr).optional() }).optional(),
});

const policyPort = z.strictObject({
  protocol: protocol.optional(),
  // a name is an IANA service name: lowercase letters, digits and dashes, at most 15, at least one letter
  port: z
    .union([portNumber, z.string().regex(/^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/, 'expected a port number or a port name such as serve-80-tcp')])
    .optional(),
  endPort: portNumber.optional(),
});

const policy = z.strictObject({
  apiVersion: z.literal('networking.k8s.io/v1').optional(),
  kind: z.literal('NetworkPolicy').optional(),
  metadata: z.strictObject({
    name: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, 'expected a DNS subdomain name such as deny-all'),
    namespace: z.string().min(1),
    labels: labels.optional(),
    annotations: labels.optional(),
  }),
  spec: z.strictObject({
    podSelector: selector.optional(),
    policyTypes: z.array(z.enum(['Ingress', 'Egress'])).optional(),
    ingress: z.array(z.strictObject({ from: z.array(peer).optional(), ports: z.array(policyPort).optional() })).optional(),
    egress: z.array(z.strictObject({ to: z.array(peer).optional(), ports: z.array(policyPort).optional() })).optional(),
  }),
});
type PolicyFile = z.output<typeof policy>;

const probe = z.strictObject({ port: portNumber, protocol: protocol.default('TCP') });

const caseSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lowercase name such as deny-all-ingress'),
  description: z.string().optional(),
  /** the upstream e2e test (or Cyclonus case) this case mirrors */
  upstream: z.string().optional(),
  requires: z.array(z.enum(NETPOL_FEATURES)).default([]),
  namespaceLabels: z.record(z.string(), labels).default({}),
  podLabels: z.record(z.string(), labels).default({}),
  policies: z.array(policy),
  probes: z.array(probe).min(1).optional(),
  expected: z.array(z.strictObject({ port: portNumber, protocol: protocol.default('TCP'), matrix: z.string().min(1) })).default([]),
});
type CaseFile = z.output<typeof caseSchema>;
const manySchema = z.strictObject({ cases: z.array(caseSchema).min(1) });

export interface ExpectedTable {
  probe: Probe;
  table: TruthTable;
}

export interface NetpolCase {
  name: string;
  description?: string;
  upstream?: string;
  /** file the case came from, for messages */
  file: string;
  /** in client-node's model (an ingress rule's peers are `_from`); policyManifest() gives the wire form */
  policies: V1NetworkPolicy[];
  namespaceLabels: Record<string, Record<string, string>>;
  podLabels: Record<string, Record<string, string>>;
  /** declared plus derived from the policies and probes */
  requires: NetpolFeature[];
  probes: Probe[];
  expected: ExpectedTable[];
}

/** every case of a file, or of every *.yaml in a directory (sorted); names must be unique */
export function loadCases(path: string = NETPOL_CASE_DIR): NetpolCase[] {
  const files = statSync(path, { throwIfNoEntry: false })?.isDirectory()
    ? readdirSync(path).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(path, f))
    : [path];
  const cases = files.flatMap(loadCaseFile);
  const seen = new Map<string, string>();
  for (const c of cases) {
    const other = seen.get(c.name);
    if (other) throw new ConfigError(`${c.file}: case "${c.name}" is also defined in ${other}; case names must be unique`);
    seen.set(c.name, c.file);
  }
  return cases;
}

export function loadCaseFile(file: string): NetpolCase[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${displayPath(file)}: cannot read the NetworkPolicy case file: ${(e as Error).message}`);
  }
  return parseCases(text, displayPath(file));
}

export function parseCases(text: string, file: string): NetpolCase[] {
  let top: unknown;
  try {
    top = parseYaml(text);
  } catch {
    top = undefined; // parseYamlConfig reports the syntax error with its line
  }
  const many = typeof top === 'object' && top !== null && 'cases' in top;
  if (many) {
    const parsed = parseYamlConfig(text, file, manySchema, 'NetworkPolicy case file', (v) => [
      ...v.cases.flatMap((c, i) => caseRules(c, ['cases', i])),
      ...duplicates(v.cases.map((c) => c.name)).map((i) => ({ path: ['cases', i, 'name'], message: `case "${v.cases[i]!.name}" is defined twice in this file` })),
    ]);
    return parsed.cases.map((c) => toCase(c, file));
  }
  return [toCase(parseYamlConfig(text, file, caseSchema, 'NetworkPolicy case', (c) => caseRules(c, [])), file)];
}

/** the model a case runs against: the standard one plus the case's extra labels */
export function caseModel(c: Pick<NetpolCase, 'namespaceLabels' | 'podLabels'>): NetpolModel {
  return standardModel({ namespaceLabels: c.namespaceLabels, podLabels: c.podLabels });
}

/** a policy in the wire form (`from`, not client-node's `_from`), for kubectl or YAML */
export function policyManifest(p: V1NetworkPolicy): Record<string, unknown> {
  const { ingress, ...spec } = structuredClone(p.spec ?? {});
  const wireIngress = ingress?.map(({ _from, ...rule }) => (_from ? { from: _from, ...rule } : rule));
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: structuredClone(p.metadata),
    spec: wireIngress ? { ...spec, ingress: wireIngress } : spec,
  };
}

/** a validated policy in client-node's model, which names an ingress rule's peers `_from` */
function modelPolicy(p: PolicyFile): V1NetworkPolicy {
  const { ingress, ...spec } = structuredClone(p.spec);
  const modelIngress = ingress?.map(({ from, ...rule }) => (from ? { _from: from, ...rule } : rule));
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: structuredClone(p.metadata),
    spec: modelIngress ? { ...spec, ingress: modelIngress } : spec,
  };
}

function toCase(c: CaseFile, file: string): NetpolCase {
  const expected = c.expected.map((e) => ({ probe: { port: e.port, protocol: e.protocol }, table: parseMatrix(e.matrix) }));
  const probes: Probe[] = [...(c.probes ?? DEFAULT_PROBES)];
  for (const e of expected) if (!probes.some((p) => probeLabel(p) === probeLabel(e.probe))) probes.push(e.probe);
  const needs = derived(c, probes);
  return {
    name: c.name,
    ...(c.description ? { description: c.description.trim() } : {}),
    ...(c.upstream ? { upstream: c.upstream } : {}),
    file,
    policies: c.policies.map(modelPolicy),
    namespaceLabels: c.namespaceLabels,
    podLabels: c.podLabels,
    requires: NETPOL_FEATURES.filter((f) => c.requires.includes(f) || needs.has(f)),
    probes,
    expected,
  };
}

function derived(c: CaseFile, probes: readonly Probe[]): Set<NetpolFeature> {
  const out = new Set<NetpolFeature>();
  if (probes.some((p) => p.protocol === 'SCTP')) out.add('sctp');
  for (const p of c.policies) {
    // the API server's defaulting (see evaluator.policyDirections)
    const types = p.spec.policyTypes?.length ? p.spec.policyTypes : p.spec.egress?.length ? ['Egress'] : [];
    if (types.includes('Egress')) out.add('egress');
    const rules = [...(p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })), ...(p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }))];
    for (const r of rules) {
      if (r.peers?.some((x) => x.ipBlock)) out.add('ipblock');
      if (r.ports?.some((x) => typeof x.port === 'string')) out.add('named-ports');
      if (r.ports?.some((x) => x.endPort !== undefined)) out.add('end-port');
    }
  }
  return out;
}

type Path = (string | number)[];
type Selector = z.output<typeof selector>;
type PeerSpec = z.output<typeof peer>;
type PortSpec = z.output<typeof policyPort>;

/** the API server's validation of a case's contents, plus the model's names */
function caseRules(c: CaseFile, at: Path): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const issue = (path: Path, message: string) => issues.push({ path: [...at, ...path], message });
  for (const ns of Object.keys(c.namespaceLabels)) {
    if (!(MODEL_NAMESPACES as readonly string[]).includes(ns)) issue(['namespaceLabels', ns], `no namespace "${ns}" in the model; expected one of ${MODEL_NAMESPACES.join(', ')}`);
  }
  for (const pod of Object.keys(c.podLabels)) {
    if (!MODEL_POD_KEYS.includes(pod)) issue(['podLabels', pod], `no pod "${pod}" in the model; expected one of ${MODEL_POD_KEYS.join(', ')}`);
  }
  const names = c.policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
  for (const i of duplicates(names)) issue(['policies', i, 'metadata', 'name'], `policy ${names[i]} is defined twice in this case`);
  c.policies.forEach((p, i) => {
    const pp: Path = ['policies', i];
    if (!(MODEL_NAMESPACES as readonly string[]).includes(p.metadata.namespace)) {
      issue([...pp, 'metadata', 'namespace'], `"${p.metadata.namespace}" is not a namespace of the model; expected one of ${MODEL_NAMESPACES.join(', ')}`);
    }
    if (p.spec.podSelector) selectorRules(p.spec.podSelector, [...pp, 'spec', 'podSelector'], issue);
    p.spec.ingress?.forEach((r, j) => ruleRules(r.from, r.ports, [...pp, 'spec', 'ingress', j], 'from', issue));
    p.spec.egress?.forEach((r, j) => ruleRules(r.to, r.ports, [...pp, 'spec', 'egress', j], 'to', issue));
  });
  const probes = new Set<string>();
  c.expected.forEach((e, i) => {
    const label = probeLabel({ port: e.port, protocol: e.protocol });
    if (probes.has(label)) issue(['expected', i], `a second expected table for ${label}; give one table per port and protocol`);
    probes.add(label);
    try {
      const t = parseMatrix(e.matrix);
      const unknown = [...t.froms, ...t.tos].find((k) => !MODEL_POD_KEYS.includes(k));
      if (unknown) issue(['expected', i, 'matrix'], `no pod "${unknown}" in the model; expected ${MODEL_POD_KEYS.join(' ')}`);
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      issue(['expected', i, 'matrix'], `matrix ${err.message}`);
    }
  });
  return issues;
}

function ruleRules(peers: PeerSpec[] | undefined, ports: PortSpec[] | undefined, at: Path, key: string, issue: (p: Path, m: string) => void): void {
  peers?.forEach((p, k) => {
    const pa = [...at, key, k];
    if (!p.podSelector && !p.namespaceSelector && !p.ipBlock) issue(pa, 'empty peer; give podSelector, namespaceSelector and/or ipBlock (omit the list to match everything)');
    if (p.ipBlock && (p.podSelector || p.namespaceSelector)) issue([...pa, 'ipBlock'], 'ipBlock cannot be combined with podSelector or namespaceSelector in one peer; make it a separate peer');
    if (p.podSelector) selectorRules(p.podSelector, [...pa, 'podSelector'], issue);
    if (p.namespaceSelector) selectorRules(p.namespaceSelector, [...pa, 'namespaceSelector'], issue);
    if (p.ipBlock) {
      const block = cidrOf(p.ipBlock.cidr);
      if (!block) issue([...pa, 'ipBlock', 'cidr'], `"${p.ipBlock.cidr}" is not a valid IPv4 CIDR`);
      p.ipBlock.except?.forEach((e, x) => {
        const ex = cidrOf(e);
        if (!ex) issue([...pa, 'ipBlock', 'except', x], `"${e}" is not a valid IPv4 CIDR`);
        else if (block && (ex.bits <= block.bits || ((ex.base - block.base) >>> 0) >= block.size)) {
          issue([...pa, 'ipBlock', 'except', x], `${e} must be a strict subset of the cidr ${p.ipBlock!.cidr}`);
        }
      });
    }
  });
  ports?.forEach((p, k) => {
    if (p.endPort === undefined) return;
    const pa = [...at, 'ports', k, 'endPort'];
    if (typeof p.port !== 'number') issue(pa, 'endPort needs a numeric port (not a named one) to start the range');
    else if (p.endPort < p.port) issue(pa, `endPort ${p.endPort} is below port ${p.port}; the range is port..endPort inclusive`);
  });
}

function selectorRules(sel: Selector, at: Path, issue: (p: Path, m: string) => void): void {
  sel.matchExpressions?.forEach((req, i) => {
    const set = req.operator === 'In' || req.operator === 'NotIn';
    if (set && !req.values?.length) issue([...at, 'matchExpressions', i, 'values'], `operator ${req.operator} needs at least one value`);
    if (!set && req.values?.length) issue([...at, 'matchExpressions', i, 'values'], `operator ${req.operator} takes no values`);
  });
}

function cidrOf(text: string): ReturnType<typeof parseCidr> | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

function duplicates(items: readonly string[]): number[] {
  return items.flatMap((x, i) => (items.indexOf(x) !== i ? [i] : []));
}
