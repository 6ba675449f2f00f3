import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FormatError,
  fromFloat32,
  readSafetensors,
  type SafetensorsTensor,
  toFloat32,
  writeDirectoryAtomic,
  writeSafetensors,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

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

/** Writes the checkpoint atomically (a new directory replaces the old one by rename). */
export async function saveCheckpoint(
  outputDirectory: string,
  state: CheckpointState,
  groups: TensorGroups,
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
  await writeDirectoryAtomic(directory, async (temporary) => {
    await writeSafetensors(join(temporary, 'tensors.safetensors'), tensors);
    await writeFile(join(temporary, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  });
  return directory;
}

export async function loadCheckpoint(
  outputDirectory: string,
): Promise<{ state: CheckpointState; groups: TensorGroups; path: string } | undefined> {
  const directory = checkpointDirectory(outputDirectory);
  const statePath = join(directory, 'state.json');
  if (!existsSync(statePath)) return undefined;
  const state = JSON.parse(await readFile(statePath, 'utf8')) as CheckpointState;
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
