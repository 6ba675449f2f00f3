import { InvalidArgumentError } from '@diffprune/core';
import { startBackend } from '@diffprune/trainer';
import type { Command } from 'commander';
import { getPreset } from '../presets.js';
import {
  compareReplay,
  type ReplayMethod,
  recordReplay,
  replayMethods,
  runTorchReplay,
  type TorchStream,
  torchStreams,
} from '../replay.js';
import { defaultResultsDirectory } from '../results.js';
import { findTorchPython, torchScriptPath } from '../step/pytorch.js';
import { positiveInteger } from './run.js';

interface ReplayCommandOptions {
  preset: string;
  task: string;
  method: string;
  seed: string;
  steps: string;
  maxTrainExamples?: string;
  tolerance: string;
  torchStreams?: string;
  out?: string;
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description(
      'replay a run’s first stage (diff pruning’s search, or full finetuning) in the PyTorch reference (scripts/torch_diffprune.py) on our random streams (head, batches, gate noise, dropout): the two must agree step for step',
    )
    .option('--preset <name>', 'preset whose settings are used', 'offline')
    .option('--task <task>', 'task', 'stsb')
    .option('--method <method>', replayMethods.join(' | '), 'diff-pruning')
    .option('--seed <n>', 'seed', '42')
    .option('--steps <n>', 'the first N search steps of the run (its schedule is the full run’s)', '60')
    .option('--max-train-examples <n>', 'a seeded training subset (default: the preset’s)')
    .option('--tolerance <x>', 'largest relative difference of the task loss and expected L0 allowed', '1e-3')
    .option(
      '--torch-streams <list>',
      `let the reference draw these streams itself (${torchStreams.join(', ')}): what each one changes; no agreement expected`,
    )
    .option(
      '--out <dir>',
      'results directory for the run and the streams (default apps/bench/results/<preset>)',
    )
    .action(async (options: ReplayCommandOptions) => {
      const preset = getPreset(options.preset);
      if (!(replayMethods as readonly string[]).includes(options.method)) {
        throw new InvalidArgumentError({
          argument: '--method',
          expected: replayMethods.join(', '),
          found: options.method,
        });
      }
      const own = (options.torchStreams ?? '').split(',').filter(Boolean);
      const unknown = own.filter((s) => !(torchStreams as readonly string[]).includes(s));
      if (unknown.length > 0) {
        throw new InvalidArgumentError({
          argument: '--torch-streams',
          expected: `a list of ${torchStreams.join(', ')}`,
          found: options.torchStreams,
        });
      }
      const tolerance = Number(options.tolerance);
      if (!(tolerance > 0))
        throw new InvalidArgumentError({
          argument: '--tolerance',
          expected: 'a positive number',
          found: options.tolerance,
        });
      const seed = Number(options.seed);
      if (!Number.isInteger(seed) || seed < 0)
        throw new InvalidArgumentError({
          argument: '--seed',
          expected: 'a non-negative integer',
          found: options.seed,
        });
      const steps = positiveInteger('--steps', options.steps);
      const maxTrainExamples = options.maxTrainExamples
        ? positiveInteger('--max-train-examples', options.maxTrainExamples)
        : undefined;
      // Every flag is checked before the (slow) Python probe: bad input is an error even where torch is absent.
      const found = findTorchPython(['torch', 'numpy']);
      if (!found.python) {
        process.stderr.write(
          `replay skipped: no Python here can import torch and numpy (tried ${found.tried.join('; ')}); pip install torch numpy or set DIFFPRUNE_PYTHON\n`,
        );
        return;
      }
      await startBackend();
      const recording = await recordReplay({
        preset,
        task: options.task,
        method: options.method as ReplayMethod,
        seed,
        steps,
        ...(maxTrainExamples !== undefined ? { maxTrainExamples } : {}),
        outputDirectory: options.out ?? defaultResultsDirectory(preset.name),
      });
      process.stderr.write(`ours: ${recording.ours.length} first-stage steps; the reference replays them…\n`);
      const theirs = runTorchReplay(
        found.python,
        torchScriptPath('torch_diffprune.py'),
        preset.model,
        recording,
        own as TorchStream[],
      );
      const comparison = compareReplay(recording.ours, theirs, tolerance);
      const every = Math.max(1, Math.floor(comparison.steps / 10));
      const lines = ['step | task loss ours | reference | expected L0 ours | reference'];
      recording.ours.forEach((o, i) => {
        if ((i + 1) % every === 0 || i === 0) {
          const t = theirs[i]!;
          lines.push(
            `${i + 1} | ${o.taskLoss.toFixed(6)} | ${t.taskLoss.toFixed(6)} | ${o.expectedL0.toFixed(1)} | ${t.expectedL0.toFixed(1)}`,
          );
        }
      });
      lines.push(
        `largest relative difference over ${comparison.steps} steps: task loss ${comparison.maxRelative.taskLoss.toExponential(2)}, expected L0 ${comparison.maxRelative.expectedL0.toExponential(2)} (tolerance ${tolerance})`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
      if (own.length > 0) {
        process.stderr.write(`the reference drew ${own.join(', ')} itself: the two need not agree\n`);
      } else if (comparison.firstBeyond !== undefined) {
        process.stderr.write(`replay diverged at step ${comparison.firstBeyond}\n`);
        process.exitCode = 1;
      }
    });
}
