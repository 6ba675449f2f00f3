import { access } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkFinite,
  MissingResourceError,
  readSafetensors,
  readShardIndex,
  type SafetensorsTensor,
  toFloat32,
} from '@diffprune/core';
import { fingerprintTensors } from './fingerprint.js';

// Node only: checkpoints on disk. The fingerprint itself (fingerprintTensors) is browser-safe.

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * The safetensors files of an HF-layout checkpoint: `model.safetensors`, or the shards of its index
 * (each name checked by core's `readShardIndex`: no `..`, separators, absolute paths or non-strings).
 */
export async function checkpointWeightFiles(directory: string): Promise<string[]> {
  const single = join(directory, 'model.safetensors');
  if (await exists(single)) return [single];
  const indexPath = join(directory, 'model.safetensors.index.json');
  if (await exists(indexPath))
    return (await readShardIndex(indexPath)).sort().map((file) => join(directory, file));
  throw new MissingResourceError({
    resource: `${single} (or model.safetensors.index.json)`,
    hint: 'A base directory is an HF-layout checkpoint: config.json + model.safetensors',
  });
}

const floatDtypes = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * Every tensor of an HF-layout checkpoint's safetensors file(s), with raw bytes. Float tensors
 * holding NaN or ±Infinity are refused (`NonFiniteValueError` naming tensor, file and position)
 * unless `finite: false` (as `fingerprintCheckpoint` does: a fingerprint is identity, not use).
 */
export async function readCheckpointTensors(
  directory: string,
  options: { finite?: boolean } = {},
): Promise<SafetensorsTensor[]> {
  const tensors: SafetensorsTensor[] = [];
  for (const file of await checkpointWeightFiles(directory)) {
    if (!(await exists(file))) throw new MissingResourceError({ resource: file });
    const read = (await readSafetensors(file)).tensors;
    if (options.finite !== false)
      for (const t of read)
        if (floatDtypes.has(t.dtype)) checkFinite(toFloat32(t), { tensor: t.name, path: file });
    tensors.push(...read);
  }
  return tensors;
}

/** `fingerprintTensors` over every tensor of the checkpoint in `directory`. */
export async function fingerprintCheckpoint(directory: string): Promise<string> {
  return fingerprintTensors(await readCheckpointTensors(directory, { finite: false }));
}
