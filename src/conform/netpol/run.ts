// SPDX-License-Identifier: Apache-2.0
// The NetworkPolicy conformance suite, Cyclonus-style: the upstream standard model (namespaces x y z, pods a b c)
// on a 3×3 lab cluster per datapath; for every case the policies are programmed, every pod→pod pair is probed on
// every probe port, and the observed truth table is compared cell by cell with the reference evaluator's.
import { LabSet } from '../../runner/lab-set.ts';
import { flushConntrack } from '../../runner/sampler.ts';
import { newPrefix } from '../../runner/run.ts';
import type { ClusterShape, Datapath } from '../../runner/scenario/schema.ts';
import type { ClusterState } from '../../cluster/state.ts';
import { DATAPATH_NETPOL_FEATURES } from '../../datapath/features.ts';
import { caseModel, type NetpolCase, type NetpolFeature } from '../../netpol/cases.ts';
import { labPodFor, MODEL_POD_KEYS, MODEL_SHAPE, modelKubeObjects } from '../../netpol/model.ts';
import { compareTables, expectedTable, failures, probeLabel, renderTable, type CellDiff, type Probe, type TruthTable } from '../../netpol/truth-table.ts';
import { probeBatch, probeServerArgv, waitForServer, type BatchTarget } from '../../workload/probe/index.ts';

export const NETPOL_SHAPE: ClusterShape = { name: 'lab-3node', provider: 'lab', ...MODEL_SHAPE, network: { ...MODEL_SHAPE.network } };

export interface ProbeResult {
  probe: string;
  expected: TruthTable;
  observed: TruthTable;
  /** every cell that differs, loopback ones included (flagged) */
  diffs: CellDiff[];
}

export interface DatapathCaseResult {
  status: 'agree' | 'disagree' | 'unsupported';
  reason?: string;
  probes: ProbeResult[];
  /** probes skipped with the reason, e.g. SCTP, which the prober cannot send */
  skippedProbes: { probe: string; reason: string }[];
}

export interface NetpolCaseResult {
  name: string;
  file: string;
  upstream?: string;
  /** the case file's own `expected` tables checked against the evaluator */
  expectedChecks: { probe: string; agrees: boolean; diffs: CellDiff[] }[];
  datapaths: Partial<Record<Datapath, DatapathCaseResult>>;
}

export interface NetpolReport {
  suite: 'netpol';
  startedAt: string;
  durationS: number;
  datapaths: Datapath[];
  cases: NetpolCaseResult[];
  /** every datapath agreed with the evaluator on every judged cell, and every `expected` table held */
  passed: boolean;
}

export interface NetpolOptions {
  cases: NetpolCase[];
  datapaths: Datapath[];
  /** probe timeout; a blocked TCP probe costs this long */
  timeoutMs?: number;
  /** override what datapaths claim (tests: make a non-enforcing datapath claim policy to see disagreement caught) */
  claims?: Partial<Record<Datapath, readonly NetpolFeature[] | null>>;
  log?: (line: string) => void;
}

const PROBE_PORTS = [80, 81];

/** why a datapath cannot run a case, or undefined */
function unsupportedReason(dp: Datapath, c: NetpolCase, claims: NetpolOptions['claims'] = {}): string | undefined {
  const features = dp in claims ? claims[dp] : DATAPATH_NETPOL_FEATURES[dp];
  if (!features) return `${dp} does not enforce NetworkPolicy`;
  const missing = c.requires.filter((f) => f !== 'sctp' && !features.includes(f));
  return missing.length ? `${dp} does not implement ${missing.join(', ')}` : undefined;
}

function caseState(c: NetpolCase): ClusterState {
  const objects = modelKubeObjects(caseModel(c));
  return { namespaces: objects.namespaces, pods: objects.pods, services: [], endpointSlices: [], networkPolicies: c.policies };
}

/** probes every pair for the given probes from every model pod; retries cells that look blocked, to rule out a lost datagram */
async function observe(labs: LabSet, dp: Datapath, probes: Probe[], timeoutMs: number): Promise<Map<string, TruthTable>> {
  const plan = labs.member(dp).plan;
  const ip = (key: string): string => labPodFor(plan, key).ip;
  const cells = new Map<string, boolean>(); // probe|from|to → allowed
  const pending = MODEL_POD_KEYS.flatMap((from) => probes.flatMap((p) => MODEL_POD_KEYS.map((to) => ({ from, to, p }))));
  let todo = pending;
  for (let attempt = 0; attempt < 3 && todo.length; attempt++) {
    const bySource = new Map<string, typeof todo>();
    for (const t of todo) bySource.set(t.from, [...(bySource.get(t.from) ?? []), t]);
    await Promise.all(
      [...bySource].map(async ([from, list]) => {
        const targets: BatchTarget[] = list.map((t) => ({ host: ip(t.to), port: t.p.port, protocol: t.p.protocol as 'TCP' | 'UDP' }));
        const outcomes = await probeBatch(labPodFor(plan, from).netns, targets, timeoutMs);
        list.forEach((t, i) => cells.set(`${probeLabel(t.p)}|${t.from}|${t.to}`, outcomes[i]!.ok));
      }),
    );
    todo = todo.filter((t) => !cells.get(`${probeLabel(t.p)}|${t.from}|${t.to}`));
  }
  const tables = new Map<string, TruthTable>();
  for (const p of probes) {
    tables.set(probeLabel(p), {
      froms: [...MODEL_POD_KEYS],
      tos: [...MODEL_POD_KEYS],
      cells: MODEL_POD_KEYS.map((f) => MODEL_POD_KEYS.map((t) => cells.get(`${probeLabel(p)}|${f}|${t}`) ?? false)),
    });
  }
  return tables;
}

export async function runNetpolConformance(opts: NetpolOptions): Promise<NetpolReport> {
  const started = new Date();
  const timeoutMs = opts.timeoutMs ?? 400;
  const report: NetpolReport = { suite: 'netpol', startedAt: started.toISOString(), durationS: 0, datapaths: opts.datapaths, cases: [], passed: true };
  const claims = opts.claims ?? {};
  const enforcing = opts.datapaths.filter((d) => (d in claims ? claims[d] : DATAPATH_NETPOL_FEATURES[d]));
  await using labs = await LabSet.create({ prefix: newPrefix(), datapaths: enforcing, shape: NETPOL_SHAPE, iptablesBackend: 'nft', log: opts.log });
  for (const m of labs.members) {
    for (const key of MODEL_POD_KEYS) {
      const pod = labPodFor(m.plan, key);
      m.lab.spawn(pod.netns, probeServerArgv(key, { tcp: PROBE_PORTS, udp: PROBE_PORTS }));
    }
    const from = labPodFor(m.plan, MODEL_POD_KEYS[0]!).netns;
    for (const key of MODEL_POD_KEYS) await waitForServer(from, labPodFor(m.plan, key).ip, 80);
  }
  for (const c of opts.cases) {
    const model = caseModel(c);
    const result: NetpolCaseResult = { name: c.name, file: c.file, ...(c.upstream ? { upstream: c.upstream } : {}), expectedChecks: [], datapaths: {} };
    for (const e of c.expected) {
      const diffs = compareTables(e.table, expectedTable(c.policies, model, e.probe, { froms: e.table.froms, tos: e.table.tos }));
      result.expectedChecks.push({ probe: probeLabel(e.probe), agrees: diffs.length === 0, diffs });
      if (diffs.length) report.passed = false;
    }
    const sendable = c.probes.filter((p) => p.protocol !== 'SCTP');
    const skippedProbes = c.probes.filter((p) => p.protocol === 'SCTP').map((p) => ({ probe: probeLabel(p), reason: 'the prober cannot send SCTP (no SCTP sockets in Node.js)' }));
    const toSync = enforcing.filter((d) => !unsupportedReason(d, c, claims));
    if (toSync.length) {
      await labs.syncAll((plan) => (toSync.some((d) => labs.member(d).plan === plan) ? caseState(c) : caseState({ ...c, policies: [] })));
      // a UDP flow the previous case allowed would stay ESTABLISHED in conntrack and let this case's probe through
      await Promise.all(labs.members.map((m) => flushConntrack(m.plan)));
    }
    for (const dp of opts.datapaths) {
      const why = unsupportedReason(dp, c, claims);
      if (why) {
        result.datapaths[dp] = { status: 'unsupported', reason: why, probes: [], skippedProbes };
        continue;
      }
      opts.log?.(`  ${dp}: ${c.name}`);
      const observed = await observe(labs, dp, sendable, timeoutMs);
      const probes: ProbeResult[] = sendable.map((p) => {
        const expected = expectedTable(c.policies, model, p);
        const obs = observed.get(probeLabel(p))!;
        return { probe: probeLabel(p), expected, observed: obs, diffs: compareTables(expected, obs) };
      });
      const judged = probes.flatMap((p) => failures(p.diffs));
      result.datapaths[dp] = { status: judged.length ? 'disagree' : 'agree', probes, skippedProbes };
      if (judged.length) report.passed = false;
    }
    report.cases.push(result);
  }
  report.durationS = (Date.now() - started.getTime()) / 1000;
  return report;
}

/** per case one line per datapath; tables for every disagreement (and all of them with verbose) */
export function renderNetpol(r: NetpolReport, opts: { verbose?: boolean } = {}): string {
  const out: string[] = [`netpol conformance: ${r.cases.length} cases × ${r.datapaths.length} datapaths (\`.\` allowed, \`X\` blocked; rows from, columns to)`];
  for (const c of r.cases) {
    const cells = r.datapaths.map((d) => {
      const v = c.datapaths[d];
      if (!v) return `${d}: -`;
      if (v.status === 'unsupported') return `${d}: unsupported (${v.reason})`;
      const n = v.probes.reduce((a, p) => a + p.observed.froms.length * p.observed.tos.length, 0);
      const bad = v.probes.reduce((a, p) => a + failures(p.diffs).length, 0);
      return bad ? `${d}: ${bad} of ${n} cells differ` : `${d}: agrees (${n} cells)`;
    });
    const exp = c.expectedChecks.filter((e) => !e.agrees);
    out.push(`${c.name.padEnd(44)} ${cells.join('  ')}${exp.length ? `  EXPECTED TABLE MISMATCH (${exp.map((e) => e.probe).join(', ')})` : ''}`);
    for (const d of r.datapaths) {
      const v = c.datapaths[d];
      for (const p of v?.probes ?? []) {
        if (!opts.verbose && failures(p.diffs).length === 0) continue;
        out.push(`  ${d} ${p.probe}:`, ...renderTable(p.observed, { against: p.expected }).split('\n').map((l) => `    ${l}`));
      }
    }
  }
  out.push('', r.passed ? 'every datapath agreed with the reference evaluator on every judged cell.' : 'DISAGREEMENTS found (see the tables above).');
  return out.join('\n');
}
