import { fromFloat32, InvalidArgumentError } from '@diffprune/core';
import { compareNames } from './checks.js';
import { createSha256 } from './sha256.js';
import type { TensorArrays } from './types.js';

export interface FingerprintInput {
  name: string;
  dtype: string;
  shape: readonly number[];
  /** Raw little-endian bytes. */
  data: Uint8Array;
}

const u64 = (value: number) => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
  return bytes;
};
const utf8 = new TextEncoder();

/**
 * sha256 (hex) over the tensors in name order (UTF-8 byte order): for each, u64le(len(name)) name,
 * u64le(len(dtype)) dtype, u64le(ndim) u64le(dim)…, u64le(len(data)) data. Independent of file
 * layout (tensor order, offsets, sharding, metadata). Spelled out in docs/format.md.
 */
export function fingerprintTensors(tensors: readonly FingerprintInput[]): string {
  const sorted = [...tensors].sort((a, b) => compareNames(a.name, b.name));
  const hash = createSha256();
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    if (i > 0 && sorted[i - 1]!.name === t.name)
      throw new InvalidArgumentError({ argument: 'tensors', expected: 'unique names', found: t.name });
    const name = utf8.encode(t.name);
    const dtype = utf8.encode(t.dtype);
    hash.update(u64(name.length));
    hash.update(name);
    hash.update(u64(dtype.length));
    hash.update(dtype);
    hash.update(u64(t.shape.length));
    for (const d of t.shape) hash.update(u64(d));
    hash.update(u64(t.data.byteLength));
    hash.update(t.data);
  }
  return hash.hex();
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
