import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InterruptedError } from '@diffprune/core';
import { progressRenderer, startBackend, stopOnInterrupt } from '@diffprune/trainer';
import { defaultSettings } from '@diffprune/training';
import type { Command } from 'commander';
import { type BenchPreset, getPreset, planRuns, withModel } from '../presets.js';
import { writeReport } from '../report.js';
import { defaultResultsDirectory } from '../results.js';
import { type PresetEvent, readRunRecords, runPreset } from '../run-preset.js';

interface RunOptions {
  preset: string;
  model?: string;
  out?: string;
  only?: string[];
  backend?: string;
  threads?: string;
  jobs: string;
  report: boolean;
  quiet?: boolean;
}

export const positiveInteger = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, found ${value}`);
  return n;
};

export const formatDuration = (ms: number) => {
  const minutes = Math.round(ms / 60000);
  return minutes >= 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${minutes} min`;
};

/** One line per preset event (what a worker prints). */
function describeEvent(event: PresetEvent): string | undefined {
  const at = `[${event.index}/${event.total}] ${event.id}`;
  switch (event.type) {
    case 'bench-run-start':
      return at;
    case 'bench-run-skip':
      return `${at}: done before, skipped`;
    case 'bench-run-busy':
      return `${at}: another worker is on it, skipped`;
    case 'bench-run-stale':
      return `${at}: finished with other settings; running it again`;
    case 'bench-task-missing':
      return `task ${event.task} not run: ${event.reason}`;
    case 'bench-run-end': {
      const r = event.record!;
      return `  ${r.id}: ${r.headlineMetric} ${(r.headline * 100).toFixed(1)}, density ${(r.density * 100).toFixed(3)} %, ${(r.wallTimeMs / 1000).toFixed(0)} s`;
    }
  }
}

/**
 * `--jobs N` (N > 1): N worker processes of this same command (`--jobs 1 --no-report`), each taking
 * the next unclaimed run; their lines prefixed `[job k]`; a progress line with the ETA every time a
 * run finishes (remaining runs × mean wall time of the runs finished in this sitting ÷ N).
 */
async function runWorkers(preset: BenchPreset, out: string, jobs: number, only: string[] | undefined) {
  const planned = planRuns(preset, defaultSettings).filter(
    (run) => !only || only.some((s) => run.id.includes(s)),
  );
  const ids = new Set(planned.map((r) => r.id));
  const countDone = async () => (await readRunRecords(out)).filter((r) => ids.has(r.id)).length;
  const doneAtStart = await countDone();
  const started = Date.now();
  let finishedHere = 0;
  const args = process.argv.slice(2);
  const jobsAt = args.findIndex((a) => a === '--jobs' || a.startsWith('--jobs='));
  if (jobsAt >= 0) args.splice(jobsAt, args[jobsAt]!.includes('=') ? 1 : 2);
  const children = Array.from({ length: jobs }, (_, k) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, ...args, '--jobs', '1', '--no-report', '--quiet'],
      {
        stdio: ['ignore', 'inherit', 'pipe'],
      },
    );
    createInterface({ input: child.stderr! }).on('line', (line) => {
      process.stderr.write(`[job ${k + 1}] ${line}\n`);
      if (line.startsWith('  ') && line.includes(' s') && line.includes('density')) {
        finishedHere++;
        void countDone().then((done) => {
          const remaining = planned.length - done;
          const perRun = (Date.now() - started) / finishedHere;
          process.stderr.write(
            `progress: ${done}/${planned.length} runs done (${done - doneAtStart} in this sitting), ETA ${formatDuration((remaining * perRun) / jobs)}\n`,
          );
        });
      }
    });
    return new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  });
  const forward = () => {}; // Ctrl-C reaches the whole process group; each worker stops after its step.
  process.on('SIGINT', forward);
  const codes = await Promise.all(children);
  process.off('SIGINT', forward);
  return codes.find((c) => c !== 0) ?? 0;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description(
      'run a preset of the paper comparison (resumable: finished runs are skipped), then write the report',
    )
    .option('--preset <name>', 'smoke, offline, offline-tiny, bert-base or paper', 'offline')
    .option(
      '--model <dir|hub-id>',
      "run the preset on this model (any registered family) instead of the preset's",
    )
    .option('--out <dir>', 'results directory (default apps/bench/results/<preset>)')
    .option('--only <ids...>', 'only runs whose id contains one of these strings')
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .option('--threads <n>', 'threads of the native backend per process')
    .option('--jobs <n>', 'runs in parallel (worker processes)', '1')
    .option('--no-report', 'do not write the report at the end')
    .option('--quiet', 'no per-step progress')
    .action(async (options: RunOptions) => {
      const named = getPreset(options.preset);
      const preset = options.model ? withModel(named, options.model) : named;
      const out = options.out ?? defaultResultsDirectory(preset.name);
      const jobs = positiveInteger('--jobs', options.jobs);
      const started = Date.now();
      if (jobs > 1) {
        const code = await runWorkers(preset, out, jobs, options.only);
        if (code !== 0) {
          process.exitCode = code;
          process.stderr.write(`a worker stopped (exit ${code}); run the same command again to resume\n`);
          return;
        }
        const records = await readRunRecords(out);
        if (options.report) await writeReport({ preset, outputDirectory: out, records, missingTasks: {} });
        process.stderr.write(
          `${records.length} runs; report: ${join(out, 'REPORT.md')} (${formatDuration(Date.now() - started)})\n`,
        );
        return;
      }
      const render = options.quiet ? undefined : progressRenderer();
      const threads = options.threads ? positiveInteger('--threads', options.threads) : undefined;
      const backend = await startBackend({
        ...(options.backend ? { backend: options.backend } : {}),
        ...(threads ? { threads } : {}),
      });
      process.stderr.write(
        `backend: ${backend.backend}${backend.fast ? '' : ' (slow path)'} — ${backend.reason}\n`,
      );
      const interrupt = stopOnInterrupt('stopping after this step; run the same command again to resume');
      // The library says where an interrupted run's checkpoint is; resuming is this command again.
      const { records, missingTasks } = await runPreset({
        preset,
        outputDirectory: out,
        ...(options.only ? { only: options.only } : {}),
        ...(render ? { onTrainingEvent: render } : {}),
        shouldStop: interrupt.requested,
        onEvent: (event) => {
          const line = describeEvent(event);
          if (line) process.stderr.write(`${line}\n`);
        },
      }).catch((error: unknown) => {
        throw error instanceof InterruptedError
          ? new InterruptedError(`${error.message}; run the same command again to resume`)
          : error;
      });
      if (options.report) await writeReport({ preset, outputDirectory: out, records, missingTasks });
      process.stderr.write(
        `${records.length} runs; report: ${join(out, 'REPORT.md')} (${formatDuration(Date.now() - started)})\n`,
      );
    });
}
