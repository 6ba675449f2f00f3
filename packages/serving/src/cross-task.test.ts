import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ServingEvent } from './events.js';
import { MultiTaskModel, type TaskInput } from './multi-task.js';
import { PredictionQueue } from './queue.js';
import { checkpointBase, writeRandomBert, writeRandomDiff } from './test/index.js';

// Cross-task batching: rows of different tasks (label counts 2, 3 and a regression head; two
// versions of one task) in one forward pass must answer as each task's own `predict` (the merged
// model, itself checked against loadWithDiff + predictTexts in multi-task*.test.ts).
const inputs: TaskInput[] = [
  'a great film',
  ['a fun movie', 'not good'],
  'the movie is not bad at all , xyzzy',
  'bad',
  ['great', 'great plot'],
  'the plot is dull',
];

interface Family {
  name: string;
  /** The base directory and the diffs (name → path, label count). */
  setup: () => Promise<{ directory: string; diffs: Record<string, { path: string; numLabels: number }> }>;
}

const fixtures = fileURLToPath(new URL('../../../fixtures/models/', import.meta.url));

/** Diffs of 2, 3 (some tensors stored whole), 1 (regression) and again 2 labels (a second version of `two`). */
async function writeDiffs(
  root: string,
  options: Omit<Parameters<typeof writeRandomDiff>[1], 'seed' | 'numLabels'>,
  seed: number,
): Promise<Record<string, { path: string; numLabels: number }>> {
  const diffs: Record<string, { path: string; numLabels: number }> = {};
  for (const [i, [name, numLabels]] of Object.entries({ two: 2, three: 3, score: 1, two2: 2 }).entries()) {
    const path = join(root, `${name}.diff.safetensors`);
    // `three` stores its position table and one layer's output weight whole (replace, not δ).
    const dense =
      name === 'three'
        ? Object.keys(options.base).filter((n) =>
            /position_embeddings|layer\.0\.output\.dense\.weight/.test(n),
          )
        : [];
    await writeRandomDiff(path, { ...options, seed: seed + i, numLabels, dense });
    diffs[name] = { path, numLabels };
  }
  return diffs;
}

const families: Family[] = [
  {
    name: 'bert',
    setup: async () => {
      const root = await mkdtemp(join(tmpdir(), 'dp-cross-bert-'));
      const directory = join(root, 'base');
      const base = await writeRandomBert(directory, 11);
      return { directory, diffs: await writeDiffs(root, base, 300) };
    },
  },
  {
    // A head of two layers (classifier.dense from the checkpoint, with a sparse δ; out_proj dense per
    // task), positions from the ids, no token types (row 0 of the type table, per row).
    name: 'roberta',
    setup: async () => {
      const directory = join(fixtures, 'roberta');
      const { base, hidden, fingerprint } = await checkpointBase(directory);
      const root = await mkdtemp(join(tmpdir(), 'dp-cross-roberta-'));
      const head = { weight: 'classifier.out_proj.weight', bias: 'classifier.out_proj.bias' };
      return { directory, diffs: await writeDiffs(root, { base, fingerprint, hidden, head }, 400) };
    },
  },
];

for (const family of families) {
  describeEachBackend(`cross-task batching (${family.name})`, () => {
    let model: MultiTaskModel;
    let diffs: Record<string, { path: string; numLabels: number }>;
    const events: ServingEvent[] = [];

    beforeAll(async () => {
      const made = await family.setup();
      diffs = made.diffs;
      model = await MultiTaskModel.load(made.directory, {
        batchSize: 8,
        onServingEvent: (e) => events.push(e),
      });
      for (const name of ['two', 'three', 'score']) await model.register(name, diffs[name]!.path);
    });
    afterAll(() => model.dispose());

    const expectClose = (found: number[], expected: number[]) => {
      expect(found).toHaveLength(expected.length);
      found.forEach((x, j) => {
        expect(Math.abs(x - expected[j]!)).toBeLessThan(1e-5);
      });
    };

    it('a batch mixing tasks (2 and 3 labels, regression) answers as each task alone, in one forward pass, without leaking', async () => {
      const expected: Record<string, number[][]> = {};
      for (const name of ['two', 'three', 'score'])
        expected[name] = (await model.predict(name, inputs)).predictions.map((p) => p.logits);
      const before = tf.memory().numTensors;
      // Each request one input, tasks interleaved: 18 rows, batches of 8 mixing all three tasks.
      const requests = inputs.flatMap((input, i) =>
        ['score', 'two', 'three'].map((task) => ({ task, inputs: [input], i })),
      );
      events.length = 0;
      const answers = await model.predictMany(requests);
      expect(tf.memory().numTensors).toBe(before);
      const batches = events.filter((e) => e.type === 'batch-end');
      expect(batches).toHaveLength(3);
      expect(batches.every((e) => e.type === 'batch-end' && e.task.split(',').length > 1)).toBe(true);
      answers.forEach((answer, r) => {
        const { task, i } = requests[r]!;
        expect(answer.task).toBe(task);
        expect(answer.predictions).toHaveLength(1);
        expectClose(answer.predictions[0]!.logits, expected[task]![i]!);
        if (task === 'score') expect(answer.predictions[0]!.score).toBe(answer.predictions[0]!.logits[0]);
        else expect(answer.labels).toHaveLength(diffs[task]!.numLabels);
      });
    });

    it('two versions of one task in one batch answer each with its own diff (hot reload pinning)', async () => {
      const old = model.acquire('two');
      const oldExpected = (await model.predict(old, inputs)).predictions.map((p) => p.logits);
      await model.register('two', diffs.two2!.path);
      const newExpected = (await model.predict('two', inputs)).predictions.map((p) => p.logits);
      const before = tf.memory().numTensors;
      const [a, b] = await model.predictMany([
        { task: old, inputs },
        { task: 'two', inputs },
      ]);
      old.release();
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
      expect([a!.version, b!.version]).toEqual([1, 2]);
      for (const [i, p] of a!.predictions.entries()) expectClose(p.logits, oldExpected[i]!);
      for (const [i, p] of b!.predictions.entries()) expectClose(p.logits, newExpected[i]!);
      // The two versions differ (so the check above could fail).
      expect(Math.abs(oldExpected[0]![0]! - newExpected[0]![0]!)).toBeGreaterThan(1e-3);
    });

    it('the queue batches across tasks (FIFO) and answers as predict does', async () => {
      const queue = new PredictionQueue(model, { crossTask: true, maxBatchInputs: 8 });
      const expected: Record<string, number[][]> = {};
      for (const name of ['two', 'three', 'score'])
        expected[name] = (await model.predict(name, inputs)).predictions.map((p) => p.logits);
      events.length = 0;
      const requests = inputs.flatMap((input, i) =>
        ['three', 'score', 'two'].map((task) => ({ task, input, i })),
      );
      const answers = await Promise.all(requests.map((r) => queue.submit(r.task, [r.input])));
      await queue.close();
      answers.forEach((answer, r) => {
        expectClose(answer.predictions[0]!.logits, expected[requests[r]!.task]![requests[r]!.i]!);
      });
      // 18 one-input requests in groups of at most 8: 3 groups, each mixing tasks.
      const batches = events.filter((e) => e.type === 'batch-end');
      expect(batches).toHaveLength(3);
      expect(batches.every((e) => e.type === 'batch-end' && e.task.includes(','))).toBe(true);
    });
  });
}
