import { join } from 'node:path';
import type { Command } from 'commander';
import { readExternalRecords } from '../external.js';
import { peerRuns, referenceRuns, runExternal } from '../external-run.js';
import { getPreset } from '../presets.js';
import { referenceTable, writeReport } from '../report.js';
import { defaultResultsDirectory } from '../results.js';
import { readRunRecords } from '../run-preset.js';
import { findTorchPython, torchScriptPath } from '../step/pytorch.js';
import { positiveInteger } from './run.js';

interface ExternalOptions {
  preset: string;
  out?: string;
  tasks: string;
  only?: string[];
  jobs: string;
  threads: string;
}

/**
 * `reference` (scripts/torch_diffprune.py: the authors' stages in PyTorch) and `peers`
 * (scripts/peft_peers.py: PEFT LoRA and SHiRA): the same tasks, settings, seeds and encoded examples
 * as the preset's runs, resumable, then the report (which shows them beside ours).
 */
function register(program: Command, kind: 'reference' | 'peers') {
  const script = kind === 'reference' ? 'torch_diffprune.py' : 'peft_peers.py';
  const modules = kind === 'reference' ? ['torch'] : ['torch', 'peft'];
  program
    .command(kind)
    .description(
      kind === 'reference'
        ? 'run the PyTorch reference of the authors’ three stages (scripts/torch_diffprune.py) on the preset’s tasks, methods and seeds; then the report'
        : 'run PEFT LoRA and SHiRA at ≈ 0.5 % trainable parameters (scripts/peft_peers.py) on the preset’s data, schedule and seeds; then the report',
    )
    .option('--preset <name>', 'preset', 'offline')
    .option('--out <dir>', 'results directory (default apps/bench/results/<preset>)')
    .option('--tasks <list>', 'comma-separated tasks', 'sst2,rte,stsb')
    .option('--only <ids...>', 'only runs whose id contains one of these strings')
    .option('--jobs <n>', 'runs in parallel', '1')
    .option('--threads <n>', 'torch threads per run', '1')
    .action(async (options: ExternalOptions) => {
      const preset = getPreset(options.preset);
      const out = options.out ?? defaultResultsDirectory(preset.name);
      const found = findTorchPython(modules);
      if (!found.python) {
        process.stderr.write(
          `${kind} skipped: no Python here can import ${modules.join(' and ')} (tried ${found.tried.join('; ')}); ` +
            `pip install ${modules.join(' ')} or set DIFFPRUNE_PYTHON\n`,
        );
        return;
      }
      const tasks = options.tasks.split(',').map((t) => t.trim());
      const all = kind === 'reference' ? referenceRuns(preset, tasks) : peerRuns(preset, tasks);
      const runs = all.filter((r) => !options.only || options.only.some((s) => r.id.includes(s)));
      const started = Date.now();
      const failures = await runExternal({
        preset,
        outputDirectory: out,
        kind,
        runs,
        python: found.python,
        script: torchScriptPath(script),
        threads: positiveInteger('--threads', options.threads),
        jobs: positiveInteger('--jobs', options.jobs),
        onEvent: (event) => {
          const at = `[${kind} ${event.index}/${event.total}] ${event.id}`;
          if (event.type === 'external-run-start') process.stderr.write(`${at}\n`);
          if (event.type === 'external-run-skip') process.stderr.write(`${at}: done before, skipped\n`);
          if (event.type === 'external-run-end') process.stderr.write(`${at}: ${event.detail}\n`);
          if (event.type === 'external-run-fail') process.stderr.write(`${at}: FAILED ${event.detail}\n`);
        },
      });
      const records = await readRunRecords(out);
      const summary = await writeReport({ preset, outputDirectory: out, records, missingTasks: {} });
      const done = await readExternalRecords(out, kind);
      // Ours against the reference per task and method, both spreads (the report's table), on stdout.
      if (kind === 'reference' && done.length > 0 && records.length > 0) {
        process.stdout.write(`${referenceTable(summary, done)}\n`);
      }
      process.stderr.write(
        `${kind}: ${done.length} records, ${failures.length} failed, ${((Date.now() - started) / 60000).toFixed(1)} min; report ${join(out, 'REPORT.md')}\n`,
      );
      if (failures.length > 0) process.exitCode = 1;
    });
}

export function registerExternalCommands(program: Command): void {
  register(program, 'reference');
  register(program, 'peers');
}
