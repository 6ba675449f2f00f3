import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type AdamPart,
  adamStep,
  adamStepParts,
  clipByGlobalNorm,
  clipCoefficient,
  createAdamState,
  disposeAdamState,
  globalNorm,
  linearDecay,
} from './optimizer.js';

describe('adamStep', () => {
  it('matches a scalar re-derivation of Adam over several steps, without leaking', () => {
    const params = { p: tf.tensor1d([1, -2, 0.5]) };
    const state = createAdamState(params);
    const gradients = [
      [0.1, -0.3, 2],
      [0.2, 0.1, -1],
      [-0.5, 0.4, 0.3],
    ];
    const reference = [1, -2, 0.5];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const before = tf.memory().numTensors;
    gradients.forEach((g, t) => {
      const grads = { p: tf.tensor1d(g) };
      adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8 });
      tf.dispose(grads.p);
      for (let i = 0; i < 3; i++) {
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
        const mHat = m[i]! / (1 - 0.9 ** (t + 1));
        const vHat = v[i]! / (1 - 0.999 ** (t + 1));
        reference[i] = reference[i]! - (0.01 * mHat) / (Math.sqrt(vHat) + 1e-8);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
    const found = params.p.dataSync();
    for (let i = 0; i < 3; i++) expect(found[i]).toBeCloseTo(reference[i]!, 6);
    disposeAdamState(state);
    params.p.dispose();
  });
});

describe('clipByGlobalNorm', () => {
  it('scales to the max norm only when above it', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([4]) };
    expect(clipByGlobalNorm(grads, 1)).toBeCloseTo(5, 6);
    expect(Array.from(grads.a.dataSync())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(Array.from(grads.b.dataSync())[0]).toBeCloseTo(4 / (5 + 1e-6), 6);
    const small = { a: tf.tensor1d([0.3, 0.4]) };
    clipByGlobalNorm(small, 1);
    expect(Array.from(small.a.dataSync())).toEqual([Math.fround(0.3), Math.fround(0.4)]);
    tf.dispose([grads.a, grads.b, small.a]);
  });

  it('decays linearly to zero', () => {
    expect(linearDecay(1, 0, 10)).toBe(1);
    expect(linearDecay(1, 5, 10)).toBe(0.5);
    expect(linearDecay(1, 10, 10)).toBe(0);
  });
});

// Where the backend has the fused Adam kernel (native: compiled; wasm: JS over the heap), on each.
describeEachBackend('adamStep with a fused kernel', (backend) => {
  const hasKernel = () => tf.getKernel('DiffpruneAdam', tf.getBackend()) !== undefined;

  it('gives the same update through the backend kernel as through tfjs ops (two parameters, one call)', () => {
    if (!hasKernel()) {
      console.warn(`skipping: backend ${backend} has no DiffpruneAdam kernel`);
      return;
    }
    const run = (unregister: boolean) => {
      const saved = tf.getKernel('DiffpruneAdam', tf.getBackend())!;
      if (unregister) tf.unregisterKernel('DiffpruneAdam', tf.getBackend());
      try {
        const params = { p: tf.tensor1d([1, -2, 0.5, 3]), q: tf.tensor2d([0.25, -7, 1e-3, 2, 0, 9], [2, 3]) };
        const state = createAdamState(params);
        const before = tf.memory().numTensors;
        const steps: [number[], number[], number][] = [
          [[0.1, -0.3, 2, 0], [1, 2, 3, -4, 5e-4, 0], 1],
          [[0.2, 0.1, -1, 5], [-1, 0, 0.5, 0.25, 7, -3], 0.3],
        ];
        for (const [g, h, gradScale] of steps) {
          const grads = { p: tf.tensor1d(g), q: tf.tensor2d(h, [2, 3]) };
          adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8, gradScale });
          tf.dispose(Object.values(grads));
        }
        expect(tf.memory().numTensors).toBe(before);
        const out = [params.p, params.q, state.m.p!, state.m.q!, state.v.p!, state.v.q!].map((t) =>
          Array.from(t.dataSync()),
        );
        disposeAdamState(state);
        tf.dispose(Object.values(params));
        return out;
      } finally {
        if (unregister) tf.registerKernel(saved);
      }
    };
    const [withKernel, withOps] = [run(false), run(true)];
    withKernel.forEach((values, i) => {
      values.forEach((x, j) => {
        expect(x).toBeCloseTo(withOps[i]![j]!, 6);
      });
    });
  });

  it('updates p, m and v where they are, without new tensors, when nothing else shares them', () => {
    if (!hasKernel()) return;
    const params = { p: tf.tensor1d([1, -2, 0.5, 3]) };
    const state = createAdamState(params);
    const [p, m, v] = [params.p, state.m.p, state.v.p];
    const grads = { p: tf.tensor1d([0.1, -0.3, 2, 0]) };
    adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8 });
    expect(params.p).toBe(p);
    expect(state.m.p).toBe(m);
    expect(state.v.p).toBe(v);
    // Adam's first step moves every entry with a nonzero gradient by lr (·sign).
    const moved = Array.from(params.p.dataSync());
    for (const [i, x] of [0.99, -1.99, 0.49, 3].entries()) expect(moved[i]).toBeCloseTo(x, 5);
    tf.dispose([grads.p, params.p]);
    disposeAdamState(state);
  });

  it('leaves a tensor that shares the parameter’s data untouched (new tensors instead)', () => {
    if (!hasKernel()) return;
    const params = { p: tf.tensor1d([1, -2, 0.5, 3]) };
    const alias = tf.clone(params.p); // shares the data
    const state = createAdamState(params);
    const grads = { p: tf.tensor1d([1, 1, 1, 1]) };
    adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8 });
    expect(Array.from(alias.dataSync())).toEqual([1, -2, 0.5, 3]);
    expect(params.p).not.toBe(alias);
    expect(params.p.dataSync()[0]).toBeCloseTo(0.99, 5);
    tf.dispose([grads.p, params.p, alias]);
    disposeAdamState(state);
  });
});

// The trainer's optimiser groups: several parts (roles), each with its own state, in one call.
describeEachBackend('adamStepParts', () => {
  const run = (together: boolean) => {
    const paramSets: Record<string, tf.Tensor>[] = [
      { p: tf.tensor1d([1, -2, 0.5, 3]), q: tf.tensor2d([0.25, -7, 1e-3, 2, 0, 9], [2, 3]) },
      { r: tf.tensor1d([0.3, -0.1]) },
      {},
    ];
    const parts: AdamPart[] = paramSets.map((params) => ({
      params,
      grads: {},
      state: createAdamState(params),
    }));
    const before = tf.memory().numTensors;
    for (const [step, gradScale] of [
      [0, 1],
      [1, 0.3],
      [2, 0.7],
    ] as const) {
      for (const part of parts) {
        part.grads = Object.fromEntries(
          Object.entries(part.params).map(([name, p]) => [
            name,
            tf.tidy(() => tf.sub(tf.mul(p, step + 1.5), tf.sin(tf.add(p, step)))),
          ]),
        );
      }
      const options = { betas: [0.9, 0.999] as [number, number], epsilon: 1e-8, gradScale };
      if (together) adamStepParts(parts, 0.01, options);
      else for (const part of parts) adamStep(part.params, part.grads, part.state, 0.01, options);
      for (const part of parts) tf.dispose(Object.values(part.grads));
    }
    expect(tf.memory().numTensors).toBe(before);
    const out = parts.flatMap((part) => [
      part.state.step,
      ...[part.params, part.state.m, part.state.v].flatMap((map) =>
        Object.values(map).map((t) => Array.from(t.dataSync())),
      ),
    ]);
    for (const part of parts) {
      disposeAdamState(part.state);
      tf.dispose(Object.values(part.params));
    }
    return out;
  };

  it('one call for all parts equals one call per part, to the bit (every state steps)', () => {
    expect(run(true)).toEqual(run(false));
  });

  it('parts at different steps get their own bias corrections', () => {
    const params: Record<string, tf.Tensor>[] = [{ p: tf.tensor1d([1, -2]) }, { q: tf.tensor1d([0.5, 3]) }];
    const grads: Record<string, tf.Tensor>[] = [
      { p: tf.tensor1d([0.1, -0.3]) },
      { q: tf.tensor1d([2, 0.5]) },
    ];
    const states = params.map((p) => createAdamState(p));
    states[1]!.step = 4;
    const copies = params.map((p) => Object.fromEntries(Object.entries(p).map(([k, t]) => [k, t.clone()])));
    const copyStates = copies.map((p) => createAdamState(p));
    copyStates[1]!.step = 4;
    const options = { betas: [0.9, 0.999] as [number, number], epsilon: 1e-8 };
    adamStepParts(
      params.map((p, i) => ({ params: p, grads: grads[i]!, state: states[i]! })),
      0.01,
      options,
    );
    copies.forEach((p, i) => {
      adamStep(p, grads[i]!, copyStates[i]!, 0.01, options);
    });
    expect(states.map((s) => s.step)).toEqual([1, 5]);
    expect(Array.from(params[1]!.q!.dataSync())).toEqual(Array.from(copies[1]!.q!.dataSync()));
    expect(Array.from(params[0]!.p!.dataSync())).toEqual(Array.from(copies[0]!.p!.dataSync()));
    for (const s of [...states, ...copyStates]) disposeAdamState(s);
    tf.dispose([...params, ...copies, ...grads].flatMap((m) => Object.values(m)));
  });
});

describe('the fused global norm', () => {
  const fusedAvailable = () => tf.getKernel('DiffpruneSumSquares', tf.getBackend()) !== undefined;

  it('computes the global norm with the fused kernel as tfjs ops do, and the same coefficient', () => {
    if (!fusedAvailable()) {
      console.warn(`skipping: backend ${tf.getBackend()} has no DiffpruneSumSquares kernel`);
      return;
    }
    const grads = {
      a: tf.randomNormal([300, 700], 0, 0.1, 'float32', 1),
      b: tf.tensor1d([3, 4]),
      c: tf.randomNormal([5], 0, 2, 'float32', 2),
    };
    const fused = globalNorm(grads);
    const saved = tf.getKernel('DiffpruneSumSquares', tf.getBackend())!;
    tf.unregisterKernel('DiffpruneSumSquares', tf.getBackend());
    let reference: number;
    let referenceClip: { norm: number; scale: number };
    try {
      reference = globalNorm(grads);
      referenceClip = clipCoefficient(grads, 1);
    } finally {
      tf.registerKernel(saved);
    }
    // Closed form for the part we know: √(Σ a² + 25 + Σ c²) with a float64 sum of the same values.
    let exact = 0;
    for (const t of Object.values(grads)) for (const x of t.dataSync()) exact += x * x;
    expect(fused).toBeCloseTo(Math.sqrt(exact), 4);
    expect(fused / reference).toBeCloseTo(1, 5);
    expect(clipCoefficient(grads, 1).scale / referenceClip.scale).toBeCloseTo(1, 5);
    expect(clipCoefficient(grads, 1e9).scale).toBe(1);
    tf.dispose(Object.values(grads));
  });
});
