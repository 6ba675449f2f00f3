import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DiffpruneEvent, InterruptedError, readSafetensors, toFloat32 } from '@diffprune/core';
import { computeMetrics, readSplit, selectSubset } from '@diffprune/glue';
import { readDiff } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { encodeExamples } from './data.js';
import { predictExamples } from './evaluate.js';
import { runTraining } from './run.js';
import { defaultSettings, type TrainingMethod, type TrainSettings } from './settings.js';
import { loadWithDiff } from './with-diff.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const model = join(shared, 'models/bert-tiny-mlm-offline');
const glue = join(shared, 'data/glue');
const present = existsSync(join(model, 'model.safetensors')) && existsSync(join(glue, 'SST-2/train.tsv'));
if (!present) console.warn(`skipping trainer runs on real data: ${model} or ${glue} is absent`);

/** Small, fast settings: 32 examples, short sequences, a learning rate that shows progress in 24 steps. */
const quick = (method: TrainingMethod, overrides: Partial<TrainSettings> = {}): TrainSettings => ({
  ...defaultSettings(method),
  batchSize: 8,
  maxLength: 32,
  epochs: 100,
  maxSteps: 24,
  maxTrainExamples: 32,
  maxEvalExamples: 32,
  // BitFit trains only biases: the benchmark's presets give it 10× the rate (1e-2), so does this.
  learningRate: method === 'bitfit' ? 1e-2 : 1e-3,
  fixedMaskLearningRate: 1e-3,
  fixedMaskEpochs: 100,
  checkpointEverySteps: 1000,
  ...overrides,
});

const taskLosses = (events: DiffpruneEvent[], stage: string) =>
  events.flatMap((e) => (e.type === 'step-end' && e.stage === stage ? [e.taskLoss] : []));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.skipIf(!present)('runTraining on slices of real GLUE data with the offline BERT-Tiny', () => {
  const methods: TrainingMethod[] = ['full', 'diff-pruning', 'non-adaptive', 'bitfit', 'last-layer'];
  for (const task of ['sst2', 'rte', 'stsb']) {
    for (const method of methods) {
      it(`${method} on ${task}: the training loss falls and the outputs are written`, async () => {
        const out = await mkdtemp(join(tmpdir(), `dp-${task}-${method}-`));
        const events: DiffpruneEvent[] = [];
        const before = tf.memory().numTensors;
        const summary = await runTraining({
          model,
          task,
          dataDirectory: glue,
          settings: quick(method),
          outputDirectory: out,
          onEvent: (e) => events.push(e),
        });
        expect(tf.memory().numTensors).toBe(before);
        const firstStage = method === 'diff-pruning' ? 'search' : 'finetune';
        const losses = taskLosses(events, firstStage);
        expect(losses.length).toBe(24);
        expect(mean(losses.slice(-6))).toBeLessThan(mean(losses.slice(0, 6)));
        expect(existsSync(join(out, 'metrics.json'))).toBe(true);
        const diff = await readDiff(summary.diffPath);
        expect(diff.provenance.task).toBe(task);
        expect(Object.keys(summary.metrics).length).toBeGreaterThan(0);
        if (method === 'full') {
          expect(summary.density).toBe(1);
          expect(diff.tensors.every((t) => t.kind !== 'sparse')).toBe(true);
        }
        if (method === 'bitfit') expect(summary.densityWithoutHead).toBeLessThan(0.001);
        if (method === 'diff-pruning' || method === 'non-adaptive') {
          expect(summary.projection?.kept).toBe(Math.round(0.005 * summary.projection!.total));
          expect(summary.density).toBeLessThan(0.0051 + 1e-3);
        }
      });
    }
  }

  it('diff pruning: projection keeps exactly the target and stage 3 never leaves the mask', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-mask-'));
    const summary = await runTraining({
      model,
      task: 'sst2',
      dataDirectory: glue,
      settings: quick('diff-pruning', { maxSteps: 10, projectionScope: 'gated' }),
      outputDirectory: out,
    });
    const checkpoint = await readSafetensors(join(out, 'checkpoint/tensors.safetensors'));
    const diff = await readDiff(summary.diffPath);
    let kept = 0;
    let outside = 0;
    let inside = 0;
    for (const entry of checkpoint.tensors) {
      if (!entry.name.startsWith('masks::')) continue;
      const name = entry.name.slice('masks::'.length);
      const mask = toFloat32(entry);
      kept += mask.reduce((a, b) => a + b, 0);
      const tensor = diff.tensors.find((t) => t.name === name);
      if (tensor?.kind !== 'sparse') continue;
      for (const index of tensor.indices) {
        if (mask[index] === 1) inside++;
        else outside++;
      }
    }
    expect(kept).toBe(summary.projection!.kept);
    expect(summary.projection!.kept).toBe(Math.round(0.005 * summary.projection!.total));
    expect(inside).toBeGreaterThan(0);
    expect(outside).toBe(0);

    // The written diff, applied to the base, reproduces the trainer's own final dev evaluation.
    const { loaded } = await loadWithDiff(model, summary.diffPath, { numLabels: 2 });
    const { examples } = await readSplit('sst2', 'dev', { dataDirectory: glue });
    const chosen = selectSubset(examples.length, 32, 42 + 1).map((i) => examples[i]!);
    const { predictions, labels } = await predictExamples({
      backbone: loaded.backbone,
      parameters: () => loaded.params,
      examples: encodeExamples(loaded.backbone.encoder, chosen, 32),
      numLabels: 2,
      regression: false,
    });
    expect(computeMetrics('sst2', predictions, labels)).toEqual(summary.metrics);
    tf.dispose(Object.values(loaded.params));
  });

  it('a run killed mid-way and resumed ends with the same diff as an uninterrupted one', async () => {
    const settings = quick('diff-pruning', { maxSteps: 8, checkpointEverySteps: 3 });
    const whole = await mkdtemp(join(tmpdir(), 'dp-whole-'));
    const parts = await mkdtemp(join(tmpdir(), 'dp-parts-'));
    const a = await runTraining({
      model,
      task: 'rte',
      dataDirectory: glue,
      settings,
      outputDirectory: whole,
    });
    await expect(
      runTraining({
        model,
        task: 'rte',
        dataDirectory: glue,
        settings,
        outputDirectory: parts,
        stopAfterSteps: 5,
      }),
    ).rejects.toThrow(/stopped early/);
    let stops = 0;
    await expect(
      runTraining({
        model,
        task: 'rte',
        dataDirectory: glue,
        settings,
        outputDirectory: parts,
        resume: true,
        shouldStop: () => ++stops === 6,
      }),
    ).rejects.toThrow(InterruptedError);
    const lastSittingStarted = Date.now();
    const b = await runTraining({
      model,
      task: 'rte',
      dataDirectory: glue,
      settings,
      outputDirectory: parts,
      resume: true,
    });
    // The wall time counts the earlier sittings too, not only the last one.
    expect(b.wallTimeMs).toBeGreaterThan(Date.now() - lastSittingStarted);
    expect(b.wallTimeMs).toBeGreaterThanOrEqual(b.trainingTimeMs);
    const [da, db] = await Promise.all([readDiff(a.diffPath), readDiff(b.diffPath)]);
    expect(db.tensors.map((t) => t.name)).toEqual(da.tensors.map((t) => t.name));
    for (let i = 0; i < da.tensors.length; i++) {
      const ta = da.tensors[i]!;
      const tb = db.tensors[i]!;
      expect(Array.from(tb.values), ta.name).toEqual(Array.from(ta.values));
      if (ta.kind === 'sparse' && tb.kind === 'sparse')
        expect(Array.from(tb.indices)).toEqual(Array.from(ta.indices));
    }
    expect(b.metrics).toEqual(a.metrics);
  });
});
