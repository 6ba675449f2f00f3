const marker = Symbol.for('diffprune.error');

/**
 * Base class of every error diffprune throws. `DiffpruneError.isInstance(e)` works across
 * duplicated module copies (it checks a global symbol, not the prototype chain).
 */
export class DiffpruneError extends Error {
  readonly [marker] = true;
  /** A stable, machine-readable code, e.g. `invalid-argument`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  static isInstance(error: unknown): error is DiffpruneError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

const describe = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return String(value);
  }
};

/** An argument had the wrong value: names the argument, what was expected and what was found. */
export class InvalidArgumentError extends DiffpruneError {
  readonly argument: string;
  readonly expected: string;
  readonly found: unknown;

  constructor(options: { argument: string; expected: string; found: unknown; context?: string }) {
    const where = options.context ? `${options.context}: ` : '';
    super(
      'invalid-argument',
      `${where}${options.argument} must be ${options.expected}; found ${describe(options.found)}`,
    );
    this.argument = options.argument;
    this.expected = options.expected;
    this.found = options.found;
  }
}

/** Two shapes that must agree do not. */
export class ShapeMismatchError extends DiffpruneError {
  /** The tensor or argument whose shape is wrong. */
  readonly tensor: string;
  readonly expected: readonly number[];
  readonly found: readonly number[];

  constructor(options: {
    tensor: string;
    expected: readonly number[];
    found: readonly number[];
    context?: string;
  }) {
    const where = options.context ? `${options.context}: ` : '';
    super(
      'shape-mismatch',
      `${where}${options.tensor} must have shape [${options.expected.join(', ')}]; found [${options.found.join(', ')}]`,
    );
    this.tensor = options.tensor;
    this.expected = options.expected;
    this.found = options.found;
  }
}

export interface KeyShapeMismatch {
  name: string;
  expected: readonly number[];
  found: readonly number[];
}

/** A checkpoint's keys or shapes do not match a model's specs. Lists every problem at once. */
export class CheckpointMismatchError extends DiffpruneError {
  readonly source: string;
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  readonly mismatched: readonly KeyShapeMismatch[];

  constructor(options: {
    source: string;
    missing: readonly string[];
    unexpected: readonly string[];
    mismatched: readonly KeyShapeMismatch[];
  }) {
    const lines = [`checkpoint ${options.source} does not match the model:`];
    if (options.missing.length > 0)
      lines.push(`  missing (${options.missing.length}): ${options.missing.join(', ')}`);
    if (options.unexpected.length > 0)
      lines.push(`  unexpected (${options.unexpected.length}): ${options.unexpected.join(', ')}`);
    for (const m of options.mismatched)
      lines.push(`  ${m.name}: expected shape [${m.expected.join(', ')}], found [${m.found.join(', ')}]`);
    super('checkpoint-mismatch', lines.join('\n'));
    this.source = options.source;
    this.missing = options.missing;
    this.unexpected = options.unexpected;
    this.mismatched = options.mismatched;
  }
}

/** A file is malformed: says which file, what was expected and what was found. */
export class FormatError extends DiffpruneError {
  readonly path: string | undefined;
  readonly expected: string;
  readonly found: string;

  constructor(options: { path?: string; expected: string; found: string; what?: string }) {
    const where = options.path ? `${options.path}: ` : '';
    const what = options.what ? `${options.what}: ` : '';
    super('format', `${where}${what}expected ${options.expected}; found ${options.found}`);
    this.path = options.path;
    this.expected = options.expected;
    this.found = options.found;
  }
}

/** A file or resource that is needed is not there; `hint` says how to get it. */
export class MissingResourceError extends DiffpruneError {
  readonly resource: string;
  readonly hint: string | undefined;

  constructor(options: { resource: string; hint?: string; cause?: unknown }) {
    super('missing-resource', `${options.resource} is missing${options.hint ? `. ${options.hint}` : ''}`, {
      cause: options.cause,
    });
    this.resource = options.resource;
    this.hint = options.hint;
  }
}

/** A download failed or its content did not pass the integrity check. */
export class DownloadError extends DiffpruneError {
  readonly url: string;
  readonly status: number | undefined;

  constructor(options: { url: string; reason: string; status?: number; cause?: unknown }) {
    super('download', `download of ${options.url} failed: ${options.reason}`, { cause: options.cause });
    this.url = options.url;
    this.status = options.status;
  }
}

/** The compute backend could not be set up as asked. */
export class BackendError extends DiffpruneError {
  readonly backend: string;

  constructor(options: { backend: string; reason: string; cause?: unknown }) {
    super('backend', `backend ${JSON.stringify(options.backend)}: ${options.reason}`, {
      cause: options.cause,
    });
    this.backend = options.backend;
  }
}

/**
 * Writing a file failed for a reason the user can act on (a full disk, a quota, a read-only
 * filesystem, no permission): names the file, says why and what to do. The file it was replacing is
 * untouched (writes are atomic).
 */
export class WriteError extends DiffpruneError {
  readonly path: string;
  /** The system error code, e.g. `ENOSPC`. */
  readonly reason: string;

  constructor(options: { path: string; reason: string; cause?: unknown }) {
    const says: Record<string, string> = {
      ENOSPC: 'no space left on the device (ENOSPC); free some space or write elsewhere, then run again',
      EDQUOT: 'the disk quota is exceeded (EDQUOT); free some space or write elsewhere, then run again',
      EROFS: 'the filesystem is read-only (EROFS); write elsewhere',
      EACCES: 'permission denied (EACCES); write elsewhere or fix the permissions',
      EPERM: 'operation not permitted (EPERM); write elsewhere or fix the permissions',
    };
    super('write', `could not write ${options.path}: ${says[options.reason] ?? options.reason}`, {
      cause: options.cause,
    });
    this.path = options.path;
    this.reason = options.reason;
  }

  /** The system error codes this class stands for. */
  static readonly reasons: readonly string[] = ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM'];

  /** `error` as a `WriteError` for `path` when it is one of `reasons`, else `error` itself. */
  static from(error: unknown, path: string): unknown {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    return code && WriteError.reasons.includes(code)
      ? new WriteError({ path, reason: code, cause: error })
      : error;
  }
}

/** The user interrupted a long operation (Ctrl-C); state was saved where the operation could. */
export class InterruptedError extends DiffpruneError {
  constructor(message = 'interrupted') {
    super('interrupted', message);
  }
}

/** A tensor holds NaN or ±Infinity where finite values are required (diffs, base checkpoints). */
export class NonFiniteValueError extends DiffpruneError {
  /** The file, when the values were read from one. */
  readonly path: string | undefined;
  readonly tensor: string;
  /** The flat (row-major) position of the first non-finite value. */
  readonly position: number;
  readonly value: number;
  /** How many values are non-finite. */
  readonly count: number;

  constructor(options: { path?: string; tensor: string; position: number; value: number; count: number }) {
    const where = options.path ? `${options.path}: ` : '';
    super(
      'non-finite',
      `${where}${options.tensor} must hold finite values; found ${options.value} at position ${options.position}` +
        `${options.count > 1 ? ` (${options.count} non-finite values in all)` : ''}. The file is corrupt or was written from a diverged run: regenerate it`,
    );
    this.path = options.path;
    this.tensor = options.tensor;
    this.position = options.position;
    this.value = options.value;
    this.count = options.count;
  }
}

/** Throws `NonFiniteValueError` (naming the tensor, the first position and the count) unless every value is finite. */
export function checkFinite(values: ArrayLike<number>, where: { tensor: string; path?: string }): void {
  let first = -1;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // v - v is 0 for finite v and NaN for NaN and ±Infinity: one comparison on the hot path.
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first >= 0)
    throw new NonFiniteValueError({
      ...(where.path ? { path: where.path } : {}),
      tensor: where.tensor,
      position: first,
      value: values[first]!,
      count,
    });
}

/**
 * Training produced a non-finite value (NaN or ±Infinity): the loss or a group's gradient norm. The
 * step is not applied, nothing more is checkpointed, so the last checkpoint is the last good state.
 */
export class NonFiniteError extends DiffpruneError {
  /** What was not finite, e.g. `loss` or `weights gradient norm`. */
  readonly quantity: string;
  readonly value: number;
  readonly stage: string;
  /** The 0-based step within the stage. */
  readonly step: number;

  constructor(options: { quantity: string; value: number; stage: string; step: number }) {
    super(
      'training-diverged',
      `training diverged: the ${options.quantity} is ${options.value} at ${options.stage} step ${options.step + 1}, so the step was not applied; expected finite values — lower the learning rate (or check the data and the base model for NaN/Inf); the last checkpoint holds the last good state`,
    );
    this.quantity = options.quantity;
    this.value = options.value;
    this.stage = options.stage;
    this.step = options.step;
  }
}

/**
 * A row of a user's dataset is unusable (a field missing, an empty text, a label outside the label
 * set): names the file, the line (1-based; the row number for Parquet) and the field.
 */
export class DataRowError extends DiffpruneError {
  readonly path: string;
  readonly line: number;
  readonly field: string;
  readonly expected: string;
  readonly found: unknown;

  constructor(options: {
    path: string;
    line: number;
    field: string;
    expected: string;
    found: unknown;
    hint?: string;
  }) {
    super(
      'data-row',
      `${options.path} line ${options.line}, field ${JSON.stringify(options.field)}: expected ${options.expected}; found ${describe(options.found)}${options.hint ? `. ${options.hint}` : ''}`,
    );
    this.path = options.path;
    this.line = options.line;
    this.field = options.field;
    this.expected = options.expected;
    this.found = options.found;
  }
}

/**
 * The one line a CLI prints for an error, and its exit code (libraries never print; the apps do).
 * A typed error (`DiffpruneError`) is its message, exit 1 (130 only for an `InterruptedError`:
 * Ctrl-C). Anything else is a bug, yet it is one line too (its message and where to report it),
 * exit 1. `DIFFPRUNE_DEBUG=1` in `environment` adds the stack.
 */
export function describeFailure(
  error: unknown,
  environment: Record<string, string | undefined> = globalThis.process?.env ?? {},
): { text: string; exitCode: number } {
  const debug = environment.DIFFPRUNE_DEBUG === '1' && error instanceof Error && error.stack;
  const stack = debug ? `${error.stack}\n` : '';
  if (DiffpruneError.isInstance(error))
    return {
      text: `diffprune: ${error.message}\n${stack}`,
      exitCode: error.code === 'interrupted' ? 130 : 1,
    };
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0] ?? '';
  return {
    text: `diffprune: unexpected error: ${firstLine} (a bug in diffprune: run again with DIFFPRUNE_DEBUG=1 for the stack and report it)\n${stack}`,
    exitCode: 1,
  };
}
