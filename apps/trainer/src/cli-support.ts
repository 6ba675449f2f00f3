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
