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

/**
 * A diff was made for a base with another config.json or tokenizer than the one given (its weights
 * may match): `which` says which of the two differs.
 */
export class BaseFilesMismatchError extends DiffpruneError {
  readonly which: 'config' | 'tokenizer';
  readonly expected: string;
  readonly found: string;

  constructor(options: { which: 'config' | 'tokenizer'; expected: string; found: string; context?: string }) {
    const where = options.context ? `${options.context}: ` : '';
    const what =
      options.which === 'config'
        ? 'config.json (sizes, activation, layer norm eps, positions: docs/format.md §5)'
        : 'tokenizer (vocab.txt, tokenizer.json, merges.txt, vocab.json or its casing settings)';
    super(
      'base-mismatch',
      `${where}the base's ${what} differs from the one the diff was made with: expected ${options.which} sha256 ${options.expected}; found ${options.found}. Use the base directory the diff was trained on (or restore its ${options.which === 'config' ? 'config.json' : 'tokenizer files'})`,
    );
    this.which = options.which;
    this.expected = options.expected;
    this.found = options.found;
  }
}
