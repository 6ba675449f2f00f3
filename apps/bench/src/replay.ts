import { spawnSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { dropoutSiteSeed } from '@diffprune/bert';
import { DiffpruneError, InvalidArgumentError, writeFileAtomic } from '@diffprune/core';
import { batchIndices } from '@diffprune/glue';
import {
  batchSeed,
  defaultSettings,
  loadBackbone,
  runTraining,
  stepGateDraws,
  stepSeed,
} from '@diffprune/training';
import { encodedData } from './external-run.js';
import { type BenchPreset, planRuns } from './presets.js';

/**
 * Replays a run's first stage — diff pruning's search (stage 1), or full finetuning — in the PyTorch reference on diffprune's own random
 * streams: the head's initial values, every step's batch, gate-noise seeds and dropout seeds. With
 * the randomness shared, the two implementations of the authors' algorithm must agree step for step
 * (up to float32 rounding, which grows slowly); any difference in the gates, penalty, optimiser,
 * clipping, schedule, dropout placement or loss shows as a divergence at the step it enters. What is
 * left between our runs and the reference's is then their random streams alone.
 */

export interface ReplayStep {
  taskLoss: number;
  expectedL0: number;
}

/** The first stages the reference can replay. */
export const replayMethods = ['diff-pruning', 'diff-pruning-structured', 'full'] as const;
export type ReplayMethod = (typeof replayMethods)[number];

export interface ReplayOptions {
  preset: BenchPreset;
  task: string;
  method: ReplayMethod;
  seed: number;
  /** Search steps to replay: the first steps of the run as it would go on (its full schedule). */
  steps: number;
  /** A seeded training subset (as the trainer's `maxTrainExamples`); default the preset's. */
  maxTrainExamples?: number;
  /** Where our run, the encoded data and the streams go. */
  outputDirectory: string;
}

export interface ReplayRecording {
  ours: ReplayStep[];
  dataPath: string;
  streamsPath: string;
}

/** BERT's dropout sites, in the names `dropoutSiteSeed` and torch_diffprune.py's forward use. */
export const bertDropoutSites = (layers: number): string[] => [
  'embeddings',
  ...Array.from({ length: layers }, (_, i) => [
    `layer.${i}.attention.probabilities`,
    `layer.${i}.attention.output`,
    `layer.${i}.output`,
  ]).flat(),
  'classifier',
];

/** Runs our trainer for `steps` search steps and writes the streams that drove them. */
export async function recordReplay(options: ReplayOptions): Promise<ReplayRecording> {
  const { preset, task, method, seed, steps, outputDirectory } = options;
  if (!Number.isInteger(steps) || steps < 1) {
    throw new InvalidArgumentError({ argument: 'steps', expected: 'a positive integer', found: steps });
  }
  const planned = planRuns(preset, defaultSettings).find((r) => r.task === task && r.method === method);
  if (!planned) {
    throw new InvalidArgumentError({
      argument: 'task',
      expected: `a task of the ${preset.name} preset (${preset.tasks.join(', ')})`,
      found: task,
    });
  }
  const settings = {
    ...planned.settings,
    seed,
    dropout: true,
    maxEvalExamples: 64,
    ...(options.maxTrainExamples !== undefined ? { maxTrainExamples: options.maxTrainExamples } : {}),
  };
  if (settings.structured && settings.groupPenalty !== 'sum') {
    throw new InvalidArgumentError({
      argument: 'groupPenalty',
      expected: "'sum' (the authors' code, which torch_diffprune.py implements)",
      found: settings.groupPenalty,
    });
  }
  const dataPath = await encodedData(preset, outputDirectory, {
    id: `replay-${task}`,
    task,
    seed,
    config: {
      maxTrainExamples: settings.maxTrainExamples ?? null,
      maxEvalExamples: null,
      maxLength: settings.maxLength,
    },
  });
  const data = JSON.parse(await readFile(dataPath, 'utf8')) as { numLabels: number; train: unknown[] };

  const ours: ReplayStep[] = [];
  let totalSteps = steps;
  let first: string | undefined;
  let laterStage = false;
  const work = join(outputDirectory, 'work', `replay__${task}__${method}__s${seed}`);
  await rm(work, { recursive: true, force: true });
  try {
    await runTraining({
      model: preset.model,
      task,
      ...(preset.dataDirectory ? { dataDirectory: preset.dataDirectory } : {}),
      settings,
      outputDirectory: work,
      // Stopped as Ctrl-C stops a run (after a step, checkpointed): the schedule stays the full run's.
      // (Or once the first stage is over, when --steps asked for more than it has.)
      shouldStop: () => ours.length >= steps || laterStage,
      onEvent: (event) => {
        // The first stage only: search (diff pruning) or finetune (full finetuning).
        if (event.type === 'stage-start' && first === undefined) {
          first = event.stage;
          totalSteps = event.totalSteps;
        } else if (event.type === 'stage-start' || event.type === 'projection-end') laterStage = true;
        if (event.type === 'step-end' && event.stage === first) {
          ours.push({ taskLoss: event.taskLoss, expectedL0: event.expectedL0 ?? 0 });
        }
      },
    });
  } catch (error) {
    // The stop we asked for; anything else is a real failure.
    if (!(DiffpruneError.isInstance(error) && error.code === 'interrupted')) throw error;
  }
  ours.splice(steps);

  // The head's initial values and the gated names, as the trainer's loader made them.
  const loaded = await loadBackbone(preset.model, {
    head: { numLabels: data.numLabels },
    seed,
    replaceMismatchedHead: true,
  });
  const specs = loaded.backbone.parameterSpecs({ numLabels: data.numLabels });
  const head: Record<string, { shape: number[]; values: number[] }> = {};
  for (const spec of specs.filter((s) => s.head)) {
    const tensor = loaded.params[spec.name]!;
    head[spec.name] = { shape: tensor.shape, values: Array.from(tensor.dataSync()) };
  }
  for (const tensor of Object.values(loaded.params)) tensor.dispose();
  const gated = loaded.backbone.gatedParameterNames({ numLabels: data.numLabels });
  if (!gated.every((name) => name.startsWith('bert.'))) {
    throw new InvalidArgumentError({
      argument: 'model',
      expected: 'a BERT model (torch_diffprune.py implements BERT)',
      found: preset.model,
    });
  }
  const layers = new Set(gated.map((n) => /\.layer\.(\d+)\./.exec(n)?.[1]).filter(Boolean)).size;
  const sites = bertDropoutSites(layers);

  const stepsPerEpoch = Math.ceil(data.train.length / settings.batchSize);
  const streams = Array.from({ length: ours.length }, (_, step) => {
    const epoch = Math.floor(step / stepsPerEpoch);
    const batch = batchIndices(data.train.length, {
      batchSize: settings.batchSize,
      shuffle: true,
      seed: batchSeed(seed, 0),
      epoch,
    })[step % stepsPerEpoch]!;
    const draws = stepGateDraws(seed, 0, step, gated.length, settings.structured);
    const forward = stepSeed(seed, 0, step);
    return {
      batch,
      gateSeeds: draws.seeds,
      groupU: draws.groupU,
      dropoutSeeds: Object.fromEntries(sites.map((site) => [site, dropoutSiteSeed(forward, site)])),
    };
  });
  const streamsPath = join(outputDirectory, 'work', `replay__${task}__${method}__s${seed}.streams.json`);
  await writeFileAtomic(
    streamsPath,
    JSON.stringify({
      seed,
      method: settings.method,
      settings: {
        batchSize: settings.batchSize,
        structured: settings.structured,
        lambda: settings.lambda,
        learningRate: settings.learningRate,
        alphaLearningRate: settings.alphaLearningRate,
        alphaInit: settings.alphaInit,
        limits: settings.limits,
        maxGradNorm: settings.maxGradNorm,
        adamBetas: settings.adamBetas,
        adamEpsilon: settings.adamEpsilon,
      },
      totalSteps,
      head,
      gated,
      steps: streams,
    }),
  );
  return { ours, dataPath, streamsPath };
}

/** Streams the reference may draw itself instead (torch.rand, F.dropout, Python's shuffle), to see what each changes. */
export const torchStreams = ['gates', 'dropout', 'order'] as const;
export type TorchStream = (typeof torchStreams)[number];

/**
 * The reference's losses on the recorded streams (`torch_diffprune.py replay`); with `torchStreams`,
 * those streams are the reference's own (the two then need not agree).
 */
export function runTorchReplay(
  python: string,
  script: string,
  model: string,
  recording: ReplayRecording,
  torchStreams: readonly TorchStream[] = [],
): ReplayStep[] {
  const args = [script, 'replay', model, recording.dataPath, recording.streamsPath];
  if (torchStreams.length > 0) args.push(torchStreams.join(','));
  const result = spawnSync(python, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
  });
  if (result.status !== 0) {
    const last = (result.stderr || String(result.error ?? '')).trim().split('\n').pop();
    throw new DiffpruneError(
      'external-failed',
      `torch_diffprune.py replay failed (exit ${result.status}): ${last}`,
    );
  }
  return (JSON.parse(result.stdout) as { steps: ReplayStep[] }).steps;
}

export interface ReplayComparison {
  steps: number;
  /** The largest |ours − theirs| / |theirs| over the steps. */
  maxRelative: { taskLoss: number; expectedL0: number };
  /** The first step (1-based) where either exceeds the tolerance, if any. */
  firstBeyond: number | undefined;
}

export function compareReplay(
  ours: readonly ReplayStep[],
  theirs: readonly ReplayStep[],
  tolerance: number,
): ReplayComparison {
  if (ours.length !== theirs.length) {
    throw new DiffpruneError(
      'replay-mismatch',
      `replay: ${ours.length} steps of ours against ${theirs.length} of the reference`,
    );
  }
  const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
  const maxRelative = { taskLoss: 0, expectedL0: 0 };
  let firstBeyond: number | undefined;
  ours.forEach((o, i) => {
    const t = theirs[i]!;
    const loss = relative(o.taskLoss, t.taskLoss);
    const l0 = relative(o.expectedL0, t.expectedL0);
    // A NaN anywhere is a divergence, never a pass.
    if (!(loss <= tolerance && l0 <= tolerance) && firstBeyond === undefined) firstBeyond = i + 1;
    maxRelative.taskLoss = Math.max(
      maxRelative.taskLoss,
      Number.isNaN(loss) ? Number.POSITIVE_INFINITY : loss,
    );
    maxRelative.expectedL0 = Math.max(
      maxRelative.expectedL0,
      Number.isNaN(l0) ? Number.POSITIVE_INFINITY : l0,
    );
  });
  return { steps: ours.length, maxRelative, firstBeyond };
}
