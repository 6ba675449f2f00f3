import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BertBackbone, parseBertConfig } from '@diffprune/bert';
import {
  type ParameterMap,
  readSafetensors,
  type SafetensorsFile,
  type TextPairEncoder,
  toFloat32,
} from '@diffprune/core';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { computeGradients } from './gradients.js';
import { emptyTrainables, searchStage, trainableRoles, trainableTensors } from './stages.js';

const fixtures = fileURLToPath(new URL('../../../../shared/fixtures/', import.meta.url));
const present = existsSync(`${fixtures}diffprune-step.json`);
if (!present) console.warn(`skipping the diff-pruning fixture test: ${fixtures} is absent`);

interface Fixture {
  l: number;
  r: number;
  beta: number;
  lambda: number;
  gated_parameters: string[];
  dense_parameters: string[];
  input_ids: number[][];
  token_type_ids: number[][];
  attention_mask: number[][];
  labels: number[];
  results: Record<string, { task_loss: number; expected_l0: number; loss: number; logits: number[][] }>;
}

const noEncoder: TextPairEncoder = {
  padId: 0,
  encode: () => {
    throw new Error('not used');
  },
};

/**
 * Max |a − b| / (max |b| + 1e-8): a relative error over a whole tensor. The absolute floor matters
 * only for gradients that are exactly zero in theory (attention key biases: softmax ignores a
 * per-query constant), which both sides compute as float noise (~1e-14); every other gradient in
 * the fixture is above 2e-7.
 */
const relativeError = (a: Float32Array, b: Float32Array) => {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / (scale + 1e-8);
};

// On every backend available in the process (describeEachBackend): each runs its own kernels (fused
// gate, scatter-add, matmuls); the base parameters are loaded per backend.
describeEachBackend.skipIf(!present)('one diff-pruning step against the PyTorch reference', (backend) => {
  let fixture: Fixture;
  let file: SafetensorsFile;
  let backbone: BertBackbone;
  const tensor = (name: string) => {
    const entry = file.get(name);
    if (!entry) throw new Error(`fixture tensor ${name} missing`);
    return tf.tensor(toFloat32(entry), entry.shape, 'float32');
  };
  let base: ParameterMap;

  beforeAll(async () => {
    fixture = JSON.parse(readFileSync(`${fixtures}diffprune-step.json`, 'utf8')) as Fixture;
    file = await readSafetensors(`${fixtures}diffprune-step.safetensors`);
    const config = parseBertConfig(
      JSON.parse(readFileSync(`${fixtures}diffprune-model/config.json`, 'utf8')),
    );
    backbone = new BertBackbone(config, noEncoder);
    base = {};
    for (const name of [...fixture.gated_parameters, ...fixture.dense_parameters])
      base[name] = tensor(`theta0/${name}`);
  });
  afterAll(() => tf.dispose(Object.values(base)));

  for (const [mode, embeddingRows] of [
    ['unstructured', true],
    ['structured-product', true],
    ['structured-sum', true],
    ['structured-sum', false],
  ] as const) {
    it(`reproduces loss, logits and every gradient (${mode}, word embeddings: ${embeddingRows ? 'batch rows' : 'full table'})`, async () => {
      expect(tf.getBackend()).toBe(backend);
      const structured = mode !== 'unstructured';
      const model = searchStage(base, {
        gated: fixture.gated_parameters,
        dense: fixture.dense_parameters,
        structured,
        groupPenalty: mode === 'structured-product' ? 'product' : 'sum',
        beta: fixture.beta,
        limits: [fixture.l, fixture.r],
      });
      const trainables = emptyTrainables();
      const u: Record<string, tf.Tensor> = {};
      const groupU: Record<string, tf.Tensor> = {};
      for (const name of [...fixture.gated_parameters, ...fixture.dense_parameters])
        trainables.w[name] = tensor(`w/${name}`);
      for (const name of fixture.gated_parameters) {
        trainables.logAlpha[name] = tensor(`log_alpha/${name}`);
        u[name] = tensor(`u/${name}`);
        if (structured) {
          trainables.groupLogAlpha[name] = tensor(`group_log_alpha/${name}`);
          groupU[name] = tensor(`group_u/${name}`);
        }
      }
      const batch = {
        inputIds: tf.tensor2d(fixture.input_ids, undefined, 'int32'),
        tokenTypeIds: tf.tensor2d(fixture.token_type_ids, undefined, 'int32'),
        attentionMask: tf.tensor2d(fixture.attention_mask, undefined, 'int32'),
      };
      const labels = tf.tensor1d(fixture.labels, 'int32');
      const before = tf.memory().numTensors;
      const result = computeGradients({
        backbone,
        model,
        trainables,
        gate: { kind: 'noise', noise: { seeds: {}, u, groupU } },
        batch,
        labels,
        regression: false,
        lambda: fixture.lambda,
        training: false,
        embeddingRows,
      });
      const expected = fixture.results[mode]!;
      expect(result.taskLoss.dataSync()[0]).toBeCloseTo(expected.task_loss, 5);
      expect(result.penalty!.dataSync()[0]! / expected.expected_l0).toBeCloseTo(1, 5);
      expect(result.loss.dataSync()[0]! / expected.loss).toBeCloseTo(1, 5);
      const logits = tf.tidy(() =>
        backbone.classify(
          model.parameters(trainables, { kind: 'noise', noise: { seeds: {}, u, groupU } }),
          batch,
          {
            training: false,
          },
        ),
      );
      const found = logits.dataSync();
      for (const [i, v] of expected.logits.flat().entries()) expect(found[i]).toBeCloseTo(v, 5);
      logits.dispose();

      const worst: [string, number][] = [];
      // The fixture's names for each role's gradients.
      const fixtureNames = {
        theta: 'theta',
        w: 'w',
        logAlpha: 'log_alpha',
        groupLogAlpha: 'group_log_alpha',
      };
      for (const role of trainableRoles)
        for (const [name, grad] of Object.entries(result.grads[role])) {
          const fixtureKey = `${mode}/grad_${fixtureNames[role]}/${name}`;
          const reference = toFloat32(file.get(fixtureKey)!);
          worst.push([fixtureKey, relativeError(grad.dataSync() as Float32Array, reference)]);
        }
      worst.sort((a, b) => b[1] - a[1]);
      expect(worst[0]![1], `worst gradient: ${worst[0]![0]}`).toBeLessThan(5e-4);
      expect(worst.length).toBe(
        fixture.gated_parameters.length * (structured ? 3 : 2) + fixture.dense_parameters.length,
      );
      tf.dispose([result.loss, result.taskLoss, result.penalty!, ...trainableTensors(result.grads)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([...trainableTensors(trainables), ...Object.values(u), ...Object.values(groupU), labels]);
      tf.dispose([batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
    });
  }
});
