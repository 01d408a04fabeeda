// SPDX-License-Identifier: Apache-2.0
// report.html as text: self-contained (no external resource), escaped, every section present, the CSV
// downloadable from inside the page, and the section list usable as an extension point.
import { describe, expect, it } from 'vitest';
import { samplesCsv } from '../../../src/runner/results.ts';
import { esc, jsonForScript } from '../../../src/report/html.ts';
import { renderReport } from '../../../src/report/render.ts';
import { REPORT_SECTIONS, type ReportSection } from '../../../src/report/sections.ts';
import { checkThresholds } from '../../../src/report/thresholds.ts';
import { thresholdsSchema } from '../../../src/runner/scenario/schema.ts';
import { scriptSafe } from '../../../src/report/vega-assets.ts';
import { churnFixture, fixture, policyFixture } from './fixtures.ts';

const multi = fixture('synthetic-4x5');
const single = fixture('single-step');

describe('escaping', () => {
  it('esc covers the five HTML specials', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('JSON in a script element cannot close it', () => {
    expect(jsonForScript({ t: '</script><script>alert(1)</script>' })).not.toContain('</script');
    expect(JSON.parse(jsonForScript({ t: '</script>\u2028' }))).toEqual({ t: '</script>\u2028' });
    expect(scriptSafe('a="</script>"')).toBe('a="<\\/script>"');
  });

  it('hostile strings in results.json come out inert, in text and in chart data', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const res = {
      ...single,
      run: { ...single.run, scenario: evil, description: `</script><script>alert(2)</script>` },
      samples: single.samples.map((s, i) => (i === 0 ? { ...s, valid: false, reasons: [evil] } : s)),
      results: single.results.map((r) => ({ ...r, path: r.test === 'TCP_RR' ? `x${evil}` : r.path })),
    };
    const html = renderReport({ results: res, thresholds: null });
    expect(html.includes(evil)).toBe(false);
    expect(html.includes('<script>alert(2)')).toBe(false);
    expect(html.includes('&lt;img src=x onerror=alert(1)&gt;')).toBe(true);
  });
});

describe('self-contained', () => {
  const html = renderReport({ results: multi, thresholds: null });

  it('loads nothing from elsewhere: no src/href to another origin, a CSP that forbids fetching', () => {
    // booleans, not toContain: a failure would print the whole inlined vega build
    expect(/<script[^>]+src=/i.test(html)).toBe(false);
    expect(/<link[^>]+href=/i.test(html)).toBe(false);
    expect(/(src|href)="(https?:)?\/\//i.test(html)).toBe(false);
    expect(html.includes('content="default-src &#39;none&#39;; script-src')).toBe(true);
  });

  it('inlines the vega, vega-lite and vega-embed builds', () => {
    expect(html.includes('vegaEmbed')).toBe(true);
    expect(html.length).toBeGreaterThan(700_000);
    expect((html.match(/<script>/g) ?? []).length).toBe(4);
  });
});

describe('sections', () => {
  it('every section of the 4 × 5 fixture, in order, each linked from the nav', () => {
    const thresholds = checkThresholds(multi, thresholdsSchema.parse([{ metric: 'throughput', min: 6000 }]));
    const html = renderReport({ results: multi, thresholds });
    const ids = [...html.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1]);
    expect(ids).toEqual(['summary', 'thresholds', 'latency', 'rates', 'cpu', 'control-plane', 'validity', 'scenario', 'environment', 'data']);
    for (const id of ids) expect(html.includes(`<a href="#${id}">`)).toBe(true);
    expect(html.includes('1 threshold breached')).toBe(true);
  });

  it('metrics the run did not record yet (CPU, in an older run) are no validity warning and no section', () => {
    const html = renderReport({ results: single, thresholds: null });
    expect(single.results.some((r) => r.metric.startsWith('cpu_'))).toBe(false);
    const withEmptyCpu = { ...single, results: [...single.results, { ...single.results[0]!, metric: 'cpu_busy_per_tx', samples: [], summary: null, invalid: [{ sample: 1, reasons: [] }] }] };
    const html2 = renderReport({ results: withEmptyCpu, thresholds: null });
    expect(html.includes('<section id="cpu">')).toBe(false);
    expect(html2.includes('<section id="cpu">')).toBe(false);
    expect(html2.includes('no valid sample, so no figure')).toBe(false);
    // …even when another sample of the record was invalid for a reason of its own
    const mixed = { ...single, results: [...single.results, { ...single.results[0]!, metric: 'cpu_busy_per_tx', samples: [], summary: null, invalid: [{ sample: 1, reasons: [] }, { sample: 2, reasons: ['1 SYN retransmission'] }] }] };
    expect(renderReport({ results: mixed, thresholds: null }).includes('no valid sample, so no figure')).toBe(false);
    // a record whose every sample was invalid is a warning
    const lost = { ...single, results: single.results.map((r, i) => (i === 0 ? { ...r, samples: [], summary: null, invalid: [{ sample: 1, reasons: ['x'] }] } : r)) };
    expect(renderReport({ results: lost, thresholds: null }).includes('no valid sample, so no figure')).toBe(true);
  });

  it('no thresholds section when the scenario defines none', () => {
    expect(renderReport({ results: single, thresholds: null })).not.toContain('<section id="thresholds">');
  });

  it('validity lists every invalid sample with its reasons', () => {
    const html = renderReport({ results: multi, thresholds: null });
    const invalid = multi.samples.filter((s) => !s.valid);
    expect(invalid.length).toBeGreaterThan(0);
    expect(html.includes(`Invalid samples (${invalid.length} of ${multi.samples.length})`)).toBe(true);
    for (const s of invalid) expect(html.includes(esc(s.reasons.join('; ')))).toBe(true);
  });

  it('the samples CSV is downloadable from inside the page', () => {
    const html = renderReport({ results: single, thresholds: null });
    const m = html.match(/download="([^"]+-samples\.csv)" href="data:text\/csv;charset=utf-8,([^"]+)"/);
    expect(m).not.toBeNull();
    const decoded = decodeURIComponent(m![2]!.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"'));
    expect(decoded).toBe(samplesCsv(single.samples));
  });

  it('a policy run: propagation section, policy steps in the scenario, the data table and the headline', () => {
    const policy = policyFixture();
    const html = renderReport({ results: policy, thresholds: null });
    const ids = [...html.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1]);
    expect(ids).toEqual(['summary', 'latency', 'rates', 'control-plane', 'propagation', 'validity', 'scenario', 'environment', 'data']);
    expect(html.includes('<dt>NetworkPolicy steps</dt><dd>0, 100, 1,000, 5,000</dd>')).toBe(true);
    expect(html.includes('At 1 service · 5,000 policies (the largest step)')).toBe(true);
    expect(html.includes('policy allow → deny (ms)')).toBe(true);
    expect(html.includes('id="chart-propagation-allow-deny-netpol-propagation-pod-to-pod-cross-node"')).toBe(true);
  });

  it('a churn run: churn section, workloads during churn charted apart, endpoint programming in the headline', () => {
    const html = renderReport({ results: churnFixture(), thresholds: null });
    const ids = [...html.matchAll(/<section id="([^"]+)">/g)].map((m) => m[1]);
    expect(ids).toEqual(['summary', 'latency', 'rates', 'cpu', 'control-plane', 'churn', 'validity', 'scenario', 'environment', 'data']);
    expect(html.includes('id="chart-latency-p50-tcp-crr-pod-to-service-churn"')).toBe(true);
    expect(html.includes('endpoint programming in churn (ms)')).toBe(true);
    expect(html.includes('<h3>Churn runs</h3>')).toBe(true);
    const c = churnFixture();
    const unreached = { ...c, churn: c.churn!.map((x, i) => (i === 0 ? { ...x, unreached: ['churn-1/web#0'] } : x)) };
    expect(renderReport({ results: unreached, thresholds: null }).includes('iptables churn @1000 services: 1 service(s) never answered through their ClusterIP (churn-1/web#0)')).toBe(true);
  });

  it('the section list is the extension point: a new section renders with its charts', () => {
    const extra: ReportSection = { id: 'conformance', title: 'Conformance', render: () => ({ html: '<p>truth table</p>' }) };
    const html = renderReport({ results: single, thresholds: null }, [...REPORT_SECTIONS, extra]);
    expect(html.includes('<section id="conformance"><h2>Conformance</h2>')).toBe(true);
    expect(html.includes('<a href="#conformance">Conformance</a>')).toBe(true);
  });
});
