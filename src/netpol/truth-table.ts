// SPDX-License-Identifier: Apache-2.0
// Truth tables in upstream's convention: rows = from, columns = to, "." allowed, "X" blocked, a "-" in the corner.
// Built from the evaluator, compared with what a datapath did, rendered with differences marked, and parsed back from
// text (case files hold expected tables in exactly the printed form).
//
// Marks when rendering one table against another (e.g. observed against expected): a cell shows this table's value;
// "[.]" / "[X]" = it differs from the other table; "(.)" / "(X)" = it differs on the pod-to-itself diagonal, which is
// not judged by default (upstream ignores loopback: CNIs disagree on it, kubernetes/kubernetes#95879).
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { allowed, podKey, type Protocol } from './evaluator.ts';
import type { NetpolModel } from './model.ts';

export interface Probe {
  port: number;
  protocol: Protocol;
}

export interface TruthTable {
  froms: string[];
  tos: string[];
  /** cells[i][j]: froms[i] → tos[j] allowed */
  cells: boolean[][];
}

export interface CellDiff {
  from: string;
  to: string;
  expected: boolean;
  observed: boolean;
  /** pod to itself: reported, but not a failure unless loopback is judged */
  loopback: boolean;
}

export class MatrixError extends Error {
  /** 1-based line within the matrix text */
  constructor(message: string, readonly line: number) {
    super(`line ${line}: ${message}`);
    this.name = 'MatrixError';
  }
}

export function probeLabel(p: Probe): string {
  return `${p.protocol}/${p.port}`;
}

export function buildTable(froms: readonly string[], tos: readonly string[], allow: (from: string, to: string) => boolean): TruthTable {
  return { froms: [...froms], tos: [...tos], cells: froms.map((f) => tos.map((t) => allow(f, t))) };
}

/** the evaluator's table for one probe over the model's pods (or the given subset of rows and columns) */
export function expectedTable(
  policies: readonly V1NetworkPolicy[],
  model: NetpolModel,
  probe: Probe,
  keys: { froms?: readonly string[]; tos?: readonly string[] } = {},
): TruthTable {
  const byKey = new Map(model.pods.map((p) => [podKey(p), p]));
  const all = model.pods.map(podKey);
  const pod = (k: string) => {
    const p = byKey.get(k);
    if (!p) throw new Error(`no pod "${k}" in the model; expected one of ${all.join(', ')}`);
    return p;
  };
  return buildTable(keys.froms ?? all, keys.tos ?? all, (f, t) => allowed(policies, model.namespaces, pod(f), pod(t), probe.port, probe.protocol).allowed);
}

export function cellAt(table: TruthTable, from: string, to: string): boolean {
  const i = table.froms.indexOf(from);
  const j = table.tos.indexOf(to);
  if (i < 0 || j < 0) throw new Error(`the table has no cell ${from} → ${to}`);
  return table.cells[i]![j]!;
}

/** every cell where the tables differ; both must have the same rows and columns (in any order) */
export function compareTables(expected: TruthTable, observed: TruthTable): CellDiff[] {
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((k) => b.includes(k));
  if (!same(expected.froms, observed.froms) || !same(expected.tos, observed.tos)) {
    throw new Error(
      `cannot compare tables over different pods: rows ${expected.froms.join(' ')} vs ${observed.froms.join(' ')}, ` +
        `columns ${expected.tos.join(' ')} vs ${observed.tos.join(' ')}`,
    );
  }
  const diffs: CellDiff[] = [];
  expected.froms.forEach((from, i) =>
    expected.tos.forEach((to, j) => {
      const e = expected.cells[i]![j]!;
      const o = cellAt(observed, from, to);
      if (e !== o) diffs.push({ from, to, expected: e, observed: o, loopback: from === to });
    }),
  );
  return diffs;
}

/** the differences that count: loopback ones are dropped unless `judgeLoopback` */
export function failures(diffs: readonly CellDiff[], judgeLoopback = false): CellDiff[] {
  return diffs.filter((d) => judgeLoopback || !d.loopback);
}

export interface RenderOptions {
  /** mark cells where this table differs from `against` */
  against?: TruthTable;
  /** mark loopback differences as failures too ("[ ]" instead of "( )") */
  judgeLoopback?: boolean;
}

export function renderTable(table: TruthTable, opts: RenderOptions = {}): string {
  const width = Math.max(3, ...table.tos.map((t) => t.length));
  const rowWidth = Math.max(1, ...table.froms.map((f) => f.length));
  const center = (s: string) => s.padStart(Math.ceil((width + s.length) / 2)).padEnd(width);
  let marked = 0;
  const lines = [[('-').padEnd(rowWidth), ...table.tos.map(center)].join(' ')];
  table.froms.forEach((from, i) => {
    const cells = table.tos.map((to, j) => {
      const v = table.cells[i]![j]! ? '.' : 'X';
      if (!opts.against || cellAt(opts.against, from, to) === table.cells[i]![j]) return center(v);
      marked++;
      return from === to && !opts.judgeLoopback ? `(${v})` : `[${v}]`;
    });
    lines.push([from.padEnd(rowWidth), ...cells.map((c) => c.padEnd(width))].join(' ').trimEnd());
  });
  if (marked) lines.push('', '[ ] differs from the expected table; ( ) differs on the pod-to-itself diagonal (not judged)');
  return `${lines.join('\n')}\n`;
}

const CELL: Record<string, boolean> = { '.': true, X: false, '[.]': true, '[X]': false, '(.)': true, '(X)': false };

/**
 * Parses a printed table: a header ("-" then the column pods), then one row per source pod with one cell per column.
 * Blank lines and "#" comments are skipped; any whitespace separates tokens. Marked cells ("[X]") read as their value.
 */
export function parseMatrix(text: string): TruthTable {
  const rows: { line: number; tokens: string[] }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line && !line.startsWith('#')) rows.push({ line: i + 1, tokens: line.split(/\s+/) });
  });
  const header = rows.shift();
  if (!header) throw new MatrixError('empty table; expected a header line "- x/a x/b ..." and one row per source pod', 1);
  const tos = header.tokens[0] === '-' ? header.tokens.slice(1) : header.tokens;
  checkPods(tos, header.line, 'column');
  if (!rows.length) throw new MatrixError('no rows; expected one line per source pod, e.g. "x/a . X ."', header.line);
  const froms: string[] = [];
  const cells = rows.map(({ line, tokens }) => {
    const [from, ...values] = tokens as [string, ...string[]];
    checkPods([...froms, from], line, 'row');
    froms.push(from);
    if (values.length !== tos.length) {
      throw new MatrixError(`row ${from} has ${values.length} cells; expected ${tos.length}, one per column (${tos.join(' ')})`, line);
    }
    return values.map((v, j) => {
      const value = CELL[v];
      if (value === undefined) throw new MatrixError(`cell ${from} → ${tos[j]} is "${v}"; expected "." (allowed) or "X" (blocked)`, line);
      return value;
    });
  });
  return { froms, tos, cells };
}

function checkPods(keys: readonly string[], line: number, what: string): void {
  if (!keys.length) throw new MatrixError(`no ${what} pods; expected "namespace/pod" names such as x/a`, line);
  keys.forEach((k, i) => {
    if (!/^[a-z0-9-]+\/[a-z0-9-]+$/.test(k)) throw new MatrixError(`"${k}" is not a ${what} pod; expected "namespace/pod" such as x/a`, line);
    if (keys.indexOf(k) !== i) throw new MatrixError(`${what} ${k} appears twice`, line);
  });
}
