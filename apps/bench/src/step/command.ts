import { type StepSize, stepSizes } from '@diffprune/bert/test';
import { InvalidArgumentError } from '@diffprune/core';
import { type BackendInfo, backendNames } from '@diffprune/runtime';
import { startBackend } from '@diffprune/trainer';
import {
  measureStep,
  median,
  type StepMethod,
  type StepOptions,
  type StepTiming,
} from '@diffprune/training/test';
import type { Command } from 'commander';
import { findTorchPython, runTorchStep, type TorchTiming } from './pytorch.js';

export interface StepCommandOptions {
  size: string;
  batch: string;
  seq: string;
  method: string;
  backend?: string;
  threads: string;
  steps: string;
  warmup: string;
  seed: string;
  json?: boolean;
  vsPytorch?: boolean;
  vsFull?: boolean;
}

export interface StepReport {
  size: StepSize;
  layers: number;
  hidden: number;
  heads: number;
  batch: number;
  seq: number;
  method: StepMethod;
  steps: number;
  warmup: number;
  threadsRequested: number;
  tfjs: StepTiming & { backend: BackendInfo['backend']; backendReason: string; threads: number | undefined };
  pytorch?: TorchTiming | { unavailable: string };
  /** tfjs median ÷ PyTorch median, both measured in this run. */
  ratioToPytorch?: number;
  /** The same ratio on CPU time per step (less sensitive to a loaded machine). */
  cpuRatioToPytorch?: number;
  /**
   * `--vs-full` (diff pruning): full finetuning timed in the same process, before and after the
   * diff-pruning steps, all its steps pooled; and diff pruning's median ÷ that median.
   */
  full?: { medianMs: number; medianCpuMs: number; runMediansMs: number[] };
  ratioToFull?: number;
  cpuRatioToFull?: number;
}

const positiveInteger = (argument: string, value: string, maximum = Number.MAX_SAFE_INTEGER): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > maximum) {
    throw new InvalidArgumentError({ argument, expected: `an integer in [1, ${maximum}]`, found: value });
  }
  return n;
};

const oneOf = <T extends string>(argument: string, value: string, allowed: readonly T[]): T => {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError({ argument, expected: `one of ${allowed.join(', ')}`, found: value });
  }
  return value as T;
};

/** Validates the command line into measurement options (every problem names its flag). */
export function parseStepOptions(
  raw: StepCommandOptions,
): StepOptions & { threads: number; backend?: string } {
  const size = oneOf('--size', raw.size, Object.keys(stepSizes) as StepSize[]);
  const seq = positiveInteger('--seq', raw.seq, 512);
  const backend =
    raw.backend === undefined ? undefined : oneOf('--backend', raw.backend, ['auto', ...backendNames]);
  return {
    size,
    batch: positiveInteger('--batch', raw.batch, 4096),
    seq,
    method: oneOf('--method', raw.method, ['full', 'diff-pruning'] as const),
    steps: positiveInteger('--steps', raw.steps),
    warmup: raw.warmup === '0' ? 0 : positiveInteger('--warmup', raw.warmup),
    seed: positiveInteger('--seed', raw.seed, 2 ** 32 - 1),
    threads: positiveInteger('--threads', raw.threads, 256),
    ...(backend ? { backend } : {}),
  };
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

export function formatStepReport(report: StepReport): string {
  const shape = `L${report.layers}/H${report.hidden}/A${report.heads}`;
  const lines = [
    `diffprune-bench step: BERT-${report.size} (${shape}), batch ${report.batch}, seq ${report.seq}, ` +
      `${report.method}; median of ${report.steps} steps after ${report.warmup} warm-up`,
  ];
  const t = report.tfjs;
  const threads = t.threads === undefined ? '' : `, ${t.threads} thread${t.threads === 1 ? '' : 's'}`;
  lines.push(
    `  tfjs ${t.backend}${threads}: ${ms(t.medianMs)} per step (min ${ms(t.minMs)}, max ${ms(t.maxMs)}; CPU ${ms(t.medianCpuMs)}), ` +
      `${t.examplesPerSecond.toFixed(1)} examples/s, peak RSS ${t.peakRssMiB.toFixed(0)} MiB, ` +
      `${t.tensorsAlive} tensors alive (${t.tensorsGrowthPerStep >= 0 ? '+' : ''}${t.tensorsGrowthPerStep}/step)`,
  );
  lines.push(`    backend: ${t.backendReason}`);
  if (t.threads !== undefined && t.threads !== report.threadsRequested) {
    lines.push(
      `    note: ${report.threadsRequested} threads requested; the ${t.backend} backend uses ${t.threads}`,
    );
  }
  if (report.pytorch && 'unavailable' in report.pytorch) {
    lines.push(`  PyTorch: unavailable (${report.pytorch.unavailable})`);
  } else if (report.pytorch) {
    const p = report.pytorch;
    lines.push(
      `  PyTorch ${p.torch} (${p.threads} thread${p.threads === 1 ? '' : 's'}, BLAS ${p.blas}): ${ms(p.medianMs)} per step ` +
        `(min ${ms(p.minMs)}, max ${ms(p.maxMs)}; CPU ${ms(p.medianCpuMs)}), ${p.examplesPerSecond.toFixed(1)} examples/s, ` +
        `peak RSS ${p.peakRssMiB.toFixed(0)} MiB`,
    );
    if (p.runMediansMs) {
      lines.push(
        `    PyTorch runs before / after the tfjs run: ${p.runMediansMs.map(ms).join(' / ')} (median of all steps above)`,
      );
    }
    lines.push(
      `  ratio tfjs / PyTorch: ${report.ratioToPytorch!.toFixed(2)}× wall, ${report.cpuRatioToPytorch!.toFixed(2)}× CPU time (measured in this run)`,
    );
  }
  if (report.full) {
    lines.push(
      `  full finetuning, same process (before / after: ${report.full.runMediansMs.map(ms).join(' / ')}): ` +
        `${ms(report.full.medianMs)} per step (CPU ${ms(report.full.medianCpuMs)})`,
      `  ratio diff pruning / full finetuning: ${report.ratioToFull!.toFixed(2)}× wall, ${report.cpuRatioToFull!.toFixed(2)}× CPU time (measured in this run)`,
    );
  }
  return lines.join('\n');
}

export async function runStepCommand(raw: StepCommandOptions): Promise<StepReport> {
  const options = parseStepOptions(raw);
  const info = await startBackend({
    ...(options.backend ? { backend: options.backend } : {}),
    threads: options.threads,
  });
  const python = raw.vsPytorch ? findTorchPython() : undefined;
  const before = python?.python ? runTorchStep(python.python, options, options.threads) : undefined;
  if (raw.vsFull && options.method !== 'diff-pruning') {
    throw new InvalidArgumentError({
      argument: '--vs-full',
      expected: '--method diff-pruning (it compares diff pruning with full finetuning)',
      found: `--method ${options.method}`,
    });
  }
  // --vs-full: full finetuning before and after, so that drift over the run hits both methods.
  const fullBefore = raw.vsFull ? await measureStep({ ...options, method: 'full' }) : undefined;
  const timing = await measureStep(options);
  const fullAfter = raw.vsFull ? await measureStep({ ...options, method: 'full' }) : undefined;
  const shape = stepSizes[options.size];
  const report: StepReport = {
    size: options.size,
    layers: shape.layers,
    hidden: shape.hidden,
    heads: shape.heads,
    batch: options.batch,
    seq: options.seq,
    method: options.method,
    steps: options.steps,
    warmup: options.warmup,
    threadsRequested: options.threads,
    tfjs: { backend: info.backend, backendReason: info.reason, threads: info.threads, ...timing },
  };
  if (fullBefore && fullAfter) {
    const medianMs = median([...fullBefore.stepsMs, ...fullAfter.stepsMs]);
    const medianCpuMs = median([...fullBefore.cpuStepsMs, ...fullAfter.cpuStepsMs]);
    report.full = { medianMs, medianCpuMs, runMediansMs: [fullBefore.medianMs, fullAfter.medianMs] };
    report.ratioToFull = timing.medianMs / medianMs;
    report.cpuRatioToFull = timing.medianCpuMs / medianCpuMs;
  }
  if (python) {
    const found = python;
    if (found.python === undefined) {
      report.pytorch = {
        unavailable: `no python3 that can import torch (${found.tried.join('; ')}); on Debian: apt-get install python3-torch libopenblas0-pthread`,
      };
    } else {
      // Before and after the tfjs run, so that load drifting on a shared machine hits both sides.
      const after = runTorchStep(found.python, options, options.threads);
      const stepsMs = [...(before?.stepsMs ?? []), ...after.stepsMs];
      const cpuStepsMs = [...(before?.cpuStepsMs ?? []), ...after.cpuStepsMs];
      const medianMs = median(stepsMs);
      const medianCpuMs = median(cpuStepsMs);
      report.pytorch = {
        ...after,
        stepsMs,
        medianMs,
        cpuStepsMs,
        medianCpuMs,
        minMs: Math.min(...stepsMs),
        maxMs: Math.max(...stepsMs),
        examplesPerSecond: (options.batch * 1000) / medianMs,
        peakRssMiB: Math.max(before?.peakRssMiB ?? 0, after.peakRssMiB),
        runMediansMs: [...(before ? [before.medianMs] : []), after.medianMs],
      };
      report.ratioToPytorch = timing.medianMs / medianMs;
      report.cpuRatioToPytorch = timing.medianCpuMs / medianCpuMs;
    }
  }
  return report;
}

/** `diffprune-bench step`: registered in cli.ts. */
export function registerStepCommand(program: Command): void {
  program
    .command('step')
    .description(
      "median time of one training step (the trainer's own step) on a random BERT; --vs-pytorch times the same step in PyTorch",
    )
    .option('--size <size>', 'tiny (L2/H128), mini (L4/H256) or base (L12/H768)', 'tiny')
    .option('--batch <n>', 'examples per batch', '32')
    .option('--seq <n>', 'tokens per example', '64')
    .option('--method <method>', 'full | diff-pruning', 'full')
    .option('--backend <name>', `auto | ${backendNames.join(' | ')} (default: DIFFPRUNE_BACKEND, else auto)`)
    .option('--threads <n>', 'threads, for backends that use them and for PyTorch', '1')
    .option('--steps <n>', 'timed steps', '10')
    .option('--warmup <n>', 'untimed warm-up steps', '2')
    .option('--seed <n>', 'seed of the model, batch, dropout and gates', '42')
    .option('--json', 'print one JSON object')
    .option(
      '--vs-pytorch',
      'also time the identical step in PyTorch (where python3 can import torch) and print the ratio',
    )
    .option(
      '--vs-full',
      'with --method diff-pruning: also time full finetuning in this process (before and after) and print the ratio',
    )
    .action(async (raw: StepCommandOptions) => {
      const report = await runStepCommand(raw);
      process.stdout.write(raw.json ? `${JSON.stringify(report)}\n` : `${formatStepReport(report)}\n`);
    });
}
