// Per-kernel CPU time for the native benchmarks: wraps every kernel registered for a backend with a
// process-CPU-time counter (off until `start()`), keyed by kernel name (or name and input shapes).
import * as tf from '@tensorflow/tfjs-core';

export interface KernelTimer {
  start(): void;
  stop(): void;
  /** The rows, most time first, per step; and their total ms and kernel calls per step. */
  table(steps: number, rows?: number): { lines: string[]; totalMs: number; calls: number };
}

export function wrapKernels(backend: string, options: { shapes: boolean }): KernelTimer {
  const times = new Map<string, { ms: number; calls: number }>();
  let on = false;
  for (const config of tf.getKernelsForBackend(backend)) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, backend);
    tf.registerKernel({
      ...config,
      kernelFunc: (kernelArgs) => {
        if (!on) return inner(kernelArgs);
        const start = process.cpuUsage();
        const result = inner(kernelArgs);
        const used = process.cpuUsage(start);
        const key = options.shapes
          ? `${config.kernelName} ${Object.values(kernelArgs.inputs)
              .map((input) => `${input?.dtype ?? ''}[${input?.shape}]`)
              .join(' ')}`
          : config.kernelName;
        const entry = times.get(key) ?? { ms: 0, calls: 0 };
        entry.ms += (used.user + used.system) / 1000;
        entry.calls++;
        times.set(key, entry);
        return result;
      },
    });
  }
  return {
    start: () => {
      times.clear();
      on = true;
    },
    stop: () => {
      on = false;
    },
    table: (steps, rows = 25) => {
      const sorted = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms);
      const totalMs = sorted.reduce((sum, [, entry]) => sum + entry.ms, 0) / steps;
      const calls = sorted.reduce((sum, [, entry]) => sum + entry.calls, 0) / steps;
      const lines = sorted
        .slice(0, rows)
        .map(
          ([name, entry]) =>
            `  ${name.padEnd(options.shapes ? 64 : 24)} ${(entry.ms / steps).toFixed(2).padStart(8)} ms  ${(entry.calls / steps).toFixed(0).padStart(4)} calls`,
        );
      return { lines, totalMs, calls };
    },
  };
}
