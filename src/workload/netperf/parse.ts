// SPDX-License-Identifier: Apache-2.0
// Pure parser: netperf's raw output (banner, CSV header, CSV values; or error text) → one sample.
// Columns are found by header name, so a reordered or extended -o list still parses.
import type { NetperfRaw, NetperfTest } from './driver.ts';

export interface NetperfSample {
  test: NetperfTest;
  /** RR/CRR only: per-transaction latency in microseconds (STREAM's columns time single sends) */
  latencyUs?: { min: number; p50: number; p90: number; p99: number; mean: number; max: number; stddev: number };
  /** RR/CRR */
  transactionsPerSec?: number;
  /** STREAM, 10^6 bits/s */
  throughputMbps?: number;
  elapsedS?: number;
  /** reasons this sample must not be used; empty when valid */
  errors: string[];
}

type Column = 'min' | 'p50' | 'p90' | 'p99' | 'mean' | 'max' | 'stddev' | 'throughput' | 'throughputUnits' | 'transactionRate' | 'elapsed';

// each column is recognised by the human-readable header -o prints; the selector names it in messages
const COLUMNS: ReadonlyArray<{ key: Column; header: RegExp; selector: string }> = [
  { key: 'min', header: /^minimum latency/i, selector: 'MIN_LATENCY' },
  { key: 'p50', header: /^50th percentile latency/i, selector: 'P50_LATENCY' },
  { key: 'p90', header: /^90th percentile latency/i, selector: 'P90_LATENCY' },
  { key: 'p99', header: /^99th percentile latency/i, selector: 'P99_LATENCY' },
  { key: 'mean', header: /^mean latency/i, selector: 'MEAN_LATENCY' },
  { key: 'max', header: /^maximum latency/i, selector: 'MAX_LATENCY' },
  { key: 'stddev', header: /^stddev latency/i, selector: 'STDDEV_LATENCY' },
  { key: 'throughput', header: /^throughput$/i, selector: 'THROUGHPUT' },
  { key: 'throughputUnits', header: /^throughput units$/i, selector: 'THROUGHPUT_UNITS' },
  { key: 'transactionRate', header: /^transaction rate/i, selector: 'TRANSACTION_RATE' },
  { key: 'elapsed', header: /^elapsed time/i, selector: 'ELAPSED_TIME' },
];

const LATENCY_KEYS = ['min', 'p50', 'p90', 'p99', 'mean', 'max', 'stddev'] as const;

// known failure texts, most specific first; each becomes a reason of its own beside the exit code
const FAILURE_SIGNATURES: ReadonlyArray<{ pattern: RegExp; reason: (m: RegExpMatchArray) => string }> = [
  { pattern: /Cannot assign requested address/, reason: () => 'port exhaustion: Cannot assign requested address' },
  { pattern: /Address already in use/, reason: () => 'port exhaustion: Address already in use' },
  { pattern: /Connection refused/, reason: () => 'connection refused' },
  { pattern: /Connection reset by peer/, reason: () => 'connection reset by peer (netserver died or a middlebox reset it)' },
  { pattern: /Connection timed out/, reason: () => 'connection timed out' },
  { pattern: /No route to host|Network is unreachable/, reason: (m) => `unreachable: ${m[0]}` },
  {
    pattern: /are you sure there is a netserver listening on (\S+) at port (\d+)/,
    reason: (m) => `no control connection to netserver at ${m[1]} port ${m[2]} (not running, refused or filtered)`,
  },
  {
    pattern: /could not resolve host '([^']*)'[^\n]*\n\s*getaddrinfo returned (-?\d+) ([^\n]*)/,
    reason: (m) => `could not resolve host '${m[1]}': ${m[3]} (a netns with only lo has no address for AI_ADDRCONFIG)`,
  },
  { pattern: /partial response received/, reason: () => 'control connection closed mid-test (partial response)' },
];

/** The last line that says something (the one a human would read first when netperf fails). */
function lastMessage(text: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.at(-1);
}

function splitCsv(line: string): string[] {
  return line.split(',').map((f) => f.trim());
}

/** Finds the header line (the first whose fields name a known column) and the values line after it. */
function findTable(stdout: string): { index: Map<Column, number>; values: string[] } | { problem: string } | undefined {
  const lines = stdout.split('\n').map((l) => l.replace(/\r$/, ''));
  for (let i = 0; i < lines.length; i++) {
    const fields = splitCsv(lines[i]!);
    const index = new Map<Column, number>();
    fields.forEach((name, pos) => {
      const col = COLUMNS.find((c) => c.header.test(name));
      if (col && !index.has(col.key)) index.set(col.key, pos);
    });
    if (index.size === 0) continue;
    const valuesLine = lines.slice(i + 1).find((l) => l.trim() !== '');
    if (valuesLine === undefined) return { problem: 'netperf printed a result header but no values line' };
    const values = splitCsv(valuesLine);
    if (values.length !== fields.length) {
      return { problem: `netperf result line has ${values.length} fields, its header ${fields.length}` };
    }
    return { index, values };
  }
  return undefined;
}

/** THROUGHPUT_UNITS → factor to 10^6 bits/s; undefined for non-bit units (Trans/s). */
function toMbpsFactor(units: string): number | undefined {
  const bits = /^10\^(\d+)bits\/s$/i.exec(units);
  if (bits) return 10 ** (Number(bits[1]) - 6);
  const bytes = /^2\^(\d+)Bytes\/s$/i.exec(units);
  if (bytes) return (2 ** Number(bytes[1]) * 8) / 1e6;
  return undefined;
}

export function parseNetperf(test: NetperfTest, raw: Pick<NetperfRaw, 'stdout' | 'stderr' | 'code'>): NetperfSample {
  const sample: NetperfSample = { test, errors: [] };
  const errors = sample.errors;
  const allText = `${raw.stdout}\n${raw.stderr}`;

  if (raw.code === null) {
    errors.push('netperf did not exit by itself (killed, probably by the timeout)');
  } else if (raw.code !== 0) {
    const message = lastMessage(raw.stderr) ?? lastMessage(raw.stdout) ?? 'no output';
    errors.push(`netperf exited with code ${raw.code}: ${message}`);
  }
  for (const sig of FAILURE_SIGNATURES) {
    const m = sig.pattern.exec(allText);
    if (m) errors.push(sig.reason(m));
  }

  const table = findTable(raw.stdout);
  if (table === undefined) {
    // a failed run explains itself above; a "successful" one without results is a problem of its own
    if (errors.length === 0) errors.push('no result lines in netperf output (was -o given?)');
    return sample;
  }
  if ('problem' in table) {
    errors.push(table.problem);
    return sample;
  }

  const number = (key: Column): number | undefined => {
    const pos = table.index.get(key);
    if (pos === undefined) return undefined;
    const text = table.values[pos] ?? '';
    const value = Number(text);
    return text !== '' && Number.isFinite(value) ? value : undefined;
  };
  const require = (key: Column): number | undefined => {
    const value = number(key);
    if (value === undefined) {
      const selector = COLUMNS.find((c) => c.key === key)!.selector;
      errors.push(`netperf output lacks a numeric ${selector} column`);
    }
    return value;
  };

  sample.elapsedS = number('elapsed');

  if (test === 'TCP_STREAM') {
    const throughput = require('throughput');
    const units = table.values[table.index.get('throughputUnits') ?? -1] ?? '10^6bits/s'; // -f m is our default
    const factor = toMbpsFactor(units);
    if (factor === undefined) errors.push(`unexpected THROUGHPUT_UNITS '${units}' for ${test} (expected bits/s)`);
    if (throughput !== undefined && factor !== undefined) {
      sample.throughputMbps = throughput * factor;
      if (throughput === 0) errors.push('no data transferred (all zeros)');
    }
    return sample;
  }

  // RR/CRR: THROUGHPUT is in bits/s under -f m, so the rate comes from TRANSACTION_RATE
  const rate = require('transactionRate');
  if (rate !== undefined) sample.transactionsPerSec = rate;
  const latency: Partial<Record<(typeof LATENCY_KEYS)[number], number>> = {};
  for (const key of LATENCY_KEYS) latency[key] = require(key);
  if (LATENCY_KEYS.every((k) => latency[k] !== undefined)) {
    sample.latencyUs = latency as Required<typeof latency>;
    // netperf writes -1 for "not measured"; a latency of -1 µs must not reach a median
    if (LATENCY_KEYS.some((k) => latency[k]! < 0)) errors.push('netperf reported negative latency figures (not measured)');
  }
  if (rate === 0) errors.push('no transactions completed (all zeros)');
  return sample;
}
