import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type GatedDiffParameterInputs,
  type GatedDiffParametersImplementation,
  gatedDiffParameter,
  gatedDiffParametersWith,
  gatedDiffsKernelsRegistered,
  sampleGate,
  sampleUniform,
} from './index.js';

const shape = [37, 23];
const data = tf.tidy(() => ({
  base: tf.keep(tf.randomNormal(shape, 0, 1, 'float32', 1)),
  w: tf.keep(tf.randomNormal(shape, 0, 0.5, 'float32', 2)),
  // A mix of clamped (z = 0 or 1) and interior gates.
  logAlpha: tf.keep(tf.randomNormal(shape, 0.5, 2, 'float32', 3)),
  u: tf.keep(sampleUniform(shape, 4)),
  dy: tf.keep(tf.randomNormal(shape, 0, 1, 'float32', 5)),
  groupLogAlpha: tf.keep(tf.tensor1d([0.4])), // an interior group gate (nonzero gradient)
  groupU: tf.keep(tf.tensor1d([0.45])),
}));
afterAll(() => tf.dispose(Object.values(data)));

type Variant = { grouped: boolean; beta?: number; limits?: readonly [number, number] };
const variants: Variant[] = [
  { grouped: false },
  { grouped: true },
  { grouped: true, beta: 0.6, limits: [-0.2, 1.3] },
];

const inputsFor = (
  variant: Variant,
  overrides: Partial<GatedDiffParameterInputs> = {},
): GatedDiffParameterInputs => ({
  base: data.base,
  w: data.w,
  logAlpha: data.logAlpha,
  u: data.u,
  ...(variant.grouped ? { groupLogAlpha: data.groupLogAlpha, groupU: data.groupU } : {}),
  ...(variant.beta !== undefined ? { beta: variant.beta } : {}),
  ...(variant.limits !== undefined ? { limits: variant.limits } : {}),
  ...overrides,
});

/** θ and the gradients of Σ θ·dy w.r.t. w, logAlpha (and groupLogAlpha), as arrays. */
const evaluate = (op: (inputs: GatedDiffParameterInputs) => tf.Tensor, variant: Variant) => {
  const before = tf.memory().numTensors;
  const theta = op(inputsFor(variant));
  const differentiate = variant.grouped
    ? tf.grads((w: tf.Tensor, a: tf.Tensor, g: tf.Tensor) =>
        tf.sum(tf.mul(op(inputsFor(variant, { w, logAlpha: a, groupLogAlpha: g })), data.dy)),
      )
    : tf.grads((w: tf.Tensor, a: tf.Tensor) =>
        tf.sum(tf.mul(op(inputsFor(variant, { w, logAlpha: a })), data.dy)),
      );
  const grads = variant.grouped
    ? differentiate([data.w, data.logAlpha, data.groupLogAlpha])
    : differentiate([data.w, data.logAlpha]);
  const result = {
    theta: Array.from(theta.dataSync()),
    grads: grads.map((g) => Array.from(g.dataSync())),
    gradShapes: grads.map((g) => g.shape),
  };
  tf.dispose([theta, ...grads]);
  expect(tf.memory().numTensors).toBe(before); // no leaks, forward and backward
  return result;
};

/**
 * A second implementation, from the public `sampleGate` (z by autograd through the gate's formula):
 * θ = base + z·z_g·w. Unlike the op, it checks u's values (they are in [0, 1] here).
 */
const reference = (inputs: GatedDiffParameterInputs): tf.Tensor =>
  tf.tidy(() => {
    const { base, w, logAlpha, u, seed, groupLogAlpha, groupU, beta, limits } = inputs;
    const gate = { ...(beta === undefined ? {} : { beta }), ...(limits === undefined ? {} : { limits }) };
    let z = sampleGate(logAlpha, u ? { u, ...gate } : { seed: seed!, ...gate });
    if (groupLogAlpha && groupU) {
      z = tf.mul(z, tf.reshape(sampleGate(groupLogAlpha, { u: groupU, ...gate }), []));
    }
    return tf.add(base, tf.mul(z, w));
  });

/** `gatedDiffParameter` through one implementation of the op (`auto` is `gatedDiffParameter` itself). */
const withImplementation =
  (implementation: GatedDiffParametersImplementation) =>
  (inputs: GatedDiffParameterInputs): tf.Tensor => {
    if (implementation === 'auto') return gatedDiffParameter(inputs);
    const { beta, limits, uBounds, ...tensor } = inputs;
    const options = {
      ...(beta === undefined ? {} : { beta }),
      ...(limits === undefined ? {} : { limits }),
      ...(uBounds === undefined ? {} : { uBounds }),
    };
    const { parameters, penalty } = gatedDiffParametersWith([tensor], options, implementation);
    penalty.dispose();
    return parameters[0]!;
  };

const expectClose = (actual: number[], expected: number[], tolerance: number) => {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(1, ...expected.map(Math.abs));
  let worst = 0;
  actual.forEach((a, i) => {
    worst = Math.max(worst, Math.abs(a - expected[i]!));
  });
  expect(worst).toBeLessThan(tolerance * scale);
};

describe('gatedDiffParameter (one tensor of the whole-model op) vs sampleGate by autograd', () => {
  const implementations: GatedDiffParametersImplementation[] = ['kernel', 'composite', 'auto'];
  for (const variant of variants) {
    for (const implementation of implementations) {
      it.skipIf(implementation === 'kernel' && !gatedDiffsKernelsRegistered())(
        `${implementation}, ${variant.grouped ? 'structured' : 'unstructured'}${variant.beta ? `, β ${variant.beta}, limits [${variant.limits}]` : ''}: θ and every gradient agree`,
        () => {
          const expected = evaluate(reference, variant);
          const found = evaluate(withImplementation(implementation), variant);
          expectClose(found.theta, expected.theta, 1e-6);
          expect(found.grads.length).toBe(variant.grouped ? 3 : 2);
          expect(found.gradShapes).toEqual(expected.gradShapes);
          found.grads.forEach((g, i) => {
            expectClose(g, expected.grads[i]!, 2e-6);
          });
          // The comparison is not vacuous: the gates are mixed, so dlogα has zeros and nonzeros.
          const dLogAlpha = expected.grads[1]!;
          expect(dLogAlpha.filter((x) => x === 0).length).toBeGreaterThan(50);
          expect(dLogAlpha.filter((x) => x !== 0).length).toBeGreaterThan(50);
          if (variant.grouped) expect(Math.abs(expected.grads[2]![0]!)).toBeGreaterThan(1e-3);
        },
      );
    }
  }

  it('seed instead of u: the same noise as sampleUniform(shape, seed), every implementation', () => {
    const u = sampleUniform(shape, 9);
    const variant = { grouped: true };
    const ops: [string, (inputs: GatedDiffParameterInputs) => tf.Tensor][] = [
      ['composite', withImplementation('composite')],
      ['reference', reference],
    ];
    if (gatedDiffsKernelsRegistered()) ops.push(['kernel', withImplementation('kernel')]);
    for (const [name, op] of ops) {
      const withU = evaluate((inputs) => op({ ...inputs, u }), variant);
      const withSeed = evaluate(({ u: _, ...inputs }) => op({ ...inputs, seed: 9 }), variant);
      expect(withSeed.theta, name).toEqual(withU.theta);
      withSeed.grads.forEach((g, i) => {
        expect(g, name).toEqual(withU.grads[i]);
      });
    }
    u.dispose();
  });

  it('matches finite differences for logα (element and group)', () => {
    for (const variant of variants) {
      const { grads } = evaluate(gatedDiffParameter, variant);
      const h = 1e-2;
      const lossWith = (overrides: Partial<GatedDiffParameterInputs>) =>
        tf.tidy(() => {
          const theta = gatedDiffParameter(inputsFor(variant, overrides));
          const terms = tf.mul(theta, data.dy).dataSync();
          let total = 0;
          for (const t of terms) total += t; // float64 sum
          return total;
        });
      // Element logα: a bump changes one θ entry; check entries whose s̄ stays away from the kinks.
      const logAlpha = data.logAlpha.dataSync();
      const u = data.u.dataSync();
      const beta = variant.beta ?? 1;
      const [l, r] = variant.limits ?? [-1.5, 1.5];
      let checked = 0;
      for (let i = 0; i < logAlpha.length && checked < 8; i++) {
        const ui = Math.min(Math.max(u[i]!, 1e-4), 0.9999);
        const stretched =
          (1 / (1 + Math.exp(-(Math.log(ui / (1 - ui)) + logAlpha[i]!) / beta))) * (r - l) + l;
        if (stretched < 0.1 || stretched > 0.9) continue;
        const bump = (delta: number) =>
          tf.tidy(() => {
            const a = tf.add(data.logAlpha, tf.reshape(tf.oneHot([i], logAlpha.length), shape).mul(delta));
            const theta = gatedDiffParameter(inputsFor(variant, { logAlpha: a }));
            return theta.dataSync()[i]! * data.dy.dataSync()[i]!;
          });
        const finite = (bump(h) - bump(-h)) / (2 * h);
        expect(Math.abs(finite - grads[1]![i]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(finite)));
        checked++;
      }
      expect(checked).toBe(8);
      if (variant.grouped) {
        const finite =
          (lossWith({ groupLogAlpha: tf.add(data.groupLogAlpha, h) }) -
            lossWith({ groupLogAlpha: tf.sub(data.groupLogAlpha, h) })) /
          (2 * h);
        expect(Math.abs(finite - grads[2]![0]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(finite)));
      }
    }
  });

  it('trains variables like the trainer will: variableGrads, base frozen, no leaks over steps', () => {
    const w = tf.variable(data.w.clone(), true, 'w-test');
    const logAlpha = tf.variable(data.logAlpha.clone(), true, 'logAlpha-test');
    const groupLogAlpha = tf.variable(data.groupLogAlpha.clone(), true, 'groupLogAlpha-test');
    const counts: number[] = [];
    for (let step = 0; step < 3; step++) {
      const u = sampleUniform(shape, 100 + step);
      const groupU = sampleUniform([1], 200 + step);
      const { value, grads } = tf.variableGrads(
        () =>
          tf.sum(
            tf.mul(gatedDiffParameter({ base: data.base, w, logAlpha, u, groupLogAlpha, groupU }), data.dy),
          ) as tf.Scalar,
      );
      expect(Object.keys(grads).sort()).toEqual(['groupLogAlpha-test', 'logAlpha-test', 'w-test']);
      tf.tidy(() => {
        w.assign(tf.sub(w, tf.mul(grads['w-test']!, 0.1)));
        logAlpha.assign(tf.sub(logAlpha, tf.mul(grads['logAlpha-test']!, 0.1)));
      });
      tf.dispose([value, u, groupU, ...Object.values(grads)]);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1);
    tf.dispose([w, logAlpha, groupLogAlpha]);
  });

  it('forward without a gradient tape leaks nothing', () => {
    for (const implementation of gatedDiffsKernelsRegistered()
      ? (['kernel', 'composite'] as const)
      : (['composite'] as const)) {
      const before = tf.memory().numTensors;
      const theta = withImplementation(implementation)(inputsFor({ grouped: true }));
      expect(tf.memory().numTensors).toBe(before + 1);
      theta.dispose();
    }
  });

  it('validates inputs, naming the argument', () => {
    const wrong = tf.zeros([37, 22]);
    const integers = tf.zeros(shape, 'int32');
    const two = tf.zeros([2]);
    const before = tf.memory().numTensors;
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { u: wrong }))).toThrow(ShapeMismatchError);
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { w: wrong }))).toThrow(
      /w must have shape \[37, 23\]; found \[37, 22\]/,
    );
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { logAlpha: integers }))).toThrow(
      /logAlpha\.dtype must be "float32"; found "int32"/,
    );
    expect(() =>
      gatedDiffParameter(inputsFor({ grouped: false }, { groupLogAlpha: data.groupLogAlpha })),
    ).toThrow(InvalidArgumentError);
    expect(() => gatedDiffParameter(inputsFor({ grouped: true }, { groupU: two }))).toThrow(
      /groupU must have shape \[1\]; found \[2\]/,
    );
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { beta: -1 }))).toThrow(/beta must be/);
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { seed: 3 }))).toThrow(
      /exactly one of u or seed; found "both u and seed"/,
    );
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { u: undefined }))).toThrow(
      /neither u nor seed/,
    );
    expect(() => gatedDiffParameter(inputsFor({ grouped: false }, { u: undefined, seed: -2 }))).toThrow(
      /seed must be an integer in \[0, 2\^32\); found -2/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([wrong, integers, two]);
  });
});
