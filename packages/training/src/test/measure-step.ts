import {
  randomBatch,
  randomBert,
  type StepSize,
  stepConfigJson,
  stepVocabularySize,
} from '@diffprune/bert/test';
import * as tf from '@tensorflow/tfjs-core';
import { createTrainingState, trainStep } from '../step.js';

export type StepMethod = 'full' | 'diff-pruning';

export interface StepOptions {
  size: StepSize;
  batch: number;
  seq: number;
  method: StepMethod;
  /** Timed steps (after `warmup` untimed ones). */
  steps: number;
  warmup: number;
  seed: number;
  /** Overrides for tests: a smaller vocabulary / model than the named size. */
  configJson?: Record<string, unknown>;
}

export interface StepTiming {
  /** Median wall time of one training step, ms. */
  medianMs: number;
  minMs: number;
  maxMs: number;
  stepsMs: number[];
  /**
   * Median CPU time of the process per step (user + system, all threads), ms. On a shared machine it
   * moves far less with load than wall time; single-threaded, it equals wall time on an idle machine.
   */
  medianCpuMs: number;
  /** CPU time of each timed step, ms. */
  cpuStepsMs: number[];
  examplesPerSecond: number;
  /** Peak resident set size of the process so far, MiB (includes model loading). */
  peakRssMiB: number;
  /** `tf.memory().numTensors` after each timed step: flat when nothing leaks. */
  tensorsAlive: number;
  /** Tensors gained per step over the timed steps (0 when nothing leaks). */
  tensorsGrowthPerStep: number;
  /** The task loss of the first and last step (a sanity check that the step trains). */
  firstLoss: number;
  lastLoss: number;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Times the trainer's own training step (`createTrainingState` + `trainStep` from @diffprune/training,
 * the function the training loop runs) on a random BERT and a random token batch.
 */
export async function measureStep(options: StepOptions): Promise<StepTiming> {
  const configJson = options.configJson ?? stepConfigJson(options.size);
  const vocabulary = (configJson.vocab_size as number | undefined) ?? stepVocabularySize;
  const loaded = randomBert(configJson, options.seed);
  const state = createTrainingState({
    loaded,
    method: options.method,
    numLabels: 2,
    totalSteps: 1_000_000,
    settings: { seed: options.seed },
  });
  const { batch, labels } = randomBatch(options.batch, options.seq, vocabulary, options.seed);
  const stepsMs: number[] = [];
  const cpuMs: number[] = [];
  const tensors: number[] = [];
  const losses: number[] = [];
  try {
    for (let step = 0; step < options.warmup + options.steps; step++) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const output = await trainStep(state, batch, labels, step);
      const elapsed = performance.now() - start;
      const cpu = process.cpuUsage(cpuStart);
      if (step < options.warmup) continue;
      stepsMs.push(elapsed);
      cpuMs.push((cpu.user + cpu.system) / 1000);
      tensors.push(tf.memory().numTensors);
      losses.push(output.taskLoss);
    }
  } finally {
    state.dispose();
    tf.dispose([batch.inputIds, batch.tokenTypeIds, batch.attentionMask, labels]);
    tf.dispose(Object.values(loaded.params));
  }
  const medianMs = median(stepsMs);
  return {
    medianMs,
    minMs: Math.min(...stepsMs),
    maxMs: Math.max(...stepsMs),
    stepsMs,
    medianCpuMs: median(cpuMs),
    cpuStepsMs: cpuMs,
    examplesPerSecond: (options.batch * 1000) / medianMs,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    tensorsAlive: tensors[tensors.length - 1]!,
    tensorsGrowthPerStep:
      tensors.length > 1 ? (tensors[tensors.length - 1]! - tensors[0]!) / (tensors.length - 1) : 0,
    firstLoss: losses[0]!,
    lastLoss: losses[losses.length - 1]!,
  };
}
