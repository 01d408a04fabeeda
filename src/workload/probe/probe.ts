// SPDX-License-Identifier: Apache-2.0
// A tiny TCP/UDP prober that runs inside a pod's namespace:
//   serve   --name N [--tcp 8080,9090] [--udp 8080]
//           answer every connection (or datagram) with "<name> <local port> <peer address>"
//   connect --host H --port P [--count K] [--timeout-ms T] [--proto tcp|udp]
//           K sequential new connections; prints JSON: which pod answered how often, on which port, from which
//           source address it saw us, and how many were refused or timed out.
// Bounded: at most 10,000 connections, each with a timeout. Used by lab tests, conformance and `lab up`.
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

export interface ProbeReport {
  attempts: number;
  /** answering pod name → connections */
  replies: Record<string, number>;
  /** port the server answered on → connections */
  ports: Record<string, number>;
  /** source address the server saw → connections */
  sources: Record<string, number>;
  refused: number;
  timeouts: number;
  errors: Record<string, number>;
  /** per connection: ms until the answer or the failure */
  latenciesMs: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string', default: 'unnamed' },
    tcp: { type: 'string', default: '' },
    udp: { type: 'string', default: '' },
    host: { type: 'string' },
    port: { type: 'string' },
    count: { type: 'string', default: '1' },
    'timeout-ms': { type: 'string', default: '1000' },
    proto: { type: 'string', default: 'tcp' },
  },
});
const mode = positionals[0];

function ports(list: unknown): number[] {
  const out = String(list ?? '').split(',').filter(Boolean).map(Number);
  for (const p of out) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      console.error(`probe: bad port "${p}"`);
      process.exit(2);
    }
  }
  return out;
}

function serve(): void {
  const name = String(values.name);
  for (const port of ports(values.tcp)) {
    createServer((s) => {
      s.on('error', () => {});
      s.end(`${name} ${port} ${s.remoteAddress?.replace(/^::ffff:/, '')}\n`);
    }).listen(port);
  }
  for (const port of ports(values.udp)) {
    const sock = createSocket('udp4');
    sock.on('message', (_m, rinfo) => sock.send(`${name} ${port} ${rinfo.address}\n`, rinfo.port, rinfo.address));
    sock.bind(port);
  }
}

function once(host: string, port: number, udp: boolean, timeoutMs: number): Promise<{ reply?: string; error?: string }> {
  return new Promise((resolve) => {
    if (udp) {
      const sock = createSocket('udp4');
      const done = (r: { reply?: string; error?: string }): void => {
        clearTimeout(timer);
        sock.close();
        resolve(r);
      };
      const timer = setTimeout(() => done({ error: 'ETIMEDOUT' }), timeoutMs);
      sock.on('message', (m) => done({ reply: m.toString().trim() }));
      sock.on('error', (e: NodeJS.ErrnoException) => done({ error: e.code ?? e.message }));
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

const bump = (rec: Record<string, number>, key: string): void => void (rec[key] = (rec[key] ?? 0) + 1);

async function probe(): Promise<void> {
  const [port] = ports(values.port);
  const udp = values.proto === 'udp';
  const count = Math.min(10_000, Math.max(1, Number(values.count)));
  const timeoutMs = Math.min(30_000, Number(values['timeout-ms']));
  const report: ProbeReport = { attempts: count, replies: {}, ports: {}, sources: {}, refused: 0, timeouts: 0, errors: {}, latenciesMs: [] };
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await once(String(values.host), port!, udp, timeoutMs);
    report.latenciesMs.push(Math.round((performance.now() - t0) * 1000) / 1000);
    if (r.reply !== undefined) {
      const [name = '', servedPort = '', source = ''] = r.reply.split(' ');
      bump(report.replies, name);
      bump(report.ports, servedPort);
      bump(report.sources, source);
    } else if (r.error === 'ECONNREFUSED' || r.error === 'EHOSTUNREACH') report.refused++;
    else if (r.error === 'ETIMEDOUT') report.timeouts++;
    else bump(report.errors, r.error!);
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (mode === 'serve') serve();
else if (mode === 'connect' && values.host && values.port) await probe();
else {
  console.error('usage: probe serve --name N [--tcp P,P] [--udp P,P] | probe connect --host H --port P [--count K] [--timeout-ms T] [--proto udp]');
  process.exit(2);
}
