// SPDX-License-Identifier: Apache-2.0
// The HTML page shell shared by report.html, compare.html and index.html: escaping, tables, chart slots, and
// a self-contained page (inlined CSS, vega builds and chart specs; a CSP that forbids any network fetch).
import type { ChartDef } from './charts.ts';
import { vegaScripts } from './vega-assets.ts';
import { PAGE_CSS } from './page-style.ts';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** escapes text for element content and quoted attribute values alike */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** JSON inside <script type="application/json">: no "<" can end the element, no U+2028/9 surprises */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

export interface Cell {
  /** already-escaped HTML; use `text` for plain text */
  html?: string;
  text?: string | number;
  num?: boolean;
  cls?: string;
  title?: string;
}

function cellHtml(c: Cell | string | number, tag: 'td' | 'th'): string {
  const cell: Cell = typeof c === 'object' ? c : { text: c, num: typeof c === 'number' };
  const cls = [cell.num ? 'num' : '', cell.cls ?? ''].filter(Boolean).join(' ');
  const attrs = `${cls ? ` class="${esc(cls)}"` : ''}${cell.title ? ` title="${esc(cell.title)}"` : ''}`;
  return `<${tag}${attrs}>${cell.html ?? esc(cell.text)}</${tag}>`;
}

/** a table row: its cells, or its cells with a class for the <tr> */
export type Row = (Cell | string | number)[] | { cls: string; cells: (Cell | string | number)[] };

function rowHtml(r: Row): string {
  const [cls, cells] = Array.isArray(r) ? ['', r] : [r.cls, r.cells];
  return `<tr${cls ? ` class="${esc(cls)}"` : ''}>${cells.map((c) => cellHtml(c, 'td')).join('')}</tr>`;
}

export function table(header: (Cell | string)[], rows: Row[], cls = ''): string {
  if (!rows.length) return '<p class="muted">nothing to show</p>';
  return `<div class="table-wrap"><table${cls ? ` class="${esc(cls)}"` : ''}><thead><tr>${header.map((h) => cellHtml(h, 'th')).join('')}</tr></thead>` +
    `<tbody>${rows.map(rowHtml).join('\n')}</tbody></table></div>`;
}

/** key/value list, e.g. the environment */
export function facts(pairs: [string, unknown][]): string {
  return `<dl class="facts">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`;
}

export function chartGrid(charts: readonly ChartDef[]): string {
  if (!charts.length) return '<p class="muted">no data for these charts in this run</p>';
  return `<div class="chart-grid">${charts.map((c) => `<figure class="chart-card${c.wide ? ' wide' : ''}"><div class="chart" id="chart-${esc(c.id)}"></div></figure>`).join('')}</div>`;
}

export function badge(text: string, kind: 'ok' | 'bad' | 'warn' | 'info'): string {
  return `<span class="badge ${kind}">${esc(text)}</span>`;
}

/** a download link holding its file inline, so it works from file:// and offline */
export function dataDownload(fileName: string, mime: string, content: string, label: string): string {
  const href = `data:${mime};charset=utf-8,${encodeURIComponent(content)}`;
  return `<a class="download" download="${esc(fileName)}" href="${esc(href)}">${esc(label)}</a>`;
}

export interface PageSection {
  id: string;
  title: string;
  html: string;
}

export interface Page {
  title: string;
  /** escaped HTML under the title */
  header: string;
  sections: readonly PageSection[];
  charts: readonly ChartDef[];
}

/** no fetch, no frame, no form target: everything the page needs is in the page */
const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:";

// vega-embed renders every chart; readiness and failures are left on window for people and tests to inspect
const EMBED_JS = `
(function () {
  var charts = JSON.parse(document.getElementById('dpbench-charts').textContent);
  var opts = { renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false } };
  window.dpbenchErrors = [];
  window.dpbenchReady = Promise.all(charts.map(function (c) {
    var el = document.getElementById('chart-' + c.id);
    return vegaEmbed(el, c.spec, Object.assign({ downloadFileName: c.id }, opts)).then(function (r) { return c.id; }, function (e) {
      window.dpbenchErrors.push(c.id + ': ' + e.message);
      el.textContent = 'this chart could not be drawn: ' + e.message;
      console.error('dpbench chart ' + c.id + ': ' + e.message);
    });
  }));
})();`;

export function renderPage(p: Page): string {
  const nav = p.sections.map((s) => `<a href="#${esc(s.id)}">${esc(s.title)}</a>`).join('');
  const body = p.sections.map((s) => `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>\n${s.html}\n</section>`).join('\n');
  const scripts = p.charts.length
    ? `${vegaScripts().map((js) => `<script>${js}</script>`).join('\n')}\n` +
      `<script type="application/json" id="dpbench-charts">${jsonForScript(p.charts)}</script>\n<script>${EMBED_JS}</script>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="dpbench">
<title>${esc(p.title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<header class="page-header"><div class="wrap">${p.header}</div></header>
${nav ? `<nav class="toc"><div class="wrap">${nav}</div></nav>` : ''}
<main class="wrap">
${body}
</main>
<footer class="wrap muted">generated by dpbench from results.json — self-contained: opens offline, fetches nothing</footer>
${scripts}
</body>
</html>
`;
}
