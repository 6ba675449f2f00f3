import {
  type GatedDiffsAttributes,
  gatedDiffsKernelName,
  InvalidArgumentError,
  ShapeMismatchError,
} from '@diffprune/core';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type GatedDiffParametersImplementation,
  type GatedDiffParametersOptions,
  type GatedTensor,
  gatedDiffParameters,
  gatedDiffParametersWith,
  gatedDiffsKernelsRegistered,
  sampleUniform,
} from './index.js';

// Three tensors of different shapes (one large enough to be split over threads and blocks), the first
// a "token embedding" used with rows.
const shapes = [[40, 24], [3000], [70, 513]];
const makeData = () =>
  tf.tidy(() =>
    shapes.map((shape, t) => ({
      base: tf.keep(tf.randomNormal(shape, 0, 1, 'float32', 10 * t + 1)),
      w: tf.keep(tf.randomNormal(shape, 0, 0.5, 'float32', 10 * t + 2)),
      // Spread over the gate's clamped and open ranges, so every branch of dz/dlogα is exercised.
      logAlpha: tf.keep(tf.randomNormal(shape, 0.5, 2, 'float32', 10 * t + 3)),
      u: tf.keep(sampleUniform(shape, 10 * t + 4)),
      // Group gates z_g ≈ 0.14, 0.57 and 1 (clamped): none is 0, which would zero the tensor's gate terms
      // (and hide them from the comparison).
      groupLogAlpha: tf.keep(tf.tensor1d([[0.8, 1, 2.5][t]!])),
      groupU: tf.keep(tf.tensor1d([0.35 + 0.1 * t])),
    })),
  );
type Data = ReturnType<typeof makeData>;
/** The tensors of the backend under test, created in a `beforeAll` on it. */
let data: Data = [];
/** Creates `data` on the active backend before the block's tests and disposes it after them. */
function withData(): void {
  let previous: Data = [];
  beforeAll(() => {
    previous = data;
    data = makeData();
  });
  afterAll(() => {
    tf.dispose(data.flatMap((d) => Object.values(d)));
    data = previous;
  });
}

interface Case {
  name: string;
  structured: boolean;
  noise: 'seed' | 'u';
  rows?: number[];
  options: GatedDiffParametersOptions;
}

const cases: Case[] = [
  { name: 'unstructured, seeds', structured: false, noise: 'seed', options: {} },
  {
    name: 'structured sum, seeds, rows',
    structured: true,
    noise: 'seed',
    rows: [7, 3, 39, 0, 21],
    options: {},
  },
  {
    name: 'structured product, u, rows with a duplicate',
    structured: true,
    noise: 'u',
    rows: [5, 5, 12],
    options: { groupPenalty: 'product' },
  },
  {
    name: 'structured sum, other limits (shift ≠ 0) and u bounds',
    structured: true,
    noise: 'seed',
    rows: [1, 2],
    options: { limits: [-0.1, 1.1], uBounds: [0.01, 0.99] },
  },
  { name: 'unstructured, β = 2/3', structured: false, noise: 'u', rows: [4], options: { beta: 2 / 3 } },
];

/** θ, the penalty and the gradients of Σ_t Σ θ_t·r_t + 0.37·penalty w.r.t. every w, logα (and group logα). */
function evaluate(c: Case, implementation: GatedDiffParametersImplementation) {
  const before = tf.memory().numTensors;
  const build = (xs: tf.Tensor[]) => {
    const tensors: GatedTensor[] = data.map((d, t) => ({
      base: d.base,
      w: xs[t]!,
      logAlpha: xs[data.length + t]!,
      ...(c.noise === 'seed' ? { seed: 1000 + t } : { u: d.u }),
      ...(c.structured ? { groupLogAlpha: xs[2 * data.length + t]!, groupU: d.groupU } : {}),
      ...(t === 0 && c.rows ? { rows: c.rows } : {}),
    }));
    return gatedDiffParametersWith(tensors, c.options, implementation);
  };
  const xs = [
    ...data.map((d) => d.w),
    ...data.map((d) => d.logAlpha),
    ...(c.structured ? data.map((d) => d.groupLogAlpha) : []),
  ];
  const { parameters, penalty } = build(xs);
  const weights = parameters.map((p, t) => tf.randomNormal(p.shape, 0, 1, 'float32', 77 + t));
  const grads = tf.grads((...inputs: tf.Tensor[]) => {
    const out = build(inputs);
    return tf.addN([
      ...out.parameters.map((p, t) => tf.sum(tf.mul(p, weights[t]!))),
      tf.mul(out.penalty, 0.37),
    ]);
  })(xs);
  const result = {
    shapes: parameters.map((p) => p.shape),
    parameters: parameters.map((p) => p.dataSync() as Float32Array),
    penalty: penalty.dataSync()[0]!,
    grads: grads.map((g) => ({ shape: g.shape, values: g.dataSync() as Float32Array })),
  };
  tf.dispose([...parameters, penalty, ...weights, ...grads]);
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

/** Largest |a − b| relative to the largest |b| (1 when b is all zero). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    error = Math.max(error, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return error / (scale || 1);
}

/** Σσ(logα) over every tensor in float64, from the values (the penalty with the default limits). */
const sigmaSum = () =>
  data.reduce((sum, d) => {
    let s = 0;
    for (const x of d.logAlpha.dataSync()) s += 1 / (1 + Math.exp(-x));
    return sum + s;
  }, 0);

/** The backends with the kernels: @diffprune/native's compiled ones, @diffprune/runtime's JS ones on cpu and wasm. */
const hasKernel = (backend: string) => backend !== 'tensorflow';

describeEachBackend('gatedDiffParameters: the kernels equal the composite reference', (backend) => {
  withData();
  it(`the kernels are available exactly where expected (${hasKernel(backend) ? 'here' : 'not here'})`, () => {
    expect(gatedDiffsKernelsRegistered()).toBe(hasKernel(backend));
  });
  // On wasm the composite runs float32 Log and XNNPACK's Sigmoid (a few ulp); the kernels there take
  // e^(−logα) from wasm's float32 Exp and compute the rest in float64: agreement to a few 1e-6.
  const tolerance = backend === 'wasm' ? { values: 5e-6, grads: 1e-5 } : { values: 1e-6, grads: 2e-6 };
  for (const c of cases) {
    it.skipIf(!hasKernel(backend))(c.name, () => {
      const kernel = evaluate(c, 'kernel');
      const composite = evaluate(c, 'composite');
      expect(kernel.shapes).toEqual(composite.shapes);
      if (c.rows) expect(kernel.shapes[0]).toEqual([c.rows.length, 24]);
      kernel.parameters.forEach((p, t) => {
        expect(relativeError(p, composite.parameters[t]!)).toBeLessThan(tolerance.values);
      });
      expect(Math.abs(kernel.penalty - composite.penalty) / composite.penalty).toBeLessThan(tolerance.values);
      expect(kernel.grads.length).toBe(composite.grads.length);
      kernel.grads.forEach((g, k) => {
        expect(g.shape).toEqual(composite.grads[k]!.shape);
        // The gate terms are the same float64 arithmetic; sums (group gates) differ in order only.
        expect(relativeError(g.values, composite.grads[k]!.values)).toBeLessThan(tolerance.grads);
      });
    });
  }

  it.skipIf(!hasKernel(backend))(
    'the penalty equals a float64 Σσ(logα) (unstructured, default limits)',
    () => {
      const c: Case = { name: '', structured: false, noise: 'seed', options: {} };
      const expected = sigmaSum();
      expect(Math.abs(evaluate(c, 'kernel').penalty - expected) / expected).toBeLessThan(1e-6);
    },
  );

  it.skipIf(!hasKernel(backend))(
    'every logα gradient carries the penalty term, even where θ is not computed (rows)',
    () => {
      const c: Case = { name: '', structured: false, noise: 'seed', rows: [0], options: {} };
      const { grads } = evaluate(c, 'kernel');
      const logAlpha = data[0]!.logAlpha.dataSync();
      const dLogAlpha = grads[data.length]!.values; // the rows tensor's logα
      // Outside row 0 only the penalty reaches logα: 0.37·σ(1 − σ), a closed form.
      for (const i of [24, 100, 959]) {
        const sigma = 1 / (1 + Math.exp(-logAlpha[i]!));
        expect(dLogAlpha[i]).toBeCloseTo(0.37 * sigma * (1 - sigma), 6);
      }
      // And no w gradient there.
      expect(Array.from(grads[0]!.values.slice(24)).every((v) => v === 0)).toBe(true);
    },
  );
  it.skipIf(!hasKernel(backend))(
    'the tape keeps no copies of the inputs: no Identity kernel call, forward or backward (rows and groups too)',
    () => {
      // With the inputs saved by the tape, the engine clones each one (an Identity call); the
      // gradient reads the caller's tensors instead (the values are the cases above).
      const c = cases[2]!;
      const xs = [
        ...data.map((d) => d.w),
        ...data.map((d) => d.logAlpha),
        ...data.map((d) => d.groupLogAlpha),
      ];
      const spy = vi.spyOn(tf.engine(), 'runKernel');
      const grads = tf.grads((...inputs: tf.Tensor[]) => {
        const tensors: GatedTensor[] = data.map((d, t) => ({
          base: d.base,
          w: inputs[t]!,
          logAlpha: inputs[data.length + t]!,
          u: d.u,
          groupLogAlpha: inputs[2 * data.length + t]!,
          groupU: d.groupU,
          ...(t === 0 ? { rows: c.rows! } : {}),
        }));
        return gatedDiffParametersWith(tensors, c.options, 'kernel').penalty;
      })(xs);
      const kernels = spy.mock.calls.map(([name]) => name);
      spy.mockRestore();
      expect(kernels).toContain(gatedDiffsKernelName);
      expect(kernels.filter((name) => name === 'Identity')).toEqual([]);
      expect(grads.length).toBe(xs.length);
      tf.dispose(grads);
    },
  );

  it.skipIf(!hasKernel(backend))(
    'noise created inside the gradient function (disposed by its forward tidy) is a typed error, not a read of freed memory',
    () => {
      const d = data[1]!;
      const before = tf.memory().numTensors;
      const gradient = tf.grad((w: tf.Tensor) => {
        const u = tf.randomUniform(d.w.shape, 0.1, 0.9, 'float32', 3);
        return gatedDiffParametersWith([{ base: d.base, w, logAlpha: d.logAlpha, u }], {}, 'kernel').penalty;
      });
      expect(() => gradient(d.w)).toThrow(/disposed before its gradient/);
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it.skipIf(!hasKernel(backend))(
    'the kernel run by anything but gatedDiffParameters has no gradient (a typed error, not wrong values)',
    () => {
      const d = data[1]!;
      const attributes: GatedDiffsAttributes = {
        layout: [0],
        seeds: [5],
        groupPenalty: 'sum',
        beta: 1,
        left: -1.5,
        right: 1.5,
        uLow: 1e-6,
        uHigh: 1 - 1e-6,
        shift: 0,
      };
      // Registers the gradient (as any first call does).
      tf.dispose(
        Object.values(gatedDiffParameters([{ base: d.base, w: d.w, logAlpha: d.logAlpha, seed: 5 }])).flat(),
      );
      const direct = (w: tf.Tensor) =>
        (
          tf
            .engine()
            .runKernel(
              gatedDiffsKernelName,
              [d.base, w, d.logAlpha] as unknown as tf.NamedTensorMap,
              attributes as unknown as tf.NamedAttrMap,
            ) as tf.Tensor[]
        )[1]!;
      const before = tf.memory().numTensors;
      expect(() => tf.grad(direct)(d.w)).toThrow(InvalidArgumentError);
      expect(tf.memory().numTensors).toBe(before);
    },
  );
});

describe('gatedDiffParameters', () => {
  withData();
  it('runs on every backend (the composite ops where there is no fused kernel) with the penalty Σσ(logα)', () => {
    const result = tf.tidy(() => {
      const { parameters, penalty } = gatedDiffParameters(
        data.map((d, t) => ({ base: d.base, w: d.w, logAlpha: d.logAlpha, seed: t })),
      );
      return [parameters.length, penalty.dataSync()[0]!];
    });
    expect(result[0]).toBe(3);
    // Float32 sums (wasm's Sum, without the kernel) are within ~3e-6 of the float64 value here.
    expect(Math.abs(result[1]! - sigmaSum()) / sigmaSum()).toBeLessThan(1e-5);
  });

  it('returns no parameters and a zero penalty for no tensors', () => {
    const { parameters, penalty } = gatedDiffParameters([]);
    expect(parameters).toEqual([]);
    expect(penalty.dataSync()[0]).toBe(0);
    penalty.dispose();
  });

  it('rejects bad input with typed errors naming the tensor', () => {
    const d = data[0]!;
    expect(() => gatedDiffParameters({} as never)).toThrow(InvalidArgumentError);
    expect(() =>
      gatedDiffParameters([{ base: d.base, w: data[1]!.w, logAlpha: d.logAlpha, seed: 1 }]),
    ).toThrow(ShapeMismatchError);
    expect(() => gatedDiffParameters([{ base: d.base, w: d.w, logAlpha: d.logAlpha }])).toThrow(
      /tensors\[0\].*exactly one of u or seed|exactly one of u or seed/,
    );
    expect(() =>
      gatedDiffParameters([{ base: d.base, w: d.w, logAlpha: d.logAlpha, seed: 1, rows: [0, 40] }]),
    ).toThrow(/rows/);
    expect(() =>
      gatedDiffParameters([{ base: d.base, w: d.w, logAlpha: d.logAlpha, seed: 1 }], {
        groupPenalty: 'mean' as never,
      }),
    ).toThrow(/groupPenalty/);
  });
});
