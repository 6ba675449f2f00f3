import { InvalidArgumentError } from '@diffprune/core';
import { indexEncodings } from './encodings.js';
import type { IndexEncoding } from './types.js';

export const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Sparse positions are stored as uint32: tensors up to 2^32 elements. */
export const maxSparseElements = 2 ** 32;

export function checkIndexEncoding(value: string, argument = 'indexEncoding'): IndexEncoding {
  if ((indexEncodings as readonly string[]).includes(value)) return value as IndexEncoding;
  throw new InvalidArgumentError({ argument, expected: `one of ${indexEncodings.join(', ')}`, found: value });
}

/** Sorted by UTF-8 bytes (the order the format and the fingerprint use). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
