import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DiffpruneError,
  FormatError,
  InvalidArgumentError,
  MissingResourceError,
  readSafetensors,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type CheckpointState,
  disposeRunTensors,
  loadCheckpoint,
  loadRunCheckpoint,
  type ReplacePhase,
  saveCheckpoint,
  saveRunCheckpoint,
} from './checkpoint.js';
import { emptyTrainables, trainableRoles, trainableTensors } from './stages.js';
import { createOptimizerStates } from './step.js';

const state = (runKey: string): CheckpointState => ({
  version: 1,
  runKey,
  stageIndex: 0,
  step: 3,
  adamSteps: {},
  best: undefined,
  history: [],
  projection: undefined,
  elapsedMs: 10,
  examplesSeen: 24,
  stepsTaken: 3,
  done: false,
});

describe('run checkpoints', () => {
  it('round-trip trainables, masks, best and optimiser state by role, under the on-disk names of earlier versions', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-checkpoint-'));
    try {
      const trainables = emptyTrainables();
      trainables.w['a.weight'] = tf.tensor([1, 2, 3]);
      trainables.logAlpha['a.weight'] = tf.tensor([4, 5, 6]);
      trainables.groupLogAlpha['a.weight'] = tf.tensor([7]);
      const optimizers = createOptimizerStates(trainables);
      for (const role of trainableRoles) optimizers[role].step = role === 'w' || role === 'theta' ? 3 : 2;
      optimizers.w.m['a.weight']!.dispose();
      optimizers.w.m['a.weight'] = tf.tensor([0.5, 0.25, 0.125]);
      const best = emptyTrainables();
      best.w['a.weight'] = tf.tensor([9, 9, 9]);
      const tensors = { trainables, masks: { 'a.weight': tf.tensor([1, 0, 1]) }, best, optimizers };
      await saveRunCheckpoint(out, state('k1'), tensors);

      const file = await readSafetensors(join(out, 'checkpoint/tensors.safetensors'));
      expect(file.tensors.map((t) => t.name).sort()).toEqual(
        [
          'adam-alphas-m::group_log_alpha/a.weight',
          'adam-alphas-m::log_alpha/a.weight',
          'adam-alphas-v::group_log_alpha/a.weight',
          'adam-alphas-v::log_alpha/a.weight',
          'adam-weights-m::w/a.weight',
          'adam-weights-v::w/a.weight',
          'best::w/a.weight',
          'masks::a.weight',
          'trainables::group_log_alpha/a.weight',
          'trainables::log_alpha/a.weight',
          'trainables::w/a.weight',
        ].sort(),
      );

      const loaded = (await loadRunCheckpoint(out, 'k1'))!;
      expect(loaded.state.adamSteps).toEqual({ weights: 3, alphas: 2 });
      for (const role of trainableRoles) {
        expect(Object.keys(loaded.tensors.trainables[role])).toEqual(Object.keys(trainables[role]));
        for (const [name, t] of Object.entries(trainables[role]))
          expect(Array.from(loaded.tensors.trainables[role][name]!.dataSync())).toEqual(
            Array.from(t.dataSync()),
          );
      }
      expect(Array.from(loaded.tensors.best!.w['a.weight']!.dataSync())).toEqual([9, 9, 9]);
      expect(Array.from(loaded.tensors.masks['a.weight']!.dataSync())).toEqual([1, 0, 1]);
      const adam = loaded.tensors.optimizers!;
      expect([adam.w.step, adam.theta.step, adam.logAlpha.step, adam.groupLogAlpha.step]).toEqual([
        3, 3, 2, 2,
      ]);
      expect(Array.from(adam.w.m['a.weight']!.dataSync())).toEqual([0.5, 0.25, 0.125]);
      expect(Object.keys(adam.groupLogAlpha.v)).toEqual(['a.weight']);

      await expect(loadRunCheckpoint(out, 'other')).rejects.toThrow(/belongs to a run with other settings/);
      disposeRunTensors(tensors);
      disposeRunTensors(loaded.tensors);
      expect(trainableTensors(trainables).every((t) => t.isDisposed)).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('checkpoint replacement', () => {
  const phases: ReplacePhase[] = ['written', 'old-aside', 'new-in'];
  for (const phase of phases) {
    it(`a kill after '${phase}' leaves a valid checkpoint (old or new), and the next load cleans up`, async () => {
      const out = await mkdtemp(join(tmpdir(), 'dp-replace-'));
      try {
        const groups = (value: number) => ({ trainables: { 'w/a': tf.tensor([value, value]) } });
        const first = groups(1);
        await saveCheckpoint(out, state('k'), first);
        const second = groups(2);
        const killed = new Error('killed');
        const save = saveCheckpoint(out, { ...state('k'), step: 4 }, second, {
          onPhase: (p) => {
            if (p === phase) throw killed;
          },
        });
        await expect(save).rejects.toBe(killed);
        const loaded = (await loadCheckpoint(out))!;
        expect(loaded).toBeDefined();
        const value = loaded.groups.trainables!['w/a']!.dataSync()[0];
        // Before the new directory is renamed in, the old checkpoint holds; after, the new one.
        expect([loaded.state.step, value]).toEqual(phase === 'new-in' ? [4, 2] : [3, 1]);
        expect((await readdir(out)).sort()).toEqual(['checkpoint']);
        tf.dispose([first.trainables['w/a'], second.trainables['w/a'], loaded.groups.trainables!['w/a']!]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    });
  }

  it('removes temporary directories a killed run left', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-leftover-'));
    try {
      await mkdir(join(out, '.checkpoint.12345.deadbeef.tmp/sub'), { recursive: true });
      expect(await loadCheckpoint(out)).toBeUndefined();
      expect(existsSync(join(out, '.checkpoint.12345.deadbeef.tmp'))).toBe(false);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('hostile checkpoints on --resume (issue #15)', () => {
  const withCheckpoint = async (body: (out: string) => Promise<void>) => {
    const out = await mkdtemp(join(tmpdir(), 'dp-checkpoint-hostile-'));
    try {
      await saveCheckpoint(out, state('k1'), { trainables: { 'w/a.weight': tf.tensor([1, 2]) } });
      await body(out);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  };

  it('garbage state.json is a FormatError naming the file', () =>
    withCheckpoint(async (out) => {
      await writeFile(join(out, 'checkpoint/state.json'), 'not json {');
      const error = await loadRunCheckpoint(out, 'k1').catch((e: unknown) => e);
      expect(DiffpruneError.isInstance(error) && error.code).toBe('format');
      expect(String((error as Error).message)).toContain(join(out, 'checkpoint/state.json'));
      await writeFile(join(out, 'checkpoint/state.json'), '[1, 2]');
      await expect(loadRunCheckpoint(out, 'k1')).rejects.toBeInstanceOf(FormatError);
    }));

  it('a missing tensors file is a MissingResourceError', () =>
    withCheckpoint(async (out) => {
      await rm(join(out, 'checkpoint/tensors.safetensors'));
      await expect(loadRunCheckpoint(out, 'k1')).rejects.toBeInstanceOf(MissingResourceError);
    }));

  it('a checkpoint of a run with other settings is an InvalidArgumentError, not an interruption (exit 130)', () =>
    withCheckpoint(async (out) => {
      const error = await loadRunCheckpoint(out, 'other').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).code).not.toBe('interrupted');
      expect((error as Error).message).toMatch(/other settings/);
    }));

  it('a tensor that is not a trainable is a FormatError', () =>
    withCheckpoint(async (out) => {
      await saveCheckpoint(out, state('k1'), { trainables: { 'bogus/a.weight': tf.tensor([1, 2]) } });
      await expect(loadRunCheckpoint(out, 'k1')).rejects.toBeInstanceOf(FormatError);
    }));
});
