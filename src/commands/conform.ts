// SPDX-License-Identifier: Apache-2.0
// `dpbench conform --suite services`: the same Service semantics checked on every datapath, with evidence.
import { ConfigError, DpbenchError } from '../errors.ts';
import { requirePrereqs } from '../runner/prereqs.ts';
import { checkDatapaths, loadClusterShape } from '../runner/scenario/load.ts';
import { IMPLEMENTED_DATAPATHS } from '../runner/scenario/schema.ts';
import { renderConformance, runServiceConformance } from '../conform/services/run.ts';

export class ConformanceError extends DpbenchError {
  override readonly exitCode = 1;
}

export interface ConformFlags {
  suite: string;
  datapaths?: string[];
  json?: boolean;
  shape: string;
  policies?: string;
  printModel?: boolean;
  verbose?: boolean;
}

export async function conformCommand(flags: ConformFlags): Promise<void> {
  if (flags.printModel) {
    const { printModel } = await import('../netpol/model.ts');
    process.stdout.write(printModel());
    return;
  }
  if (flags.suite === 'netpol') return await netpolCommand(flags);
  if (flags.suite !== 'services') throw new ConfigError(`--suite: expected "services" or "netpol", got "${flags.suite}"`);
  const datapaths = checkDatapaths(flags.datapaths ?? IMPLEMENTED_DATAPATHS.filter((d) => d !== 'none'), '--datapaths');
  const shape = loadClusterShape(flags.shape, '--shape');
  if (shape.nodes < 2 || shape.podsPerNode < 2) throw new ConfigError(`--shape: the services suite needs at least 2 nodes with 2 pods each; ${shape.name} has ${shape.nodes}×${shape.podsPerNode}`);
  await requirePrereqs();
  const report = await runServiceConformance({ datapaths, shape, log: flags.json ? undefined : (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderConformance(report)}\n`);
  if (!report.passed) throw new ConformanceError('conformance failed: a datapath broke a behaviour it claims');
}

async function netpolCommand(flags: ConformFlags): Promise<void> {
  const { loadCases } = await import('../netpol/cases.ts');
  const { renderNetpol, runNetpolConformance } = await import('../conform/netpol/run.ts');
  const cases = flags.policies ? loadCases(flags.policies) : loadCases();
  const datapaths = checkDatapaths(flags.datapaths ?? IMPLEMENTED_DATAPATHS.filter((d) => d !== 'none'), '--datapaths');
  await requirePrereqs();
  const report = await runNetpolConformance({ cases, datapaths, log: flags.json ? undefined : (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderNetpol(report, { verbose: flags.verbose })}\n`);
  if (!report.passed) throw new ConformanceError('netpol conformance failed: a datapath (or an expected table) disagreed with the reference evaluator');
}
