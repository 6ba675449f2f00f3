import type { EncodedBatch, EncodedText, TextPairEncoder } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/** An encoded batch as plain arrays, padded to its longest example (dynamic padding). */
export interface PaddedBatch {
  inputIds: number[][];
  tokenTypeIds: number[][];
  attentionMask: number[][];
}

/** Pads encoded examples to the longest (dynamic padding). */
export function padEncoded(encoded: readonly EncodedText[], padId: number): PaddedBatch {
  const length = Math.max(0, ...encoded.map((e) => e.inputIds.length));
  const batch: PaddedBatch = { inputIds: [], tokenTypeIds: [], attentionMask: [] };
  for (const e of encoded) {
    const pad = length - e.inputIds.length;
    batch.inputIds.push([...e.inputIds, ...new Array<number>(pad).fill(padId)]);
    batch.tokenTypeIds.push([...e.tokenTypeIds, ...new Array<number>(pad).fill(0)]);
    batch.attentionMask.push([
      ...new Array<number>(e.inputIds.length).fill(1),
      ...new Array<number>(pad).fill(0),
    ]);
  }
  return batch;
}

/** int32 tensors [batch, length] of a padded batch (the caller disposes them). */
export function toEncodedBatch(batch: PaddedBatch): EncodedBatch {
  const shape: [number, number] = [batch.inputIds.length, batch.inputIds[0]?.length ?? 0];
  const flat = (rows: number[][]) => Int32Array.from(rows.flat());
  return {
    inputIds: tf.tensor2d(flat(batch.inputIds), shape, 'int32'),
    tokenTypeIds: tf.tensor2d(flat(batch.tokenTypeIds), shape, 'int32'),
    attentionMask: tf.tensor2d(flat(batch.attentionMask), shape, 'int32'),
  };
}

/**
 * Encodes text pairs with any backbone encoder and pads them into int32 tensors [batch, longest]
 * (dynamic padding). The caller disposes the tensors.
 */
export function encodePairs(
  encoder: TextPairEncoder,
  pairs: readonly (readonly [string, string | null])[],
  options: { maxLength: number },
): EncodedBatch {
  return toEncodedBatch(
    padEncoded(
      pairs.map(([a, b]) => encoder.encode(a, b, options)),
      encoder.padId,
    ),
  );
}
