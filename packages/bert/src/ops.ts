import { ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { BertActivation } from './config.js';

/**
 * The math of the BERT forward, as small named ops: the one place to swap in fused kernels.
 * Every op is differentiable with tfjs autograd and allocates only through tfjs ops (callers run
 * them inside `tf.tidy`).
 */

/** `x · weightᵀ + bias` over the last axis; `weight` is HF's Linear layout [out, in]. */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | undefined): tf.Tensor {
  const inFeatures = x.shape[x.rank - 1]!;
  if (weight.rank !== 2 || weight.shape[1] !== inFeatures) {
    throw new ShapeMismatchError({
      tensor: 'weight',
      expected: [weight.shape[0] ?? -1, inFeatures],
      found: weight.shape,
      context: 'linear',
    });
  }
  const outFeatures = weight.shape[0]!;
  const flat = x.rank === 2 ? x : tf.reshape(x, [-1, inFeatures]);
  let y: tf.Tensor = tf.matMul(flat as tf.Tensor2D, weight as tf.Tensor2D, false, true);
  if (bias) y = tf.add(y, bias);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
}

/** Layer normalisation over the last axis (biased variance, as PyTorch): (x − μ)/√(σ² + eps)·γ + β. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), axis, true);
  const normalised = tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normalised, gamma), beta);
}

/** Φ(x) = 0.5·(1 + erf(x/√2)). */
const normalCdf = (x: tf.Tensor) => tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);

/**
 * GELU with its gradient written out, Φ(x) + x·φ(x), so that backprop keeps only x (autograd through
 * the composite would keep four more tensors of the FFN's size per layer).
 */
const geluWithGradient = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = inputs as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return {
    value: tf.mul(x, normalCdf(x)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [input] = saved as [tf.Tensor];
      const density = tf.mul(tf.exp(tf.mul(tf.square(input), -0.5)), 1 / Math.sqrt(2 * Math.PI));
      return tf.mul(dy, tf.add(normalCdf(input), tf.mul(input, density)));
    },
  };
});

/** The exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (HF `gelu`). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return geluWithGradient(x);
}

/** The tanh approximation of GELU (HF `gelu_new`, `gelu_pytorch_tanh`). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** The activation named by a config's `hidden_act`. */
export function activation(name: BertActivation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh(x);
    case 'relu':
      return tf.relu(x);
  }
}

/** The smallest float32: HF's `torch.finfo(dtype).min`, added to masked attention scores. */
export const maskedScore = -3.4028234663852886e38;

/**
 * The additive attention mask [batch, 1, 1, length]: 0 where `attentionMask` is 1, the float32
 * minimum where it is 0 (padding), as HF's `get_extended_attention_mask`.
 */
export function additiveAttentionMask(attentionMask: tf.Tensor2D): tf.Tensor4D {
  const [batch, length] = attentionMask.shape;
  const keep = tf.cast(attentionMask, 'float32');
  return tf.reshape(tf.mul(tf.sub(1, keep), maskedScore), [batch, 1, 1, length]);
}

/** [batch, length, heads·size] → [batch, heads, length, size]. */
const splitHeads = (x: tf.Tensor, heads: number): tf.Tensor4D => {
  const [batch, length, hidden] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [batch, length, heads, hidden / heads]), [0, 2, 1, 3]);
};

/**
 * Scaled dot-product attention over `heads` heads: softmax(q·kᵀ/√d + mask)·v, with `dropout`
 * applied to the attention probabilities. q, k, v: [batch, length, hidden]; returns the same shape.
 */
export function multiHeadAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  additiveMask: tf.Tensor4D,
  heads: number,
  dropout: (probabilities: tf.Tensor) => tf.Tensor = (p) => p,
): tf.Tensor {
  const [batch, length, hidden] = query.shape as [number, number, number];
  const q = splitHeads(query, heads);
  const k = splitHeads(key, heads);
  const v = splitHeads(value, heads);
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hidden / heads)), additiveMask);
  const probabilities = dropout(tf.softmax(scores, -1));
  const context = tf.matMul(probabilities as tf.Tensor4D, v);
  return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, hidden]);
}

/**
 * Inverted dropout with a fixed seed: zeroes each entry with probability `rate` and scales the rest
 * by 1/(1 − rate). The same seed gives the same mask.
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x;
  const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate), 'float32');
  return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
}

/** Embedding look-up: rows of `table` [vocabulary, hidden] for int32 `ids` [...]. */
export function embedding(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  return tf.gather(table, ids);
}
