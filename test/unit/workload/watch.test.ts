// SPDX-License-Identifier: Apache-2.0
// The propagation watcher: transitions are folded by send time, whatever order attempts completed in; and a
// real watch on loopback sees a server appear (blocked → allowed) within a few intervals.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { transitions } from '../../../src/workload/probe/watch.ts';
import { Watcher } from '../../../src/workload/probe/index.ts';

describe('watch transitions', () => {
  it('folds attempts by send time into the first outcome and every change', () => {
    const attempts = [
      { sentAt: 3, ok: true },
      { sentAt: 1, ok: false },
      { sentAt: 2, ok: false },
      { sentAt: 5, ok: false },
      { sentAt: 4, ok: true },
    ];
    expect(transitions(attempts)).toEqual({ initial: 'blocked', transitions: [{ at: 3, to: 'allowed' }, { at: 5, to: 'blocked' }] });
    expect(transitions([])).toEqual({ initial: 'none', transitions: [] });
  });
});

describe('watcher process (loopback only)', () => {
  it('sees a listener appear on 127.0.0.1 as one blocked → allowed transition', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    await using w = new Watcher(undefined, '127.0.0.1', port, { intervalUs: 1000, timeoutMs: 100, maxMs: 20_000 });
    await w.ready;
    await new Promise((r) => setTimeout(r, 300));
    const server = createServer((s) => s.end()).listen(port, '127.0.0.1');
    const openedAt = performance.timeOrigin + performance.now();
    await new Promise((r) => setTimeout(r, 300));
    const report = await w.stop();
    server.close();
    expect(report.initial).toBe('blocked');
    expect(report.transitions).toHaveLength(1);
    expect(report.transitions[0]!.to).toBe('allowed');
    // the first success was sent after the listener opened, and not long after (generous: a busy machine)
    const lag = report.transitions[0]!.at - openedAt;
    expect(lag).toBeGreaterThan(-5);
    expect(lag).toBeLessThan(2000);
    expect(report.attempts).toBeGreaterThan(100);
  }, 30_000);
});
