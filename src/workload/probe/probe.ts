// SPDX-License-Identifier: Apache-2.0
// A tiny TCP/UDP prober that runs inside a pod's namespace:
//   serve   --port P --name N [--udp]       answer every connection (or datagram) with the pod's name
//   connect --host H --port P --count K [--timeout-ms T] [--udp]
//           K sequential new connections; prints JSON: which pod answered how often, refusals, timeouts.
// Bounded: at most 10,000 connections, each with a timeout. Used by lab tests, conformance and `lab up`.
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

export interface ProbeReport {
  attempts: number;
  replies: Record<string, number>;
  refused: number;
  timeouts: number;
  errors: Record<string, number>;
  /** per connection: ms until the answer or the failure */
  latenciesMs: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    name: { type: 'string', default: 'unnamed' },
    host: { type: 'string' },
    count: { type: 'string', default: '1' },
    'timeout-ms': { type: 'string', default: '1000' },
    udp: { type: 'boolean', default: false },
  },
});
const mode = positionals[0];
const port = Number(values.port);

function serve(): void {
  if (values.udp) {
    const sock = createSocket('udp4');
    sock.on('message', (_msg, rinfo) => sock.send(`${values.name}\n`, rinfo.port, rinfo.address));
    sock.bind(port);
    return;
  }
  createServer((s) => {
    s.on('error', () => {});
    s.end(`${values.name}\n`);
  }).listen(port);
}

function once(host: string, timeoutMs: number): Promise<{ reply?: string; error?: string }> {
  return new Promise((resolve) => {
    if (values.udp) {
      const sock = createSocket('udp4');
      const timer = setTimeout(() => (sock.close(), resolve({ error: 'ETIMEDOUT' })), timeoutMs);
      sock.on('message', (m) => (clearTimeout(timer), sock.close(), resolve({ reply: m.toString().trim() })));
      sock.on('error', (e: NodeJS.ErrnoException) => (clearTimeout(timer), sock.close(), resolve({ error: e.code ?? e.message })));
      sock.send('probe\n', port, host);
      return;
    }
    let data = '';
    const s = connect({ host, port });
    s.setTimeout(timeoutMs, () => (s.destroy(), resolve({ error: 'ETIMEDOUT' })));
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve({ reply: data.trim() }));
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
  });
}

async function probe(): Promise<void> {
  const count = Math.min(10_000, Math.max(1, Number(values.count)));
  const timeoutMs = Math.min(30_000, Number(values['timeout-ms']));
  const report: ProbeReport = { attempts: count, replies: {}, refused: 0, timeouts: 0, errors: {}, latenciesMs: [] };
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await once(values.host!, timeoutMs);
    report.latenciesMs.push(Math.round((performance.now() - t0) * 1000) / 1000);
    if (r.reply !== undefined) report.replies[r.reply] = (report.replies[r.reply] ?? 0) + 1;
    else if (r.error === 'ECONNREFUSED' || r.error === 'EHOSTUNREACH') report.refused++;
    else if (r.error === 'ETIMEDOUT') report.timeouts++;
    else report.errors[r.error!] = (report.errors[r.error!] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('probe: --port must be 1..65535');
  process.exit(2);
}
if (mode === 'serve') serve();
else if (mode === 'connect' && values.host) await probe();
else {
  console.error('usage: probe serve --port P --name N [--udp] | probe connect --host H --port P [--count K] [--timeout-ms T] [--udp]');
  process.exit(2);
}
