import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { StepOptions } from '@diffprune/training/test';

/** What apps/bench/scripts/torch_step.py prints. */
export interface TorchTiming {
  substrate: 'pytorch';
  torch: string;
  blas: string;
  threads: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  stepsMs: number[];
  /** CPU time per step (process_time: all threads), as `medianCpuMs` of the tfjs side. */
  cpuStepsMs: number[];
  medianCpuMs: number;
  examplesPerSecond: number;
  peakRssMiB: number;
  firstLoss: number;
  lastLoss: number;
  /** Medians of the separate runs (`--vs-pytorch` runs the reference before and after tfjs). */
  runMediansMs?: number[];
}

/** A script of apps/bench/scripts, from src/step (tsx) or dist (the built CLI). */
export function torchScriptPath(name = 'torch_step.py'): string {
  const candidates = [`../../scripts/${name}`, `../scripts/${name}`].map((relative) =>
    fileURLToPath(new URL(relative, import.meta.url)),
  );
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new Error(`${name} not found (looked at ${candidates.join(', ')})`);
  return found;
}

/**
 * A Python that can `import torch`: `DIFFPRUNE_PYTHON`, else `python3` on PATH, else Debian's
 * /usr/bin/python3 (python3-torch). PyTorch is never a dependency: undefined when none has it.
 */
export function findTorchPython(
  modules: readonly string[] = ['torch'],
): { python: string; tried: string[] } | { python: undefined; tried: string[] } {
  const candidates = [process.env.DIFFPRUNE_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (c): c is string => !!c,
  );
  const tried: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const probe = spawnSync(python, ['-c', modules.map((m) => `import ${m}`).join('; ')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (probe.status === 0) return { python, tried };
    tried.push(
      `${python}: ${probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? '')}`,
    );
  }
  return { python: undefined, tried };
}

/** Runs the PyTorch reference step with the same shapes, method, seed and thread count. */
export function runTorchStep(python: string, options: StepOptions, threads: number): TorchTiming {
  const args = [
    torchScriptPath(),
    `--size=${options.size}`,
    `--batch=${options.batch}`,
    `--seq=${options.seq}`,
    `--method=${options.method}`,
    `--threads=${threads}`,
    `--steps=${options.steps}`,
    `--warmup=${options.warmup}`,
    `--seed=${options.seed}`,
  ];
  const threadEnvironment = String(threads);
  const result = spawnSync(python, args, {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    env: {
      ...process.env,
      OPENBLAS_NUM_THREADS: threadEnvironment,
      OMP_NUM_THREADS: threadEnvironment,
      MKL_NUM_THREADS: threadEnvironment,
    },
  });
  if (result.status !== 0) {
    throw new Error(
      `the PyTorch reference failed (${python} ${args.join(' ')}): ${result.error?.message ?? result.stderr.trim()}`,
    );
  }
  const line = result.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as TorchTiming;
}
