import {
  type GroupPenalty,
  InvalidArgumentError,
  type SumSigmoidAttributes,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  checkArray,
  checkFloat32,
  checkSingleElement,
  type GateOptions,
  type ResolvedGate,
  resolveGate,
} from './options.js';

/**
 * The per-element probability that the gate is nonzero, P(z ≠ 0) = σ(logα − β·log(−l/r)).
 * (z > 0 ⟺ s̄ > 0 ⟺ s > −l/(r − l); see `probabilityZero` in the tests for the derivation.)
 */
export function probabilityNonzero(logAlpha: tf.Tensor, options?: GateOptions): tf.Tensor {
  const context = 'probabilityNonzero';
  checkFloat32(logAlpha, 'logAlpha', context);
  const gate = resolveGate(options, context);
  return tf.tidy(() => nonzero(logAlpha, gate));
}

const nonzero = (logAlpha: tf.Tensor, gate: ResolvedGate): tf.Tensor =>
  tf.sigmoid(gate.shift === 0 ? logAlpha : tf.sub(logAlpha, gate.shift));

/**
 * Σ σ(logα − shift) as one op with its own gradient dy·σ(1 − σ) (σ saved from the forward): each way
 * the backend's `DiffpruneSumSigmoid` / `DiffpruneSumSigmoidGrad` kernel where registered (the runtime's
 * JS ones on cpu, the backward on wasm; native's compiled ones), else tfjs ops. Autograd through
 * sigmoid + sum costs ~4 full-size kernels more (measured in bench).
 */
export function sumNonzero(logAlpha: tf.Tensor, gate: ResolvedGate, useKernels = true): tf.Scalar {
  const backend = tf.getBackend();
  const kernels = {
    forward: useKernels && tf.getKernel(sumSigmoidKernelName, backend) !== undefined,
    backward: useKernels && tf.getKernel(sumSigmoidGradKernelName, backend) !== undefined,
  };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    let sum: tf.Tensor;
    let sigma: tf.Tensor;
    if (kernels.forward) {
      const attributes: SumSigmoidAttributes = { shift: gate.shift };
      [sum, sigma] = tf.engine().runKernel(sumSigmoidKernelName, { x }, attributes as never) as [
        tf.Tensor,
        tf.Tensor,
      ];
    } else {
      sigma = nonzero(x, gate);
      sum = tf.sum(sigma);
    }
    save([sigma]);
    return {
      value: sum as tf.Scalar,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const savedSigma = saved[0] as tf.Tensor;
        if (kernels.backward) {
          return tf.engine().runKernel(sumSigmoidGradKernelName, { dy, sigma: savedSigma }) as tf.Tensor;
        }
        return tf.mul(dy, tf.mul(savedSigma, tf.sub(1, savedSigma)));
      },
    };
  });
  return op(logAlpha);
}

/**
 * The expected L0 norm of the gates, Σ_i σ(logα_i − β·log(−l/r)), a float32 scalar. Differentiable:
 * d/dlogα_i = σ_i(1 − σ_i). The diff-pruning objective adds λ times this SUM (not a mean).
 */
export function expectedL0(logAlpha: tf.Tensor, options?: GateOptions): tf.Scalar {
  const context = 'expectedL0';
  checkFloat32(logAlpha, 'logAlpha', context);
  const gate = resolveGate(options, context);
  return tf.tidy(() => sumNonzero(logAlpha, gate));
}

/**
 * How the group (structured) penalty combines a group's element gates with its group gate (the type is
 * core's, part of the kernel contract):
 * - `sum` (the authors' code, `--per_params_alpha 1`; the DEFAULT): Σ_i σ_i + σ_g
 * - `product` (the paper, §3.3): Σ_i σ_i·σ_g
 * with σ = σ(logα − β·log(−l/r)) (the shift is 0 for the default l = −r).
 */
export type { GroupPenalty };
export const groupPenalties: readonly GroupPenalty[] = ['sum', 'product'];
export const defaultGroupPenalty: GroupPenalty = 'sum';

export interface GroupPenaltyOptions extends GateOptions {
  /** Default `sum` (the authors' code); `product` is the paper's formula. */
  groupPenalty?: GroupPenalty;
}

/** `options.groupPenalty`, defaulted and checked (an `InvalidArgumentError` naming `context` otherwise). */
export const resolveGroupPenalty = (
  options: GroupPenaltyOptions | undefined,
  context: string,
): GroupPenalty => {
  const mode = options?.groupPenalty ?? defaultGroupPenalty;
  if (!groupPenalties.includes(mode)) {
    throw new InvalidArgumentError({
      argument: 'groupPenalty',
      expected: `one of ${groupPenalties.map((m) => JSON.stringify(m)).join(', ')}`,
      found: mode,
      context,
    });
  }
  return mode;
};

const groupTerm = (
  logAlpha: tf.Tensor,
  groupLogAlpha: tf.Tensor,
  gate: ResolvedGate,
  mode: GroupPenalty,
): tf.Scalar => {
  const elements = sumNonzero(logAlpha, gate);
  const group = tf.sum(nonzero(groupLogAlpha, gate));
  return (mode === 'sum' ? tf.add(elements, group) : tf.mul(elements, group)) as tf.Scalar;
};

/**
 * The expected L0 penalty of one group (a weight matrix or bias vector with its one group gate), a
 * scalar: `sum` (default, authors' code) Σ_i σ_i + σ_g, or `product` (paper) Σ_i σ_i·σ_g.
 */
export function groupExpectedL0(
  logAlpha: tf.Tensor,
  groupLogAlpha: tf.Tensor,
  options?: GroupPenaltyOptions,
): tf.Scalar {
  const context = 'groupExpectedL0';
  checkFloat32(logAlpha, 'logAlpha', context);
  checkFloat32(groupLogAlpha, 'groupLogAlpha', context);
  checkSingleElement(groupLogAlpha, 'groupLogAlpha', context);
  const gate = resolveGate(options, context);
  const mode = resolveGroupPenalty(options, context);
  return tf.tidy(() => groupTerm(logAlpha, groupLogAlpha, gate, mode));
}

/** One gated tensor: its element gates' logα and, in structured mode, its group gate's logα. */
export interface GatedTensorAlphas {
  logAlpha: tf.Tensor;
  groupLogAlpha?: tf.Tensor;
}

/**
 * The whole penalty of a model: the sum over gated tensors of `expectedL0(logAlpha)` (no group gate)
 * or `groupExpectedL0(logAlpha, groupLogAlpha)` (with one). A float32 scalar, differentiable w.r.t.
 * every logα; multiply by λ (1.25e-7 in the paper) and add to the mean task loss.
 */
export function expectedL0Penalty(
  tensors: readonly GatedTensorAlphas[],
  options?: GroupPenaltyOptions,
): tf.Scalar {
  const context = 'expectedL0Penalty';
  checkArray(tensors, 'tensors', context);
  tensors.forEach((entry, i) => {
    checkFloat32(entry?.logAlpha, `tensors[${i}].logAlpha`, context);
    if (entry.groupLogAlpha !== undefined) {
      checkFloat32(entry.groupLogAlpha, `tensors[${i}].groupLogAlpha`, context);
      checkSingleElement(entry.groupLogAlpha, `tensors[${i}].groupLogAlpha`, context);
    }
  });
  const gate = resolveGate(options, context);
  const mode = resolveGroupPenalty(options, context);
  return tf.tidy(() => {
    if (tensors.length === 0) return tf.scalar(0);
    const groups = tensors.flatMap((t) => (t.groupLogAlpha === undefined ? [] : [t.groupLogAlpha]));
    if (mode === 'sum' && groups.length > 0) {
      // The group terms Σ_g σ(g − shift) are one op computed in JS (float64): one read of each group
      // logα and a handful of tensor creations instead of ~8 scalar kernels per group.
      const elements = tensors.map(({ logAlpha }) => sumNonzero(logAlpha, gate));
      return tf.addN([...elements, sumNonzeroScalars(groups, gate)]) as tf.Scalar;
    }
    const terms = tensors.map(({ logAlpha, groupLogAlpha }) =>
      groupLogAlpha === undefined
        ? sumNonzero(logAlpha, gate)
        : groupTerm(logAlpha, groupLogAlpha, gate, mode),
    );
    return tf.addN(terms) as tf.Scalar;
  });
}

/** Σ_i σ(x_i − shift) over single-element tensors, in JS (float64), with its gradient dy·σ(1 − σ). */
function sumNonzeroScalars(xs: readonly tf.Tensor[], gate: ResolvedGate): tf.Scalar {
  const sigmas = xs.map((x) => 1 / (1 + Math.exp(gate.shift - x.dataSync()[0]!)));
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.scalar(sigmas.reduce((a, b) => a + b, 0)),
    gradFunc: (dy: tf.Tensor) => {
      const upstream = dy.dataSync()[0]!;
      return (args.slice(0, -1) as tf.Tensor[]).map((x, i) =>
        tf.fill(x.shape, upstream * sigmas[i]! * (1 - sigmas[i]!)),
      );
    },
  }));
  return op(...xs) as tf.Scalar;
}
