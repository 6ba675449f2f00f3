import { describe, expect, it } from 'vitest';
import {
  CheckpointMismatchError,
  DiffpruneError,
  describeFailure,
  FormatError,
  InterruptedError,
  InvalidArgumentError,
  ShapeMismatchError,
} from './errors.js';

describe('errors', () => {
  it('recognises its own errors by marker, not prototype', () => {
    const error = new InvalidArgumentError({ argument: 'beta', expected: 'a number > 0', found: -1 });
    expect(DiffpruneError.isInstance(error)).toBe(true);
    expect(DiffpruneError.isInstance(new Error('x'))).toBe(false);
    expect(DiffpruneError.isInstance({ ...error })).toBe(true);
    expect(DiffpruneError.isInstance(null)).toBe(false);
    expect(error.code).toBe('invalid-argument');
    expect(error.name).toBe('InvalidArgumentError');
  });

  it('says what was expected and what was found', () => {
    const error = new InvalidArgumentError({
      argument: 'beta',
      expected: 'a number > 0',
      found: -1,
      context: 'sampleGate',
    });
    expect(error.message).toBe('sampleGate: beta must be a number > 0; found -1');
    const shape = new ShapeMismatchError({ tensor: 'u', expected: [2, 3], found: [3, 2] });
    expect(shape.message).toBe('u must have shape [2, 3]; found [3, 2]');
    const format = new FormatError({ path: 'a.safetensors', expected: 'at least 8 bytes', found: '3 bytes' });
    expect(format.message).toBe('a.safetensors: expected at least 8 bytes; found 3 bytes');
  });

  it('lists every checkpoint problem at once', () => {
    const error = new CheckpointMismatchError({
      source: 'dir',
      missing: ['a', 'b'],
      unexpected: ['c'],
      mismatched: [{ name: 'd', expected: [2], found: [3] }],
    });
    expect(error.message).toContain('missing (2): a, b');
    expect(error.message).toContain('unexpected (1): c');
    expect(error.message).toContain('d: expected shape [2], found [3]');
    expect(error.missing).toEqual(['a', 'b']);
  });
});

describe('describeFailure (issue #15: one line, never a stack, for the CLIs)', () => {
  it('130 only for an interruption; an untyped error is one line too, exit 1', () => {
    expect(describeFailure(new InterruptedError('stopped'), {}).exitCode).toBe(130);
    const typed = new InvalidArgumentError({ argument: '--x', expected: 'a number', found: 'y' });
    expect(describeFailure(typed, {})).toEqual({ text: `diffprune: ${typed.message}\n`, exitCode: 1 });
    const bug = describeFailure(new TypeError('boom\nsecond line'), {});
    expect(bug.exitCode).toBe(1);
    expect(bug.text).toMatch(/^diffprune: unexpected error: boom \(.*DIFFPRUNE_DEBUG=1.*\)\n$/);
    expect(describeFailure(new TypeError('boom'), { DIFFPRUNE_DEBUG: '1' }).text).toMatch(/\n\s+at /);
  });
});
