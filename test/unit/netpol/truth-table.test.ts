// SPDX-License-Identifier: Apache-2.0
// Truth tables (upstream's "." / "X" convention): build, compare with the loopback diagonal flagged, render with
// differences marked, parse back; and the standard model they are drawn over.
import { describe, expect, it } from 'vitest';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { planLab } from '../../../src/cluster/lab/plan.ts';
import { labPodFor, MODEL_POD_KEYS, MODEL_SHAPE, modelLabPlan, printModel, standardModel } from '../../../src/netpol/model.ts';
import {
  buildTable,
  cellAt,
  compareTables,
  expectedTable,
  failures,
  MatrixError,
  parseMatrix,
  renderTable,
  type TruthTable,
} from '../../../src/netpol/truth-table.ts';

const model = standardModel();
const denyIngressX: V1NetworkPolicy = { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
const small = (cells: string): TruthTable => {
  const keys = ['x/a', 'x/b', 'y/a'];
  const flat = cells.replace(/\s/g, '');
  return buildTable(keys, keys, (f, t) => flat[keys.indexOf(f) * 3 + keys.indexOf(t)] === '.');
};

describe('standard model', () => {
  it('x, y, z × a, b, c in truth-table order, on the 3-node lab with fixed addresses', () => {
    expect(model.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual(MODEL_POD_KEYS);
    expect(MODEL_POD_KEYS).toEqual(['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c']);
    expect(model.pods.map((p) => p.ip)).toEqual([
      '10.244.0.10', '10.244.0.11', '10.244.0.12', '10.244.1.10', '10.244.1.11', '10.244.1.12', '10.244.2.10', '10.244.2.11', '10.244.2.12',
    ]);
    expect(model.pods.find((p) => p.ip === '10.244.1.11')).toMatchObject({ namespace: 'y', name: 'b', node: 'node1', labPod: 'node1-pod1' });
  });

  it('upstream labels and container ports', () => {
    expect(model.namespaces[1]).toEqual({ name: 'y', labels: { ns: 'y', 'kubernetes.io/metadata.name': 'y' } });
    expect(model.pods[0]!.labels).toEqual({ pod: 'a' });
    expect(model.pods[0]!.ports.map((p) => `${p.name}=${p.port}/${p.protocol}`)).toEqual([
      'serve-80-tcp=80/TCP', 'serve-80-udp=80/UDP', 'serve-80-sctp=80/SCTP', 'serve-81-tcp=81/TCP', 'serve-81-udp=81/UDP', 'serve-81-sctp=81/SCTP',
    ]);
  });

  it('extra labels are merged in per namespace and per pod', () => {
    const m = standardModel({ namespaceLabels: { y: { ns2: 'updated' } }, podLabels: { 'x/b': { role: 'client' } } });
    expect(m.namespaces[1]!.labels).toEqual({ ns: 'y', 'kubernetes.io/metadata.name': 'y', ns2: 'updated' });
    expect(m.pods[1]!.labels).toEqual({ pod: 'b', role: 'client' });
    expect(m.pods[2]!.labels).toEqual({ pod: 'c' });
  });

  it('maps onto any lab plan of the same shape (the run prefix changes names, not addresses)', () => {
    const plan = planLab('dpb-123abc', 'iptables', MODEL_SHAPE);
    expect(labPodFor(plan, 'z/c')).toMatchObject({ name: 'node2-pod2', ip: '10.244.2.12', netns: 'dpb-123abc-iptables-node2-pod2' });
    expect(standardModel({}, plan).pods.map((p) => p.ip)).toEqual(model.pods.map((p) => p.ip));
    expect(() => labPodFor(modelLabPlan(), 'w/a')).toThrow(/not a pod of the standard model/);
  });

  it('printModel lists every namespace and pod with labels, address and lab pod', () => {
    const text = printModel();
    expect(text).toContain('serve-80-tcp(80/TCP)');
    expect(text).toMatch(/^ {2}y {4}kubernetes\.io\/metadata\.name=y,ns=y$/m);
    for (const p of model.pods) expect(text).toMatch(new RegExp(`^  ${p.namespace}/${p.name} +${p.ip.replace(/\./g, '\\.')} +${p.labPod} +pod=${p.name}$`, 'm'));
  });
});

describe('expectedTable', () => {
  it('rows are sources, columns destinations', () => {
    const t = expectedTable([denyIngressX], model, { port: 80, protocol: 'TCP' });
    expect(cellAt(t, 'y/a', 'x/b')).toBe(false);
    expect(cellAt(t, 'x/b', 'y/a')).toBe(true);
    expect(t.cells.flat().filter((v) => !v)).toHaveLength(27);
  });
  it('can be limited to some rows and columns, as upstream tests are', () => {
    const t = expectedTable([denyIngressX], model, { port: 80, protocol: 'TCP' }, { froms: ['y/a', 'x/a'], tos: ['x/a'] });
    expect(t).toEqual({ froms: ['y/a', 'x/a'], tos: ['x/a'], cells: [[false], [false]] });
    expect(() => expectedTable([], model, { port: 80, protocol: 'TCP' }, { tos: ['q/a'] })).toThrow(/no pod "q\/a"/);
  });
});

describe('compareTables', () => {
  const expected = small('.X. ... ...');
  it('lists every differing cell and flags the pod-to-itself ones', () => {
    const diffs = compareTables(expected, small('X.. ... ..X'));
    expect(diffs).toEqual([
      { from: 'x/a', to: 'x/a', expected: true, observed: false, loopback: true },
      { from: 'x/a', to: 'x/b', expected: false, observed: true, loopback: false },
      { from: 'y/a', to: 'y/a', expected: true, observed: false, loopback: true },
    ]);
    expect(failures(diffs)).toHaveLength(1);
    expect(failures(diffs, true)).toHaveLength(3);
  });
  it('matches cells by name, not position', () => {
    const reordered: TruthTable = { froms: ['y/a', 'x/b', 'x/a'], tos: ['y/a', 'x/b', 'x/a'], cells: [[true, true, true], [true, true, true], [true, false, true]] };
    expect(compareTables(expected, reordered)).toEqual([]);
  });
  it('refuses tables over different pods', () => {
    expect(() => compareTables(expected, expectedTable([], model, { port: 80, protocol: 'TCP' }))).toThrow(/different pods/);
  });
});

describe('renderTable', () => {
  it('prints upstream’s layout', () => {
    expect(renderTable(small('.X. ... ...'))).toBe(['-   x/a x/b y/a', 'x/a  .   X   .', 'x/b  .   .   .', 'y/a  .   .   .', ''].join('\n'));
  });
  it('marks cells that differ from another table; loopback ones in parentheses unless judged', () => {
    const observed = small('X.. ... ..X');
    expect(renderTable(observed, { against: small('.X. ... ...') })).toBe(
      [
        '-   x/a x/b y/a',
        'x/a (X) [.]  .',
        'x/b  .   .   .',
        'y/a  .   .  (X)',
        '',
        '[ ] differs from the expected table; ( ) differs on the pod-to-itself diagonal (not judged)',
        '',
      ].join('\n'),
    );
    expect(renderTable(observed, { against: small('.X. ... ...'), judgeLoopback: true })).toContain('x/a [X] [.]  .');
    expect(renderTable(observed, { against: observed })).not.toContain('differs');
  });
});

describe('parseMatrix', () => {
  it('reads back what renderTable prints, marks included', () => {
    const t = expectedTable([denyIngressX], model, { port: 80, protocol: 'TCP' });
    expect(parseMatrix(renderTable(t))).toEqual(t);
    const observed = small('X.. ... ..X');
    expect(parseMatrix(renderTable(observed, { against: small('.X. ... ...') }).split('\n\n')[0]!)).toEqual(observed);
  });
  it('reads upstream’s tab-separated PrettyPrint, comments and blank lines', () => {
    const text = '# expected\n-\tx/a\ty/a\n\nx/a\tX\t.\ny/a\t.\t.\n';
    expect(parseMatrix(text)).toEqual({ froms: ['x/a', 'y/a'], tos: ['x/a', 'y/a'], cells: [[false, true], [true, true]] });
  });
  it('accepts a header without the "-" corner and a subset of rows', () => {
    expect(parseMatrix('x/a y/b\nz/c X .')).toEqual({ froms: ['z/c'], tos: ['x/a', 'y/b'], cells: [[false, true]] });
  });
  it.each([
    ['', /line 1: empty table/],
    ['- x/a', /line 1: no rows/],
    ['- x/a x/b\nx/a . .\nx/b .', /line 3: row x\/b has 1 cells; expected 2/],
    ['- x/a\nx/a Y', /line 2: cell x\/a → x\/a is "Y"; expected "\." \(allowed\) or "X" \(blocked\)/],
    ['- x/a\nx/a .\nx/a .', /line 3: row x\/a appears twice/],
    ['- x/a x/a\nx/a . .', /line 1: column x\/a appears twice/],
    ['- xa\nxa .', /line 1: "xa" is not a column pod/],
  ])('%j is refused: %s', (text, message) => {
    try {
      parseMatrix(text);
      expect.fail('expected a MatrixError');
    } catch (e) {
      expect(e).toBeInstanceOf(MatrixError);
      expect((e as Error).message).toMatch(message);
    }
  });
});
