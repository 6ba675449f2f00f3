import type { EncodedBatch, TextPairEncoder } from '@diffprune/core';
import type { TensorArrays } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';

/** What the trainer needs of an example (GLUE's `GlueExample` fits). */
export interface LabeledExample {
  textA: string;
  textB: string | null;
  label: number | null;
}

export interface EncodedExample {
  inputIds: number[];
  tokenTypeIds: number[];
  label: number;
}

/** Tokenises once, up front; examples without a label (test sets) are refused here. */
export function encodeExamples(
  encoder: TextPairEncoder,
  examples: readonly LabeledExample[],
  maxLength: number,
): EncodedExample[] {
  return examples.map((example, i) => {
    if (example.label === null)
      throw new Error(`example ${i} has no label; training and evaluation need labels`);
    const encoded = encoder.encode(example.textA, example.textB, { maxLength });
    return { inputIds: encoded.inputIds, tokenTypeIds: encoded.tokenTypeIds, label: example.label };
  });
}

/** A padded batch (dynamic padding to the longest example) and its labels. */
export function makeBatch(
  examples: readonly EncodedExample[],
  indices: readonly number[],
  padId: number,
  regression: boolean,
): { batch: EncodedBatch; labels: tf.Tensor1D } {
  const rows = indices.map((i) => examples[i]!);
  const length = Math.max(...rows.map((r) => r.inputIds.length));
  const ids = new Int32Array(rows.length * length).fill(padId);
  const types = new Int32Array(rows.length * length);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((row, r) => {
    ids.set(row.inputIds, r * length);
    types.set(row.tokenTypeIds, r * length);
    mask.fill(1, r * length, r * length + row.inputIds.length);
  });
  const labels = rows.map((r) => r.label);
  return {
    batch: {
      inputIds: tf.tensor2d(ids, [rows.length, length], 'int32'),
      tokenTypeIds: tf.tensor2d(types, [rows.length, length], 'int32'),
      attentionMask: tf.tensor2d(mask, [rows.length, length], 'int32'),
    },
    labels: regression ? tf.tensor1d(labels, 'float32') : tf.tensor1d(labels, 'int32'),
  };
}

export function disposeBatch(batch: EncodedBatch, labels?: tf.Tensor): void {
  tf.dispose([batch.inputIds, batch.tokenTypeIds, batch.attentionMask, ...(labels ? [labels] : [])]);
}

/** Mean cross-entropy (classification) or mean squared error (regression, one output), as HF computes them. */
export function taskLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, regression: boolean): tf.Scalar {
  return tf.tidy(() => {
    if (regression) return tf.mean(tf.square(tf.sub(tf.reshape(logits, [-1]), labels))) as tf.Scalar;
    const logProbabilities = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbabilities, tf.oneHot(labels, logits.shape[1])), 1);
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

/**
 * Float32 copies of parameters, as sparse-diff takes them (`TensorArrays`). bert's
 * `parametersToArrays` does the same but types shapes as readonly, which sparse-diff does not accept.
 */
export async function parameterArrays(params: Record<string, tf.Tensor>): Promise<TensorArrays> {
  const out: TensorArrays = {};
  for (const [name, tensor] of Object.entries(params)) {
    out[name] = { shape: [...tensor.shape], values: (await tensor.data()) as Float32Array };
  }
  return out;
}
