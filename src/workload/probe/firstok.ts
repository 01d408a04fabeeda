// SPDX-License-Identifier: Apache-2.0
// Watches many targets for their first successful TCP connection, inside a pod's namespace: the data-plane end
// of ClusterLoader2's network programming latency (endpoint ready → reachable through its service).
//   firstok [--interval-ms 2] [--timeout-ms 100] [--max-ms 600000]
// stdin: one JSON target per line {"id":"svc-1","host":"10.96.3.233","port":80}; stdout: {"id","okAt","attempts"}
// per target on its first success (okAt = send time of that attempt, epoch ms). Each target has at most one
// attempt in flight; at most 5,000 targets at once; the process ends when stdin closes and nothing is pending,
// or after --max-ms.
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { nowMs } from './watch.ts';

interface Target {
  id: string;
  host: string;
  port: number;
  attempts: number;
  done: boolean;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'interval-ms': { type: 'string', default: '2' }, 'timeout-ms': { type: 'string', default: '100' }, 'max-ms': { type: 'string', default: '600000' } },
  });
  const intervalMs = Math.max(0.5, Number(values['interval-ms']));
  const timeoutMs = Math.max(5, Number(values['timeout-ms']));
  const deadline = nowMs() + Math.min(3_600_000, Number(values['max-ms']));
  const active = new Map<string, Target>();
  let inputClosed = false;

  const attempt = (t: Target): void => {
    if (t.done) return;
    if (nowMs() > deadline) return finish(t, false);
    t.attempts++;
    const sentAt = nowMs();
    const s = connect({ host: t.host, port: t.port });
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      s.destroy();
      if (ok) {
        process.stdout.write(`${JSON.stringify({ id: t.id, okAt: sentAt, attempts: t.attempts })}\n`);
        finish(t, true);
      } else {
        // a refusal comes back at once: wait out the interval so one target cannot spin a CPU
        setTimeout(() => attempt(t), Math.max(0, intervalMs - (nowMs() - sentAt)));
      }
    };
    s.setTimeout(timeoutMs, () => settle(false));
    s.on('connect', () => settle(true));
    s.on('error', () => settle(false));
  };

  const finish = (t: Target, ok: boolean): void => {
    if (t.done) return;
    t.done = true;
    if (!ok) process.stdout.write(`${JSON.stringify({ id: t.id, gaveUp: true, attempts: t.attempts })}\n`);
    active.delete(t.id);
    maybeExit();
  };

  const maybeExit = (): void => {
    if (inputClosed && active.size === 0) process.stdout.write(`${JSON.stringify({ done: true })}\n`, () => process.exit(0));
  };

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    const t = JSON.parse(line) as { id: string; host: string; port: number };
    if (active.size >= 5000 || active.has(t.id)) return;
    const target: Target = { ...t, attempts: 0, done: false };
    active.set(t.id, target);
    attempt(target);
  });
  lines.on('close', () => {
    inputClosed = true;
    maybeExit();
  });
  setTimeout(() => {
    for (const t of [...active.values()]) finish(t, false);
    inputClosed = true;
    maybeExit();
  }, deadline - nowMs()).unref();
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
}

if (process.argv[1]?.endsWith('firstok.ts')) await main();
