// SPDX-License-Identifier: Apache-2.0
// Kernel counters read around a sample (in the client's and the server's namespaces) to tell a datapath's real
// cost from harness artefacts and broken forwarding: a SYN retransmission adds ~1 s to a CRR transaction, a
// conntrack drop loses one, a segment with a bad checksum is thrown away by the receiver.
// Pure parsers and a pure comparison; reading the files is the caller's job.

/**
 * /proc/net/netstat and /proc/net/snmp: pairs of lines with the same prefix, names then values.
 * "TcpExt: a b\nTcpExt: 1 2" → { 'TcpExt.a': 1, 'TcpExt.b': 2 }.
 */
export function parseNetstat(text: string): Record<string, number> {
  const counters: Record<string, number> = {};
  const pendingNames = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const prefix = m[1]!;
    const fields = m[2]!.split(/\s+/).filter((f) => f !== '');
    const names = pendingNames.get(prefix);
    // a line of numbers after a line of names is that group's values; anything else starts a group
    if (names && fields.length > 0 && fields.every((f) => /^-?\d+$/.test(f))) {
      if (fields.length !== names.length) {
        throw new Error(`${prefix}: ${names.length} counter names but ${fields.length} values`);
      }
      names.forEach((name, i) => {
        counters[`${prefix}.${name}`] = Number(fields[i]);
      });
      pendingNames.delete(prefix);
    } else {
      pendingNames.set(prefix, fields);
    }
  }
  return counters;
}

/** `conntrack -S`: one line per CPU of key=value pairs; the counters that matter, summed over CPUs. */
export function parseConntrackStats(text: string): {
  drop: number;
  insertFailed: number;
  earlyDrop: number;
  searchRestart?: number;
} {
  const totals = new Map<string, number>();
  let cpus = 0;
  for (const line of text.split('\n')) {
    if (!/^\s*cpu=/.test(line)) continue;
    cpus++;
    for (const [, key, value] of line.matchAll(/(\w+)=(\d+)/g)) {
      if (key === 'cpu') continue;
      totals.set(key!, (totals.get(key!) ?? 0) + Number(value));
    }
  }
  if (cpus === 0) throw new Error('no "cpu=" lines in conntrack -S output (is nf_conntrack loaded in this namespace?)');
  const result: ReturnType<typeof parseConntrackStats> = {
    drop: totals.get('drop') ?? 0,
    insertFailed: totals.get('insert_failed') ?? 0,
    earlyDrop: totals.get('early_drop') ?? 0,
  };
  // older kernels do not report it; absent is not zero
  if (totals.has('search_restart')) result.searchRestart = totals.get('search_restart')!;
  return result;
}

export interface CounterSnapshot {
  /** TcpExt.TCPSynRetrans */
  synRetrans: number;
  /** TcpExt.ListenDrops (server side) */
  listenDrops?: number;
  /** Tcp.InCsumErrors, client and server together: segments a datapath's rewrite left with a bad checksum */
  csumErrors?: number;
  ctDrop: number;
  ctInsertFailed: number;
  ctEarlyDrop: number;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Reasons a sample taken between two snapshots must not be used; empty when none. */
export function validityReasons(before: CounterSnapshot, after: CounterSnapshot): string[] {
  const reasons: string[] = [];
  const delta = (name: string, b: number, a: number): number => {
    // counters only grow; going back means the two snapshots are not of the same namespace
    if (a < b) {
      reasons.push(`${name} went backwards (${b} → ${a}): snapshots from different namespaces?`);
      return 0;
    }
    return a - b;
  };

  const syn = delta('TcpExt.TCPSynRetrans', before.synRetrans, after.synRetrans);
  if (syn > 0) reasons.push(`${plural(syn, 'SYN retransmission', 'SYN retransmissions')} (TcpExt.TCPSynRetrans)`);
  if (before.listenDrops !== undefined && after.listenDrops !== undefined) {
    const drops = delta('TcpExt.ListenDrops', before.listenDrops, after.listenDrops);
    if (drops > 0) reasons.push(`listen queue drops: ${drops} (TcpExt.ListenDrops; accept backlog full?)`);
  }
  if (before.csumErrors !== undefined && after.csumErrors !== undefined) {
    const bad = delta('Tcp.InCsumErrors', before.csumErrors, after.csumErrors);
    if (bad > 0) reasons.push(`${plural(bad, 'TCP segment', 'TCP segments')} with a bad checksum dropped by the receiver (Tcp.InCsumErrors)`);
  }
  const ctDrop = delta('conntrack drop', before.ctDrop, after.ctDrop);
  if (ctDrop > 0) reasons.push(`conntrack drops: ${ctDrop} (table full?)`);
  const insertFailed = delta('conntrack insert_failed', before.ctInsertFailed, after.ctInsertFailed);
  if (insertFailed > 0) reasons.push(`conntrack insert failures: ${insertFailed} (NAT tuple clash?)`);
  const earlyDrop = delta('conntrack early_drop', before.ctEarlyDrop, after.ctEarlyDrop);
  if (earlyDrop > 0) reasons.push(`conntrack early drops: ${earlyDrop} (table full, entries evicted)`);
  return reasons;
}
