// SPDX-License-Identifier: Apache-2.0
// Error classes, each mapped to one exit code in cli.ts (k6's convention: 99 breached thresholds, 104 bad config).

export class DpbenchError extends Error {
  readonly exitCode: number = 1;
}

/** Invalid user input: a scenario, cluster shape or flag. Names the file and key and what was expected. */
export class ConfigError extends DpbenchError {
  override readonly exitCode = 104;
  constructor(message: string, readonly issues: string[] = []) {
    super(issues.length ? `${message}\n${issues.map((i) => `  - ${i}`).join('\n')}` : message);
    this.name = 'ConfigError';
  }
}

/** A prerequisite (root, a binary, a kernel feature) is missing; the message says how to fix it. */
export class PrereqError extends DpbenchError {
  override readonly exitCode = 3;
  constructor(message: string) {
    super(message);
    this.name = 'PrereqError';
  }
}

/** An external command failed: carries the command, exit code, signal, stderr and duration. */
export class CommandError extends DpbenchError {
  override readonly exitCode = 2;
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    readonly durationMs: number,
    readonly netns?: string,
  ) {
    const where = netns ? ` (in netns ${netns})` : '';
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const tail = stderr.trim().split('\n').slice(-15).join('\n');
    super(`command failed${where}: ${argv.join(' ')}\n  ${how} after ${durationMs.toFixed(0)} ms${tail ? `\n  stderr: ${tail}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Thresholds breached or a regression found (reports, compare). */
export class ThresholdError extends DpbenchError {
  override readonly exitCode = 99;
  constructor(message: string) {
    super(message);
    this.name = 'ThresholdError';
  }
}

/** The run was interrupted by SIGINT/SIGTERM; teardown has run. */
export class InterruptedError extends DpbenchError {
  override readonly exitCode = 130;
  constructor(signal: string) {
    super(`interrupted by ${signal}; the lab was torn down`);
    this.name = 'InterruptedError';
  }
}
