import { readLocalFile, writeFileAtomic } from '@diffprune/core';
import { decodeDiff, encodeDiff, type ReadDiffOptions } from './file.js';
import type { SparseDiff } from './types.js';

// Node only: diff files on disk. The format (encodeDiff, decodeDiff) is in file.ts, browser-safe.

/** Writes the diff atomically (temporary file beside `path`, then rename). */
export async function writeDiff(path: string, diff: SparseDiff): Promise<void> {
  await writeFileAtomic(path, encodeDiff(diff));
}

/**
 * Reads and fully validates a diff: the safetensors structure, the metadata, the table, every
 * stored tensor's dtype and shape, and every index stream (range, strict increase, nnz). Given a
 * path it returns a promise; given bytes it returns the diff.
 */
export function readDiff(path: string, options?: ReadDiffOptions): Promise<SparseDiff>;
export function readDiff(bytes: Uint8Array, options?: ReadDiffOptions): SparseDiff;
export function readDiff(
  source: string | Uint8Array,
  options: ReadDiffOptions = {},
): Promise<SparseDiff> | SparseDiff {
  if (typeof source === 'string') {
    return readLocalFile(source, { what: 'diff file' }).then((buffer) =>
      decodeDiff(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), {
        ...options,
        path: source,
      }),
    );
  }
  return decodeDiff(source, options);
}
