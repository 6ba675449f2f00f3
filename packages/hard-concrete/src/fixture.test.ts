import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readSafetensors, toFloat32 } from '@diffprune/core';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  expectedL0,
  expectedL0Penalty,
  type GroupPenalty,
  gatedDiffParameter,
  groupExpectedL0,
  sampleGate,
  sampleGroupedGate,
} from './index.js';

/*
 * Parity with ../shared/fixtures/diffprune-step.{json,safetensors}, one evaluation of the diff-pruning
 * objective by an independent PyTorch implementation. The fixture holds log α, u (and the group's)
 * for every gated tensor, the expected L0 and the count of nonzero gates per penalty mode, and the
 * gradients of the whole loss. The gate itself is not stored, but it is pinned down by the gradients:
 *   grad_w = dθ·z·z_g,   grad_logα = dθ·w·z_g·dz/dlogα + λ·∂penalty/∂logα,
 *   grad_logα_g = Σ dθ·w·z·dz_g/dlogα_g + λ·∂penalty/∂logα_g.
 * So with dθ recovered as grad_w/(z·z_g) where our gate is nonzero, our fused op's backward plus λ times
 * our penalty's gradient must reproduce PyTorch's grad_logα and grad_logα_g; and grad_w must be exactly
 * zero where our gate is zero.
 * Checked on every backend available in the process (describeEachBackend): each backend runs the fused
 * gate kernels registered for it, so the parity is per backend. The tolerances hold on all of them.
 */
const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const jsonPath = `${shared}fixtures/diffprune-step.json`;
const tensorsPath = `${shared}fixtures/diffprune-step.safetensors`;
const available = existsSync(jsonPath) && existsSync(tensorsPath);
if (!available) {
  console.warn(`skipping fixture parity: ${jsonPath} not found (../shared is beside the checkout in CI)`);
}

interface Fixture {
  l: number;
  r: number;
  beta: number;
  lambda: number;
  gated_parameters: string[];
  results: Record<string, { expected_l0: number; nonzero_gates: number }>;
}

const modes: { name: string; groupPenalty?: GroupPenalty }[] = [
  { name: 'unstructured' },
  { name: 'structured-product', groupPenalty: 'product' },
  { name: 'structured-sum', groupPenalty: 'sum' },
];

describeEachBackend.skipIf(!available)('parity with the PyTorch diffprune-step fixture', (backend) => {
  let fixture: Fixture;
  const tensors = new Map<string, tf.Tensor>();
  const get = (name: string): tf.Tensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`fixture tensor ${name} missing`);
    return t;
  };
  let options: { beta: number; limits: [number, number] };

  beforeAll(async () => {
    fixture = JSON.parse(readFileSync(jsonPath, 'utf8')) as Fixture;
    options = { beta: fixture.beta, limits: [fixture.l, fixture.r] };
    // Created here, so they are stored by the backend under test.
    const file = await readSafetensors(tensorsPath);
    for (const entry of file.tensors)
      tensors.set(entry.name, tf.tensor(toFloat32(entry), entry.shape, 'float32'));
    expect(fixture.gated_parameters.length).toBe(39);
  });
  afterAll(() => tf.dispose([...tensors.values()]));

  it("nonzero gates: z from the fixture's log α and u, unstructured and structured", () => {
    expect(tf.getBackend()).toBe(backend);
    const before = tf.memory().numTensors;
    let unstructured = 0;
    let structured = 0;
    for (const name of fixture.gated_parameters) {
      const counts = tf.tidy(() => {
        const z = sampleGate(get(`log_alpha/${name}`), { ...options, u: get(`u/${name}`) });
        const zg = sampleGroupedGate(get(`log_alpha/${name}`), get(`group_log_alpha/${name}`), {
          ...options,
          u: get(`u/${name}`),
          groupU: get(`group_u/${name}`),
        });
        return tf.stack([
          tf.sum(tf.cast(tf.greater(z, 0), 'float32')),
          tf.sum(tf.cast(tf.greater(zg, 0), 'float32')),
        ]);
      });
      const [a, b] = counts.dataSync();
      counts.dispose();
      unstructured += a!;
      structured += b!;
    }
    expect(unstructured).toBe(fixture.results.unstructured!.nonzero_gates);
    expect(structured).toBe(fixture.results['structured-product']!.nonzero_gates);
    expect(structured).toBe(fixture.results['structured-sum']!.nonzero_gates);
    expect(tf.memory().numTensors).toBe(before);
  });

  for (const mode of modes) {
    it(`expected_l0 (${mode.name}) equals the fixture's`, () => {
      expect(tf.getBackend()).toBe(backend);
      const before = tf.memory().numTensors;
      const penalty = expectedL0Penalty(
        fixture.gated_parameters.map((name) => ({
          logAlpha: get(`log_alpha/${name}`),
          ...(mode.groupPenalty ? { groupLogAlpha: get(`group_log_alpha/${name}`) } : {}),
        })),
        { ...options, ...(mode.groupPenalty ? { groupPenalty: mode.groupPenalty } : {}) },
      );
      const value = penalty.dataSync()[0]!;
      penalty.dispose();
      const expected = fixture.results[mode.name]!.expected_l0;
      expect(Math.abs(value - expected)).toBeLessThan(2e-6 * expected); // float32 sums of ~14k terms
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`gradients through the gate and the penalty reproduce PyTorch's (${mode.name})`, () => {
      expect(tf.getBackend()).toBe(backend);
      const before = tf.memory().numTensors;
      const grouped = mode.groupPenalty !== undefined;
      let checkedInterior = 0;
      for (const name of fixture.gated_parameters) {
        const result = tf.tidy(() => {
          const logAlpha = get(`log_alpha/${name}`);
          const u = get(`u/${name}`);
          const w = get(`w/${name}`);
          const groupLogAlpha = get(`group_log_alpha/${name}`);
          const groupU = get(`group_u/${name}`);
          const gradW = get(`${mode.name}/grad_w/${name}`);
          const gate = grouped
            ? sampleGroupedGate(logAlpha, groupLogAlpha, { ...options, u, groupU })
            : sampleGate(logAlpha, { ...options, u });
          const nonzero = tf.greater(gate, 0);
          // dθ where it can be recovered; elsewhere it does not reach the gradients (see above).
          const dTheta = tf.where(
            nonzero,
            tf.div(gradW, tf.where(nonzero, gate, tf.onesLike(gate))),
            tf.zerosLike(gate),
          );
          const gradWhereZero = tf.max(tf.abs(tf.where(nonzero, tf.zerosLike(gradW), gradW)));
          const base = get(`theta0/${name}`);
          const taskAndPenalty = (a: tf.Tensor, g: tf.Tensor) => {
            const theta = gatedDiffParameter({
              base,
              w,
              logAlpha: a,
              u,
              ...options,
              ...(grouped ? { groupLogAlpha: g, groupU } : {}),
            });
            const penalty = grouped
              ? groupExpectedL0(a, g, { ...options, groupPenalty: mode.groupPenalty })
              : expectedL0(a, options);
            return tf.add(tf.sum(tf.mul(theta, dTheta)), tf.mul(penalty, fixture.lambda));
          };
          const [dLogAlpha, dGroup] = grouped
            ? tf.grads(taskAndPenalty)([logAlpha, groupLogAlpha])
            : [tf.grad((a: tf.Tensor) => taskAndPenalty(a, groupLogAlpha))(logAlpha), tf.zeros([1])];
          const expected = get(`${mode.name}/grad_log_alpha/${name}`);
          const scale = tf.max(tf.abs(expected));
          const error = tf.max(tf.abs(tf.sub(dLogAlpha!, expected)));
          const groupExpected = grouped ? get(`${mode.name}/grad_group_log_alpha/${name}`) : tf.zeros([1]);
          const groupError = tf.max(tf.abs(tf.sub(dGroup!, groupExpected)));
          const interior = tf.sum(tf.cast(tf.logicalAnd(nonzero, tf.less(gate, 1)), 'float32'));
          // The group gradient is a sum with cancellation (scale by Σ|dθ·w·z_i|), and its penalty part
          // has σ'(logα_g) = σ(1 − σ) with 1 − σ cancelling in float32 at logα_g = 7 (relative error
          // ≈ 6e-8/(1 − σ) ≈ 7e-5, in PyTorch and here alike): 20× its own size relative, 1e-5 of the rest.
          const elementGate = sampleGate(logAlpha, { ...options, u });
          const groupScale = tf.add(
            tf.mul(tf.abs(groupExpected), 20),
            tf.sum(tf.abs(tf.mul(tf.mul(dTheta, w), elementGate))),
          );
          return tf.stack([gradWhereZero, scale, error, tf.max(groupScale), groupError, interior]);
        });
        const [gradWhereZero, scale, error, groupScale, groupError, interior] = result.dataSync();
        result.dispose();
        expect(gradWhereZero, name).toBe(0);
        expect(error, name).toBeLessThan(1e-5 * scale! + 1e-9);
        expect(groupError, name).toBeLessThan(1e-5 * groupScale! + 1e-9);
        checkedInterior += interior!;
      }
      expect(checkedInterior).toBeGreaterThan(100); // the slope (0 < z < 1) is exercised
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
