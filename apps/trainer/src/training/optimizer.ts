import * as tf from '@tensorflow/tfjs-core';

/**
 * Adam (weight decay 0, so AdamW = Adam), as PyTorch computes it:
 *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
 * State is plain tensors so that it can be checkpointed and restored exactly.
 */
export interface AdamState {
  step: number;
  m: Record<string, tf.Tensor>;
  v: Record<string, tf.Tensor>;
}

/** The fused Adam kernel's name (registered by @diffprune/native): inputs p, m, v, g; outputs p', m', v'. */
export const adamKernelName = 'DiffpruneAdam';

export interface AdamOptions {
  betas: [number, number];
  epsilon: number;
}

export function createAdamState(params: Record<string, tf.Tensor>): AdamState {
  const m: Record<string, tf.Tensor> = {};
  const v: Record<string, tf.Tensor> = {};
  for (const [name, p] of Object.entries(params)) {
    m[name] = tf.zerosLike(p);
    v[name] = tf.zerosLike(p);
  }
  return { step: 0, m, v };
}

export function disposeAdamState(state: AdamState): void {
  tf.dispose([...Object.values(state.m), ...Object.values(state.v)]);
}

/**
 * One Adam step over a group, in place on `params` and `state` (old tensors are disposed).
 * Names with no gradient are skipped.
 */
export function adamStep(
  params: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
  state: AdamState,
  learningRate: number,
  options: AdamOptions,
): void {
  state.step += 1;
  const [beta1, beta2] = options.betas;
  const correction1 = 1 - beta1 ** state.step;
  const correction2 = 1 - beta2 ** state.step;
  const stepSize = learningRate / correction1;
  const sqrtCorrection2 = Math.sqrt(correction2);
  // Backends that have the fused kernel (@diffprune/native) do the update in one pass with the same
  // float32 operations; elsewhere the same formula runs as tfjs ops.
  const fused = tf.getKernel(adamKernelName, tf.getBackend()) !== undefined;
  for (const [name, g] of Object.entries(grads)) {
    const p = params[name]!;
    const m = state.m[name]!;
    const v = state.v[name]!;
    const [newP, newM, newV] = fused
      ? (tf
          .engine()
          .runKernel(
            adamKernelName,
            { p, m, v, g },
            { beta1, beta2, stepSize, sqrtCorrection2, epsilon: options.epsilon },
          ) as unknown as tf.Tensor[])
      : tf.tidy(() => {
          const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
          const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
          const denominator = tf.add(tf.div(tf.sqrt(v1), sqrtCorrection2), options.epsilon);
          const p1 = tf.sub(p, tf.mul(tf.div(m1, denominator), stepSize));
          return [p1, m1, v1];
        });
    tf.dispose([p, m, v]);
    params[name] = newP!;
    state.m[name] = newM!;
    state.v[name] = newV!;
  }
}

/**
 * Scales a group's gradients so that their global L2 norm is at most `maxNorm`
 * (torch.nn.utils.clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), applied when below 1).
 * Returns the norm before clipping. Replaces (and disposes) the gradients it scales.
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): number {
  const names = Object.keys(grads);
  if (names.length === 0) return 0;
  const norm = tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))))).dataSync()[0]!);
  const coefficient = maxNorm / (norm + 1e-6);
  if (coefficient < 1) {
    for (const name of names) {
      const scaled = tf.mul(grads[name]!, coefficient);
      grads[name]!.dispose();
      grads[name] = scaled;
    }
  }
  return norm;
}

/** Linear decay from `initial` to 0 over `totalSteps` (no warmup): the rate used for step `step` (0-based). */
export function linearDecay(initial: number, step: number, totalSteps: number): number {
  return initial * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps));
}
