import { writeFileAtomic } from './atomic.js';
import { readLocalFile } from './files.js';
import {
  parseSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
  serializeSafetensors,
} from './safetensors.js';

// Node only: safetensors files on disk. The format itself (parse, serialise) is in safetensors.ts,
// which the browser entry exports.

/** Reads and parses a safetensors file. */
export async function readSafetensors(
  path: string,
  options: { maxHeaderBytes?: number; maxTensors?: number } = {},
): Promise<SafetensorsFile> {
  const bytes = await readLocalFile(path, { what: 'safetensors file' });
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
    ...options,
    path,
  });
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export async function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsTensor[],
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
