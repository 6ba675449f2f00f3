import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disposeParameters, InvalidArgumentError, NonFiniteValueError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { classifierOutputs, loadClassifier, predictTexts, toPrediction } from './predict.js';
import { evaluateDataset } from './task-data.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const forwardModel = `${shared}fixtures/forward-model`;
const forwardFixture = `${shared}fixtures/forward.json`;
const missing = ![forwardModel, forwardFixture].every(existsSync);
if (missing) process.stderr.write(`skipping predictTexts tests: ${shared}fixtures is absent\n`);

describe.skipIf(missing)('loadClassifier + predictTexts', () => {
  it('reproduce the PyTorch reference logits of a finetuned model, in input order, without leaks', async () => {
    const fixture = JSON.parse(readFileSync(forwardFixture, 'utf8')) as {
      cases: { text_a: string; text_b: string | null }[];
      logits: number[][];
    };
    const loaded = await loadClassifier(forwardModel);
    expect(classifierOutputs(loaded)).toBe(3);
    const before = tf.memory().numTensors;
    // Batches of 3 sorted by length: the order inside a batch differs from the input order.
    const predictions = await predictTexts(
      loaded,
      fixture.cases.map((c) => ({ textA: c.text_a, textB: c.text_b })),
      { maxLength: 32, batchSize: 3 },
    );
    expect(tf.memory().numTensors).toBe(before);
    disposeParameters(loaded.params);
    expect(predictions.length).toBe(fixture.cases.length);
    predictions.forEach((p, i) => {
      for (let j = 0; j < 3; j++) expect(Math.abs(p.logits[j]! - fixture.logits[i]![j]!)).toBeLessThan(1e-4);
    });
  });

  it('refuse a batch size that is not a positive integer', async () => {
    const loaded = await loadClassifier(forwardModel);
    await expect(predictTexts(loaded, [{ textA: 'x' }], { batchSize: 0 })).rejects.toThrow(
      /--batch-size must be a positive integer/,
    );
    disposeParameters(loaded.params);
  });
});

describe('toPrediction', () => {
  it('gives softmax probabilities and the argmax (named unless LABEL_n), or the score', () => {
    const logits = [0.5, 2, -1];
    const exps = logits.map(Math.exp);
    const sum = exps.reduce((a, b) => a + b, 0);
    const p = toPrediction(logits, ['neg', 'pos', 'neutral']);
    p.probabilities!.forEach((q, i) => {
      expect(q).toBeCloseTo(exps[i]! / sum, 12);
    });
    expect(p.label).toBe('pos');
    expect(toPrediction(logits, ['LABEL_0', 'LABEL_1', 'LABEL_2']).label).toBe(1);
    expect(toPrediction([0.25], undefined)).toEqual({ logits: [0.25], score: 0.25 });
  });

  it('refuses non-finite logits instead of writing label -1 or a NaN score (issue #15)', () => {
    for (const logits of [[Number.NaN, 1], [1, Number.NaN, 2], [Number.POSITIVE_INFINITY, 0], [Number.NaN]]) {
      const error = (() => {
        try {
          return toPrediction(logits, undefined);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(NonFiniteValueError);
      expect((error as Error).message).toMatch(/logits/);
    }
  });
});

describe.skipIf(!existsSync(forwardModel))('evaluateDataset of a header-only file (issue #15)', () => {
  it('is an InvalidArgumentError naming the file, not metrics: {}', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'dp-eval-empty-'));
    const loaded = await loadClassifier(forwardModel);
    try {
      const file = join(directory, 'dev.csv');
      await writeFile(file, 'sentence,label\n');
      const result = evaluateDataset(loaded, { file, labels: ['a', 'b', 'c'] });
      await expect(result).rejects.toThrow(InvalidArgumentError);
      await expect(result).rejects.toThrow(file);
    } finally {
      disposeParameters(loaded.params);
      await rm(directory, { recursive: true, force: true });
    }
  });
});
