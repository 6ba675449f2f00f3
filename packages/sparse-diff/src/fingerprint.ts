import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkFinite,
  fromFloat32,
  InvalidArgumentError,
  MissingResourceError,
  readSafetensors,
  readShardIndex,
  type SafetensorsTensor,
  toFloat32,
} from '@diffprune/core';
import { compareNames } from './checks.js';
import type { TensorArrays } from './types.js';

export interface FingerprintInput {
  name: string;
  dtype: string;
  shape: readonly number[];
  /** Raw little-endian bytes. */
  data: Uint8Array;
}

const u64 = (value: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
};

/**
 * sha256 (hex) over the tensors in name order (UTF-8 byte order): for each, u64le(len(name)) name,
 * u64le(len(dtype)) dtype, u64le(ndim) u64le(dim)…, u64le(len(data)) data. Independent of file
 * layout (tensor order, offsets, sharding, metadata). Spelled out in docs/format.md.
 */
export function fingerprintTensors(tensors: readonly FingerprintInput[]): string {
  const sorted = [...tensors].sort((a, b) => compareNames(a.name, b.name));
  const hash = createHash('sha256');
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    if (i > 0 && sorted[i - 1]!.name === t.name)
      throw new InvalidArgumentError({ argument: 'tensors', expected: 'unique names', found: t.name });
    const name = Buffer.from(t.name, 'utf8');
    const dtype = Buffer.from(t.dtype, 'utf8');
    hash.update(u64(name.length));
    hash.update(name);
    hash.update(u64(dtype.length));
    hash.update(dtype);
    hash.update(u64(t.shape.length));
    for (const d of t.shape) hash.update(u64(d));
    hash.update(u64(t.data.byteLength));
    hash.update(t.data);
  }
  return hash.digest('hex');
}

/** The fingerprint of float32 parameters, as if stored as F32 (equal to the checkpoint's if it is F32). */
export function fingerprintTensorArrays(tensors: TensorArrays): string {
  return fingerprintTensors(
    Object.entries(tensors).map(([name, t]) => ({
      name,
      dtype: 'F32',
      shape: t.shape,
      data: fromFloat32(t.values, 'F32'),
    })),
  );
}

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
