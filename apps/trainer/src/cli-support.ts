import { DiffpruneError } from '@diffprune/core';

/** Writes one JSON document to stdout (what `--json` commands print, and nothing else). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Runs a command's action: typed errors become one clear line on stderr and a non-zero exit code;
 * anything else is a bug and keeps its stack.
 */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      if (DiffpruneError.isInstance(error)) {
        process.stderr.write(`diffprune: ${error.message}\n`);
        process.exitCode = error.code === 'interrupted' ? 130 : 1;
        return;
      }
      throw error;
    }
  };
}

/**
 * Ctrl-C for long commands: the first SIGINT asks the work to stop after its current step
 * (`requested()` turns true) and prints `message`; a second one more than a second later quits at
 * once (exit 130). One within a second is the same keypress delivered twice (process-group
 * delivery plus a wrapper relaying it) and is ignored. `dispose()` removes the handler.
 */
export function stopOnInterrupt(message: string): { requested: () => boolean; dispose: () => void } {
  let stoppedAt: number | undefined;
  const onSignal = () => {
    if (stoppedAt !== undefined) {
      if (Date.now() - stoppedAt > 1000) process.exit(130);
      return;
    }
    stoppedAt = Date.now();
    process.stderr.write(`\n${message}\n`);
  };
  process.on('SIGINT', onSignal);
  return { requested: () => stoppedAt !== undefined, dispose: () => process.off('SIGINT', onSignal) };
}
