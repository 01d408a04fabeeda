// SPDX-License-Identifier: Apache-2.0
// The stylesheet inlined into every page: plain, dense enough for numbers, wide charts in a responsive grid.

export const PAGE_CSS = `
:root { --fg: #1d2430; --muted: #5f6b7a; --line: #dde2e8; --bg: #f5f7fa; --card: #fff; --accent: #1f78b4;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #b42318; --bad-bg: #fee4e2; --warn: #8a5a00; --warn-bg: #fff4d6; --info-bg: #e8f1fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
.wrap { max-width: 1320px; margin: 0 auto; padding: 0 24px; }
.page-header { background: #1d2430; color: #fff; padding: 18px 0 16px; }
.page-header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 650; letter-spacing: -0.01em; }
.page-header .sub { color: #c9d1db; margin: 0 0 10px; max-width: 90ch; }
.page-header .meta { display: flex; flex-wrap: wrap; gap: 6px 18px; color: #aeb8c4; font-size: 13px; }
.page-header .meta b { color: #fff; font-weight: 600; }
.page-header .badge { margin-right: 6px; }
nav.toc { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid var(--line); }
nav.toc .wrap { display: flex; gap: 4px; overflow-x: auto; padding-top: 6px; padding-bottom: 6px; }
nav.toc a { color: var(--fg); text-decoration: none; padding: 4px 10px; border-radius: 6px; white-space: nowrap; font-size: 13px; }
nav.toc a:hover { background: var(--bg); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin: 18px 0; padding: 16px 20px 18px; }
section > h2 { margin: 0 0 12px; font-size: 17px; font-weight: 650; }
h3 { font-size: 14px; margin: 16px 0 8px; }
p { margin: 6px 0; }
.muted { color: var(--muted); }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 560px), 1fr)); gap: 14px; }
.chart-card { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px 12px 6px; min-width: 0; }
.chart-card.wide { grid-column: 1 / -1; }
.chart { width: 100%; min-height: 120px; }
/* vega-embed turns .chart itself into .vega-embed and keeps 38 px on its right for the actions button; the
   button floats over the title row instead, and the plot gets the card's whole width */
.chart.vega-embed.has-actions { padding-right: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; width: auto; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; white-space: nowrap; }
/* tables with a prose column fill the card, and the prose wraps in what the other columns leave */
table.fit { width: 100%; }
td.prose { white-space: normal; min-width: 12em; }
td.bad { color: var(--bad); font-weight: 600; }
th { font-weight: 600; color: var(--muted); background: #fafbfc; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:hover { background: #f8fafc; }
td .ci { color: var(--muted); font-size: 12px; }
td.best { font-weight: 700; }
table.headline td.num { font-size: 14px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; line-height: 18px; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.info { color: var(--accent); background: var(--info-bg); }
.callout { border-left: 4px solid var(--line); padding: 8px 12px; margin: 10px 0; background: #fafbfc; border-radius: 4px; }
.callout.bad { border-color: var(--bad); background: var(--bad-bg); }
.callout.warn { border-color: #e0a800; background: var(--warn-bg); }
.callout.ok { border-color: var(--ok); background: var(--ok-bg); }
ul.plain { margin: 6px 0; padding-left: 20px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; word-break: break-word; }
.cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 420px), 1fr)); gap: 8px 28px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; }
a.download { display: inline-block; margin: 4px 10px 4px 0; padding: 6px 12px; border: 1px solid var(--accent); border-radius: 6px; color: var(--accent); text-decoration: none; font-weight: 600; }
a.download:hover { background: var(--info-bg); }
details > summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
footer { padding: 10px 24px 30px; font-size: 12px; }
table.runs tr.run-start:not(:first-child) td { border-top: 2px solid #b8c2cc; }
table.runs td.run-cell .badge { margin-top: 3px; }
tr.regression td { background: #fff5f4; }
tr.improvement td { background: #f3fbf5; }
`;
