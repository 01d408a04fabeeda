// SPDX-License-Identifier: Apache-2.0
// Read a YAML file and validate it with a zod schema; every problem becomes "file:path.to.key (line N): what was
// expected". Shared by scenarios and cluster shapes so both report errors the same way.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../../errors.ts';

export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

export function keyPath(path: readonly (string | number | symbol)[]): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

/** parses `file` and validates it; throws ConfigError listing every issue, each naming file and key. */
export function loadYamlConfig<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
  rules: (value: z.output<S>) => ConfigIssue[] = () => [],
): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${displayPath(file)}: cannot read the ${what} file: ${(e as Error).message}`);
  }
  return parseYamlConfig(text, displayPath(file), schema, what, rules);
}

export function parseYamlConfig<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
  what: string,
  rules: (value: z.output<S>) => ConfigIssue[] = () => [],
): z.output<S> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(
      `${file}: not valid YAML`,
      doc.errors.map((e) => `${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`),
    );
  }
  const lineOf = (path: readonly (string | number | symbol)[]): string => {
    // the deepest node that exists along the path gives the line
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return ` (line ${lines.linePos(node.range[0]).line})`;
    }
    return '';
  };
  const parsed = schema.safeParse(doc.toJS(), { reportInput: true });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        return i.keys
          .map((k) => `${file}:${keyPath([...i.path, k])}${lineOf([...i.path, k])}: unknown key "${k}"${expectedKeys(schema, i.path)}`)
          .join('\n  - ');
      }
      return `${file}:${keyPath(i.path)}${lineOf(i.path)}: ${humanMessage(i)}`;
    });
    throw new ConfigError(`${file}: invalid ${what}`, issues);
  }
  const problems = rules(parsed.data);
  if (problems.length) {
    throw new ConfigError(
      `${file}: invalid ${what}`,
      problems.map((p) => `${file}:${keyPath(p.path)}${lineOf(p.path)}: ${p.message}`),
    );
  }
  return parsed.data;
}

function humanMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return `missing; expected ${issue.expected}`;
  return issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
}

/** ", expected one of: a, b" for the object at path, when the schema can tell */
function expectedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string {
  let s: unknown = schema;
  for (const p of path) {
    const def = (s as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown; innerType?: unknown } })
      ?.def;
    while ((s as { def?: { innerType?: unknown } })?.def?.innerType) s = (s as { def: { innerType: unknown } }).def.innerType;
    const d = (s as { def?: { type?: string; shape?: Record<string, unknown>; element?: unknown } }).def ?? def;
    if (d?.type === 'array') s = d.element;
    else if (d?.type === 'object' && typeof p === 'string') s = d.shape?.[p];
    else return '';
  }
  while ((s as { def?: { innerType?: unknown } })?.def?.innerType) s = (s as { def: { innerType: unknown } }).def.innerType;
  const shape = (s as { def?: { shape?: Record<string, unknown> } })?.def?.shape;
  return shape ? `; expected one of: ${Object.keys(shape).join(', ')}` : '';
}
