import { randomBatch, randomBert, stepConfigJson } from '@diffprune/bert/test';
import { InvalidArgumentError } from '@diffprune/core';
import { measureStep, median } from '@diffprune/training/test';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { formatStepReport, parseStepOptions, runStepCommand, type StepReport } from './command.js';
import { findTorchPython, runTorchStep } from './pytorch.js';

// A model small enough for a unit test; the command itself runs the named sizes.
const micro = { layers: 1, hidden: 16, heads: 2, intermediate: 32 };
const microConfig = stepConfigJson('tiny', 100, micro);

describe('step benchmark', () => {
  it('median is the middle value (mean of the two middle ones for an even count)', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow();
  });

  it('validates the command line, naming the flag', () => {
    const raw = {
      size: 'tiny',
      batch: '32',
      seq: '64',
      method: 'full',
      threads: '1',
      steps: '10',
      warmup: '2',
      seed: '42',
    };
    expect(parseStepOptions(raw)).toMatchObject({
      size: 'tiny',
      batch: 32,
      seq: 64,
      method: 'full',
      threads: 1,
    });
    expect(() => parseStepOptions({ ...raw, size: 'huge' })).toThrow(InvalidArgumentError);
    expect(() => parseStepOptions({ ...raw, seq: '513' })).toThrow(/--seq/);
    expect(() => parseStepOptions({ ...raw, method: 'lora' })).toThrow(/--method/);
    expect(() => parseStepOptions({ ...raw, backend: 'gpu' })).toThrow(/--backend/);
    expect(() => parseStepOptions({ ...raw, warmup: '-1' })).toThrow(/--warmup/);
    expect(parseStepOptions({ ...raw, warmup: '0' }).warmup).toBe(0);
  });

  it('random model: HF init statistics and every parameter the spec names', () => {
    const loaded = randomBert(stepConfigJson('tiny'), 1);
    const names = Object.keys(loaded.params);
    expect(names).toHaveLength(loaded.backbone.parameterSpecs({ numLabels: 2 }).length);
    const word = loaded.params['bert.embeddings.word_embeddings.weight']!;
    expect(word.shape).toEqual([30522, 128]);
    const [mean, std] = tf.tidy(() => {
      const m = tf.mean(word);
      return [m.dataSync()[0]!, Math.sqrt(tf.mean(tf.square(tf.sub(word, m))).dataSync()[0]!)];
    });
    expect(Math.abs(mean)).toBeLessThan(1e-3);
    expect(std).toBeCloseTo(0.02, 3);
    expect(
      Array.from(loaded.params['bert.embeddings.LayerNorm.weight']!.dataSync()).every((v) => v === 1),
    ).toBe(true);
    tf.dispose(Object.values(loaded.params));
  });

  it('random batch: ids in range, segment B in the second half', () => {
    const { batch, labels } = randomBatch(3, 6, 100, 7);
    const ids = batch.inputIds.dataSync();
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ids)).toBeLessThan(100);
    expect(Array.from(batch.tokenTypeIds!.dataSync().slice(0, 6))).toEqual([0, 0, 0, 1, 1, 1]);
    expect(labels.shape).toEqual([3]);
    tf.dispose([batch.inputIds, batch.tokenTypeIds, batch.attentionMask, labels]);
  });

  for (const method of ['full', 'diff-pruning'] as const) {
    it(`${method}: times the trainer's step, leaks nothing, loss ≈ ln 2 at random init`, async () => {
      const before = tf.memory().numTensors;
      const timing = await measureStep({
        size: 'tiny',
        batch: 4,
        seq: 8,
        method,
        steps: 3,
        warmup: 1,
        seed: 3,
        configJson: microConfig,
      });
      expect(timing.stepsMs).toHaveLength(3);
      expect(timing.medianMs).toBe(median(timing.stepsMs));
      expect(timing.medianCpuMs).toBeGreaterThan(0);
      expect(timing.tensorsGrowthPerStep).toBe(0);
      expect(Math.abs(timing.firstLoss - Math.LN2)).toBeLessThan(0.05);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('step report', () => {
  const timing = {
    medianMs: 500,
    minMs: 450,
    maxMs: 600,
    stepsMs: [450, 500, 600],
    medianCpuMs: 480,
    cpuStepsMs: [470, 480, 590],
    examplesPerSecond: 64,
    peakRssMiB: 700,
    tensorsAlive: 168,
    tensorsGrowthPerStep: 0,
    firstLoss: 0.69,
    lastLoss: 0.68,
  };
  const report: StepReport = {
    size: 'tiny',
    layers: 2,
    hidden: 128,
    heads: 2,
    batch: 32,
    seq: 64,
    method: 'full',
    steps: 3,
    warmup: 2,
    threadsRequested: 2,
    tfjs: { ...timing, backend: 'wasm', backendReason: 'requested', threads: 1 },
  };

  it('says plainly when PyTorch is unavailable, and when the backend ignores --threads', () => {
    const text = formatStepReport({
      ...report,
      pytorch: { unavailable: 'no python3 that can import torch' },
    });
    expect(text).toContain('PyTorch: unavailable (no python3 that can import torch)');
    expect(text).toContain('2 threads requested; the wasm backend uses 1');
    expect(text).not.toContain('ratio');
  });

  it('prints both sides and the ratios when PyTorch ran', () => {
    const text = formatStepReport({
      ...report,
      pytorch: {
        ...timing,
        substrate: 'pytorch',
        torch: '1.13',
        blas: 'openblas',
        threads: 2,
        medianMs: 125,
        medianCpuMs: 120,
        cpuStepsMs: [120],
        runMediansMs: [120, 130],
      },
      ratioToPytorch: 4,
      cpuRatioToPytorch: 4,
    });
    expect(text).toContain('ratio tfjs / PyTorch: 4.00× wall, 4.00× CPU time');
    expect(text).toContain('PyTorch 1.13 (2 threads, BLAS openblas): 125.0 ms');
  });

  it('prints the ratio to full finetuning when --vs-full ran', () => {
    const text = formatStepReport({
      ...report,
      method: 'diff-pruning',
      full: { medianMs: 400, medianCpuMs: 384, runMediansMs: [390, 410] },
      ratioToFull: 1.25,
      cpuRatioToFull: 1.25,
    });
    expect(text).toContain('full finetuning, same process (before / after: 390.0 ms / 410.0 ms): 400.0 ms');
    expect(text).toContain('ratio diff pruning / full finetuning: 1.25× wall, 1.25× CPU time');
  });
});

describe('--vs-full', () => {
  const raw = { size: 'tiny', batch: '2', seq: '8', threads: '1', steps: '2', warmup: '1', seed: '5' };

  it('times full finetuning before and after diff pruning in the same process, and divides', async () => {
    const report = await runStepCommand({ ...raw, method: 'diff-pruning', vsFull: true });
    expect(report.full!.runMediansMs).toHaveLength(2);
    expect(report.ratioToFull).toBeCloseTo(report.tfjs.medianMs / report.full!.medianMs, 10);
    expect(report.cpuRatioToFull).toBeCloseTo(report.tfjs.medianCpuMs / report.full!.medianCpuMs, 10);
  });

  it('is refused with --method full, naming the flag', async () => {
    await expect(runStepCommand({ ...raw, method: 'full', vsFull: true })).rejects.toThrow(/--vs-full/);
  });
});

const torch = findTorchPython();
describe.skipIf(torch.python === undefined)('PyTorch reference (where python3 can import torch)', () => {
  it('runs the identical step and reports its timing; loss ≈ ln 2 at random init', () => {
    const result = runTorchStep(
      torch.python!,
      { size: 'tiny', batch: 2, seq: 8, method: 'diff-pruning', steps: 2, warmup: 0, seed: 1 },
      1,
    );
    expect(result.substrate).toBe('pytorch');
    expect(result.threads).toBe(1);
    expect(result.stepsMs).toHaveLength(2);
    expect(result.cpuStepsMs).toHaveLength(2);
    expect(result.medianCpuMs).toBeGreaterThan(0);
    expect(Math.abs(result.firstLoss - Math.LN2)).toBeLessThan(0.1);
  });
});
