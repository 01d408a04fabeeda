// SPDX-License-Identifier: Apache-2.0
// A continuous prober for propagation latency (kube-burner's netpolLatency, ClusterLoader2's network programming
// latency), run inside a pod's namespace:
//   watch --host H --port P [--interval-us 500] [--timeout-ms 200] [--max-ms 30000]
// It opens a new TCP connection every interval without waiting for the previous ones, records each attempt's
// send time (epoch ms with µs precision, comparable across processes on this machine) and outcome, and when
// stdin closes or --max-ms passes prints one JSON line: the attempts' outcomes folded into transitions
// (allowed ↔ blocked) ordered by send time. An attempt sent before a change and dropped would only succeed on
// the SYN retransmit a second later, so the first success after a deny→allow change comes from an attempt sent
// after it: the resolution is the interval. Bounded: at most --max-ms and 1,000 sockets in flight.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

export interface Transition {
  /** send time of the first attempt with the new outcome, epoch ms */
  at: number;
  to: 'allowed' | 'blocked';
}

export interface WatchReport {
  attempts: number;
  startedAt: number;
  endedAt: number;
  /** the outcome of the first attempt, then every change */
  initial: 'allowed' | 'blocked' | 'none';
  transitions: Transition[];
  skipped: number;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

/** folds attempts (any order) into transitions by send time */
export function transitions(attempts: { sentAt: number; ok: boolean }[]): { initial: WatchReport['initial']; transitions: Transition[] } {
  const sorted = [...attempts].sort((a, b) => a.sentAt - b.sentAt);
  const out: Transition[] = [];
  let state: boolean | undefined;
  for (const a of sorted) {
    if (state !== undefined && a.ok !== state) out.push({ at: a.sentAt, to: a.ok ? 'allowed' : 'blocked' });
    state = a.ok;
  }
  const first = sorted[0];
  return { initial: first ? (first.ok ? 'allowed' : 'blocked') : 'none', transitions: out };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'interval-us': { type: 'string', default: '500' },
      'timeout-ms': { type: 'string', default: '200' },
      'max-ms': { type: 'string', default: '30000' },
    },
  });
  const host = values.host!;
  const port = Number(values.port);
  const intervalMs = Math.max(0.1, Number(values['interval-us']) / 1000);
  const timeoutMs = Math.max(1, Number(values['timeout-ms']));
  const maxMs = Math.min(10 * 60_000, Number(values['max-ms']));
  const attempts: { sentAt: number; ok: boolean }[] = [];
  let inFlight = 0;
  let skipped = 0;
  let stopped = false;
  const startedAt = nowMs();

  const attempt = (): void => {
    if (inFlight >= 1000) {
      skipped++;
      return;
    }
    inFlight++;
    const sentAt = nowMs();
    const s = connect({ host, port });
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      inFlight--;
      attempts.push({ sentAt, ok });
      s.destroy();
    };
    s.setTimeout(timeoutMs, () => finish(false));
    s.on('connect', () => finish(true));
    s.on('error', () => finish(false));
  };

  // a busy-ish loop on setImmediate keeps sub-ms spacing that setInterval (1 ms floor) cannot
  let next = nowMs();
  const tick = (): void => {
    if (stopped) return;
    const t = nowMs();
    if (t - startedAt > maxMs) return void stop();
    if (t >= next) {
      attempt();
      next += intervalMs;
      if (next < t) next = t + intervalMs; // fell behind: don't burst to catch up
    }
    setImmediate(tick);
  };

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    const endedAt = nowMs();
    // let attempts in flight finish (bounded by their timeout)
    setTimeout(() => {
      const report: WatchReport = { attempts: attempts.length, startedAt, endedAt, skipped, ...transitions(attempts) };
      process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
    }, timeoutMs + 20);
  };

  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
  process.stdout.write(`${JSON.stringify({ ready: true, startedAt })}\n`);
  tick();
}

if (process.argv[1]?.endsWith('watch.ts')) await main();
