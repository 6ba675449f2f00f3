import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeBackboneConformance } from '@diffprune/core/test';
import { applyDiff, createDiff, encodeDiff, readDiff, type TensorArrays } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { loadBert } from './load.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const models = [
  {
    name: 'forward fixture model (classifier in the checkpoint)',
    path: `${shared}fixtures/forward-model`,
    numLabels: 3,
  },
  {
    name: 'bert-tiny-mlm-offline (MLM head ignored, classifier created)',
    path: `${shared}models/bert-tiny-mlm-offline`,
    numLabels: 2,
  },
  {
    name: 'bert-tiny-mlm-offline as a regression model',
    path: `${shared}models/bert-tiny-mlm-offline`,
    numLabels: 1,
  },
];

const toArrays = async (params: Record<string, tf.Tensor>): Promise<TensorArrays> => {
  const out: TensorArrays = {};
  for (const [name, t] of Object.entries(params))
    out[name] = { shape: [...t.shape], values: (await t.data()) as Float32Array };
  return out;
};

/** base + decode(encode(createDiff(base, tuned))), through the sparse-diff file format. */
const diffRoundTrip = async (base: Record<string, tf.Tensor>, tuned: Record<string, tf.Tensor>) => {
  const baseArrays = await toArrays(base);
  const diff = createDiff({
    base: baseArrays,
    tuned: await toArrays(tuned),
    dense: ['classifier.weight', 'classifier.bias'],
    provenance: {
      baseModel: { id: 'test', revision: 'local' },
      baseFingerprint: '0'.repeat(64),
      method: 'test',
      settings: {},
      task: 'test',
    },
  });
  const decoded = readDiff(Buffer.concat(encodeDiff(diff)));
  const rebuilt = applyDiff(baseArrays, decoded);
  return Object.fromEntries(
    Object.entries(rebuilt).map(([name, t]) => [name, tf.tensor(t.values, t.shape, 'float32')]),
  );
};

for (const model of models) {
  if (existsSync(model.path)) {
    describeBackboneConformance(`bert: ${model.name}`, {
      load: () => loadBert(model.path, { head: { numLabels: model.numLabels }, seed: 3 }),
      head: { numLabels: model.numLabels },
      diffRoundTrip,
    });
  } else {
    describe(`bert conformance: ${model.name}`, () => {
      it.skip(`skipped: ${model.path} is absent`, () => {});
    });
  }
}
