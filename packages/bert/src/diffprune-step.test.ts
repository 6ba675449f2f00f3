import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { disposeParameters, type ParameterMap, readSafetensors, toFloat32 } from '@diffprune/core';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readBertConfig } from './checkpoint-files.js';
import { BertBackbone } from './model.js';
import { toEncodedBatch, WordPieceTokenizer } from './tokenizer.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const jsonPath = `${shared}fixtures/diffprune-step.json`;
const tensorsPath = `${shared}fixtures/diffprune-step.safetensors`;
const modelPath = `${shared}fixtures/diffprune-model`;
const missing = ![jsonPath, tensorsPath, modelPath].every(existsSync);
if (missing) process.stderr.write(`skipping diffprune-step tests: ${jsonPath} or its tensors are absent\n`);

type Mode = 'unstructured' | 'structured-product' | 'structured-sum';
interface StepFixture {
  l: number;
  r: number;
  beta: number;
  gated_parameters: string[];
  dense_parameters: string[];
  input_ids: number[][];
  token_type_ids: number[][];
  attention_mask: number[][];
  labels: number[];
  results: Record<Mode, { task_loss: number; logits: number[][] }>;
}

/**
 * The diff-pruning step from the fixture's tensors: θ = θ0 + z·w (structured: θ0 + z·z_g·w) for
 * gated parameters and θ0 + w for the head, with the hard-concrete gate of the fixtures README.
 * On every backend available in the process (describeEachBackend); the tensors are loaded per backend.
 */
describeEachBackend.skipIf(missing)('the diffprune-step fixture through the BERT forward', (backend) => {
  let fixture: StepFixture;
  let tensors: Map<string, tf.Tensor>;
  let backbone: BertBackbone;

  const get = (name: string) => {
    const tensor = tensors.get(name);
    if (!tensor) throw new Error(`fixture tensor ${name} is missing`);
    return tensor;
  };
  const gate = (logAlpha: tf.Tensor, u: tf.Tensor) =>
    tf.tidy(() => {
      const s = tf.sigmoid(tf.div(tf.add(tf.sub(tf.log(u), tf.log(tf.sub(1, u))), logAlpha), fixture.beta));
      return tf.clipByValue(tf.add(tf.mul(s, fixture.r - fixture.l), fixture.l), 0, 1);
    });
  /** z (and z·z_g) per gated name: constants of the step. */
  const gates = (structured: boolean): Record<string, tf.Tensor> => {
    const out: Record<string, tf.Tensor> = {};
    for (const name of fixture.gated_parameters) {
      out[name] = tf.tidy(() => {
        const z = gate(get(`log_alpha/${name}`), get(`u/${name}`));
        return structured ? tf.mul(z, gate(get(`group_log_alpha/${name}`), get(`group_u/${name}`))) : z;
      });
    }
    return out;
  };
  const theta = (z: Record<string, tf.Tensor>, w: Record<string, tf.Tensor>): ParameterMap => {
    const params: ParameterMap = {};
    for (const name of fixture.gated_parameters)
      params[name] = tf.tidy(() => tf.add(get(`theta0/${name}`), tf.mul(z[name]!, w[name]!)));
    for (const name of fixture.dense_parameters) params[name] = tf.add(get(`theta0/${name}`), w[name]!);
    return params;
  };
  const crossEntropy = (logits: tf.Tensor2D) =>
    tf.tidy(() => {
      const labels = tf.oneHot(tf.tensor1d(fixture.labels, 'int32'), logits.shape[1]);
      return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1)));
    });
  const batchOf = () =>
    toEncodedBatch({
      inputIds: fixture.input_ids,
      tokenTypeIds: fixture.token_type_ids,
      attentionMask: fixture.attention_mask,
    });

  beforeAll(async () => {
    fixture = JSON.parse(readFileSync(jsonPath, 'utf8')) as StepFixture;
    const file = await readSafetensors(tensorsPath);
    tensors = new Map(file.tensors.map((t) => [t.name, tf.tensor(toFloat32(t), t.shape, 'float32')]));
    const config = await readBertConfig(modelPath);
    // The fixture model ships no vocabulary; the forward needs none.
    backbone = new BertBackbone(
      config,
      new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]'], { lowercase: true }),
    );
  });
  afterAll(() => {
    for (const t of tensors.values()) t.dispose();
  });

  it('covers exactly the backbone gated set and the dense head', () => {
    const head = { numLabels: 2 };
    expect([...fixture.gated_parameters].sort()).toEqual(backbone.gatedParameterNames(head).sort());
    expect([...fixture.dense_parameters].sort()).toEqual(['classifier.bias', 'classifier.weight']);
  });

  for (const mode of ['unstructured', 'structured-product', 'structured-sum'] as const) {
    it(`${mode}: logits and task loss match the reference`, async () => {
      expect(tf.getBackend()).toBe(backend);
      const before = tf.memory().numTensors;
      const z = gates(mode !== 'unstructured');
      const w = Object.fromEntries(
        [...fixture.gated_parameters, ...fixture.dense_parameters].map((n) => [n, get(`w/${n}`)]),
      );
      const params = theta(z, w);
      const batch = batchOf();
      const logits = backbone.classify(params, batch, { training: false });
      const loss = crossEntropy(logits);
      const expected = fixture.results[mode];
      const found = (await logits.array()) as number[][];
      for (let i = 0; i < found.length; i++)
        for (let j = 0; j < found[i]!.length; j++)
          expect(found[i]![j]).toBeCloseTo(expected.logits[i]![j]!, 5);
      expect((await loss.data())[0]).toBeCloseTo(expected.task_loss, 5);
      tf.dispose([
        logits,
        loss,
        batch.inputIds,
        batch.tokenTypeIds,
        batch.attentionMask,
        ...Object.values(z),
      ]);
      disposeParameters(params);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  for (const mode of ['unstructured', 'structured-sum'] as const) {
    it(`${mode}: gradients of the task loss with respect to w match the reference`, async () => {
      expect(tf.getBackend()).toBe(backend);
      const z = gates(mode !== 'unstructured');
      const names = [...fixture.gated_parameters, ...fixture.dense_parameters];
      const batch = batchOf();
      const gradient = tf.grads((...ws: tf.Tensor[]) => {
        const params = theta(z, Object.fromEntries(names.map((n, i) => [n, ws[i]!])));
        return crossEntropy(backbone.classify(params, batch, { training: false }));
      });
      const grads = gradient(names.map((n) => get(`w/${n}`)));
      for (const [i, name] of names.entries()) {
        const expected = toFloat32Array(get(`${mode}/grad_w/${name}`));
        const found = await grads[i]!.data();
        let scale = 0;
        let error = 0;
        for (let k = 0; k < expected.length; k++) {
          scale = Math.max(scale, Math.abs(expected[k]!));
          error = Math.max(error, Math.abs(found[k]! - expected[k]!));
        }
        expect(error, name).toBeLessThanOrEqual(1e-6 + 1e-3 * scale);
      }
      tf.dispose([...grads, batch.inputIds, batch.tokenTypeIds, batch.attentionMask, ...Object.values(z)]);
    });
  }
});

const toFloat32Array = (tensor: tf.Tensor) => tensor.dataSync() as Float32Array;
