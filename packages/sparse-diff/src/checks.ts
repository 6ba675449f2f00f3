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

const utf8 = new TextEncoder();

/**
 * Sorted by UTF-8 bytes (the order the format and the fingerprint use); -1, 0 or 1 as Node's
 * `Buffer.compare` of the UTF-8 encodings (lone surrogates encode as U+FFFD in both), without Buffer
 * so that it runs in the browser.
 */
export function compareNames(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}
