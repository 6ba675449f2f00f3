import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EventListener, writeFileAtomic } from '@diffprune/core';
import { downloadTask, getTask, resolveDataDirectory, splitPath } from '@diffprune/glue';
import { readDiff } from '@diffprune/sparse-diff';
import { defaultSettings, type RunSummary, runTraining } from '@diffprune/training';
import { type DiffStructure, diffStructure } from './diff-structure.js';
import { type MachineInfo, machineInfo } from './machine.js';
import { type BenchMethod, type BenchPreset, type PlannedRun, planRuns } from './presets.js';

/** One finished run, as stored in `runs/<id>.json`. */
export interface RunRecord {
  id: string;
  preset: string;
  task: string;
  method: BenchMethod;
  seed: number;
  targetDensity: number;
  settings: RunSummary['settings'];
  /** Dev metrics (fractions) and the task's headline metric for tables. */
  metrics: Record<string, number>;
  headlineMetric: string;
  headline: number;
  /** Modified parameters ÷ all parameters, head counted fully (the paper's count). */
  density: number;
  densityWithoutHead: number;
  diffBytes: number;
  bytesPerNonzero: number;
  structure: DiffStructure;
  steps: number;
  wallTimeMs: number;
  examplesPerSecond: number;
  backend: string;
  machine: MachineInfo;
  model: RunSummary['model'];
  /** The model the preset ran (its own, or `diffprune-bench run --model`'s override). */
  presetModel?: string;
  /** sha256 of the base model's weights file (model.safetensors), where the model is a directory. */
  modelChecksum?: string;
  /**
   * The diffprune commit that produced the run: HEAD when this process loaded its code (commits made
   * while a long preset runs do not change the code it runs), where known.
   */
  commit: string | undefined;
  finishedAt: string;
}

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A model path as run files and reports record it: relative to the checkout (e.g.
 * `../shared/models/bert-tiny-mlm-offline`) when it is an absolute path, so no machine path is
 * committed; hub ids and relative paths unchanged.
 */
export function portablePath(path: string): string {
  return isAbsolute(path) ? relative(repositoryRoot, path) || '.' : path;
}

/** sha256 of `<model>/model.safetensors` (undefined for hub ids or other layouts). */
export async function modelChecksum(model: string): Promise<string | undefined> {
  const file = join(model, 'model.safetensors');
  if (!existsSync(file)) return undefined;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The checkout's commit, for provenance (undefined outside a git checkout). */
export function currentCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

/** HEAD when this module was loaded, i.e. the code this process runs. */
const loadedCommit = currentCommit();

export interface PresetEvent {
  type:
    | 'bench-run-start'
    | 'bench-run-skip'
    | 'bench-run-stale'
    | 'bench-run-end'
    | 'bench-run-busy'
    | 'bench-task-missing';
  id?: string;
  task?: string;
  index?: number;
  total?: number;
  reason?: string;
  record?: RunRecord;
}

export interface RunPresetOptions {
  preset: BenchPreset;
  /** results/<preset>/ */
  outputDirectory: string;
  /** Only runs whose id contains one of these strings. */
  only?: string[];
  onEvent?: (event: PresetEvent) => void;
  onTrainingEvent?: EventListener;
  shouldStop?: () => boolean;
}

const runsDirectory = (output: string) => join(output, 'runs');
const claimPath = (output: string, id: string) => join(output, 'claims', `${id}.pid`);

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Claims a run for this process so that parallel workers (`run --jobs N`, or two invocations on one
 * results directory) never train the same run: `claims/<id>.pid` is created exclusively; a claim left
 * by a process that no longer exists (killed) is taken over. Returns whether this process holds it.
 */
export async function claimRun(outputDirectory: string, id: string, pid = process.pid): Promise<boolean> {
  const path = claimPath(outputDirectory, id);
  await mkdir(join(outputDirectory, 'claims'), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(`${pid}\n`);
      await handle.close();
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (holder === pid) return true;
      // An empty file is a claim being written right now: leave it to its writer.
      if (!Number.isInteger(holder) || isAlive(holder)) return false;
      await rm(path, { force: true });
    }
  }
  return false;
}

export async function releaseRun(outputDirectory: string, id: string): Promise<void> {
  await rm(claimPath(outputDirectory, id), { force: true });
}

/** Reads every finished run of a results directory. */
export async function readRunRecords(outputDirectory: string): Promise<RunRecord[]> {
  const directory = runsDirectory(outputDirectory);
  if (!existsSync(directory)) return [];
  const files = (await readdir(directory)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(directory, f), 'utf8')) as RunRecord),
  );
}

/** Whether a finished run's record was made with exactly the settings planned now. */
export function isCurrentRecord(record: RunRecord, planned: PlannedRun, model?: string): boolean {
  const canonical = (value: unknown) => JSON.stringify(value, Object.keys(value as object).sort());
  // A record of another model (a `--model` override, or none) is not this run's.
  if (
    model !== undefined &&
    record.presetModel !== undefined &&
    portablePath(record.presetModel) !== portablePath(model)
  )
    return false;
  return record.method === planned.method && canonical(record.settings) === canonical(planned.settings);
}

/** Makes sure a task's train and dev files are there: downloads them for online presets. */
async function ensureTask(
  preset: BenchPreset,
  task: string,
  onEvent?: EventListener,
): Promise<string | undefined> {
  const glueTask = getTask(task);
  const directory = preset.dataDirectory;
  if (!directory) {
    const resolved = resolveDataDirectory(undefined);
    if (!existsSync(splitPath(glueTask, glueTask.trainSplit ?? 'train', resolved))) {
      await downloadTask(glueTask, { dataDirectory: resolved, ...(onEvent ? { onEvent } : {}) });
    }
    return undefined;
  }
  if (!glueTask.trainSplit) return `${glueTask.displayName} has no training split`;
  for (const split of [glueTask.trainSplit, glueTask.devSplits[0]!]) {
    const path = splitPath(glueTask, split, directory);
    if (!existsSync(path)) return `${path} is missing`;
  }
  return undefined;
}

/**
 * Runs every planned run of a preset that has not finished yet (finished runs are skipped; the run
 * in flight resumes from its checkpoint), writing `runs/<id>.json` as each completes.
 */
export async function runPreset(
  options: RunPresetOptions,
): Promise<{ records: RunRecord[]; missingTasks: Record<string, string> }> {
  const { preset, outputDirectory } = options;
  const planned = planRuns(preset, defaultSettings).filter(
    (run) => !options.only || options.only.some((s) => run.id.includes(s)),
  );
  const missingTasks: Record<string, string> = {};
  for (const task of new Set(planned.map((r) => r.task))) {
    const reason = await ensureTask(preset, task, options.onTrainingEvent);
    if (reason) {
      missingTasks[task] = reason;
      options.onEvent?.({ type: 'bench-task-missing', task, reason });
    }
  }
  const machine = machineInfo();
  let index = 0;
  for (const run of planned) {
    index++;
    const recordPath = join(runsDirectory(outputDirectory), `${run.id}.json`);
    if (missingTasks[run.task]) continue;
    const finished = async () =>
      existsSync(recordPath) &&
      isCurrentRecord(JSON.parse(await readFile(recordPath, 'utf8')) as RunRecord, run, preset.model);
    if (await finished()) {
      options.onEvent?.({ type: 'bench-run-skip', id: run.id, index, total: planned.length });
      continue;
    }
    if (!(await claimRun(outputDirectory, run.id))) {
      options.onEvent?.({ type: 'bench-run-busy', id: run.id, index, total: planned.length });
      continue;
    }
    try {
      // Another worker may have finished it between the check and the claim.
      if (await finished()) {
        options.onEvent?.({ type: 'bench-run-skip', id: run.id, index, total: planned.length });
        continue;
      }
      if (existsSync(recordPath)) {
        // Finished with other settings (the preset changed): redo it from scratch.
        options.onEvent?.({ type: 'bench-run-stale', id: run.id, index, total: planned.length });
        await rm(join(outputDirectory, 'work', run.id), { recursive: true, force: true });
      }
      options.onEvent?.({
        type: 'bench-run-start',
        id: run.id,
        task: run.task,
        index,
        total: planned.length,
      });
      const record = await executeRun(preset, run, outputDirectory, machine, options);
      await writeFileAtomic(recordPath, `${JSON.stringify(record, null, 2)}\n`);
      options.onEvent?.({ type: 'bench-run-end', id: run.id, index, total: planned.length, record });
    } finally {
      await releaseRun(outputDirectory, run.id);
    }
  }
  return { records: await readRunRecords(outputDirectory), missingTasks };
}

async function executeRun(
  preset: BenchPreset,
  run: PlannedRun,
  outputDirectory: string,
  machine: MachineInfo,
  options: RunPresetOptions,
): Promise<RunRecord> {
  const work = join(outputDirectory, 'work', run.id);
  const summary: RunSummary = await runTraining({
    model: preset.model,
    task: run.task,
    ...(preset.dataDirectory ? { dataDirectory: preset.dataDirectory } : {}),
    settings: run.settings,
    outputDirectory: work,
    resume: true,
    ...(options.onTrainingEvent ? { onEvent: options.onTrainingEvent } : {}),
    ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
  });
  const diff = await readDiff(summary.diffPath);
  const headline = summary.metrics[summary.headlineMetric];
  return {
    id: run.id,
    preset: preset.name,
    task: run.task,
    method: run.method,
    seed: run.seed,
    targetDensity: run.targetDensity,
    settings: summary.settings,
    metrics: summary.metrics,
    headlineMetric: summary.headlineMetric,
    headline: headline === undefined || Number.isNaN(headline) ? Number.NaN : headline,
    density: summary.density,
    densityWithoutHead: summary.densityWithoutHead,
    diffBytes: summary.diffBytes,
    bytesPerNonzero: summary.bytesPerNonzero,
    structure: diffStructure(diff),
    steps: summary.steps,
    wallTimeMs: summary.wallTimeMs,
    examplesPerSecond: summary.examplesPerSecond,
    backend: summary.backend,
    machine,
    model: { ...summary.model, id: portablePath(summary.model.id) },
    presetModel: portablePath(preset.model),
    ...(await modelChecksum(preset.model).then((c) => (c ? { modelChecksum: c } : {}))),
    commit: loadedCommit,
    finishedAt: new Date().toISOString(),
  };
}
