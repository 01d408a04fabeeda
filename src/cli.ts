// SPDX-License-Identifier: Apache-2.0
// dpbench's command line: thin wiring; each command is lazy-imported from src/commands/. Errors map to exit
// codes in one place: 104 invalid configuration, 99 thresholds breached, 3 missing prerequisites, 130 interrupted.
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DpbenchError } from './errors.ts';

export function intList(value: string): number[] {
  const parts = value.split(',').map((v) => v.trim().replace(/_/g, ''));
  if (parts.some((p) => !/^\d+$/.test(p))) throw new InvalidArgumentError(`expected comma-separated integers such as 1,1000, got "${value}"`);
  return parts.map(Number);
}
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}
export function positiveInt(value: string): number {
  const n = positiveNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}
const list = (value: string): string[] => value.split(',').map((v) => v.trim()).filter(Boolean);

export function buildProgram(): Command {
  const program = new Command('dpbench')
    .description('benchmark and conformance harness for Kubernetes datapaths (kube-proxy iptables/nftables, eBPF, XDP)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  program
    .command('run')
    .description('run a scenario on lab clusters and write results.json, samples.csv, environment.json')
    .argument('<scenario>', 'a name from scenarios/ (e.g. smoke) or a path to a scenario .yaml')
    .option('--datapaths <list>', 'override the datapaths, e.g. none,iptables', list)
    .option('--services <list>', 'override the service-count steps, e.g. 1,1000', intList)
    .option('--policies <list>', 'override the NetworkPolicy-count steps, e.g. 0,100', intList)
    .option('--samples <n>', 'override samples per workload', positiveInt)
    .option('--duration <seconds>', 'override whole seconds per sample', positiveInt)
    .option('--out <dir>', 'output directory (default reports/<run-id>/)')
    .option('--baseline <run>', 'when done, compare with this run directory or results.json (compare.html; exit 99 on a regression)')
    .option('--quiet', 'no progress display')
    .action(async (scenario: string, opts) => (await import('./commands/run.ts')).runCommand(scenario, opts));

  const lab = program.command('lab').description('a lab cluster to explore by hand');
  lab
    .command('up')
    .description('create a lab cluster, program it and leave it running')
    .option('--datapath <name>', 'datapath to program', 'iptables')
    .option('--services <n>', 'number of services (including the netperf target)', positiveInt, 1)
    .option('--shape <name>', 'cluster shape from clusters/', 'lab-2node')
    .option('--backends <n>', 'endpoints per filler service', positiveInt, 3)
    .option('--iptables-backend <nft|legacy>', 'iptables flavour', 'nft')
    .option('--xdp-mode <auto|native|generic>', 'xdp datapath: where the XDP program runs', 'auto')
    .action(async (opts) => (await import('./commands/lab.ts')).labUp(opts));
  lab
    .command('down')
    .description('remove lab clusters created by `lab up` (all of them, or one prefix)')
    .argument('[prefix]', 'the prefix printed by `lab up`')
    .action(async (prefix?: string) => (await import('./commands/lab.ts')).labDown(prefix));
  lab
    .command('status')
    .description('list lab clusters, their pods and how to exec into them')
    .action(async () => (await import('./commands/lab.ts')).labStatus());

  program
    .command('conform')
    .description('check that every datapath implements the same Service / NetworkPolicy semantics (with evidence / truth tables)')
    .option('--suite <name>', 'conformance suite: services | netpol', 'services')
    .option('--policies <file|dir>', 'netpol: case files (YAML) to run instead of the built-in netpol-cases/')
    .option('--print-model', 'netpol: print the standard model (namespaces, pods, labels, deterministic IPs) and exit')
    .option('--verbose', 'netpol: print every truth table, not only those that disagree')
    .option('--datapaths <list>', 'datapaths to check (default: every implemented one but none)', list)
    .option('--shape <name>', 'services: cluster shape from clusters/ (at least 2 nodes × 2 pods)', 'lab-2node')
    .option('--json', 'print the full report, every verdict and its evidence, as JSON')
    .action(async (opts) => (await import('./commands/conform.ts')).conformCommand(opts));

  program
    .command('report')
    .description('write <run-dir>/report.html (self-contained, opens offline) and check the scenario thresholds; exit 99 if one is breached')
    .argument('<run-dir>', 'a run directory (reports/<run-id>) or its results.json')
    .option('--out <file>', 'where to write the HTML (default <run-dir>/report.html)')
    .option('--scenario <file>', "read thresholds from this scenario file instead of the run's own")
    .action(async (runDir: string, opts) => (await import('./commands/report.ts')).reportCommand(runDir, opts));

  program
    .command('compare')
    .description('compare a candidate run with a baseline, record by record; write compare.html; exit 99 on a regression')
    .argument('<baseline>', 'baseline run directory or results.json')
    .argument('<candidate>', 'candidate run directory or results.json')
    .option('--tolerance <fraction>', 'change treated as noise, e.g. 0.1 or 10%', '10%')
    .option('--alpha <p>', 'significance level of the Mann-Whitney U test', '0.05')
    .option('--resamples <n>', 'bootstrap resamples for the ratio CI', '2000')
    .option('--out <file>', 'where to write the HTML (default <candidate-dir>/compare.html)')
    .option('--all', 'print every record, not only headline metrics and changes')
    .action(async (baseline: string, candidate: string, opts) => (await import('./commands/compare.ts')).compareCommand(baseline, candidate, opts));

  program
    .command('index')
    .description('write <dir>/index.html listing every run folder under <dir> with headline figures and links (e.g. for GitHub Pages)')
    .argument('<dir>', 'a folder of run folders, e.g. reports/')
    .option('--no-render', 'do not write report.html for run folders that lack one')
    .option('--title <text>', 'page title', 'dpbench results')
    .action(async (dir: string, opts) => (await import('./commands/index.ts')).indexCommand(dir, opts));

  program
    .command('doctor')
    .description('check every prerequisite: root, kernel features, binaries and versions, with the fix for each')
    .action(async () => (await import('./commands/doctor.ts')).doctorCommand());

  program
    .command('clean')
    .description('remove what crashed runs left behind: namespaces, processes, bpffs pins (named dpb-…)')
    .option('--all', 'also remove clusters left running by `lab up`')
    .action(async (opts) => (await import('./commands/clean.ts')).cleanCommand(opts));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors are configuration errors
      return e.exitCode === 0 ? 0 : 104;
    }
    if (e instanceof DpbenchError) {
      process.stderr.write(`dpbench: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`dpbench: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/bin/dpbench.js')) {
  process.exit(await main(process.argv.slice(2)));
}
