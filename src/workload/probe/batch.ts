// SPDX-License-Identifier: Apache-2.0
// A batch prober for truth tables, run inside one pod's namespace: tries every target once, concurrently
// (at most 64 in flight), and prints one JSON line with an outcome per target, in order.
//   batch --targets '[{"host":"10.244.1.11","port":80,"protocol":"TCP"},…]' [--timeout-ms 500]
// TCP counts as allowed when the connection is established; UDP when the prober server's reply comes back.
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

export interface BatchTarget {
  host: string;
  port: number;
  protocol: 'TCP' | 'UDP';
}

export interface BatchOutcome {
  ok: boolean;
  /** the pod name the prober server answered with (UDP, and TCP when it answered before we closed) */
  reply?: string;
  error?: string;
}

function tryTcp(t: BatchTarget, timeoutMs: number): Promise<BatchOutcome> {
  return new Promise((resolve) => {
    const s = connect({ host: t.host, port: t.port });
    const done = (o: BatchOutcome): void => {
      s.destroy();
      resolve(o);
    };
    s.setTimeout(timeoutMs, () => done({ ok: false, error: 'ETIMEDOUT' }));
    s.on('connect', () => done({ ok: true }));
    s.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
  });
}

function tryUdp(t: BatchTarget, timeoutMs: number): Promise<BatchOutcome> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const done = (o: BatchOutcome): void => {
      clearTimeout(timer);
      sock.close();
      resolve(o);
    };
    const timer = setTimeout(() => done({ ok: false, error: 'ETIMEDOUT' }), timeoutMs);
    sock.on('message', (m) => done({ ok: true, reply: m.toString().trim().split(' ')[0] }));
    sock.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
    sock.send('probe\n', t.port, t.host);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { targets: { type: 'string' }, 'timeout-ms': { type: 'string', default: '500' } } });
  const targets = JSON.parse(values.targets ?? '[]') as BatchTarget[];
  if (targets.length > 5000) throw new Error('batch: at most 5,000 targets');
  const timeoutMs = Math.min(10_000, Math.max(10, Number(values['timeout-ms'])));
  const out: BatchOutcome[] = new Array(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const i = next++;
      const t = targets[i]!;
      out[i] = t.protocol === 'UDP' ? await tryUdp(t, timeoutMs) : await tryTcp(t, timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(64, targets.length) }, worker));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1]?.endsWith('batch.ts')) await main();
