import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadWithDiff, predictTexts } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { MultiTaskModel, type TaskInput } from './multi-task.js';
import { checkpointBase, writeRandomDiff } from './test/index.js';

// Serving a base whose head is not BERT's `classifier.weight`: the HF-saved RoBERTa and ELECTRA
// fixtures (head classifier.dense.* + classifier.out_proj.*, finetuned with 3 labels).
const fixtures = fileURLToPath(new URL('../../../fixtures/models/', import.meta.url));
const inputs: TaskInput[] = ['a great film', ['a fun movie', 'not good'], 'the plot is dull , xyzzy'];

describe.each(['roberta', 'electra'])('MultiTaskModel with a %s base', (family) => {
  it('serves 2- and 1-output diffs (head classifier.out_proj.*) as loadWithDiff + predictTexts do', async () => {
    const directory = join(fixtures, family);
    // The base tensors a diff is made against: the checkpoint's, the 3-label out_proj left out.
    const { base, created, hidden, fingerprint } = await checkpointBase(directory);
    expect(created).toEqual(['classifier.out_proj.bias', 'classifier.out_proj.weight']);
    const root = await mkdtemp(join(tmpdir(), `dp-serving-${family}-`));
    const tasks = { pair: 2, score: 1 };
    for (const [i, [name, numLabels]] of Object.entries(tasks).entries()) {
      await writeRandomDiff(join(root, `${name}.diff.safetensors`), {
        base,
        fingerprint,
        seed: 200 + i,
        numLabels,
        hidden,
        head: { weight: 'classifier.out_proj.weight', bias: 'classifier.out_proj.bias' },
      });
    }

    const model = await MultiTaskModel.load(directory);
    for (const name of Object.keys(tasks)) await model.register(name, join(root, `${name}.diff.safetensors`));
    const before = tf.memory().numTensors;
    for (const [name, numLabels] of Object.entries(tasks)) {
      const result = await model.predict(name, inputs);
      const { loaded: reference } = await loadWithDiff(directory, join(root, `${name}.diff.safetensors`));
      const texts = inputs.map((x) => (typeof x === 'string' ? { textA: x } : { textA: x[0], textB: x[1] }));
      const expected = await predictTexts(reference, texts, { batchSize: 2 });
      tf.dispose(Object.values(reference.params));
      expect(result.predictions).toHaveLength(inputs.length);
      for (const [i, p] of result.predictions.entries()) {
        expect(p.logits).toHaveLength(numLabels);
        for (const [j, x] of p.logits.entries())
          expect(Math.abs(x - expected[i]!.logits[j]!)).toBeLessThan(1e-5);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
