import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, NonFiniteError, readSafetensors, toFloat32 } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runTraining } from './run.js';
import { defaultSettings } from './settings.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const model = join(shared, 'models/bert-tiny-mlm-offline');
const glue = join(shared, 'data/glue');
const present = existsSync(join(model, 'model.safetensors')) && existsSync(join(glue, 'SST-2/dev.tsv'));
if (!present) process.stderr.write(`skipping zero-row tests: ${model} or ${glue} is absent\n`);

describe.skipIf(!present)('runTraining refuses training data without usable rows', () => {
  for (const [what, rows] of [
    ['a header-only train.tsv', ''],
    ['a train.tsv whose every label is bad', 'a fine film\t7\nnot so\tx\n'],
  ] as const) {
    it(`${what}: a typed error naming the split, and no diff written`, async () => {
      const work = await mkdtemp(join(tmpdir(), 'dp-zero-rows-'));
      try {
        await mkdir(join(work, 'data/SST-2'), { recursive: true });
        const header = (await readFile(join(glue, 'SST-2/train.tsv'), 'utf8')).split('\n')[0];
        await writeFile(join(work, 'data/SST-2/train.tsv'), `${header}\n${rows}`);
        await copyFile(join(glue, 'SST-2/dev.tsv'), join(work, 'data/SST-2/dev.tsv'));
        const run = runTraining({
          model,
          task: 'sst2',
          dataDirectory: join(work, 'data'),
          settings: { ...defaultSettings('bitfit'), maxSteps: 1 },
          outputDirectory: join(work, 'out'),
        });
        await expect(run).rejects.toThrow(InvalidArgumentError);
        await expect(run).rejects.toThrow(/at least one labelled training row/);
        expect(existsSync(join(work, 'out/sst2.diff.safetensors'))).toBe(false);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }
});

describe.skipIf(!present)('a header-only dev file (issue #15: metrics: {})', () => {
  it('runTraining refuses it with a typed error naming the dev split, and writes no diff', async () => {
    const work = await mkdtemp(join(tmpdir(), 'dp-zero-dev-'));
    try {
      await mkdir(join(work, 'data/SST-2'), { recursive: true });
      await copyFile(join(glue, 'SST-2/train.tsv'), join(work, 'data/SST-2/train.tsv'));
      const header = (await readFile(join(glue, 'SST-2/dev.tsv'), 'utf8')).split('\n')[0];
      await writeFile(join(work, 'data/SST-2/dev.tsv'), `${header}\n`);
      const run = runTraining({
        model,
        task: 'sst2',
        dataDirectory: join(work, 'data'),
        settings: { ...defaultSettings('bitfit'), maxSteps: 1, maxTrainExamples: 8 },
        outputDirectory: join(work, 'out'),
      });
      await expect(run).rejects.toThrow(InvalidArgumentError);
      await expect(run).rejects.toThrow(/sst2 dev data must be at least one labelled row/);
      expect(existsSync(join(work, 'out/sst2.diff.safetensors'))).toBe(false);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!present)('runTraining stops on a non-finite loss or gradient', () => {
  for (const method of ['full', 'diff-pruning'] as const) {
    it(`${method} with a learning rate of 1e30: NonFiniteError, no diff, the last checkpoint finite`, async () => {
      const out = await mkdtemp(join(tmpdir(), `dp-nan-${method}-`));
      try {
        const before = tf.memory().numTensors;
        const run = runTraining({
          model,
          task: 'sst2',
          dataDirectory: glue,
          settings: {
            ...defaultSettings(method),
            learningRate: 1e30,
            batchSize: 8,
            maxLength: 32,
            maxTrainExamples: 32,
            maxEvalExamples: 8,
            maxSteps: 4,
            checkpointEverySteps: 1,
          },
          outputDirectory: out,
        });
        const error = await run.catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NonFiniteError);
        const { step, stage } = error as NonFiniteError;
        expect(stage).toBe(method === 'full' ? 'finetune' : 'search');
        expect(tf.memory().numTensors).toBe(before);
        expect(existsSync(join(out, 'sst2.diff.safetensors'))).toBe(false);
        // Every step before the failing one was checkpointed; the last of them is all finite.
        const state = JSON.parse(await readFile(join(out, 'checkpoint/state.json'), 'utf8')) as {
          step: number;
        };
        expect(state.step).toBe(step);
        const file = await readSafetensors(join(out, 'checkpoint/tensors.safetensors'));
        for (const tensor of file.tensors)
          expect(toFloat32(tensor).every(Number.isFinite), tensor.name).toBe(true);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    });
  }
});
