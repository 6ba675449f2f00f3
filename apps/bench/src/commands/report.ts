import { join } from 'node:path';
import type { Command } from 'commander';
import { getPreset } from '../presets.js';
import { writeReport } from '../report.js';
import { defaultResultsDirectory } from '../results.js';
import { readRunRecords } from '../run-preset.js';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description('regenerate summary.json, REPORT.md and the plots from the run files of a results directory')
    .option('--preset <name>', 'preset', 'offline')
    .option('--out <dir>', 'results directory (default apps/bench/results/<preset>)')
    .action(async (options: { preset: string; out?: string }) => {
      const preset = getPreset(options.preset);
      const out = options.out ?? defaultResultsDirectory(preset.name);
      const records = await readRunRecords(out);
      await writeReport({ preset, outputDirectory: out, records, missingTasks: {} });
      process.stderr.write(`${records.length} runs; report: ${join(out, 'REPORT.md')}\n`);
    });
}
