// SPDX-License-Identifier: Apache-2.0
// The built-in NetworkPolicy cases: they load, every expected table (written from upstream's e2e expectations) equals
// the evaluator's, the per-pod resolution datapaths use agrees with the evaluator everywhere, and malformed case
// files fail naming file, key and line.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { allowed, type Peer } from '../../../src/netpol/evaluator.ts';
import { caseModel, loadCases, NETPOL_FEATURES, parseCases, policyManifest } from '../../../src/netpol/cases.ts';
import { resolvedAllowed } from '../../../src/netpol/resolve.ts';
import { compareTables, expectedTable, probeLabel, renderTable } from '../../../src/netpol/truth-table.ts';

const INVALID = join(import.meta.dirname, '../../fixtures/netpol/invalid');
const cases = loadCases();

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('built-in cases', () => {
  it('at least 25 cases with unique names, at least 8 carrying upstream-style expected tables', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.filter((c) => c.expected.length).length).toBeGreaterThanOrEqual(8);
    expect(cases.filter((c) => c.upstream).length).toBeGreaterThanOrEqual(8);
  });

  it('every feature a datapath may lack is exercised by some case', () => {
    for (const f of NETPOL_FEATURES) expect(cases.some((c) => c.requires.includes(f)), f).toBe(true);
  });

  it('requires sctp only where SCTP traffic is probed', () => {
    for (const c of cases) expect(c.requires.includes('sctp')).toBe(c.probes.some((p) => p.protocol === 'SCTP'));
    expect(cases.find((c) => c.name === 'sctp-not-treated-as-tcp')!.requires).toEqual([]);
  });

  it('every expected table is probed', () => {
    for (const c of cases) for (const e of c.expected) expect(c.probes.map(probeLabel)).toContain(probeLabel(e.probe));
  });

  describe.each(cases.filter((c) => c.expected.length).map((c) => [c.name, c] as const))('%s', (_name, c) => {
    it.each(c.expected.map((e) => [probeLabel(e.probe), e] as const))('the evaluator gives the expected %s table', (_p, e) => {
      const got = expectedTable(c.policies, caseModel(c), e.probe, { froms: e.table.froms, tos: e.table.tos });
      // loopback is judged here: the evaluator is exact, only real datapaths get the benefit of the doubt
      const diffs = compareTables(e.table, got);
      expect(diffs, `evaluator vs expected:\n${renderTable(got, { against: e.table, judgeLoopback: true })}`).toEqual([]);
    });
  });

  it('the resolution datapaths build on gives the evaluator verdict for every case, probe and pair', () => {
    const outside: Peer = { ip: '172.18.0.250' };
    let checked = 0;
    for (const c of cases) {
      const model = caseModel(c);
      const peers: Peer[] = [...model.pods, outside];
      for (const probe of c.probes) {
        for (const from of peers) {
          for (const to of peers) {
            const want = allowed(c.policies, model.namespaces, from, to, probe.port, probe.protocol).allowed;
            const got = resolvedAllowed(c.policies, model.namespaces, model.pods, from, to, probe.port, probe.protocol);
            if (got !== want) expect.fail(`${c.name} ${probeLabel(probe)} ${JSON.stringify(from)} → ${JSON.stringify(to)}: resolution ${got}, evaluator ${want}`);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });

  it('policies come in client-node form (`_from`) and go back to the wire form (`from`)', () => {
    const c = cases.find((x) => x.name === 'allow-from-pod-b')!;
    const rule = c.policies[0]!.spec!.ingress![0]!;
    expect(rule._from).toEqual([{ podSelector: { matchLabels: { pod: 'b' } } }]);
    const wire = policyManifest(c.policies[0]!) as { spec: { ingress: Record<string, unknown>[] } };
    expect(wire.spec.ingress[0]).toEqual({ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] });
    expect(c.policies[0]!.spec!.ingress![0]!._from).toBeDefined(); // the manifest is a copy
  });
});

describe('case files', () => {
  it('one case at the top level, defaults for probes and labels', () => {
    const [c] = parseCases('name: solo\npolicies: []\n', 'solo.yaml');
    expect(c).toMatchObject({ name: 'solo', file: 'solo.yaml', requires: [], namespaceLabels: {}, podLabels: {}, expected: [] });
    expect(c!.probes.map(probeLabel)).toEqual(['TCP/80', 'TCP/81', 'UDP/80', 'UDP/81']);
  });

  it('expected tables add their probe; requires is declared plus derived', () => {
    const text = [
      'name: derived',
      'requires: [sctp]',
      'probes: [{ port: 81 }]',
      'policies:',
      '  - metadata: { name: p, namespace: x }',
      '    spec: { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: 10.0.0.0/8 } }], ports: [{ port: 1, endPort: 9 }] }] }',
      'expected:',
      '  - { port: 80, protocol: UDP, matrix: "- x/a\\nx/a ." }',
    ].join('\n');
    const [c] = parseCases(text, 'derived.yaml');
    expect(c!.probes.map(probeLabel)).toEqual(['TCP/81', 'UDP/80']);
    expect(c!.requires).toEqual(['egress', 'ipblock', 'end-port', 'sctp']);
  });

  it('a directory with two files defining one name is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-cases-'));
    writeFileSync(join(dir, 'a.yaml'), 'name: same\npolicies: []\n');
    writeFileSync(join(dir, 'b.yaml'), 'cases:\n  - name: same\n    policies: []\n');
    expect(configError(() => loadCases(dir)).message).toMatch(/case "same" is also defined in .*a\.yaml/);
  });

  it('YAML syntax errors name the file and line', () => {
    expect(configError(() => parseCases('name: [unclosed\n', 'broken.yaml')).message).toMatch(/broken\.yaml: not valid YAML[\s\S]*broken\.yaml:\d+/);
  });
});

describe('invalid case files', () => {
  const want: Record<string, RegExp> = {
    'unknown-key.yaml': /policies\.0\.spec\.podselector \(line 6\): unknown key "podselector"; expected one of: podSelector/,
    'bad-operator.yaml': /policies\.0\.spec\.ingress\.0\.from\.0\.podSelector\.matchExpressions\.0\.operator \(line 10\): expected one of "In"/,
    'in-without-values.yaml': /policies\.0\.spec\.podSelector\.matchExpressions\.0\.values \(line \d+\): operator In needs at least one value/,
    'empty-peer.yaml': /policies\.0\.spec\.ingress\.0\.from\.0 \(line 8\): empty peer/,
    'ipblock-with-selector.yaml': /policies\.0\.spec\.egress\.0\.to\.0\.ipBlock \(line 9\): ipBlock cannot be combined/,
    'except-outside-cidr.yaml': /policies\.0\.spec\.ingress\.0\.from\.0\.ipBlock\.except\.0 \(line 10\): 10\.244\.2\.0\/24 must be a strict subset/,
    'end-port-named.yaml': /policies\.0\.spec\.ingress\.0\.ports\.0\.endPort \(line 8\): endPort needs a numeric port/,
    'end-port-below-port.yaml': /ports\.0\.endPort \(line 8\): endPort 80 is below port 81/,
    'bad-protocol.yaml': /ports\.0\.protocol \(line 8\): expected one of "TCP"\|"UDP"\|"SCTP"/,
    'bad-port-name.yaml': /ports\.0\.port \(line 8\): expected a port number or a port name/,
    'bad-cidr.yaml': /ipBlock\.cidr \(line 8\): "10\.300\.0\.0\/16" is not a valid IPv4 CIDR/,
    'policy-namespace.yaml': /policies\.0\.metadata\.namespace \(line 4\): "default" is not a namespace of the model; expected one of x, y, z/,
    'missing-policies.yaml': /:policies \(line 1\): missing; expected array/,
    'unknown-pod-label.yaml': /podLabels\.w\/a \(line 3\): no pod "w\/a" in the model/,
    'bad-matrix.yaml': /cases\.1\.expected\.0\.matrix \(line 9\): matrix line 3: row x\/b has 2 cells; expected 3/,
    'matrix-unknown-pod.yaml': /expected\.0\.matrix \(line 5\): no pod "w\/a" in the model/,
    'duplicate-case.yaml': /cases\.1\.name \(line 4\): case "twice" is defined twice/,
    'duplicate-policy.yaml': /policies\.1\.metadata\.name \(line 5\): policy x\/p is defined twice/,
  };

  it('every fixture has an expectation', () => {
    expect(readdirSync(INVALID).sort()).toEqual(Object.keys(want).sort());
  });

  it.each(Object.entries(want))('%s fails naming file, key and line', (file, pattern) => {
    const e = configError(() => loadCases(join(INVALID, file)));
    expect(e.exitCode).toBe(104);
    expect(e.message).toContain(`${file}:`);
    expect(e.message).toMatch(pattern);
  });
});
