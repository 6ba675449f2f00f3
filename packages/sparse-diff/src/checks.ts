import { InvalidArgumentError } from '@diffprune/core';
import { indexEncodings } from './encodings.js';
import type { IndexEncoding } from './types.js';

/**
 * `record[name]` when `record` has it as an own property, else undefined: tensor names are data, so
 * `constructor`, `toString` or `__proto__` must not find Object.prototype's members.
 */
export const own = <T>(record: Readonly<Record<string, T>>, name: string): T | undefined =>
  Object.hasOwn(record, name) ? record[name] : undefined;

/** Sets `record[name]` as an own data property (a plain assignment to `__proto__` would change the prototype). */
export function setOwn<R extends Record<string, unknown>>(record: R, name: string, value: R[string]): void {
  Object.defineProperty(record, name, { value, writable: true, enumerable: true, configurable: true });
}

/** A tensor map without a prototype (so no name collides with Object.prototype), holding `from`'s own entries. */
export function tensorMap<T>(from: Readonly<Record<string, T>> = {}): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const name of Object.keys(from)) setOwn(out, name, from[name]!);
  return out;
}

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
