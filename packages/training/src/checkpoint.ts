import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FormatError,
  fromFloat32,
  InvalidArgumentError,
  parseJsonFile,
  readSafetensors,
  type SafetensorsTensor,
  temporaryPathFor,
  toFloat32,
  writeFileAtomic,
  writeSafetensors,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  emptyTrainables,
  groupOf,
  optimizerGroups,
  type TrainableRole,
  type Trainables,
  trainableRoles,
  trainableTensors,
} from './stages.js';
import { disposeOptimizerStates, type OptimizerStates } from './step.js';

/** Everything a run needs to continue exactly where it stopped. */
export interface CheckpointState {
  version: 1;
  /** Identity of the run; a resume with other settings is refused. */
  runKey: string;
  stageIndex: number;
  /** The next step to run in that stage. */
  step: number;
  /** Adam step counters per optimiser group. */
  adamSteps: Record<string, number>;
  best: { metric: number; step: number; metrics: Record<string, number> } | undefined;
  history: { stage: string; step: number; metrics: Record<string, number> }[];
  /** Stage-1 → projection details, kept for the report. */
  projection: { kept: number; total: number; threshold: number } | undefined;
  elapsedMs: number;
  examplesSeen: number;
  /** Optimiser steps taken over all stages. */
  stepsTaken: number;
  done: boolean;
}

export type TensorGroups = Record<string, Record<string, tf.Tensor>>;

const checkpointDirectory = (outputDirectory: string) => join(outputDirectory, 'checkpoint');
/** Where the previous checkpoint waits while the new one is renamed in. */
const asideDirectory = (outputDirectory: string) => join(outputDirectory, 'checkpoint.previous');

/** The points of a checkpoint replacement, for tests that simulate a kill between them. */
export type ReplacePhase = 'written' | 'old-aside' | 'new-in';

/** Removes temporary checkpoint directories a killed run left (`.checkpoint.<pid>.<hex>.tmp`). */
async function removeTemporaries(outputDirectory: string): Promise<void> {
  if (!existsSync(outputDirectory)) return;
  for (const entry of await readdir(outputDirectory)) {
    if (/^\.checkpoint\.\d+\.[0-9a-f]+\.tmp$/.test(entry))
      await rm(join(outputDirectory, entry), { recursive: true, force: true });
  }
}

/**
 * Replaces the checkpoint with no moment without a valid one: the new directory is written beside
 * it, the old one renamed aside, the new one renamed in, then the old one removed. A kill at any
 * point leaves `checkpoint/` or `checkpoint.previous/` complete; `recoverCheckpoint` sorts it out.
 */
async function replaceCheckpoint(
  outputDirectory: string,
  build: (directory: string) => Promise<void>,
  onPhase?: (phase: ReplacePhase) => void,
): Promise<void> {
  const target = checkpointDirectory(outputDirectory);
  const aside = asideDirectory(outputDirectory);
  await mkdir(outputDirectory, { recursive: true });
  const temporary = temporaryPathFor(target);
  await mkdir(temporary);
  try {
    await build(temporary);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
  onPhase?.('written');
  if (existsSync(join(target, 'state.json'))) {
    await rm(aside, { recursive: true, force: true });
    await rename(target, aside);
  } else await rm(target, { recursive: true, force: true });
  onPhase?.('old-aside');
  await rename(temporary, target);
  onPhase?.('new-in');
  await rm(aside, { recursive: true, force: true });
}

/**
 * After a kill mid-replacement: the checkpoint aside becomes the checkpoint again when the new one
 * never arrived, and leftovers (the aside copy, temporary directories) are removed.
 */
export async function recoverCheckpoint(outputDirectory: string): Promise<void> {
  const target = checkpointDirectory(outputDirectory);
  const aside = asideDirectory(outputDirectory);
  if (existsSync(join(aside, 'state.json'))) {
    if (existsSync(join(target, 'state.json'))) await rm(aside, { recursive: true, force: true });
    else {
      await rm(target, { recursive: true, force: true });
      await rename(aside, target);
    }
  }
  await removeTemporaries(outputDirectory);
}

/** Writes the checkpoint atomically (see `replaceCheckpoint`: never a moment without one). */
export async function saveCheckpoint(
  outputDirectory: string,
  state: CheckpointState,
  groups: TensorGroups,
  options: { onPhase?: (phase: ReplacePhase) => void } = {},
): Promise<string> {
  const directory = checkpointDirectory(outputDirectory);
  const tensors: SafetensorsTensor[] = [];
  for (const [group, map] of Object.entries(groups)) {
    for (const [key, tensor] of Object.entries(map)) {
      const values = (await tensor.data()) as Float32Array;
      tensors.push({
        name: `${group}::${key}`,
        dtype: 'F32',
        shape: [...tensor.shape],
        data: fromFloat32(values, 'F32').slice(),
      });
    }
  }
  await replaceCheckpoint(
    outputDirectory,
    async (temporary) => {
      await writeSafetensors(join(temporary, 'tensors.safetensors'), tensors);
      await writeFileAtomic(join(temporary, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
    },
    options.onPhase,
  );
  return directory;
}

/** A checkpoint's state.json, parsed and shape-checked: garbage is a `FormatError` naming the file. */
function parseState(text: string, path: string): CheckpointState {
  const expected = 'the JSON state diffprune train writes (remove the checkpoint directory to start over)';
  const state = parseJsonFile(text, path, 'checkpoint state');
  if (
    typeof state !== 'object' ||
    state === null ||
    Array.isArray(state) ||
    typeof (state as { runKey?: unknown }).runKey !== 'string'
  )
    throw new FormatError({ path, what: 'checkpoint state', expected, found: 'no object with a runKey' });
  return state as CheckpointState;
}

export async function loadCheckpoint(
  outputDirectory: string,
): Promise<{ state: CheckpointState; groups: TensorGroups; path: string } | undefined> {
  await recoverCheckpoint(outputDirectory);
  const directory = checkpointDirectory(outputDirectory);
  const statePath = join(directory, 'state.json');
  if (!existsSync(statePath)) return undefined;
  const state = parseState(await readFile(statePath, 'utf8'), statePath);
  if (state.version !== 1) {
    throw new FormatError({
      path: statePath,
      what: 'checkpoint version',
      expected: '1',
      found: String(state.version),
    });
  }
  const file = await readSafetensors(join(directory, 'tensors.safetensors'));
  const groups: TensorGroups = {};
  for (const entry of file.tensors) {
    const split = entry.name.indexOf('::');
    const group = entry.name.slice(0, split);
    const key = entry.name.slice(split + 2);
    groups[group] ??= {};
    groups[group][key] = tf.tensor(toFloat32(entry), entry.shape, 'float32');
  }
  return { state, groups, path: directory };
}

/** The tensors of a run between steps: what a checkpoint holds besides its state. */
export interface RunTensors {
  trainables: Trainables;
  /** Stage 3's fixed masks (empty before the projection). */
  masks: Record<string, tf.Tensor>;
  /** The best dev checkpoint's trainables of a selecting stage, when there is one. */
  best: Trainables | undefined;
  /** The optimiser state of the current stage (undefined between stages). */
  optimizers: OptimizerStates | undefined;
}

/**
 * On disk, trainables keep the fixtures' names, `<prefix><parameter>`: `theta/`, `w/`, `log_alpha/`,
 * `group_log_alpha/` (so checkpoints of earlier versions still load). Only this module knows them.
 */
const diskPrefixes: Record<TrainableRole, string> = {
  theta: 'theta/',
  w: 'w/',
  logAlpha: 'log_alpha/',
  groupLogAlpha: 'group_log_alpha/',
};

function toDisk(trainables: Trainables, roles: readonly TrainableRole[] = trainableRoles) {
  const out: Record<string, tf.Tensor> = {};
  for (const role of roles)
    for (const [name, tensor] of Object.entries(trainables[role]))
      out[`${diskPrefixes[role]}${name}`] = tensor;
  return out;
}

function fromDisk(map: Record<string, tf.Tensor> | undefined): Trainables {
  const out = emptyTrainables();
  // No prefix is the start of another (`log_alpha/` and `group_log_alpha/` differ at the first letter).
  for (const [key, tensor] of Object.entries(map ?? {})) {
    const role = trainableRoles.find((r) => key.startsWith(diskPrefixes[r]));
    if (!role)
      throw new FormatError({
        what: `checkpoint tensor ${key}`,
        expected: 'a trainable (theta/, w/, log_alpha/ or group_log_alpha/)',
        found: key,
      });
    out[role][key.slice(diskPrefixes[role].length)] = tensor;
  }
  return out;
}

/** Adam's m and v per optimiser group, as stored (`adam-<group>-m`, `adam-<group>-v`). */
function optimizerGroupsToDisk(optimizers: OptimizerStates): TensorGroups {
  const out: TensorGroups = {};
  for (const [group, roles] of Object.entries(optimizerGroups)) {
    const moments = (which: 'm' | 'v') => {
      const byRole = emptyTrainables();
      for (const role of roles) byRole[role] = optimizers[role][which];
      return toDisk(byRole, roles);
    };
    out[`adam-${group}-m`] = moments('m');
    out[`adam-${group}-v`] = moments('v');
  }
  return out;
}

function optimizersFromDisk(groups: TensorGroups, state: CheckpointState): OptimizerStates | undefined {
  if (!groups['adam-weights-m']) return undefined;
  const m = { weights: fromDisk(groups['adam-weights-m']), alphas: fromDisk(groups['adam-alphas-m']) };
  const v = { weights: fromDisk(groups['adam-weights-v']), alphas: fromDisk(groups['adam-alphas-v']) };
  const states = {} as OptimizerStates;
  for (const role of trainableRoles) {
    const group = groupOf(role);
    states[role] = { step: state.adamSteps[group] ?? 0, m: m[group][role], v: v[group][role] };
  }
  return states;
}

function toGroups(tensors: RunTensors): TensorGroups {
  return {
    trainables: toDisk(tensors.trainables),
    masks: tensors.masks,
    ...(tensors.best ? { best: toDisk(tensors.best) } : {}),
    ...(tensors.optimizers ? optimizerGroupsToDisk(tensors.optimizers) : {}),
  };
}

function fromGroups(groups: TensorGroups, state: CheckpointState): RunTensors {
  return {
    trainables: fromDisk(groups.trainables),
    masks: groups.masks ?? {},
    best: groups.best ? fromDisk(groups.best) : undefined,
    optimizers: optimizersFromDisk(groups, state),
  };
}

/** Saves a run: its state (with the optimisers' step counters) and every tensor, atomically. */
export function saveRunCheckpoint(
  outputDirectory: string,
  state: CheckpointState,
  tensors: RunTensors,
): Promise<string> {
  const { optimizers } = tensors;
  // The roles of a group step together: one counter per group.
  if (optimizers) state.adamSteps = { weights: optimizers.w.step, alphas: optimizers.logAlpha.step };
  return saveCheckpoint(outputDirectory, state, toGroups(tensors));
}

/**
 * Loads a run's checkpoint, if `outputDirectory` has one, and checks it belongs to this run (its run
 * key: the settings, task, model and data size); a checkpoint of another run is refused.
 */
export async function loadRunCheckpoint(
  outputDirectory: string,
  runKey: string,
): Promise<{ state: CheckpointState; tensors: RunTensors; path: string } | undefined> {
  const saved = await loadCheckpoint(outputDirectory);
  if (!saved) return undefined;
  if (saved.state.runKey !== runKey) {
    tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
    throw new InvalidArgumentError({
      argument: '--resume',
      expected: `a checkpoint of a run with these settings (use a new --out directory, or remove ${saved.path} to start over)`,
      found: `a checkpoint in ${saved.path} that belongs to a run with other settings (run key ${saved.state.runKey}, this run ${runKey})`,
    });
  }
  return { state: saved.state, tensors: fromGroups(saved.groups, saved.state), path: saved.path };
}

/** Disposes every tensor of a run. */
export function disposeRunTensors(tensors: RunTensors): void {
  tf.dispose([
    ...trainableTensors(tensors.trainables),
    ...Object.values(tensors.masks),
    ...(tensors.best ? trainableTensors(tensors.best) : []),
  ]);
  disposeOptimizerStates(tensors.optimizers);
}
