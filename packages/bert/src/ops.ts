import { dropoutMask, ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { BertActivation } from './config.js';
import { rowAffine, rowEmbedding, rowLinear, rowParameterOf } from './row-parameters.js';

/**
 * The math of the BERT forward, as small named ops: the one place to swap in fused kernels.
 * Every op is differentiable and allocates only through tfjs ops (callers run them inside
 * `tf.tidy`). Linear, LayerNorm, GELU, the masked softmax and dropout carry hand-written gradients
 * (`tf.customGrad`) so that backprop keeps one or two tensors per op instead of every intermediate;
 * the tests check them against autograd through the plain composites.
 */

/** x·Wᵀ + b on [n, in]; backprop keeps x and W only (autograd would also keep x·Wᵀ for the bias add). */
const linearWithGradient = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, weight, bias, save] = inputs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
  save([x, weight]);
  return {
    value: tf.add(tf.matMul(x, weight, false, true), bias),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [input, w] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      return [tf.matMul(g, w), tf.matMul(g, input, true, false), tf.sum(g, 0)];
    },
  };
});

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
  const flat = (x.rank === 2 ? x : tf.reshape(x, [-1, inFeatures])) as tf.Tensor2D;
  const weightRows = rowParameterOf(weight);
  const biasRows = bias && rowParameterOf(bias);
  const y =
    weightRows || biasRows
      ? rowLinear(flat, weight, bias, weightRows, biasRows)
      : bias
        ? linearWithGradient(flat, weight as tf.Tensor2D, bias as tf.Tensor1D)
        : tf.matMul(flat, weight as tf.Tensor2D, false, true);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outFeatures]);
}

/**
 * LayerNorm(x + residual) over the last axis on [n, h], with its gradient written out: backprop keeps
 * x̂ and 1/σ only. dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ; dγ = Σ dy·x̂; dβ = Σ dy.
 */
const layerNormWithGradient = (eps: number) =>
  tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, residual, gamma, beta, save] = inputs as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      tf.Tensor1D,
      tf.GradSaveFunc,
    ];
    const sum = tf.add(x, residual);
    const mean = tf.mean(sum, 1, true);
    const centred = tf.sub(sum, mean);
    const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), 1, true), eps));
    const normalised = tf.mul(centred, inverseStd);
    save([normalised, inverseStd, gamma]);
    return {
      value: tf.add(tf.mul(normalised, gamma), beta),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, invStd, g] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dxHat = tf.mul(dy, g);
        const dx = tf.mul(
          invStd,
          tf.sub(tf.sub(dxHat, tf.mean(dxHat, 1, true)), tf.mul(xHat, tf.mean(tf.mul(dxHat, xHat), 1, true))),
        );
        return [dx, dx, tf.sum(tf.mul(dy, xHat), 0), tf.sum(dy, 0)];
      },
    };
  });
const layerNormKernels = new Map<number, ReturnType<typeof layerNormWithGradient>>();

/**
 * Layer normalisation over the last axis (biased variance, as PyTorch): (x − μ)/√(σ² + eps)·γ + β,
 * of `x + residual` when a residual is given (BERT's post-LN sublayer output).
 */
export function layerNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  residual?: tf.Tensor,
): tf.Tensor {
  const hidden = x.shape[x.rank - 1]!;
  if (gamma.size !== hidden || beta.size !== hidden) {
    throw new ShapeMismatchError({
      tensor: 'gamma/beta',
      expected: [hidden],
      found: gamma.shape,
      context: 'layerNorm',
    });
  }
  const gammaRows = rowParameterOf(gamma);
  const betaRows = rowParameterOf(beta);
  if (gammaRows || betaRows) {
    // Per-row γ/β (cross-task inference): the kernel's normalisation, then each row's affine.
    const sum = tf.reshape(residual ? tf.add(x, residual) : x, [-1, hidden]);
    const centred = tf.sub(sum, tf.mean(sum, 1, true));
    const normalised = tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), 1, true), eps)));
    return tf.reshape(rowAffine(normalised as tf.Tensor2D, gamma, beta, gammaRows, betaRows), x.shape);
  }
  let kernel = layerNormKernels.get(eps);
  if (!kernel) {
    kernel = layerNormWithGradient(eps);
    layerNormKernels.set(eps, kernel);
  }
  const flat = tf.reshape(x, [-1, hidden]) as tf.Tensor2D;
  const flatResidual = residual ? (tf.reshape(residual, [-1, hidden]) as tf.Tensor2D) : tf.zerosLike(flat);
  return tf.reshape(kernel(flat, flatResidual, gamma as tf.Tensor1D, beta as tf.Tensor1D), x.shape);
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

/** softmax(scores + mask) over the last axis; backprop keeps the probabilities only. */
const maskedSoftmax = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [scores, mask, save] = inputs as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  const probabilities = tf.softmax(tf.add(scores, mask), -1);
  save([probabilities]);
  return {
    value: probabilities,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [y] = saved as [tf.Tensor];
      return [tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true))), tf.zerosLike(mask)];
    },
  };
});

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
  // The 1/√d scale is applied to q (size of the hidden states), not to the scores (length² per head).
  const q = splitHeads(tf.mul(query, 1 / Math.sqrt(hidden / heads)), heads);
  const k = splitHeads(key, heads);
  const v = splitHeads(value, heads);
  const probabilities = dropout(maskedSoftmax(tf.matMul(q, k, false, true), additiveMask));
  const context = tf.matMul(probabilities as tf.Tensor4D, v);
  return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, hidden]);
}

/**
 * x ⊙ mask/(1 − rate) with a seeded Bernoulli mask (core's `dropoutMask`: counter-based uniforms, one
 * kernel, the same mask on every backend); backprop keeps the scaled mask only.
 */
const dropoutWithGradient = (rate: number, seed: number) =>
  tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = inputs as [tf.Tensor, tf.GradSaveFunc];
    const scaledMask = dropoutMask(x.shape, rate, seed);
    save([scaledMask]);
    return {
      value: tf.mul(x, scaledMask),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!),
    };
  });

/**
 * Inverted dropout with a fixed seed: zeroes each entry with probability `rate` and scales the rest
 * by 1/(1 − rate). The same seed (an integer in [0, 2^32)) gives the same mask, on every backend.
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x;
  return dropoutWithGradient(rate, seed)(x);
}

/** Embedding look-up: rows of `table` [vocabulary, hidden] for int32 `ids` [...]. */
export function embedding(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const rows = rowParameterOf(table);
  return rows ? rowEmbedding(table, ids, rows) : tf.gather(table, ids);
}

/**
 * Row 0 of `table` [V, H] as [1, H] (absent token types are all 0, as HF), or [batch, 1, H] when the
 * table has per-row values.
 */
export function firstRow(table: tf.Tensor): tf.Tensor {
  const rows = rowParameterOf(table);
  if (!rows) return tf.slice(table, [0, 0], [1, -1]);
  return rowEmbedding(table, tf.zeros([1], 'int32'), rows);
}
