// SPDX-License-Identifier: Apache-2.0
// `dpbench doctor`: every prerequisite with pass/fail, what was found, and the fix. Exit 3 if a required one fails.
import { collectChecks } from '../runner/prereqs.ts';
import { textTable } from '../report/table.ts';

export async function doctorCommand(): Promise<void> {
  const checks = await collectChecks();
  const rows = checks.map((c) => [c.ok ? 'ok' : c.required ? 'FAIL' : 'warn', c.name, c.detail, c.ok ? '' : c.fix]);
  process.stdout.write(`${textTable(['', 'check', 'found', 'fix'], rows)}\n`);
  const failed = checks.filter((c) => c.required && !c.ok);
  process.stdout.write(failed.length ? `\n${failed.length} required check(s) failed.\n` : '\nall required checks passed.\n');
  if (failed.length) process.exitCode = 3;
}
