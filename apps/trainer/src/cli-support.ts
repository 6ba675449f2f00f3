import { describeFailure, InvalidArgumentError, type WarningEvent } from '@diffprune/core';

/** Writes one JSON document to stdout (what `--json` commands print, and nothing else). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints `describeFailure(error)` on stderr and sets the exit code. */
export function reportFailure(error: unknown): void {
  const { text, exitCode } = describeFailure(error);
  process.stderr.write(text);
  process.exitCode = exitCode;
}

/**
 * Runs a command's action: any error becomes one line on stderr and a non-zero exit code
 * (`reportFailure`).
 */
export function action<A extends unknown[]>(
  run: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (error) {
      reportFailure(error);
    }
  };
}

/**
 * `eval --task T` of a diff trained on another task runs, but its numbers mean little (issue #15):
 * the warning event to show, or undefined when the tasks agree or the diff records none.
 */
export function taskMismatchWarning(
  diffTask: string | undefined,
  task: string,
  diffPath: string,
): WarningEvent | undefined {
  if (!diffTask || diffTask === task) return undefined;
  return {
    type: 'warning-raise',
    message: `${diffPath} was trained on ${JSON.stringify(diffTask)}, not ${JSON.stringify(task)}: these metrics are of a diff on another task (pass --task ${diffTask}, or the diff of ${task})`,
  };
}

/** A numeric option's parser: a finite number, else an `InvalidArgumentError` naming the option. */
export const numberOption = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed))
    throw new InvalidArgumentError({ argument: name, expected: 'a number', found: value });
  return parsed;
};

/** An integer option's parser (at least `minimum` when given). */
export const integerOption =
  (name: string, minimum = Number.NEGATIVE_INFINITY) =>
  (value: string) => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isInteger(parsed) || parsed < minimum)
      throw new InvalidArgumentError({
        argument: name,
        expected: minimum === Number.NEGATIVE_INFINITY ? 'an integer' : `an integer ≥ ${minimum}`,
        found: value,
      });
    return parsed;
  };

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
