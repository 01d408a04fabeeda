// SPDX-License-Identifier: Apache-2.0
// parseNetperf against outputs recorded from real netperf 2.7.0 runs (test/fixtures/netperf/README.md).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { netperfArgv, type NetperfRequest } from '../../../src/workload/netperf/driver.ts';
import { parseNetperf } from '../../../src/workload/netperf/parse.ts';

interface Fixture {
  argv: string[];
  stdout: string;
  stderr: string;
  code: number | null;
}

function fixture(name: string): Fixture {
  const url = new URL(`../../fixtures/netperf/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Fixture;
}

const base = { host: '127.0.0.1', controlPort: 12865, dataPort: 20000, durationS: 1 } as const;
const pinned = { local: 0, remote: 1 };

describe('parseNetperf on successful runs', () => {
  it('TCP_RR: latency percentiles and transaction rate', () => {
    expect(parseNetperf('TCP_RR', fixture('tcp_rr'))).toEqual({
      test: 'TCP_RR',
      latencyUs: { min: 12, p50: 61, p90: 74, p99: 98, mean: 60.8, max: 1903, stddev: 24.18 },
      transactionsPerSec: 16430.158,
      elapsedS: 1,
      errors: [],
    });
  });

  it('TCP_RR with 1024/2048-byte messages', () => {
    expect(parseNetperf('TCP_RR', fixture('tcp_rr_1k'))).toEqual({
      test: 'TCP_RR',
      latencyUs: { min: 13, p50: 48, p90: 57, p99: 74, mean: 44.48, max: 3739, stddev: 56.36 },
      transactionsPerSec: 22456.496,
      elapsedS: 1,
      errors: [],
    });
  });

  it('TCP_CRR', () => {
    expect(parseNetperf('TCP_CRR', fixture('tcp_crr'))).toEqual({
      test: 'TCP_CRR',
      latencyUs: { min: 56, p50: 77, p90: 94, p99: 159, mean: 81.46, max: 2008, stddev: 29.08 },
      transactionsPerSec: 12264.129,
      elapsedS: 1,
      errors: [],
    });
  });

  it('TCP_STREAM: throughput only (its latency columns time single sends)', () => {
    expect(parseNetperf('TCP_STREAM', fixture('tcp_stream'))).toEqual({
      test: 'TCP_STREAM',
      throughputMbps: 25006.86,
      elapsedS: 1,
      errors: [],
    });
  });

  it('finds columns by header name, not position', () => {
    const raw = fixture('tcp_rr');
    const [banner, header, values] = raw.stdout.trimEnd().split('\n') as [string, string, string];
    const order = (line: string) => line.split(',').reverse().join(',');
    const reversed = { ...raw, stdout: `${banner}\n${order(header)}\n${order(values)}\n` };
    expect(parseNetperf('TCP_RR', reversed)).toEqual(parseNetperf('TCP_RR', raw));
  });
});

describe('parseNetperf on failed runs', () => {
  it('all zeros (TCP_CRR, data port unreachable) is invalid though netperf exits 0', () => {
    expect(parseNetperf('TCP_CRR', fixture('tcp_crr_all_zeros'))).toEqual({
      test: 'TCP_CRR',
      latencyUs: { min: 0, p50: 0, p90: 0, p99: 0, mean: 0, max: 0, stddev: 0 },
      transactionsPerSec: 0,
      elapsedS: 1,
      errors: ['no transactions completed (all zeros)'],
    });
  });

  it('all zeros (TCP_RR, data port unreachable)', () => {
    expect(parseNetperf('TCP_RR', fixture('tcp_rr_all_zeros')).errors).toEqual(['no transactions completed (all zeros)']);
  });

  it('no netserver on the control port', () => {
    expect(parseNetperf('TCP_RR', fixture('control_refused'))).toEqual({
      test: 'TCP_RR',
      errors: [
        'netperf exited with code 255: establish_control could not establish the control connection from 0.0.0.0 port 0 address family AF_UNSPEC to 127.0.0.1 port 12866 address family AF_INET',
        'no control connection to netserver at 127.0.0.1 port 12866 (not running, refused or filtered)',
      ],
    });
  });

  it('data connection refused', () => {
    expect(parseNetperf('TCP_RR', fixture('data_refused'))).toEqual({
      test: 'TCP_RR',
      errors: ['netperf exited with code 1: netperf: send_omni: connect_data_socket failed: Connection refused', 'connection refused'],
    });
  });

  it('no ephemeral port left for the data connection', () => {
    expect(parseNetperf('TCP_RR', fixture('port_exhausted')).errors).toEqual([
      'netperf exited with code 1: netperf: send_omni: connect_data_socket failed: Cannot assign requested address',
      'port exhaustion: Cannot assign requested address',
    ]);
  });

  it('netserver killed mid-test', () => {
    expect(parseNetperf('TCP_RR', fixture('server_killed')).errors).toEqual([
      'netperf exited with code 1: netperf: send_omni: recv_data failed: Connection reset by peer',
      'connection reset by peer (netserver died or a middlebox reset it)',
    ]);
  });

  it('host that does not resolve (lo-only netns, AI_ADDRCONFIG)', () => {
    expect(parseNetperf('TCP_RR', fixture('resolve_failed')).errors).toEqual([
      'netperf exited with code 255: establish_control could not establish the control connection from 0.0.0.0 port 0 address family AF_UNSPEC to 127.0.0.1 port 12865 address family AF_INET',
      "could not resolve host '127.0.0.1': Name or service not known (a netns with only lo has no address for AI_ADDRCONFIG)",
    ]);
  });

  it('killed by the timeout (no exit code)', () => {
    const raw = { stdout: fixture('tcp_rr').stdout.split('\n')[0]! + '\n', stderr: '', code: null };
    expect(parseNetperf('TCP_RR', raw).errors).toEqual(['netperf did not exit by itself (killed, probably by the timeout)']);
  });

  it('exit 0 without a result table', () => {
    expect(parseNetperf('TCP_STREAM', { stdout: 'MIGRATED TCP STREAM TEST\n', stderr: '', code: 0 }).errors).toEqual([
      'no result lines in netperf output (was -o given?)',
    ]);
  });

  it('a values line that does not match its header', () => {
    const raw = fixture('tcp_rr');
    const truncated = { ...raw, stdout: raw.stdout.replace(/,0,1,0\n$/, '\n') };
    expect(parseNetperf('TCP_RR', truncated).errors).toEqual(['netperf result line has 14 fields, its header 17']);
  });
});

describe('fixtures were recorded with the current argv', () => {
  const cases: Array<[string, NetperfRequest]> = [
    ['tcp_rr', { ...base, test: 'TCP_RR', cpus: pinned }],
    ['tcp_crr', { ...base, test: 'TCP_CRR', cpus: pinned }],
    ['tcp_stream', { ...base, test: 'TCP_STREAM', cpus: pinned }],
    ['tcp_rr_1k', { ...base, test: 'TCP_RR', requestSize: 1024, responseSize: 2048 }],
    ['control_refused', { ...base, test: 'TCP_RR', controlPort: 12866 }],
    ['tcp_crr_all_zeros', { ...base, test: 'TCP_CRR' }],
    ['server_killed', { ...base, test: 'TCP_RR', durationS: 2 }],
  ];
  it.each(cases)('%s', (name, req) => {
    expect(fixture(name).argv).toEqual(netperfArgv(req));
  });

  it('TCP_RR argv in full', () => {
    expect(netperfArgv({ ...base, test: 'TCP_RR', cpus: pinned })).toEqual([
      'netperf', '-H', '127.0.0.1', '-p', '12865', '-t', 'TCP_RR', '-l', '1', '-f', 'm', '-j', '-T', '0,1',
      '--', '-P', ',20000', '-r', '1,1',
      '-o', 'MIN_LATENCY,P50_LATENCY,P90_LATENCY,P99_LATENCY,MEAN_LATENCY,MAX_LATENCY,STDDEV_LATENCY,THROUGHPUT,THROUGHPUT_UNITS,TRANSACTION_RATE,ELAPSED_TIME,REQUEST_SIZE,RESPONSE_SIZE,LOCAL_SEND_SIZE,LOCAL_CPU_BIND,REMOTE_CPU_BIND,LOCAL_TRANSPORT_RETRANS',
    ]);
  });

  it('rejects an unbounded duration', () => {
    expect(() => netperfArgv({ ...base, test: 'TCP_RR', durationS: 0 })).toThrow(RangeError);
  });
});
