import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InterruptedError, InvalidArgumentError } from '@diffprune/core';
import { progressRenderer, startBackend, stopOnInterrupt } from '@diffprune/trainer';
import { defaultSettings } from '@diffprune/training';
import { type Command, Option } from 'commander';
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
  worker?: boolean;
}

export const positiveInteger = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError({ argument: name, expected: 'a positive integer', found: value });
  }
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
 * Time left for the runs not yet finished, with `jobs` of them going at once. Each remaining run is
 * expected to take what the latest finished run of its kind took (same task, method and density on
 * another seed: the latest, so that a faster build or a busier machine shows at once; the wall
 * times were measured with the same number of jobs sharing the machine), else the mean of its task's
 * finished runs, else the mean of all finished runs. Tasks differ by 20× here, so one mean over the
 * runs done so far (the cheap tasks come first) is far too low. Undefined until a run has finished.
 */
export function estimateRemainingMs(
  planned: readonly { id: string; task: string }[],
  finished: readonly { id: string; task: string; wallTimeMs: number; finishedAt: string }[],
  jobs: number,
): number | undefined {
  if (finished.length === 0) return undefined;
  const kind = (id: string) => id.replace(/__s\d+$/, '');
  const latest = new Map<string, { wallTimeMs: number; finishedAt: string }>();
  const byTask = new Map<string, { total: number; n: number }>();
  for (const r of finished) {
    const k = kind(r.id);
    const seen = latest.get(k);
    if (!seen || r.finishedAt > seen.finishedAt) latest.set(k, r);
    const t = byTask.get(r.task) ?? { total: 0, n: 0 };
    t.total += r.wallTimeMs;
    t.n++;
    byTask.set(r.task, t);
  }
  const overall = finished.reduce((sum, r) => sum + r.wallTimeMs, 0) / finished.length;
  const done = new Set(finished.map((r) => r.id));
  let total = 0;
  for (const run of planned) {
    if (done.has(run.id)) continue;
    const task = byTask.get(run.task);
    total += latest.get(kind(run.id))?.wallTimeMs ?? (task ? task.total / task.n : overall);
  }
  return total / jobs;
}

/** Prints `progress: k/n runs done (m in this sitting), ETA …` from the run records on disk. */
async function progressReporter(preset: BenchPreset, out: string, jobs: number, only: string[] | undefined) {
  const planned = planRuns(preset, defaultSettings).filter(
    (run) => !only || only.some((s) => run.id.includes(s)),
  );
  const ids = new Set(planned.map((r) => r.id));
  const finishedRuns = async () => (await readRunRecords(out)).filter((r) => ids.has(r.id));
  const doneAtStart = (await finishedRuns()).length;
  return async () => {
    const finished = await finishedRuns();
    const left = estimateRemainingMs(planned, finished, jobs);
    process.stderr.write(
      `progress: ${finished.length}/${planned.length} runs done (${finished.length - doneAtStart} in this sitting), ETA ${left === undefined ? 'unknown' : formatDuration(left)}\n`,
    );
  };
}

/**
 * `--jobs N` (N > 1): N worker processes of this same command (`--jobs 1 --no-report`), each taking
 * the next unclaimed run; their lines prefixed `[job k]`; a progress line with the ETA every time a
 * run finishes (`estimateRemainingMs` over the finished run records).
 */
async function runWorkers(preset: BenchPreset, out: string, jobs: number, only: string[] | undefined) {
  const progress = await progressReporter(preset, out, jobs, only);
  const args = process.argv.slice(2);
  const jobsAt = args.findIndex((a) => a === '--jobs' || a.startsWith('--jobs='));
  if (jobsAt >= 0) args.splice(jobsAt, args[jobsAt]!.includes('=') ? 1 : 2);
  const children = Array.from({ length: jobs }, (_, k) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, process.argv[1]!, ...args, '--jobs', '1', '--no-report', '--quiet', '--worker'],
      {
        stdio: ['ignore', 'inherit', 'pipe'],
      },
    );
    createInterface({ input: child.stderr! }).on('line', (line) => {
      process.stderr.write(`[job ${k + 1}] ${line}\n`);
      if (line.startsWith('  ') && line.includes(' s') && line.includes('density')) {
        void progress();
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
    // A worker of `--jobs N`: its parent prints the progress lines.
    .addOption(new Option('--worker').hideHelp())
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
      const progress = options.worker ? undefined : await progressReporter(preset, out, 1, options.only);
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
          if (event.type === 'bench-run-end' && progress) void progress();
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
