// SPDX-License-Identifier: Apache-2.0
// Progress on stderr: the scale step, what is running, and the time left, estimated from the work still to do.

export class Progress {
  private done = 0;
  private readonly started = performance.now();
  private readonly tty = process.stderr.isTTY ?? false;

  constructor(
    /** seconds of planned sampling in the whole run */
    private readonly plannedS: number,
    private readonly enabled = true,
  ) {}

  /** add seconds of planned work completed */
  advance(seconds: number): void {
    this.done += seconds;
  }

  private eta(): string {
    const elapsed = (performance.now() - this.started) / 1000;
    // overheads scale with the work: extrapolate from the rate seen so far once there is some
    const rate = this.done > 0 ? elapsed / this.done : 1.3;
    const left = Math.round(Math.max(0, (this.plannedS - this.done) * rate));
    return left >= 60 ? `${Math.floor(left / 60)}m${String(left % 60).padStart(2, '0')}s` : `${left}s`;
  }

  update(line: string): void {
    if (!this.enabled) return;
    const text = `${line} · ~${this.eta()} left`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}`);
    else process.stderr.write(`${text}\n`);
  }

  log(line: string): void {
    if (!this.enabled) return;
    if (this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${line}\n`);
  }

  finish(): void {
    if (this.enabled && this.tty) process.stderr.write('\r\x1b[2K');
  }
}
