// SPDX-License-Identifier: Apache-2.0
// Runs netperf and returns its raw output; parsing lives in parse.ts so it can be tested on recorded runs.
import { run } from '../../util/exec.ts';

export type NetperfTest = 'TCP_RR' | 'TCP_CRR' | 'TCP_STREAM';

export interface NetperfRequest {
  test: NetperfTest;
  /** server address (pod IP or service VIP); used for both control and data connections */
  host: string;
  /** netserver control port (12865) */
  controlPort: number;
  /** remote data port, passed as `-- -P ,<dataPort>` so a service can expose a fixed port */
  dataPort: number;
  /** -l, seconds */
  durationS: number;
  /** -T local,remote: pinning matters on small machines (shared CPU vs not moves RR p50 ~3x) */
  cpus?: { local: number; remote: number };
  /** RR/CRR: -r req,resp (default 1,1); STREAM: -m requestSize */
  requestSize?: number;
  responseSize?: number;
}

export interface NetperfRaw {
  argv: string[];
  stdout: string;
  stderr: string;
  code: number | null;
  durationMs: number;
}

/** Columns asked of netperf's omni output (-o); parse.ts finds them by header name, not position. */
export const NETPERF_OUTPUT_SELECTORS: string[] = [
  'MIN_LATENCY',
  'P50_LATENCY',
  'P90_LATENCY',
  'P99_LATENCY',
  'MEAN_LATENCY',
  'MAX_LATENCY',
  'STDDEV_LATENCY',
  'THROUGHPUT',
  'THROUGHPUT_UNITS',
  'TRANSACTION_RATE',
  'ELAPSED_TIME',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'LOCAL_SEND_SIZE',
  'LOCAL_CPU_BIND',
  'REMOTE_CPU_BIND',
  'LOCAL_TRANSPORT_RETRANS',
];

/** -l must be a positive time: a negative -l means a transaction/byte count, and an hour is already far too long. */
const MAX_DURATION_S = 3600;

function positiveInt(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`netperf ${name} must be an integer in 1..${max}, got ${value}`);
  }
  return value;
}

export function netperfArgv(req: NetperfRequest): string[] {
  const argv = [
    'netperf',
    '-H', req.host,
    '-p', String(positiveInt('controlPort', req.controlPort, 65535)),
    '-t', req.test,
    '-l', String(positiveInt('durationS', req.durationS, MAX_DURATION_S)),
    '-f', 'm', // STREAM throughput in 10^6 bits/s, whatever netperf's default
    '-j', // keep per-transaction timings for the latency columns (2.7.0 infers it from -o; be explicit)
  ];
  if (req.cpus) argv.push('-T', `${req.cpus.local},${req.cpus.remote}`);
  // test-specific options; never `-- -H`: it makes netserver bind the data socket to the VIP (all zeros)
  argv.push('--', '-P', `,${positiveInt('dataPort', req.dataPort, 65535)}`);
  if (req.test === 'TCP_STREAM') {
    if (req.requestSize !== undefined) argv.push('-m', String(positiveInt('requestSize', req.requestSize)));
  } else {
    const reqSize = positiveInt('requestSize', req.requestSize ?? 1);
    const respSize = positiveInt('responseSize', req.responseSize ?? 1);
    argv.push('-r', `${reqSize},${respSize}`);
  }
  argv.push('-o', NETPERF_OUTPUT_SELECTORS.join(','));
  return argv;
}

/** Runs one netperf test; a failing netperf is a result to parse, not an exception. */
export async function runNetperf(req: NetperfRequest, opts: { netns?: string }): Promise<NetperfRaw> {
  const result = await run(netperfArgv(req), {
    netns: opts.netns,
    allowFail: true,
    timeoutMs: req.durationS * 1000 + 20_000,
  });
  return {
    argv: result.argv,
    stdout: result.stdout,
    stderr: result.stderr,
    code: result.code,
    durationMs: result.durationMs,
  };
}

/**
 * netserver in the foreground (-D) so the caller owns its pid, IPv4 only (-4). -f runs tests in that one
 * process: by default it forks a child per test, which outlives a parent killed mid-test.
 */
export function netserverArgv(opts: { port: number; bindAddress?: string }): string[] {
  const argv = ['netserver', '-D', '-f', '-4', '-p', String(positiveInt('port', opts.port, 65535))];
  if (opts.bindAddress) argv.push('-L', opts.bindAddress);
  return argv;
}
