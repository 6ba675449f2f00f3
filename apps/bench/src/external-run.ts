import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadBertTokenizer } from '@diffprune/bert';
import { writeFileAtomic } from '@diffprune/core';
import { selectSubset } from '@diffprune/glue';
import { defaultFixedMaskEpochs, defaultSettings, glueTaskData } from '@diffprune/training';
import type { ExternalKind } from './external.js';
import { type BenchPreset, methodLabels, type PlannedRun, planRuns } from './presets.js';

const defaultTarget = 0.005;

/** One run of a Python script: its id, the config it gets, where its record goes. */
export interface ExternalRun {
  id: string;
  task: string;
  seed: number;
  config: Record<string, unknown>;
}

/** The PEFT peers at ≈ 0.5 % trainable parameters (scripts/peft_peers.py). */
export const peerMethods = ['lora', 'shira'] as const;
export const peerLabels: Record<(typeof peerMethods)[number], string> = {
  lora: 'PEFT LoRA',
  shira: 'PEFT SHiRA',
};

const common = (run: PlannedRun) => ({
  seed: run.seed,
  batchSize: run.settings.batchSize,
  maxLength: run.settings.maxLength,
  epochs: run.settings.epochs,
  learningRate: run.settings.learningRate,
  adamBetas: run.settings.adamBetas,
  adamEpsilon: run.settings.adamEpsilon,
  maxGradNorm: run.settings.maxGradNorm,
  maxTrainExamples: run.settings.maxTrainExamples ?? null,
  maxEvalExamples: run.settings.maxEvalExamples ?? null,
});

/**
 * The reference's runs: the preset's main runs (every method at the default density, every seed) on
 * `tasks`, with the same settings as ours.
 */
export function referenceRuns(preset: BenchPreset, tasks: readonly string[]): ExternalRun[] {
  return (
    planRuns(preset, defaultSettings)
      // The main table's runs (the sweep's other densities are ours only).
      .filter((run) => tasks.includes(run.task) && run.targetDensity === defaultTarget)
      .map((run) => ({
        id: run.id,
        task: run.task,
        seed: run.seed,
        config: {
          ...common(run),
          id: run.id,
          method: run.method === 'diff-pruning-structured' ? 'diff-pruning' : run.method,
          benchMethod: run.method,
          label: methodLabels[run.method],
          structured: run.settings.structured,
          alphaLearningRate: run.settings.alphaLearningRate,
          lambda: run.settings.lambda,
          alphaInit: run.settings.alphaInit,
          limits: run.settings.limits,
          targetDensity: run.settings.targetDensity,
          fixedMaskLearningRate: run.settings.fixedMaskLearningRate,
          fixedMaskEpochs: run.settings.fixedMaskEpochs ?? defaultFixedMaskEpochs(run.task),
        },
      }))
  );
}

/**
 * The peers' runs: per task and seed, LoRA and SHiRA at ≈ 0.5 % trainable parameters, with the
 * structured diff-pruning run's data, batch, rate and total epochs (search + fixed-mask), best dev.
 */
export function peerRuns(preset: BenchPreset, tasks: readonly string[]): ExternalRun[] {
  const anchors = planRuns(preset, defaultSettings).filter(
    (run) =>
      tasks.includes(run.task) &&
      run.method === 'diff-pruning-structured' &&
      run.targetDensity === defaultTarget,
  );
  return anchors.flatMap((run) =>
    peerMethods.map((method) => {
      const id = `${run.task}__peft-${method}__s${run.seed}`;
      return {
        id,
        task: run.task,
        seed: run.seed,
        config: {
          ...common(run),
          id,
          method,
          label: peerLabels[method],
          epochs: run.settings.epochs + (run.settings.fixedMaskEpochs ?? defaultFixedMaskEpochs(run.task)),
          targetShare: run.settings.targetDensity,
        },
      };
    }),
  );
}

/**
 * The examples our runner trains on, as the scripts read them: the same seeded training subset
 * (`selectSubset(n, maxTrainExamples, seed)`, as the trainer), the whole dev set, encoded by
 * diffprune's tokenizer. Cached in `work/external-data/`.
 */
export async function encodedData(
  preset: BenchPreset,
  outputDirectory: string,
  run: ExternalRun,
): Promise<string> {
  const cap = run.config.maxTrainExamples as number | null;
  const maxLength = run.config.maxLength as number;
  const path = join(
    outputDirectory,
    'work',
    'external-data',
    `${run.task}__n${cap ?? 'all'}__d${run.config.maxEvalExamples ?? 'all'}__l${maxLength}__s${run.seed}.json`,
  );
  if (existsSync(path)) return path;
  const data = await glueTaskData(
    run.task,
    preset.dataDirectory ? { dataDirectory: preset.dataDirectory } : {},
  );
  const tokenizer = await loadBertTokenizer(preset.model);
  const encode = (e: { textA: string; textB?: string | undefined; label: number }) => ({
    ...tokenizer.encode(e.textA, e.textB ?? null, { maxLength }),
    label: e.label,
  });
  const train = selectSubset(data.train.length, cap ?? undefined, run.seed).map((i) =>
    encode(data.train[i] as never),
  );
  const devCap = run.config.maxEvalExamples as number | null;
  const dev = selectSubset(data.dev.length, devCap ?? undefined, run.seed + 1).map((i) =>
    encode(data.dev[i] as never),
  );
  await mkdir(join(outputDirectory, 'work', 'external-data'), { recursive: true });
  await writeFileAtomic(
    path,
    JSON.stringify({
      task: run.task,
      regression: data.kind === 'regression',
      numLabels: data.numLabels,
      train,
      dev,
    }),
  );
  return path;
}

export interface ExternalEvent {
  type:
    | 'external-run-start'
    | 'external-run-skip'
    | 'external-run-end'
    | 'external-run-fail'
    | 'external-line';
  id: string;
  index: number;
  total: number;
  detail?: string;
}

/** Whether `<kind>/<id>.json` exists and was made with this config. */
async function isDone(path: string, config: Record<string, unknown>): Promise<boolean> {
  if (!existsSync(path)) return false;
  const record = JSON.parse(await readFile(path, 'utf8')) as { config?: unknown };
  return JSON.stringify(record.config) === JSON.stringify(config);
}

/**
 * Runs a Python script for every run not done yet, `jobs` at a time (`<kind>/<id>.json` written by
 * the script atomically at the end; a killed run starts again from scratch). Returns failures.
 */
export async function runExternal(options: {
  preset: BenchPreset;
  outputDirectory: string;
  kind: ExternalKind;
  runs: ExternalRun[];
  python: string;
  script: string;
  threads: number;
  jobs: number;
  onEvent?: (event: ExternalEvent) => void;
}): Promise<string[]> {
  const { preset, outputDirectory, kind, runs } = options;
  await mkdir(join(outputDirectory, kind), { recursive: true });
  await mkdir(join(outputDirectory, 'work', kind), { recursive: true });
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < runs.length) {
      const index = next++;
      const run = runs[index]!;
      const config = { ...run.config, threads: options.threads };
      const at = { id: run.id, index: index + 1, total: runs.length };
      const recordPath = join(outputDirectory, kind, `${run.id}.json`);
      if (await isDone(recordPath, config)) {
        options.onEvent?.({ type: 'external-run-skip', ...at });
        continue;
      }
      const data = await encodedData(preset, outputDirectory, run);
      const configPath = join(outputDirectory, 'work', kind, `${run.id}.config.json`);
      await writeFileAtomic(configPath, JSON.stringify(config));
      options.onEvent?.({ type: 'external-run-start', ...at });
      const args =
        kind === 'reference'
          ? [options.script, 'run', preset.model, data, configPath, recordPath]
          : [options.script, preset.model, data, configPath, recordPath];
      const child = spawn(options.python, args, { stdio: ['ignore', 'inherit', 'pipe'] });
      const tail: string[] = [];
      createInterface({ input: child.stderr! }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 5) tail.shift();
        options.onEvent?.({ type: 'external-line', ...at, detail: line });
      });
      const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
      if (code !== 0 || !existsSync(recordPath)) {
        failures.push(`${run.id}: exit ${code}: ${tail.join(' | ')}`);
        options.onEvent?.({ type: 'external-run-fail', ...at, detail: tail.join(' | ') });
        continue;
      }
      // The script's record, with the config it ran (for resuming: another config runs again).
      const record = JSON.parse(await readFile(recordPath, 'utf8')) as Record<string, unknown>;
      await writeFileAtomic(recordPath, `${JSON.stringify({ ...record, config }, null, 2)}\n`);
      options.onEvent?.({
        type: 'external-run-end',
        ...at,
        detail: `${record.headlineMetric} ${((record.headline as number) * 100).toFixed(1)}, ${((record.wallTimeMs as number) / 1000).toFixed(0)} s`,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.jobs) }, worker));
  return failures;
}
