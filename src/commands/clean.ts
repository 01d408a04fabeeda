// SPDX-License-Identifier: Apache-2.0
// `dpbench clean`: remove leftovers of crashed runs (and with --all, lab clusters left up on purpose).
import { cleanLeftovers } from '../cluster/lab/clean.ts';
import { PrereqError } from '../errors.ts';

export async function cleanCommand(opts: { all?: boolean }): Promise<void> {
  if (process.getuid?.() !== 0) throw new PrereqError('clean removes network namespaces and needs root: sudo npx dpbench clean');
  const r = await cleanLeftovers({ includePersistent: opts.all ?? false });
  const parts = [
    `${r.runs.length} run record(s)`,
    `${r.netns.length} network namespace(s)`,
    `${r.killed.length} process(es)`,
    `${r.pins.length} bpffs pin(s)`,
  ];
  process.stdout.write(`removed ${parts.join(', ')}\n`);
  for (const ns of r.netns) process.stdout.write(`  netns ${ns}\n`);
}
