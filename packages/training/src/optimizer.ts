// The fused kernels' contract (`DiffpruneAdam`, `DiffpruneSumSquares`: @diffprune/native registers them).
import { adamKernelName, sumSquaresKernelName } from '@diffprune/core';
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

export interface AdamOptions {
  betas: [number, number];
  epsilon: number;
  /**
   * Multiplies every gradient first (global-norm clipping's coefficient, from `clipCoefficient`);
   * default 1. The same float32 product as scaling the gradients beforehand.
   */
  gradScale?: number;
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
 * One Adam step over a group, in place on `params` and `state`: with the fused kernel (one call for
 * the whole group) the tensors' own data is updated where no other tensor shares it; otherwise new
 * tensors replace the old ones (which are disposed). Names with no gradient are skipped.
 */
export function adamStep(
  params: Record<string, tf.Tensor>,
  grads: Record<string, tf.Tensor>,
  state: AdamState,
  learningRate: number,
  options: AdamOptions,
): void {
  adamStepParts([{ params, grads, state }], learningRate, options);
}

/** One part of an optimiser group for `adamStepParts`: its parameters, their gradients and its state. */
export interface AdamPart {
  params: Record<string, tf.Tensor>;
  grads: Record<string, tf.Tensor>;
  state: AdamState;
}

/**
 * `adamStep` for an optimiser group kept as several parts (the trainer's roles: θ and w, logα and group
 * logα), each with its own state: every part's step counter advances, and where the counters agree
 * (always, in the trainer) the whole group is ONE fused kernel call — the same elementwise float32 math
 * per parameter as one call per part, so the same values to the bit.
 */
export function adamStepParts(parts: readonly AdamPart[], learningRate: number, options: AdamOptions): void {
  for (const { state } of parts) state.step += 1;
  const steps = new Set(parts.map(({ state }) => state.step));
  if (steps.size > 1) {
    // Parts at different steps have different bias corrections: one call each.
    for (const part of parts) {
      part.state.step -= 1;
      adamStepParts([part], learningRate, options);
    }
    return;
  }
  const step = parts[0]?.state.step ?? 0;
  const [beta1, beta2] = options.betas;
  const correction1 = 1 - beta1 ** step;
  const correction2 = 1 - beta2 ** step;
  const stepSize = learningRate / correction1;
  const sqrtCorrection2 = Math.sqrt(correction2);
  // Backends that have the fused kernel (@diffprune/native) update the whole group in one call with the
  // same float32 operations; elsewhere the same formula runs as tfjs ops, tensor by tensor.
  const gradScale = options.gradScale ?? 1;
  const entries = parts.flatMap((part) => Object.keys(part.grads).map((name) => ({ part, name })));
  if (entries.length === 0) return;
  if (tf.getKernel(adamKernelName, tf.getBackend()) !== undefined) {
    const inputs: tf.Tensor[] = entries.flatMap(({ part, name }) => [
      part.params[name]!,
      part.state.m[name]!,
      part.state.v[name]!,
      part.grads[name]!,
    ]);
    const outputs = tf.engine().runKernel(adamKernelName, inputs as unknown as tf.NamedTensorMap, {
      beta1,
      beta2,
      stepSize,
      sqrtCorrection2,
      epsilon: options.epsilon,
      gradScale,
      inPlace: true,
    }) as unknown as tf.Tensor[];
    if (outputs.length === 0) return; // updated in place
    for (const [i, { part, name }] of entries.entries())
      replace(part.params, part.state, name, outputs.slice(3 * i, 3 * i + 3));
    return;
  }
  for (const { part, name } of entries) {
    const g = part.grads[name]!;
    const p = part.params[name]!;
    const m = part.state.m[name]!;
    const v = part.state.v[name]!;
    const outputs = tf.tidy(() => {
      const scaled = gradScale === 1 ? g : tf.mul(g, gradScale);
      const m1 = tf.add(tf.mul(m, beta1), tf.mul(scaled, 1 - beta1));
      const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(scaled), 1 - beta2));
      const denominator = tf.add(tf.div(tf.sqrt(v1), sqrtCorrection2), options.epsilon);
      const p1 = tf.sub(p, tf.mul(tf.div(m1, denominator), stepSize));
      return [p1, m1, v1];
    });
    replace(part.params, part.state, name, outputs);
  }
}

/** Puts a parameter's new p, m and v in place of the old ones (which are disposed). */
function replace(
  params: Record<string, tf.Tensor>,
  state: AdamState,
  name: string,
  [p, m, v]: tf.Tensor[],
): void {
  tf.dispose([params[name]!, state.m[name]!, state.v[name]!]);
  params[name] = p!;
  state.m[name] = m!;
  state.v[name] = v!;
}

/** The global L2 norm of a group's gradients (one fused pass with @diffprune/native's kernel). */
export function globalNorm(grads: Record<string, tf.Tensor> | readonly tf.Tensor[]): number {
  const tensors = Array.isArray(grads) ? grads : Object.values(grads);
  if (tensors.length === 0) return 0;
  if (tf.getKernel(sumSquaresKernelName, tf.getBackend()) !== undefined) {
    const inputs: tf.NamedTensorMap = {};
    tensors.forEach((tensor, i) => {
      inputs[`x${i}`] = tensor;
    });
    const total = tf.engine().runKernel(sumSquaresKernelName, inputs, {}) as tf.Tensor;
    const sum = total.dataSync()[0]!;
    total.dispose();
    return Math.sqrt(sum);
  }
  return tf.tidy(() => tf.sqrt(tf.addN(tensors.map((t) => tf.sum(tf.square(t))))).dataSync()[0]!);
}

/**
 * Global-norm clipping's coefficient (torch.nn.utils.clip_grad_norm_): maxNorm / (norm + 1e-6)
 * when that is below 1, else 1. Pass it to `adamStep` as `gradScale`.
 */
export function clipCoefficient(
  grads: Record<string, tf.Tensor> | readonly tf.Tensor[],
  maxNorm: number,
): { norm: number; scale: number } {
  const norm = globalNorm(grads);
  const coefficient = maxNorm / (norm + 1e-6);
  return { norm, scale: Math.min(coefficient, 1) };
}

/**
 * Scales a group's gradients so that their global L2 norm is at most `maxNorm`
 * (torch.nn.utils.clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), applied when below 1).
 * Returns the norm before clipping. Replaces (and disposes) the gradients it scales. (The trainer
 * passes `clipCoefficient`'s scale to `adamStep` instead: the same values, one pass fewer.)
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): number {
  const { norm, scale } = clipCoefficient(grads, maxNorm);
  if (scale < 1) {
    for (const name of Object.keys(grads)) {
      const scaled = tf.mul(grads[name]!, scale);
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
