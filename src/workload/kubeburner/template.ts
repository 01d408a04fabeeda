// SPDX-License-Identifier: Apache-2.0
// The part of Go text/template (plus the sprig functions kube-burner examples use) that object templates need:
// {{.Field}}, pipelines, literals, parentheses, if/else/end and trim markers. Anything else is an error naming
// the template file, line and placeholder, raised at compile time when possible so a bad job file is rejected
// before anything is created. Rendered text is parsed as YAML 1.1, as Kubernetes' own decoder reads it.
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../../errors.ts';

/** A Kubernetes object as plain data (V1Pod, V1Service, V1NetworkPolicy, … all have this shape). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** kube-burner's injected variables; inputVars are merged over them (kube-burner copies them last). */
export interface TemplateData {
  Iteration: number;
  Replica: number;
  JobName: string;
  UUID: string;
  RunID: string;
  [inputVar: string]: unknown;
}

/** uniform [0, 1): seeded by the planner so a plan is reproducible */
export type RenderRandom = () => number;

type Operand = { t: 'field'; path: string[] } | { t: 'lit'; value: unknown } | { t: 'fn'; name: string } | { t: 'pipe'; pipe: Pipeline };
type Pipeline = Operand[][];
interface Branch { cond: Pipeline; body: Node[]; src: string; line: number }
type Node = { t: 'text'; text: string } | { t: 'action'; pipe: Pipeline; src: string; line: number } | { t: 'if'; branches: Branch[]; otherwise: Node[] };

export interface CompiledTemplate {
  file: string;
  nodes: Node[];
}

// ---- functions: Go's builtins and the sprig subset; sprig's arithmetic works on int64 ----

function toInt(v: unknown): number {
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^\s*[-+]?\d+(\.\d+)?\s*$/.test(v)) return Math.trunc(Number(v));
  return 0; // sprig's toInt64 turns anything else into 0
}
function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v).length === 0;
}
function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) throw new Error(`wrong number of args for ${name}: want ${min === max ? min : `${min}..${max}`}, got ${args.length}`);
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function randFrom(alphabet: string, n: unknown, random: RenderRandom): string {
  return Array.from({ length: toInt(n) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
}

/** Go's %v-style printing of template values */
export function printValue(v: unknown): string {
  if (v === null || v === undefined) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(printValue).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.keys(v).sort().map((k) => `${k}:${printValue((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  return String(v);
}

/** printf with the verbs templates use: %d %s %v %q %x %f and widths like %03d */
function sprintf(format: string, args: unknown[]): string {
  let next = 0;
  return format.replace(/%([-0]?)(\d*)(?:\.(\d+))?([dsvqxf%])/g, (_m, flag: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (next >= args.length) return `%!${verb}(MISSING)`;
    const a = args[next++];
    let s = verb === 'd' ? String(toInt(a)) : verb === 'q' ? JSON.stringify(printValue(a)) : verb === 'x' ? toInt(a).toString(16)
      : verb === 'f' ? Number(a).toFixed(prec === undefined ? 6 : Number(prec)) : printValue(a);
    const w = Number(width || 0);
    if (s.length < w) s = flag === '-' ? s.padEnd(w) : flag === '0' && verb !== 's' ? s.padStart(w, '0') : s.padStart(w);
    return s;
  });
}

type Fn = (args: unknown[], random: RenderRandom) => unknown;
function firstOrLast(a: unknown[], pred: (v: unknown) => boolean): unknown {
  const i = a.findIndex(pred);
  return a[i >= 0 ? i : a.length - 1];
}
const cmp = (name: string, f: (a: number | string, b: number | string) => boolean): Fn => (a) => {
  arity(name, a, 2);
  return f(a[0] as number | string, a[1] as number | string);
};
const FUNCS: Record<string, Fn> = {
  add: (a) => a.reduce<number>((s, v) => s + toInt(v), 0),
  add1: (a) => (arity('add1', a, 1), toInt(a[0]) + 1),
  sub: (a) => (arity('sub', a, 2), toInt(a[0]) - toInt(a[1])),
  mul: (a) => a.reduce<number>((s, v) => s * toInt(v), 1),
  div: (a) => {
    arity('div', a, 2);
    if (toInt(a[1]) === 0) throw new Error('integer divide by zero');
    return Math.trunc(toInt(a[0]) / toInt(a[1]));
  },
  mod: (a) => {
    arity('mod', a, 2);
    if (toInt(a[1]) === 0) throw new Error('integer divide by zero');
    return toInt(a[0]) % toInt(a[1]);
  },
  max: (a) => Math.max(...a.map(toInt)),
  min: (a) => Math.min(...a.map(toInt)),
  int: (a) => (arity('int', a, 1), toInt(a[0])),
  atoi: (a) => (arity('atoi', a, 1), toInt(String(a[0]))),
  toString: (a: unknown[]) => (arity('toString', a, 1), printValue(a[0])),
  // sprig: `default DEFAULT GIVEN`, so `.x | default "y"` passes .x last
  default: (a) => (arity('default', a, 1, 2), a.length < 2 || isEmpty(a[1]) ? a[0] : a[1]),
  empty: (a) => (arity('empty', a, 1), isEmpty(a[0])),
  coalesce: (a) => a.find((v) => !isEmpty(v)) ?? null,
  ternary: (a) => (arity('ternary', a, 3), a[2] ? a[0] : a[1]),
  quote: (a) => a.map((v) => JSON.stringify(printValue(v))).join(' '),
  squote: (a) => a.map((v) => `'${printValue(v)}'`).join(' '),
  upper: (a) => (arity('upper', a, 1), printValue(a[0]).toUpperCase()),
  lower: (a) => (arity('lower', a, 1), printValue(a[0]).toLowerCase()),
  trim: (a) => (arity('trim', a, 1), printValue(a[0]).trim()),
  trunc: (a) => {
    arity('trunc', a, 2);
    const n = toInt(a[0]);
    const s = printValue(a[1]);
    return n >= 0 ? s.slice(0, n) : s.slice(Math.max(0, s.length + n));
  },
  replace: (a) => (arity('replace', a, 3), printValue(a[2]).split(printValue(a[0])).join(printValue(a[1]))),
  contains: (a) => (arity('contains', a, 2), printValue(a[1]).includes(printValue(a[0]))),
  hasPrefix: (a) => (arity('hasPrefix', a, 2), printValue(a[1]).startsWith(printValue(a[0]))),
  hasSuffix: (a) => (arity('hasSuffix', a, 2), printValue(a[1]).endsWith(printValue(a[0]))),
  repeat: (a) => (arity('repeat', a, 2), printValue(a[1]).repeat(Math.max(0, toInt(a[0])))),
  indent: (a) => (arity('indent', a, 2), printValue(a[1]).split('\n').map((l) => ' '.repeat(toInt(a[0])) + l).join('\n')),
  nindent: (a) => (arity('nindent', a, 2), '\n' + printValue(a[1]).split('\n').map((l) => ' '.repeat(toInt(a[0])) + l).join('\n')),
  printf: (a) => (arity('printf', a, 1, 99), sprintf(printValue(a[0]), a.slice(1))),
  print: (a) => a.map(printValue).join(''),
  len: (a) => {
    arity('len', a, 1);
    const v = a[0];
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new Error(`len of ${printValue(v)}`);
  },
  index: (a) => a.slice(1).reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[String(k)] : undefined), a[0]) ?? null,
  eq: (a) => (arity('eq', a, 2, 99), a.slice(1).some((b) => b === a[0])),
  ne: (a) => (arity('ne', a, 2), a[0] !== a[1]),
  lt: cmp('lt', (x, y) => x < y),
  le: cmp('le', (x, y) => x <= y),
  gt: cmp('gt', (x, y) => x > y),
  ge: cmp('ge', (x, y) => x >= y),
  // Go: `and` gives its first empty argument or the last one, `or` its first non-empty argument or the last one
  and: (a) => firstOrLast(a, isEmpty),
  or: (a) => firstOrLast(a, (v) => !isEmpty(v)),
  not: (a) => (arity('not', a, 1), isEmpty(a[0])),
  randAlphaNum: (a, r) => (arity('randAlphaNum', a, 1), randFrom(ALNUM, a[0], r)),
  randAlpha: (a, r) => (arity('randAlpha', a, 1), randFrom(ALNUM.slice(0, 52), a[0], r)),
  randNumeric: (a, r) => (arity('randNumeric', a, 1), randFrom(ALNUM.slice(52), a[0], r)),
  randInt: (a, r) => (arity('randInt', a, 2), toInt(a[0]) + Math.floor(r() * (toInt(a[1]) - toInt(a[0])))),
};

// kube-burner's own helpers: named so the error says why, not just "not defined"
const UNSUPPORTED_FUNCS: Record<string, string> = {
  GetSubnet24: 'kube-burner computes it from its own address bookkeeping; write the subnet into inputVars',
  GetIPAddress: 'kube-burner computes it from its own address bookkeeping; write the address into inputVars',
  ReadFile: 'templates read no files in dpbench; put the content into inputVars',
  env: 'templates see no environment in dpbench, so a run does not depend on the shell it started from; use inputVars',
  Binomial: 'not implemented by dpbench', IndexToCombination: 'not implemented by dpbench',
  dict: 'maps are only used with "template"/"define", which dpbench does not support', list: 'lists are only used with "range", which dpbench does not support',
};
const KEYWORDS_UNSUPPORTED = new Set(['range', 'with', 'define', 'template', 'block', 'break', 'continue']);

// ---- parsing ----

function fail(file: string, line: number, src: string, problem: string): never {
  throw new ConfigError(`${file}:${line}: {{${src}}}: ${problem}`);
}

/** The tokens of one action, up to its closing "}}" (which may sit inside a string literal, hence a lexer). */
function lexAction(text: string, start: number, file: string, line: number): { tokens: string[]; end: number } {
  const tokens: string[] = [];
  const bad = (why: string): never => fail(file, line, text.slice(start, start + 40), why);
  let i = start;
  while (i < text.length) {
    if (text.startsWith('}}', i) || (text.startsWith('-}}', i) && /\s/.test(text[i - 1] ?? ''))) return { tokens, end: i };
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) bad('unterminated string');
      tokens.push(text.slice(i, (i = j + 1)));
    } else if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j < 0) bad('unterminated raw string');
      tokens.push(text.slice(i, (i = j + 1)));
    } else if ('|()'.includes(c)) {
      tokens.push(c);
      i++;
    } else {
      const word = /^[^\s|()"`]+?(?=\}\}|[\s|()"`]|$)/.exec(text.slice(i))![0];
      tokens.push(word);
      i += word.length;
    }
  }
  return bad('unclosed action (missing "}}")');
}

function parseOperand(tok: string, file: string, line: number, src: string): Operand {
  if (tok === '.') return { t: 'field', path: [] };
  if (tok.startsWith('.')) {
    const path = tok.slice(1).split('.');
    if (path.some((p) => !/^[A-Za-z_]\w*$/.test(p))) fail(file, line, src, `"${tok}" is not a field name`);
    return { t: 'field', path };
  }
  if (tok.startsWith('"')) {
    try {
      return { t: 'lit', value: JSON.parse(tok) as string };
    } catch {
      fail(file, line, src, `bad string ${tok}`);
    }
  }
  if (tok.startsWith('`')) return { t: 'lit', value: tok.slice(1, -1) };
  if (tok === 'true' || tok === 'false') return { t: 'lit', value: tok === 'true' };
  if (tok === 'nil') return { t: 'lit', value: null };
  if (/^[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|0x[0-9a-fA-F]+)$/.test(tok)) return { t: 'lit', value: Number(tok) };
  if (tok.startsWith('$')) fail(file, line, src, 'template variables ($x) are not supported by dpbench; use .Field values');
  if (KEYWORDS_UNSUPPORTED.has(tok)) fail(file, line, src, `"${tok}" is not supported by dpbench's renderer (it supports if/else/end, pipelines and functions)`);
  if (Object.hasOwn(UNSUPPORTED_FUNCS, tok)) fail(file, line, src, `function "${tok}" is not supported: ${UNSUPPORTED_FUNCS[tok]}`);
  if (/^[A-Za-z_]\w*$/.test(tok)) {
    if (!Object.hasOwn(FUNCS, tok)) fail(file, line, src, `function "${tok}" not defined (dpbench knows: ${Object.keys(FUNCS).sort().join(', ')})`);
    return { t: 'fn', name: tok };
  }
  return fail(file, line, src, `cannot parse "${tok}"`);
}

function describe(op: Operand): string {
  return op.t === 'field' ? `.${op.path.join('.')}` : op.t === 'lit' ? JSON.stringify(op.value) : op.t === 'fn' ? op.name : '(…)';
}

function parsePipeline(tokens: string[], file: string, line: number, src: string): Pipeline {
  let pos = 0;
  const pipeline = (): Pipeline => {
    const cmds: Pipeline = [[]];
    while (pos < tokens.length && tokens[pos] !== ')') {
      const tok = tokens[pos++]!;
      if (tok === '|') {
        if (!cmds.at(-1)!.length) fail(file, line, src, 'missing command before "|"');
        cmds.push([]);
      } else if (tok === '(') {
        const inner = pipeline();
        if (tokens[pos++] !== ')') fail(file, line, src, 'unclosed "("');
        cmds.at(-1)!.push({ t: 'pipe', pipe: inner });
      } else {
        cmds.at(-1)!.push(parseOperand(tok, file, line, src));
      }
    }
    if (!cmds.at(-1)!.length) fail(file, line, src, 'missing value for command');
    const bad = cmds.find((c) => c.length > 1 && c[0]!.t !== 'fn');
    if (bad) fail(file, line, src, `${describe(bad[0]!)} is not a function, so it takes no arguments`);
    return cmds;
  };
  const p = pipeline();
  if (pos < tokens.length) fail(file, line, src, 'unexpected ")"');
  return p;
}

/** Parses a template once; unknown functions and unsupported constructs fail here, before any rendering. */
export function compileTemplate(text: string, file: string): CompiledTemplate {
  const root: Node[] = [];
  // open if-blocks: where new nodes go, and which if node is being filled
  const stack: { into: Node[]; node?: Extract<Node, { t: 'if' }>; inElse: boolean }[] = [{ into: root, inElse: false }];
  const top = () => stack.at(-1)!;
  const lineAt = (off: number): number => text.slice(0, off).split('\n').length;
  let i = 0;
  let trimNext = false;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    let chunk = text.slice(i, open < 0 ? text.length : open);
    if (trimNext) chunk = chunk.replace(/^\s+/, '');
    const trimPrev = open >= 0 && /^\{\{-\s/.test(text.slice(open, open + 4));
    if (trimPrev) chunk = chunk.replace(/\s+$/, '');
    if (chunk) top().into.push({ t: 'text', text: chunk });
    if (open < 0) break;
    const line = lineAt(open);
    const bodyStart = open + (trimPrev ? 3 : 2);
    if (text.slice(bodyStart).trimStart().startsWith('/*')) {
      const close = text.indexOf('*/', bodyStart);
      const after = close < 0 ? null : /^\s*(-\s*)?\}\}/.exec(text.slice(close + 2));
      if (!after) fail(file, line, '/* …', 'a comment must be closed with */ and be alone in its action');
      trimNext = Boolean(after[1]);
      i = close + 2 + after[0].length;
      continue;
    }
    const { tokens, end } = lexAction(text, bodyStart, file, line);
    trimNext = text.startsWith('-}}', end);
    const src = text.slice(open + 2, end + (trimNext ? 1 : 0));
    i = end + (trimNext ? 3 : 2);
    if (!tokens.length) fail(file, line, src, 'empty action');
    const frame = top();
    if (tokens[0] === 'if') {
      const node: Extract<Node, { t: 'if' }> = { t: 'if', branches: [{ cond: parsePipeline(tokens.slice(1), file, line, src), body: [], src, line }], otherwise: [] };
      frame.into.push(node);
      stack.push({ into: node.branches[0]!.body, node, inElse: false });
    } else if (tokens[0] === 'else') {
      if (!frame.node || frame.inElse) fail(file, line, src, '"else" without a matching "if"');
      if (tokens[1] === 'if') {
        const branch: Branch = { cond: parsePipeline(tokens.slice(2), file, line, src), body: [], src, line };
        frame.node.branches.push(branch);
        frame.into = branch.body;
      } else {
        if (tokens.length > 1) fail(file, line, src, 'unexpected words after "else"');
        frame.into = frame.node.otherwise;
        frame.inElse = true;
      }
    } else if (tokens[0] === 'end') {
      if (!frame.node) fail(file, line, src, '"end" without a matching "if"');
      stack.pop();
    } else {
      frame.into.push({ t: 'action', pipe: parsePipeline(tokens, file, line, src), src, line });
    }
  }
  const unclosed = top().node?.branches[0];
  if (unclosed) fail(file, unclosed.line, unclosed.src, 'missing "end" for this "if"');
  return { file, nodes: root };
}

// ---- evaluation ----

interface EvalContext { file: string; data: TemplateData; random: RenderRandom }

function lookupField(ctx: EvalContext, path: string[], line: number, src: string): unknown {
  let v: unknown = ctx.data;
  for (const [k, key] of path.entries()) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(ctx.file, line, src, `can't evaluate field ${key} in .${path.slice(0, k).join('.')} (not a map)`);
    if (!Object.hasOwn(v, key)) {
      // kube-burner renders with missingkey=error, so even `default` cannot rescue a missing key
      const hint = k === 0 ? ': it is not an inputVar of this object nor one of Iteration, Replica, JobName, UUID, RunID (kube-burner fails on missing keys too; add it to inputVars)' : '';
      fail(ctx.file, line, src, `map has no entry for key "${key}"${hint}`);
    }
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function evalPipeline(ctx: EvalContext, pipe: Pipeline, line: number, src: string): unknown {
  let piped: { value: unknown } | undefined;
  for (const cmd of pipe) {
    const head = cmd[0]!;
    if (head.t !== 'fn') {
      if (piped) fail(ctx.file, line, src, `can't give argument to non-function ${describe(head)}`);
      piped = { value: evalOperand(ctx, head, line, src) };
      continue;
    }
    const args = cmd.slice(1).map((op) => evalOperand(ctx, op, line, src));
    if (piped) args.push(piped.value);
    try {
      piped = { value: FUNCS[head.name]!(args, ctx.random) };
    } catch (e) {
      fail(ctx.file, line, src, `error calling ${head.name}: ${(e as Error).message}`);
    }
  }
  return piped!.value;
}

function evalOperand(ctx: EvalContext, op: Operand, line: number, src: string): unknown {
  if (op.t === 'field') return lookupField(ctx, op.path, line, src);
  if (op.t === 'lit') return op.value;
  return evalPipeline(ctx, op.t === 'pipe' ? op.pipe : [[op]], line, src);
}

function renderNodes(ctx: EvalContext, nodes: Node[], out: string[]): void {
  for (const n of nodes) {
    if (n.t === 'text') out.push(n.text);
    else if (n.t === 'action') out.push(printValue(evalPipeline(ctx, n.pipe, n.line, n.src)));
    else {
      const hit = n.branches.find((b) => !isEmpty(evalPipeline(ctx, b.cond, b.line, b.src)));
      renderNodes(ctx, hit ? hit.body : n.otherwise, out);
    }
  }
}

export function renderTemplate(tpl: CompiledTemplate, data: TemplateData, random: RenderRandom = Math.random): string {
  const out: string[] = [];
  renderNodes({ file: tpl.file, data, random }, tpl.nodes, out);
  return out.join('');
}

/** Renders and parses every YAML document (`---`) into an object; empty documents are skipped, as kube-burner does. */
export function renderObjects(tpl: CompiledTemplate, data: TemplateData, random: RenderRandom = Math.random): KubeObject[] {
  const text = renderTemplate(tpl, data, random);
  const where = `${tpl.file} (Iteration ${data.Iteration}, Replica ${data.Replica})`;
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text, { version: '1.1', uniqueKeys: true })) {
    if (doc.errors.length) throw new ConfigError(`${where}: the rendered text is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${where}: a document renders to ${Array.isArray(value) ? 'a list' : typeof value}; expected a Kubernetes object`);
    const o = value as Partial<KubeObject>;
    const missing = [typeof o.apiVersion !== 'string' && 'apiVersion', typeof o.kind !== 'string' && 'kind', typeof o.metadata?.name !== 'string' && 'metadata.name'].filter(Boolean);
    if (missing.length) throw new ConfigError(`${where}: a rendered object has no ${missing.join(', ')}`);
    objects.push(o as KubeObject);
  }
  return objects;
}
