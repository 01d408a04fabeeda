// SPDX-License-Identifier: Apache-2.0
// The generated pages in a real browser: headless Chromium (Debian's, driven by playwright-core) opens
// report.html, compare.html and index.html from file:// and must see no console error or warning, fetch
// nothing but file:/data:/blob:, and draw every chart: one SVG symbol per data point in each vega view.
// Screenshots go to $DPBENCH_TEST_OUTPUT or <tmp>/dpbench-test-output for a person to look at.
//
//   fixtures (test/fixtures/results) ──finishRun / compare / index──▶ tmp/<run>/{report,compare}.html, tmp/index.html
//                                                                          │ file://
//                                                                          ▼
//                                                  chromium --headless ──▶ console, requests, SVG marks, PNG
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareResults } from '../../src/report/compare.ts';
import { renderCompareHtml } from '../../src/report/compare-html.ts';
import { finishRun } from '../../src/report/finish.ts';
import { writeIndex } from '../../src/report/index-page.ts';
import { churnFixture, copyFixture, fixture, policyFixture, shiftLatency, writeRun } from '../unit/report/fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Debian's chromium, installed by scripts/setup.sh (so `npm test` and CI have it); without it these tests skip */
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIP_REASON = `${CHROMIUM} is missing — run \`sudo bash scripts/setup.sh\` (installs Debian's chromium)`;
if (!HAVE_CHROMIUM) process.stderr.write(`report-browser.test.ts: skipped: ${SKIP_REASON}\n`);
const ARGS = ['--headless', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SHOTS = process.env.DPBENCH_TEST_OUTPUT ?? join(tmpdir(), 'dpbench-test-output');

interface Visit {
  page: Page;
  /** console errors and warnings, uncaught exceptions */
  problems: string[];
  /** every request that is not file:, data: or blob: */
  remote: string[];
  /** chart id → { points in its spec, symbols drawn, data marks drawn } */
  charts: Record<string, { points: number; symbols: number; marks: number }>;
}

let browser: Browser;
const pages: Record<string, string> = {};

async function setUp(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'dpbench-browser-'));
  const multi = copyFixture('synthetic-4x5', root);
  pages.multi = (await finishRun(multi, {})).reportFile;
  pages.single = (await finishRun(copyFixture('single-step', root), {})).reportFile;
  pages.policy = (await finishRun(writeRun(root, 'policy-scale', policyFixture()), {})).reportFile;
  pages.churn = (await finishRun(writeRun(root, 'churn', churnFixture()), {})).reportFile;
  const base = fixture('synthetic-4x5');
  // the next night's run: iptables TCP_CRR 30% slower from 5,000 services on
  const shifted = shiftLatency(base, (s) => s.datapath === 'iptables' && s.test === 'TCP_CRR' && s.services >= 5000, 1.3, '20261201-020000-synthetic-4x5');
  const candidate = { ...shifted, run: { ...shifted.run, startedAt: '2026-12-01T02:00:00.000Z', finishedAt: '2026-12-01T02:16:00.000Z' } };
  const cand = writeRun(root, 'candidate', candidate);
  pages.compare = join(cand, 'compare.html');
  writeFileSync(pages.compare, renderCompareHtml(compareResults(base, candidate, { tolerance: 0.1, alpha: 0.05 })));
  pages.index = writeIndex(root).file;
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/** scripts run inside the page (as strings: this project compiles without the DOM library) */
const IN_PAGE = {
  ready: "'dpbenchReady' in window || !document.getElementById('dpbench-charts')",
  settled: 'window.dpbenchReady',
  errors: 'window.dpbenchErrors',
  // role-mark groups hold the data marks; axes, legends and titles have other roles
  countMarks: `(() => {
    const specs = JSON.parse(document.getElementById('dpbench-charts')?.textContent ?? '[]');
    const out = {};
    for (const c of specs) {
      const el = document.getElementById('chart-' + c.id);
      out[c.id] = {
        points: c.spec.data.values.length,
        symbols: el.querySelectorAll('svg g.mark-symbol.role-mark path').length,
        marks: el.querySelectorAll('svg g.role-mark > path, svg g.role-mark > line, svg g.role-mark > text').length,
      };
    }
    return out;
  })()`,
  horizontalOverflow: 'document.documentElement.scrollWidth - document.documentElement.clientWidth',
  chartsWiderThanCards: `[...document.querySelectorAll('.chart-card')].filter((card) => {
    const svg = card.querySelector('svg');
    return svg && svg.getBoundingClientRect().right > card.getBoundingClientRect().right + 1;
  }).length`,
};

async function visit(file: string, width = 1400): Promise<Visit> {
  const page = await browser.newPage({ viewport: { width, height: 900 }, acceptDownloads: true });
  const problems: string[] = [];
  const remote: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('request', (r) => {
    if (!/^(file|data|blob):/.test(r.url())) remote.push(r.url());
  });
  await page.goto(`file://${file}`);
  await page.waitForFunction(IN_PAGE.ready);
  await page.evaluate(IN_PAGE.settled);
  const charts = await page.evaluate<Visit['charts']>(IN_PAGE.countMarks);
  return { page, problems, remote, charts };
}

async function shoot(v: Visit, name: string): Promise<string> {
  const file = join(SHOTS, `${name}.png`);
  await v.page.screenshot({ path: file, fullPage: true });
  return file;
}

describe.skipIf(!HAVE_CHROMIUM)(`pages in headless Chromium${HAVE_CHROMIUM ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  beforeAll(setUp);
  afterAll(async () => {
    await browser?.close();
  });

  describe.each([
    ['report-4x5', 'multi', 11],
    ['report-1x1', 'single', 6],
    ['report-policy', 'policy', 7],
    ['report-churn', 'churn', 10],
    ['compare', 'compare', 6],
    ['index', 'index', 1],
  ] as const)('%s', (name, key, minCharts) => {
    it('renders every chart offline, without errors or warnings, and is screenshotted', async () => {
      const v = await visit(pages[key]!);
      try {
        expect(v.problems).toEqual([]);
        expect(v.remote).toEqual([]);
        const ids = Object.keys(v.charts);
        expect(ids.length).toBeGreaterThanOrEqual(minCharts);
        for (const [id, c] of Object.entries(v.charts)) {
          expect(c.points, id).toBeGreaterThan(0);
          expect(c.symbols, `${id}: one dot per data point`).toBe(c.points);
          expect(c.marks, id).toBeGreaterThan(c.points);
        }
        expect(await v.page.evaluate(IN_PAGE.errors)).toEqual([]);
        expect(existsSync(await shoot(v, name))).toBe(true);
      } finally {
        await v.page.close();
      }
    });
  });

  describe('report-4x5 in use', () => {
    it('the samples CSV downloads from the page itself', async () => {
      const v = await visit(pages.multi!);
      try {
        const [download] = await Promise.all([v.page.waitForEvent('download'), v.page.click('a.download >> nth=0')]);
        const csv = readFileSync((await download.path())!, 'utf8');
        expect(download.suggestedFilename()).toBe('20261130-020000-synthetic-4x5-samples.csv');
        // the samples.csv columns of src/runner/results.ts, whatever they have grown to
        expect(csv.split('\n')[0]).toMatch(/^datapath,services,.*\btest,path,sample,/);
        expect(csv.trim().split('\n')).toHaveLength(1 + fixture('synthetic-4x5').samples.length);
        expect(v.remote).toEqual([]);
      } finally {
        await v.page.close();
      }
    });

    it('stays readable on a narrow screen: charts fit their cards, no horizontal page scroll', async () => {
      const v = await visit(pages.multi!, 760);
      try {
        expect(v.problems).toEqual([]);
        expect(await v.page.evaluate<number>(IN_PAGE.horizontalOverflow)).toBeLessThanOrEqual(0);
        const tooWide = await v.page.evaluate<number>(IN_PAGE.chartsWiderThanCards);
        expect(tooWide).toBe(0);
        await shoot(v, 'report-4x5-narrow');
      } finally {
        await v.page.close();
      }
    });
  });
});
