// SPDX-License-Identifier: Apache-2.0
// The Go-template subset kube-burner object templates use: what renders, and how what does not is reported.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { compileTemplate, renderObjects, renderTemplate, type TemplateData } from '../../../src/workload/kubeburner/template.ts';

const data = (extra: Record<string, unknown> = {}): TemplateData => ({ Iteration: 3, Replica: 2, JobName: 'job', UUID: 'u-1', RunID: 'r-1', ...extra });
const render = (text: string, extra: Record<string, unknown> = {}): string => renderTemplate(compileTemplate(text, 't.yaml'), data(extra), () => 0.5);
const error = (text: string, extra: Record<string, unknown> = {}): string => {
  try {
    render(text, extra);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${text}`);
};

describe('rendering', () => {
  it.each([
    ['{{.Iteration}}-{{.Replica}}', '3-2'],
    ['{{ .JobName }}/{{ .UUID }}/{{ .RunID }}', 'job/u-1/r-1'],
    ['{{ .app }}-{{ .port }}', 'web-8080'],
    ['{{ add .Iteration 1 }}', '4'],
    ['{{ add .Iteration 1 2 }}', '6'],
    ['{{ add1 .Replica }} {{ sub .Iteration 1 }} {{ mul 2 .port }} {{ div 7 2 }} {{ mod 7 2 }}', '3 2 16160 3 1'],
    ['{{ .empty | default "x" }}', 'x'],
    ['{{ .app | default "x" }}', 'web'],
    ['{{ default "x" .app }}', 'web'],
    ['{{ .app | upper | quote }}', '"WEB"'],
    ['{{ printf "%s-%03d" .app .Iteration }}', 'web-003'],
    ['{{ printf "%d%%" 5 }}', '5%'],
    ['{{ (add .Iteration 1) | toString | printf "n%s" }}', 'n4'],
    ['{{ if eq .Replica 2 }}two{{ else }}other{{ end }}', 'two'],
    ['{{ if eq .Replica 1 }}one{{ else if gt .Iteration 2 }}big{{ else }}small{{ end }}', 'big'],
    ['{{ if .empty }}yes{{ end }}', ''],
    ['{{ if and .app (not .empty) }}ok{{ end }}', 'ok'],
    ['{{ .nested.key }}', 'v'],
    ['{{ trunc 2 .app }} {{ replace "e" "E" .app }} {{ trim "  x " }}', 'we wEb x'],
    ['{{ "}}" }}', '}}'],
    ['{{ `raw "text"` }}', 'raw "text"'],
  ])('%s → %s', (text, want) => {
    expect(render(text, { app: 'web', port: 8080, empty: '', nested: { key: 'v' } })).toBe(want);
  });

  it('inputVars replace the injected variables of the same name, as in kube-burner', () => {
    expect(render('{{ .Iteration }}', { Iteration: 'mine' })).toBe('mine');
  });

  it('honours trim markers and drops comments', () => {
    expect(render('a:\n  {{- /* gone */ -}}\n  b\n{{- if true }}\nc{{ end -}}\n\n  d')).toBe('a:b\ncd');
  });

  it('randAlphaNum draws from the random source it is given', () => {
    const tpl = compileTemplate('{{ randAlphaNum 8 }}', 't.yaml');
    const a = renderTemplate(tpl, data(), () => 0);
    expect(a).toBe('aaaaaaaa');
    expect(renderTemplate(tpl, data(), Math.random)).toMatch(/^[A-Za-z0-9]{8}$/);
  });
});

describe('renderObjects', () => {
  it('parses every document and skips empty ones', () => {
    const tpl = compileTemplate(
      '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s-{{.Iteration}}\nspec:\n  ports: [{ port: {{ .port }} }]\n---\n# nothing here\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c-{{.Replica}} }\n',
      'multi.yaml',
    );
    expect(renderObjects(tpl, data({ port: 80 }))).toEqual([
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's-3' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c-2' } },
    ]);
  });

  it('reads YAML 1.1 like the Kubernetes decoder (an unquoted "on" is a boolean)', () => {
    const tpl = compileTemplate('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: { a: on, b: "on" }\n', 'yaml11.yaml');
    expect(renderObjects(tpl, data())[0]!.data).toEqual({ a: true, b: 'on' });
  });

  it.each([
    ['apiVersion: v1\nkind: Pod\nmetadata: {{ .x }}\n  name: p\n', { x: 'a: [' }, 'multi.yaml (Iteration 3, Replica 2): the rendered text is not valid YAML'],
    ['apiVersion: v1\nmetadata: { name: p }\n', {}, 'a rendered object has no kind'],
    ['kind: Pod\nmetadata: {}\n', {}, 'has no apiVersion, metadata.name'],
    ['- a\n- b\n', {}, 'renders to a list'],
  ])('rejects %j', (text, extra, want) => {
    expect(() => renderObjects(compileTemplate(text, 'multi.yaml'), data(extra))).toThrow(want);
  });
});

describe('errors name the file, line and placeholder', () => {
  it.each([
    ['a\nb: {{ .port }}', 't.yaml:2: {{ .port }}: map has no entry for key "port"', 'add it to inputVars'],
    ['{{ .port | default 80 }}', 'map has no entry for key "port"', 'kube-burner fails on missing keys too'],
    ['{{ .nested.nope }}', '{{ .nested.nope }}: map has no entry for key "nope"', ''],
    ['{{ .app.x }}', "can't evaluate field x in .app (not a map)", ''],
    ['{{ frobnicate .app }}', 't.yaml:1: {{ frobnicate .app }}: function "frobnicate" not defined', 'dpbench knows: add, add1'],
    ['{{ GetSubnet24 .Iteration }}', 'function "GetSubnet24" is not supported', 'write the subnet into inputVars'],
    ['{{ env "HOME" }}', 'function "env" is not supported', 'use inputVars'],
    ['{{ range .list }}x{{ end }}', '{{ range .list }}: "range" is not supported', 'if/else/end'],
    ['{{ template "x" }}', '"template" is not supported', ''],
    ['{{ $x := 1 }}', 'template variables ($x) are not supported', ''],
    ['x\n{{ if .app }}\nno end', 't.yaml:2: {{ if .app }}: missing "end"', ''],
    ['{{ end }}', '"end" without a matching "if"', ''],
    ['{{ else }}', '"else" without a matching "if"', ''],
    ['{{ .app', 'unclosed action', ''],
    ['{{ "abc }}', 'unterminated string', ''],
    ['{{ }}', 'empty action', ''],
    ['{{ .app .port }}', '.app is not a function', ''],
    ['{{ .app | .port }}', "can't give argument to non-function .port", ''],
    ['{{ div 1 0 }}', 'error calling div: integer divide by zero', ''],
    ['{{ add1 }}', 'error calling add1: wrong number of args for add1: want 1, got 0', ''],
    ['{{ (add 1 2 }}', 'unclosed "("', ''],
  ])('%s', (text, want, hint) => {
    const message = error(text, { app: 'web', nested: {} });
    expect(message).toContain(want);
    expect(message).toContain(hint);
  });

  it('compiles unknown functions to an error even in a branch that would not run', () => {
    expect(() => compileTemplate('{{ if false }}{{ nope }}{{ end }}', 'b.yaml')).toThrow('b.yaml:1: {{ nope }}: function "nope" not defined');
  });
});
