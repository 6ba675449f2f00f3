import { padEncoded, toEncodedBatch } from '@diffprune/bert';
import type { EncodedBatch, TextPairEncoder } from '@diffprune/core';
import { encodeExamples as encodeGlueExamples } from '@diffprune/glue';
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

/**
 * Tokenises once, up front, with glue's `encodeExamples` (the backbone's encoder joins tokenizer and
 * data here: glue never imports a tokenizer); examples without a label (test sets) are refused.
 */
export function encodeExamples(
  encoder: TextPairEncoder,
  examples: readonly LabeledExample[],
  maxLength: number,
): EncodedExample[] {
  examples.forEach((example, i) => {
    if (example.label === null)
      throw new Error(`example ${i} has no label; training and evaluation need labels`);
  });
  const withIds = examples.map((e, i) => ({ id: String(i), ...e }));
  return encodeGlueExamples(withIds, encoder, { maxLength }).map(({ inputIds, tokenTypeIds, label }) => ({
    inputIds,
    tokenTypeIds,
    label: label!,
  }));
}

/** A padded batch (bert's dynamic padding to the longest example, as prediction pads) and its labels. */
export function makeBatch(
  examples: readonly EncodedExample[],
  indices: readonly number[],
  padId: number,
  regression: boolean,
): { batch: EncodedBatch; labels: tf.Tensor1D } {
  const rows = indices.map((i) => examples[i]!);
  const labels = rows.map((r) => r.label);
  return {
    batch: toEncodedBatch(padEncoded(rows, padId)),
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
