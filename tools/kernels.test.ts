/**
 * Every custom kernel a backend registers, against its composite reference, on every backend the
 * process can start: one table (issue #14). A row runs an op once with the active backend's kernel and
 * once without it — the kernel unregistered for the call, so the op runs its composite (tfjs ops or
 * JS), or an explicit reference where the op has no other path — and compares every output.
 * `diffpruneKernelNames` (core's kernel contract) must all be rows, so a new kernel cannot go untested.
 */

import { sparseRowDelta, sparseRowLinear } from '@diffprune/bert';
import {
  adamKernelName,
  diffpruneKernelNames,
  dropoutMask,
  dropoutMaskKernelName,
  gatedDiffsGradKernelName,
  gatedDiffsKernelName,
  sparseRowDeltaKernelName,
  sparseRowLinearKernelName,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
  sumSquaresKernelName,
} from '@diffprune/core';
import { expectedL0, type GatedTensor, gatedDiffParameters, sampleUniform } from '@diffprune/hard-concrete';
import { describeEachBackend } from '@diffprune/runtime/test';
import { adamStep, createAdamState, globalNorm } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

/** A row: the kernels it exercises, and the op whose outputs (flat arrays) are compared. */
interface KernelCase {
  name: string;
  /** Kernel names this row covers (all unregistered for the composite run). */
  kernels: readonly string[];
  run: () => Float64Array[];
  /** An explicit reference, where the op has no composite of its own (else: the op without the kernels). */
  reference?: () => Float64Array[];
  /** Largest |a − b| relative to the largest |b|, per output. */
  tolerance: (backend: string) => number;
}

const toArrays = (tensors: tf.Tensor[]): Float64Array[] => {
  const arrays = tensors.map((t) => Float64Array.from(t.dataSync()));
  tf.dispose(tensors);
  return arrays;
};

/** Inputs of the rows, created on the backend under test. */
let data: Record<string, tf.Tensor> = {};

const gatedTensors = (xs: tf.Tensor[]): GatedTensor[] => [
  // A "token embedding" gated on some rows (one repeated), from a seed, with a group gate.
  {
    base: data.base0!,
    w: xs[0]!,
    logAlpha: xs[1]!,
    seed: 11,
    groupLogAlpha: xs[4]!,
    groupU: data.groupU!,
    rows: [3, 17, 3, 0],
  },
  // A dense tensor with explicit noise.
  { base: data.base1!, w: xs[2]!, logAlpha: xs[3]!, u: data.u1! },
];

/**
 * Four task slots' δs of an [8, 11, 9] → 11 features linear (flat positions i·9 + j): slot 2 has six
 * rows (66 tokens: more than one chunk of 64 natively), slot 1 no row, slot 3 no δ (its row's
 * correction is 0); slot 2's entries are out of order, with a repeated position.
 */
const rowSlots = Int32Array.of(2, 0, 2, 3, 2, 2, 2, 2);
const slotDeltas = [
  { indices: Uint32Array.of(0, 65), values: Float32Array.of(-1.25, 0.1) },
  { indices: Uint32Array.of(31, 91), values: Float32Array.of(0.75, 2) },
  { indices: Uint32Array.of(98, 31, 98, 46, 6), values: Float32Array.of(0.5, 2, -0.3, 1.5, -2) },
  undefined,
];

const cases: KernelCase[] = [
  {
    name: 'the gate: θ, penalty and every gradient (gatedDiffParameters)',
    kernels: [gatedDiffsKernelName, gatedDiffsGradKernelName],
    run: () =>
      toArrays(
        tf.tidy(() => {
          const xs = [data.w0!, data.logAlpha0!, data.w1!, data.logAlpha1!, data.groupLogAlpha!];
          const weights = [data.r0!, data.r1!];
          const loss = (...inputs: tf.Tensor[]) => {
            const { parameters, penalty } = gatedDiffParameters(gatedTensors(inputs));
            return tf.addN([
              ...parameters.map((p, t) => tf.sum(tf.mul(p, weights[t]!))),
              tf.mul(penalty, 0.3),
            ]);
          };
          const { parameters, penalty } = gatedDiffParameters(gatedTensors(xs));
          return [...parameters, penalty, ...tf.grads(loss)(xs)];
        }),
      ),
    // wasm: the composite's float32 Log and XNNPACK Sigmoid against float64 loops with wasm's Exp.
    tolerance: (backend) => (backend === 'wasm' ? 1e-5 : 2e-6),
  },
  {
    name: 'the expected-L0 sum and its gradient (expectedL0)',
    kernels: [sumSigmoidKernelName, sumSigmoidGradKernelName],
    run: () =>
      toArrays(
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tf.mul(expectedL0(data.logAlphaVariable!), 0.7));
          return [value, ...Object.values(grads)];
        }),
      ),
    tolerance: () => 1e-6,
  },
  {
    name: 'Adam, two steps over two parameters in one call (adamStep)',
    kernels: [adamKernelName],
    run: () => {
      const params = { p: data.w1!.clone(), q: data.logAlpha0!.clone() };
      const state = createAdamState(params);
      for (const [step, gradScale] of [
        [0, 1],
        [1, 0.3],
      ] as const) {
        const grads = tf.tidy(() => ({
          p: tf.mul(data.r1!, step + 1),
          q: tf.sub(data.logAlpha0!, step),
        }));
        adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8, gradScale });
        tf.dispose(Object.values(grads));
      }
      const out = toArrays([params.p, params.q, state.m.p!, state.v.q!].map((t) => t.clone()));
      tf.dispose([...Object.values(state.m), ...Object.values(state.v)]);
      tf.dispose(Object.values(params));
      return out;
    },
    tolerance: () => 1e-6,
  },
  {
    name: 'Σx² over many tensors (globalNorm)',
    kernels: [sumSquaresKernelName],
    run: () => [Float64Array.of(globalNorm({ a: data.w0!, b: data.w1!, c: data.groupLogAlpha! }))],
    tolerance: () => 1e-6,
  },
  {
    name: 'the dropout mask (dropoutMask)',
    kernels: [dropoutMaskKernelName],
    run: () => toArrays([dropoutMask([7, 129], 0.1, 12345)]),
    tolerance: () => 0,
  },
  {
    name: 'each batch row’s sparse δ of a linear weight (sparseRowDelta, cross-task serving)',
    kernels: [sparseRowDeltaKernelName],
    run: () => toArrays([sparseRowDelta(data.x3 as tf.Tensor3D, rowSlots, slotDeltas, 11)]),
    tolerance: () => 1e-6,
  },
  {
    name: 'each batch row’s linear with its slot’s weight and bias (sparseRowLinear, cross-task serving)',
    kernels: [sparseRowLinearKernelName],
    run: () =>
      toArrays([
        sparseRowLinear(data.x3 as tf.Tensor3D, data.w11 as tf.Tensor2D, rowSlots, slotDeltas, data.b11),
        sparseRowLinear(data.x3 as tf.Tensor3D, data.w11 as tf.Tensor2D, rowSlots, slotDeltas, data.b4x11),
        sparseRowLinear(data.x3 as tf.Tensor3D, data.w11 as tf.Tensor2D, rowSlots, slotDeltas),
      ]),
    tolerance: () => 1e-6,
  },
  {
    name: 'scatter-add: UnsortedSegmentSum, the gradient of tf.gather (against a one-hot matmul)',
    kernels: ['UnsortedSegmentSum'],
    run: () =>
      toArrays([
        tf.tidy(() => tf.unsortedSegmentSum(data.r1!, tf.tensor1d([3, 0, 3, 49, 7, 3, 0, 1], 'int32'), 50)),
      ]),
    reference: () =>
      toArrays([
        tf.tidy(() =>
          tf.matMul(
            tf.oneHot(tf.tensor1d([3, 0, 3, 49, 7, 3, 0, 1], 'int32'), 50).toFloat(),
            data.r1! as tf.Tensor2D,
            true,
          ),
        ),
      ]),
    tolerance: () => 1e-6,
  },
];

/** Largest |a − b| relative to the largest |b| (1 when b is all zero). */
function relativeError(a: Float64Array, b: Float64Array): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    error = Math.max(error, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return error / (scale || 1);
}

/** `run` with the active backend's registrations of `kernels` removed, then restored. */
function withoutKernels<T>(kernels: readonly string[], run: () => T): T {
  const backend = tf.getBackend();
  const saved = kernels.flatMap((name) => {
    const config = tf.getKernel(name, backend);
    if (config) tf.unregisterKernel(name, backend);
    return config ? [config] : [];
  });
  try {
    return run();
  } finally {
    for (const config of saved) tf.registerKernel(config);
  }
}

it('the table covers every diffprune kernel of the contract', () => {
  const covered = new Set(cases.flatMap((c) => c.kernels));
  for (const name of diffpruneKernelNames) expect(covered.has(name), name).toBe(true);
});

describeEachBackend('every registered kernel equals its composite reference', (backend) => {
  beforeAll(() => {
    data = tf.tidy(() => {
      const made: Record<string, tf.Tensor> = {
        base0: tf.randomNormal([20, 9], 0, 1, 'float32', 1),
        w0: tf.randomNormal([20, 9], 0, 0.5, 'float32', 2),
        // Spread over the gate's clamped and open ranges.
        logAlpha0: tf.randomNormal([20, 9], 0.5, 2, 'float32', 3),
        base1: tf.randomNormal([8, 13], 0, 1, 'float32', 4),
        w1: tf.randomNormal([8, 13], 0, 0.5, 'float32', 5),
        logAlpha1: tf.randomNormal([8, 13], 0.5, 2, 'float32', 6),
        u1: sampleUniform([8, 13], 7),
        groupLogAlpha: tf.tensor1d([0.9]),
        groupU: tf.tensor1d([0.4]),
        r0: tf.randomNormal([4, 9], 0, 1, 'float32', 8),
        r1: tf.randomNormal([8, 13], 0, 1, 'float32', 9),
        x3: tf.randomNormal([8, 11, 9], 0, 1, 'float32', 11),
        w11: tf.randomNormal([11, 9], 0, 1, 'float32', 12),
        b11: tf.randomNormal([11], 0, 1, 'float32', 13),
        b4x11: tf.randomNormal([4, 11], 0, 1, 'float32', 14),
      };
      for (const tensor of Object.values(made)) tf.keep(tensor);
      return made;
    });
    data.logAlphaVariable = tf.variable(tf.randomNormal([300], 1, 2, 'float32', 10), true);
  });
  afterAll(() => {
    tf.dispose(Object.values(data));
    data = {};
  });

  for (const c of cases) {
    it(c.name, (context) => {
      const active = tf.getBackend();
      const registered = c.kernels.filter((name) => tf.getKernel(name, active) !== undefined);
      if (registered.length === 0) {
        context.skip(`${backend} registers no ${c.kernels.join(' / ')} kernel`);
        return;
      }
      const before = tf.memory().numTensors;
      const found = c.run();
      const expected = c.reference ? c.reference() : withoutKernels(c.kernels, c.run);
      expect(tf.memory().numTensors).toBe(before); // kernel and composite paths leak nothing
      expect(found.length).toBe(expected.length);
      found.forEach((values, k) => {
        expect(values.length, `output ${k}`).toBe(expected[k]!.length);
        expect(relativeError(values, expected[k]!), `output ${k}`).toBeLessThanOrEqual(c.tolerance(backend));
      });
    });
  }
});
