import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '@diffprune/core';
import { describeBackboneConformance } from '@diffprune/core/test';
import { applyDiff, createDiff, encodeDiff, readDiff, type TensorArrays } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll } from 'vitest';
import { loadBackbone } from './registry.js';

/** Every family through the shared backbone conformance suite (the acceptance test of docs/adding-a-backbone.md). */
const fixtures = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
const isHead = (name: string) => name.startsWith('classifier.') || name.startsWith('pre_classifier.');

const toArrays = async (params: Record<string, tf.Tensor>): Promise<TensorArrays> => {
  const out: TensorArrays = {};
  for (const [name, t] of Object.entries(params))
    out[name] = { shape: [...t.shape], values: (await t.data()) as Float32Array };
  return out;
};

/** base + decode(encode(createDiff(base, tuned))), through the sparse-diff file format; heads dense. */
const diffRoundTrip = async (base: Record<string, tf.Tensor>, tuned: Record<string, tf.Tensor>) => {
  const baseArrays = await toArrays(base);
  const diff = createDiff({
    base: baseArrays,
    tuned: await toArrays(tuned),
    dense: Object.keys(base).filter(isHead),
    provenance: {
      baseModel: { id: 'test', revision: 'local' },
      baseFingerprint: '0'.repeat(64),
      method: 'test',
      settings: {},
      task: 'test',
    },
  });
  const rebuilt = applyDiff(baseArrays, readDiff(Buffer.concat(encodeDiff(diff))));
  return Object.fromEntries(
    Object.entries(rebuilt).map(([name, t]) => [name, tf.tensor(t.values, t.shape, 'float32')]),
  );
};

/** A copy of a fixture model without its head (a pre-trained checkpoint), in a temporary directory. */
const temporary: string[] = [];
const headless = async (family: string): Promise<string> => {
  const source = `${fixtures}models/${family}`;
  const directory = await mkdtemp(join(tmpdir(), `diffprune-${family}-`));
  temporary.push(directory);
  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    await copyFile(join(source, file), join(directory, file));
  const { tensors } = await readSafetensors(join(source, 'model.safetensors'));
  await writeSafetensors(
    join(directory, 'model.safetensors'),
    tensors.filter((t) => !isHead(t.name)),
  );
  return directory;
};
afterAll(async () => {
  for (const directory of temporary) await rm(directory, { recursive: true, force: true });
});

for (const family of ['bert', 'distilbert', 'roberta', 'electra'] as const) {
  describeBackboneConformance(`${family} fixture model (head in the checkpoint, 3 labels)`, {
    load: () => loadBackbone(`${fixtures}models/${family}`, { head: { numLabels: 3 }, seed: 3 }),
    head: { numLabels: 3 },
    diffRoundTrip,
  });
  describeBackboneConformance(`${family} fixture model without its head, as a regression model`, {
    load: async () => loadBackbone(await headless(family), { head: { numLabels: 1 }, seed: 3 }),
    head: { numLabels: 1 },
    diffRoundTrip,
  });
}
