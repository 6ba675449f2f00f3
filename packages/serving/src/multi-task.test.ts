import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaseMismatchError } from '@diffprune/sparse-diff';
import { loadWithDiff, predictTexts } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueFullError, TooManyInputsError, UnknownTaskError } from './errors.js';
import { MultiTaskModel, type SwitchingStrategy, type TaskInput } from './multi-task.js';
import { PredictionQueue } from './queue.js';
import { writeRandomBert, writeRandomDiff } from './test/index.js';

const inputs: TaskInput[] = [
  'a great film',
  'the plot is dull',
  ['a fun movie', 'not good'],
  'bad',
  'the movie is not bad at all , xyzzy',
  ['great', 'great plot'],
];

let directory: string;
let base: Awaited<ReturnType<typeof writeRandomBert>>;
const diffs: Record<string, { path: string; numLabels: number }> = {};

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), 'dp-serving-'));
  directory = join(root, 'base');
  base = await writeRandomBert(directory, 7);
  const tasks = [
    { name: 'sst2', numLabels: 2, task: 'sst2' },
    { name: 'mnli-like', numLabels: 3, task: 'custom', settings: { labels: ['yes', 'maybe', 'no'] } },
    { name: 'stsb', numLabels: 1, task: 'stsb' },
    // The token embedding stored whole (`replace`): per-batch overlays look up the batch's rows of the
    // diff's table, not of the base (ids are renumbered to those rows).
    { name: 'whole-table', numLabels: 2, task: 'sst2', dense: ['bert.embeddings.word_embeddings.weight'] },
  ];
  for (const [i, t] of tasks.entries()) {
    const path = join(root, `${t.name}.diff.safetensors`);
    await writeRandomDiff(path, {
      ...base,
      seed: 100 + i,
      numLabels: t.numLabels,
      task: t.task,
      ...(t.settings ? { settings: t.settings } : {}),
      ...(t.dense ? { dense: t.dense } : {}),
    });
    diffs[t.name] = { path, numLabels: t.numLabels };
  }
});

/** The single-task reference: the base with the diff applied (`loadWithDiff`), then `predictTexts`. */
async function reference(name: string): Promise<number[][]> {
  const { loaded } = await loadWithDiff(directory, diffs[name]!.path);
  const texts = inputs.map((x) => (typeof x === 'string' ? { textA: x } : { textA: x[0], textB: x[1] }));
  const predictions = await predictTexts(loaded, texts, { batchSize: 4 });
  tf.dispose(Object.values(loaded.params));
  return predictions.map((p) => p.logits);
}

describe.each(['per-batch', 'resident'] as SwitchingStrategy[])('MultiTaskModel (%s)', (strategy) => {
  it('answers every task as the base with that diff applied does (logits within 1e-5), without leaking tensors', async () => {
    const model = await MultiTaskModel.load(directory, { strategy });
    for (const name of Object.keys(diffs)) await model.register(name, diffs[name]!.path);
    expect(model.tasks().map((t) => t.name)).toEqual(['mnli-like', 'sst2', 'stsb', 'whole-table']);
    const before = tf.memory().numTensors;
    // Interleaved tasks: switching leaves no trace of the previous task.
    for (const name of ['sst2', 'stsb', 'mnli-like', 'whole-table', 'sst2']) {
      const result = await model.predict(name, inputs);
      const expected = await reference(name);
      expect(result.predictions).toHaveLength(inputs.length);
      result.predictions.forEach((p, i) => {
        expect(p.logits).toHaveLength(diffs[name]!.numLabels);
        p.logits.forEach((x, j) => {
          expect(Math.abs(x - expected[i]![j]!)).toBeLessThan(1e-5);
        });
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('MultiTaskModel', () => {
  let model: MultiTaskModel;
  beforeAll(async () => {
    model = await MultiTaskModel.load(directory);
    for (const name of Object.keys(diffs)) await model.register(name, diffs[name]!.path);
  });
  afterAll(() => model.dispose());

  it('names labels from the diff, else from GLUE; regression answers a score', async () => {
    const sst2 = await model.predict('sst2', ['a great film']);
    expect(sst2.labels).toEqual(['0', '1']);
    const p = sst2.predictions[0]!;
    expect(p.label).toBe(sst2.labels[p.labelIndex!]);
    expect(p.labelIndex).toBe(p.logits.indexOf(Math.max(...p.logits)));
    expect(p.scores!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    const custom = await model.predict('mnli-like', ['dull']);
    expect(custom.labels).toEqual(['yes', 'maybe', 'no']);
    const stsb = await model.predict('stsb', ['a', ['b', 'c']]);
    expect(stsb.labels).toEqual([]);
    expect(stsb.predictions[1]!.score).toBe(stsb.predictions[1]!.logits[0]);
    expect(model.tasks().find((t) => t.name === 'stsb')!.kind).toBe('regression');
  });

  it('registers from bytes and from an http URL; refuses a diff of another base and unknown tasks', async () => {
    const bytes = new Uint8Array(await readFile(diffs.sst2!.path));
    await model.register('from-bytes', bytes);
    const server = createServer((_, response) => response.end(bytes)).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sst2.diff.safetensors`;
    await model.register('from-url', url);
    server.close();
    const [a, b, c] = await Promise.all(
      ['sst2', 'from-bytes', 'from-url'].map((t) => model.predict(t, inputs)),
    );
    expect(b!.predictions).toEqual(a!.predictions);
    expect(c!.predictions).toEqual(a!.predictions);
    expect(model.unregister('from-bytes')).toBe(true);
    expect(model.unregister('from-url')).toBe(true);

    const other = await mkdtemp(join(tmpdir(), 'dp-serving-other-'));
    const otherBase = await writeRandomBert(join(other, 'base'), 8);
    const foreign = join(other, 'foreign.diff.safetensors');
    await writeRandomDiff(foreign, { ...otherBase, seed: 1, numLabels: 2 });
    await expect(model.register('foreign', foreign)).rejects.toBeInstanceOf(BaseMismatchError);
    await expect(model.predict('nope', inputs)).rejects.toBeInstanceOf(UnknownTaskError);
    expect(model.has('foreign')).toBe(false);
  });
});

describe('PredictionQueue', () => {
  it('pins each request to the version admitted, never mixes versions in a group, and groups by task', async () => {
    const model = await MultiTaskModel.load(directory);
    await model.register('t', diffs.sst2!.path);
    const v1 = await model.predict('t', inputs);
    const batches: { version: number; inputs: number }[] = [];
    const queue = new PredictionQueue(model, { maxBatchInputs: 64 });
    const stop = model.subscribe((event) => {
      if (event.type === 'batch-end') batches.push({ version: event.version, inputs: event.inputs });
    });
    const first = Array.from({ length: 10 }, () => queue.submit('t', inputs));
    await model.register('t', diffs['mnli-like']!.path); // replaced while the first ten wait
    const second = Array.from({ length: 10 }, () => queue.submit('t', inputs));
    const [a, b] = [await Promise.all(first), await Promise.all(second)];
    stop();
    const v2 = await model.predict('t', inputs);
    for (const r of a) {
      expect(r.version).toBe(1);
      expect(r.predictions).toEqual(v1.predictions);
    }
    for (const r of b) {
      expect(r.version).toBe(2);
      expect(r.predictions).toEqual(v2.predictions);
    }
    // Each version ran as one group of all its requests (60 inputs ≤ 64).
    expect(batches).toEqual([
      { version: 1, inputs: 60 },
      { version: 2, inputs: 60 },
    ]);
    await queue.close();
    model.dispose();
  });

  it('refuses too many inputs, and new requests when full (with a retry delay)', async () => {
    const model = await MultiTaskModel.load(directory);
    await model.register('t', diffs.sst2!.path);
    const queue = new PredictionQueue(model, { maxRequestInputs: 6, maxQueuedInputs: 12 });
    await expect(queue.submit('t', [...inputs, 'one more'])).rejects.toBeInstanceOf(TooManyInputsError);
    const admitted = [queue.submit('t', inputs), queue.submit('t', inputs)];
    const refused = queue.submit('t', ['x']);
    await expect(refused).rejects.toBeInstanceOf(QueueFullError);
    await expect(refused).rejects.toMatchObject({ retryAfterMs: expect.any(Number) });
    expect((await Promise.all(admitted)).map((r) => r.predictions.length)).toEqual([6, 6]);
    await queue.close();
    await expect(queue.submit('t', inputs)).rejects.toMatchObject({ code: 'queue-closed' });
    model.dispose();
  });
});
