// SPDX-License-Identifier: Apache-2.0
// SIGINT/SIGTERM during a run: the first one aborts the run at the next check (in-flight commands are killed),
// so `await using` teardown runs on the normal path; a second one cleans up synchronously by the run record.
import { InterruptedError } from '../errors.ts';

export class Interrupts implements Disposable {
  private readonly controller = new AbortController();
  private received?: string;
  private readonly handlers: [NodeJS.Signals, () => void][] = [];

  constructor(onSecond: () => Promise<void>, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const handler = (): void => {
        if (this.received) {
          log(`\n${sig} again: removing the lab now`);
          void onSecond().finally(() => process.exit(130));
          return;
        }
        this.received = sig;
        log(`\n${sig}: stopping; tearing down the lab (send it again to force)`);
        this.controller.abort(new InterruptedError(sig));
      };
      process.on(sig, handler);
      this.handlers.push([sig, handler]);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** throws InterruptedError once a signal has arrived */
  check(): void {
    if (this.received) throw new InterruptedError(this.received);
  }

  [Symbol.dispose](): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
  }
}
