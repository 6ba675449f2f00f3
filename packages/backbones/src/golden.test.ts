import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type EncodedBatch,
  type LoadedBackbone,
  type ParameterMap,
  readSafetensors,
  toFloat32,
} from '@diffprune/core';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadBackbone } from './registry.js';

/**
 * Parity with HF transformers for each family, on the fixture models and goldens that
 * fixtures/scripts/make-goldens.py wrote: logits at θ0, and one diff-pruning step — θ = θ0 + z ⊙ w for
 * every gated tensor, θ0 + w for the head — its logits, task loss and gradients with respect to w.
 * Loaded through the registry (config.json model_type), as a user's directory would be.
 */
const fixtures = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

interface Golden {
  logits: {
    input_ids: number[][];
    attention_mask: number[][];
    token_type_ids: number[][] | null;
    logits: number[][];
  };
  step: {
    l: number;
    r: number;
    beta: number;
    parameters: string[];
    gated_parameters: string[];
    dense_parameters: string[];
    labels: number[];
    task_loss: number;
    logits: number[][];
    token_embedding: string;
    token_embedding_rows: number[];
  };
}

/** The closed forms of make-goldens.py, in float64 then float32: w, and the hard-concrete gate z. */
const closedForm = (shape: number[], k: number, step: Golden['step']) => {
  const size = shape.reduce((a, b) => a * b, 1);
  const w = new Float32Array(size);
  const z = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    w[i] = 0.05 * Math.sin(0.7 * i + 1.3 * k);
    const logAlpha = 3 * Math.sin(0.31 * i + 0.5 * k);
    const u = 0.5 + 0.49 * Math.sin(1.7 * i + 0.9 * k);
    const s = 1 / (1 + Math.exp(-((Math.log(u) - Math.log(1 - u) + logAlpha) / step.beta)));
    z[i] = Math.min(1, Math.max(0, s * (step.r - step.l) + step.l));
  }
  return { w: tf.tensor(w, shape, 'float32'), z: tf.tensor(z, shape, 'float32') };
};

const maxError = (found: ArrayLike<number>, expected: ArrayLike<number>) => {
  let error = 0;
  for (let i = 0; i < expected.length; i++) error = Math.max(error, Math.abs(found[i]! - expected[i]!));
  return error;
};

for (const family of ['bert', 'distilbert', 'roberta', 'electra'] as const) {
  describeEachBackend(`${family}: parity with HF transformers`, () => {
    let golden: Golden;
    let loaded: LoadedBackbone;
    let grads: Map<string, tf.Tensor>;
    const batchOf = (): EncodedBatch => ({
      inputIds: tf.tensor2d(golden.logits.input_ids, undefined, 'int32'),
      attentionMask: tf.tensor2d(golden.logits.attention_mask, undefined, 'int32'),
      ...(golden.logits.token_type_ids
        ? { tokenTypeIds: tf.tensor2d(golden.logits.token_type_ids, undefined, 'int32') }
        : {}),
    });
    const disposeBatch = (b: EncodedBatch) => tf.dispose([b.inputIds, b.attentionMask, b.tokenTypeIds]);

    beforeAll(async () => {
      golden = JSON.parse(readFileSync(`${fixtures}goldens/${family}.json`, 'utf8')) as Golden;
      loaded = await loadBackbone(`${fixtures}models/${family}`, { head: { numLabels: 3 } });
      const file = await readSafetensors(`${fixtures}goldens/${family}.safetensors`);
      grads = new Map(file.tensors.map((t) => [t.name, tf.tensor(toFloat32(t), t.shape, 'float32')]));
    });
    afterAll(() => {
      tf.dispose([...grads.values(), ...Object.values(loaded.params)]);
    });

    it('loads the transformers ≥ 5 layout (tokenizer.json, no vocab.txt) with the head from the checkpoint', () => {
      expect(loaded.backbone.modelType).toBe(family);
      expect(loaded.created).toEqual([]);
      expect(loaded.backbone.configuredLabels).toBe(3);
    });

    it('gates exactly the encoder tensors HF has outside the head, and the head is dense', () => {
      const head = { numLabels: 3 };
      expect([...loaded.backbone.gatedParameterNames(head)].sort()).toEqual(
        [...golden.step.gated_parameters].sort(),
      );
      expect([...loaded.backbone.headParameterNames(head)].sort()).toEqual(
        [...golden.step.dense_parameters].sort(),
      );
    });

    it('logits at θ0 within 1e-4 of HF', async () => {
      const batch = batchOf();
      const before = tf.memory().numTensors;
      const logits = loaded.backbone.classify(loaded.params, batch, { training: false });
      expect(maxError((await logits.data()) as Float32Array, golden.logits.logits.flat())).toBeLessThan(1e-4);
      logits.dispose();
      expect(tf.memory().numTensors).toBe(before);
      disposeBatch(batch);
    });

    it('one diff-pruning step: logits, task loss and ∂loss/∂w within 1e-4 of HF autograd', async () => {
      const step = golden.step;
      const dense = new Set(step.dense_parameters);
      const forms = step.parameters.map((name, k) => closedForm([...loaded.params[name]!.shape], k, step));
      const batch = batchOf();
      const labels = tf.oneHot(tf.tensor1d(step.labels, 'int32'), 3);
      const objective = (...ws: tf.Tensor[]) => {
        const params: ParameterMap = {};
        step.parameters.forEach((name, k) => {
          const base = loaded.params[name]!;
          params[name] = dense.has(name) ? tf.add(base, ws[k]!) : tf.add(base, tf.mul(forms[k]!.z, ws[k]!));
        });
        const logits = loaded.backbone.classify(params, batch, { training: false });
        return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1))) as tf.Scalar;
      };
      const { value, grads: found } = tf.valueAndGrads(objective)(forms.map((f) => f.w));
      expect(Math.abs((await value.data())[0]! - step.task_loss)).toBeLessThan(1e-4);
      const rows = tf.tensor1d(step.token_embedding_rows, 'int32');
      let compared = 0;
      for (const [k, name] of step.parameters.entries()) {
        const expected = grads.get(`grad_w/${name}`) ?? grads.get(`grad_w_rows/${name}`);
        expect(expected, name).toBeDefined();
        const gradient = name === step.token_embedding ? tf.gather(found[k]!, rows) : found[k]!;
        expect(maxError(await gradient.data(), await expected!.data()), name).toBeLessThan(1e-4);
        if (gradient !== found[k]) gradient.dispose();
        compared++;
      }
      expect(compared).toBe(Object.keys(loaded.params).length);
      tf.dispose([value, ...found, rows, labels, ...forms.flatMap((f) => [f.w, f.z])]);
      disposeBatch(batch);
    });
  });
}
