import { join } from 'node:path';
import { progressRenderer, startBackend, stopOnInterrupt } from '@diffprune/trainer';
import type { Command } from 'commander';
import { getPreset, withModel } from '../presets.js';
import { writeReport } from '../report.js';
import { defaultResultsDirectory } from '../results.js';
import { runPreset } from '../run-preset.js';

interface RunOptions {
  preset: string;
  model?: string;
  out?: string;
  only?: string[];
  backend?: string;
  quiet?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'run a preset of the paper comparison (resumable: finished runs are skipped), then write the report',
    )
    .option('--preset <name>', 'smoke, offline-tiny, bert-base or paper', 'offline-tiny')
    .option(
      '--model <dir|hub-id>',
      "run the preset on this model (any registered family) instead of the preset's",
    )
    .option('--out <dir>', 'results directory (default apps/bench/results/<preset>)')
    .option('--only <ids...>', 'only runs whose id contains one of these strings')
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .option('--quiet', 'no per-step progress')
    .action(async (options: RunOptions) => {
      const named = getPreset(options.preset);
      const preset = options.model ? withModel(named, options.model) : named;
      const out = options.out ?? defaultResultsDirectory(preset.name);
      const render = options.quiet ? undefined : progressRenderer();
      const backend = await startBackend({ ...(options.backend ? { backend: options.backend } : {}) });
      process.stderr.write(
        `backend: ${backend.backend}${backend.fast ? '' : ' (slow path)'} — ${backend.reason}\n`,
      );
      const interrupt = stopOnInterrupt('stopping after this step; run the same command again to resume');
      const started = Date.now();
      const { records, missingTasks } = await runPreset({
        preset,
        outputDirectory: out,
        ...(options.only ? { only: options.only } : {}),
        ...(render ? { onTrainingEvent: render } : {}),
        shouldStop: interrupt.requested,
        onEvent: (event) => {
          if (event.type === 'bench-run-start')
            process.stderr.write(`[${event.index}/${event.total}] ${event.id}\n`);
          if (event.type === 'bench-run-skip')
            process.stderr.write(`[${event.index}/${event.total}] ${event.id}: done before, skipped\n`);
          if (event.type === 'bench-run-stale')
            process.stderr.write(
              `[${event.index}/${event.total}] ${event.id}: finished with other settings; running it again\n`,
            );
          if (event.type === 'bench-task-missing')
            process.stderr.write(`task ${event.task} not run: ${event.reason}\n`);
          if (event.type === 'bench-run-end' && event.record) {
            const r = event.record;
            process.stderr.write(
              `  ${r.headlineMetric} ${(r.headline * 100).toFixed(1)}, density ${(r.density * 100).toFixed(3)} %, ${(r.wallTimeMs / 1000).toFixed(0)} s\n`,
            );
          }
        },
      });
      await writeReport({ preset, outputDirectory: out, records, missingTasks });
      process.stderr.write(
        `${records.length} runs; report: ${join(out, 'REPORT.md')} (${((Date.now() - started) / 60000).toFixed(1)} min)\n`,
      );
    });
}
