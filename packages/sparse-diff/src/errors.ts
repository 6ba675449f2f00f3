import { DiffpruneError } from '@diffprune/core';

/** A diff was made for another base model: its base fingerprint differs from the one given. */
export class BaseMismatchError extends DiffpruneError {
  readonly expected: string;
  readonly found: string;

  constructor(options: { expected: string; found: string; context?: string }) {
    const where = options.context ? `${options.context}: ` : '';
    super(
      'base-mismatch',
      `${where}the diff belongs to the base with fingerprint ${options.expected}; found a base with fingerprint ${options.found}`,
    );
    this.expected = options.expected;
    this.found = options.found;
  }
}
